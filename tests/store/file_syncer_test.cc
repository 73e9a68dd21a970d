#include "store/file_syncer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace medlake::store {
namespace {

bool IsOpen(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

class FileSyncerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("medlake-syncer-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int Written(const std::string& name) {
    int fd = ::open((dir_ / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, "segment", 7), 7);
    return fd;
  }

  std::filesystem::path dir_;
};

TEST_F(FileSyncerTest, WaitReturnsOnceEveryFileIsSyncedAndClosed) {
  FileSyncer syncer;
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) {
    fds.push_back(Written("f" + std::to_string(i)));
    syncer.Add(fds.back(), "f" + std::to_string(i));
  }
  ASSERT_TRUE(syncer.Wait().ok());
  for (int fd : fds) EXPECT_FALSE(IsOpen(fd)) << fd;
  EXPECT_TRUE(syncer.Wait().ok());  // nothing queued: returns at once
}

TEST_F(FileSyncerTest, AFailedSyncIsReportedWithItsFileOnce) {
  FileSyncer syncer;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  int ok_fd = Written("good");
  syncer.Add(ok_fd, "good");
  syncer.Add(pipe_fds[1], "not-a-file");  // fsync of a pipe fails (EINVAL)
  Status s = syncer.Wait();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not-a-file"), std::string::npos) << s.message();
  EXPECT_FALSE(IsOpen(pipe_fds[1]));
  EXPECT_FALSE(IsOpen(ok_fd));
  ::close(pipe_fds[0]);
  EXPECT_TRUE(syncer.Wait().ok());  // reported once
}

TEST_F(FileSyncerTest, ManyWritersPastTheQueueLimit) {
  FileSyncer syncer(2);
  constexpr int kThreads = 4, kPerThread = 3 * FileSyncer::kMaxQueued;
  std::vector<std::vector<int>> fds(kThreads);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = std::to_string(t) + "-" + std::to_string(i);
        int fd = Written(name);
        fds[t].push_back(fd);
        syncer.Add(fd, name);
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(syncer.Wait().ok());
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(FileSyncerTest, DestructionClosesWhatIsStillQueued) {
  std::vector<int> fds;
  {
    FileSyncer syncer(1);
    for (int i = 0; i < 20; ++i) {
      fds.push_back(Written("d" + std::to_string(i)));
      syncer.Add(fds.back(), "d" + std::to_string(i));
    }
  }
  for (int fd : fds) EXPECT_FALSE(IsOpen(fd)) << fd;
}

}  // namespace
}  // namespace medlake::store
