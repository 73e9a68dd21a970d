// Output files of commands (common/file_util.h).
#include "common/file_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include "test_util.h"

namespace medlake {
namespace {

// `--out /dev/null` renamed a temporary file over /dev/null, which became a regular file for
// every process of the machine. A path that is not a regular file is written in place (a FIFO
// here, harmless if it were replaced); a symbolic link keeps pointing at the file it names,
// which gets the data.
TEST(FileUtilTest, OutputFilesAreWrittenThroughDevicesAndLinks) {
  testing::TempDir dir;
  std::string fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  ASSERT_TRUE(WriteOutputFile(fifo, "data").ok());
  struct stat st;
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO is still a FIFO";
  char buf[8] = {};
  EXPECT_EQ(::read(reader, buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "data");
  ::close(reader);

  std::string target = dir / "target.json", link = dir / "link.json";
  testing::WriteText(target, "old");
  std::filesystem::create_symlink(target, link);
  ASSERT_TRUE(WriteOutputFile(link, "new").ok());
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(testing::ReadText(target), "new");

  ASSERT_TRUE(WriteOutputFile(dir / "fresh.json", "x").ok());
  EXPECT_EQ(testing::ReadText(dir / "fresh.json"), "x");
}

// A path longer than the kernel takes at once is opened a piece at a time; what open(2) would
// report of a shorter one is reported the same way (ReadFile's NotFound rests on errno).
TEST(FileUtilTest, PathsLongerThanTheKernelTakesAreOpened) {
  testing::TempDir dir;
  const std::string name(200, 'n');
  const testing::DeepTree tree(dir.path(), name, 30, {{"file.txt", "content"}});
  ASSERT_TRUE(tree.ok());
  ASSERT_GT(tree.path().size(), size_t{PATH_MAX});
  auto read = ReadFile(tree.path() + "/file.txt");
  ASSERT_TRUE(read.ok()) << read.status().ToString().substr(0, 100);
  EXPECT_EQ(*read, "content");
  // Doubled slashes, and the folder itself with a slash after it.
  std::string doubled = tree.path();
  doubled.insert(dir.path().size() + 1 + name.size(), "//");
  int fd = OpenAnyLength(doubled + "/file.txt", O_RDONLY);
  EXPECT_GE(fd, 0);
  ::close(fd);
  fd = OpenAnyLength(tree.path() + "/", O_RDONLY);
  EXPECT_GE(fd, 0);
  ::close(fd);

  EXPECT_EQ(ReadFile(tree.path() + "/absent.txt").status().code(), ErrorCode::kNotFound);
  std::string missing = tree.path();
  missing.replace(dir.path().size() + 1, name.size(), std::string(200, 'x'));
  EXPECT_EQ(OpenAnyLength(missing + "/file.txt", O_RDONLY), -1);
  EXPECT_EQ(errno, ENOENT);
  // A name longer than any allowed (255 bytes), deep down or not.
  EXPECT_EQ(OpenAnyLength(tree.path() + "/" + std::string(300, 'z'), O_RDONLY), -1);
  EXPECT_EQ(errno, ENAMETOOLONG);
  EXPECT_EQ(OpenAnyLength(dir / std::string(300, 'z'), O_RDONLY), -1);
  EXPECT_EQ(errno, ENAMETOOLONG);
  // A relative path, from the working folder (given back before anything can stop the test).
  const std::string relative = tree.path().substr(dir.path().size() + 1) + "/file.txt";
  ASSERT_GT(relative.size(), size_t{PATH_MAX});
  const int cwd = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(cwd, 0);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  fd = OpenAnyLength(relative, O_RDONLY);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  if (fd >= 0) ::close(fd);
  ASSERT_EQ(::fchdir(cwd), 0);
  ::close(cwd);
  // A file where a folder is expected.
  EXPECT_EQ(OpenAnyLength(tree.path() + "/file.txt/y", O_RDONLY), -1);
  EXPECT_EQ(errno, ENOTDIR);
}

}  // namespace
// A file that does not fit on the disk is not left behind as its ".tmp" (which held the part
// written, and kept the disk full). Needs root, for a 64 KiB tmpfs.
TEST(FileUtilTest, AFailedAtomicWriteLeavesNoTemporaryFile) {
  testing::TempDir dir;
  const std::string small = dir / "small";
  std::filesystem::create_directories(small);
  testing::ScopedTmpfs disk(small, "64k");
  if (!disk.ok()) GTEST_SKIP() << "needs root to mount a small tmpfs";
  Status s = WriteFileAtomic(small + "/out.csv", std::string(1 << 20, 'x'));
  EXPECT_EQ(s.code(), ErrorCode::kIoError) << s.ToString();
  EXPECT_TRUE(std::filesystem::is_empty(small));
}

}  // namespace medlake
