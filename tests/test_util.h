// Helpers shared by medlake's tests: temporary directories and file writing.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace medlake::testing {

// A loopback TCP port free right now (the kernel's choice), for a test server; 0 when none.
inline uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Starts `server` (a PostgresServer or a MosquittoBroker) with `...` or skips the test when
// its binaries are not installed; one that is installed but does not start fails the test,
// with the reason (a skip would hide it: scripts/setup.sh installs both).
#define MEDLAKE_START_OR_SKIP(server, ...)                                                \
  do {                                                                                    \
    if (!(server).Start(__VA_ARGS__)) {                                                   \
      if ((server).installed()) FAIL() << (server).failure();                             \
      GTEST_SKIP() << (server).name() << " not installed (scripts/setup.sh installs it)"; \
    }                                                                                     \
  } while (0)

// A tmpfs of `size` ("64k") mounted on the existing folder `path` for the scope: a small disk
// that fills up. Needs root; ok() is false when it could not be mounted (the test skips).
class ScopedTmpfs {
 public:
  ScopedTmpfs(std::string path, const std::string& size) : path_(std::move(path)) {
    mounted_ = ::geteuid() == 0 &&
               ::mount("tmpfs", path_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~ScopedTmpfs() {
    if (mounted_) ::umount(path_.c_str());
  }
  ScopedTmpfs(const ScopedTmpfs&) = delete;
  ScopedTmpfs& operator=(const ScopedTmpfs&) = delete;
  bool ok() const { return mounted_; }
  // Room again, keeping what the disk holds.
  bool Resize(const std::string& size) {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

// A fresh directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "medlake-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `levels` folders named `name`, one inside the other, in `root`, with `files` (name, content)
// and symbolic `links` (name, target) in the deepest; made and removed through descriptors, as
// paths to the deepest are longer than the kernel takes.
class DeepTree {
 public:
  DeepTree(const DeepTree&) = delete;
  DeepTree& operator=(const DeepTree&) = delete;
  DeepTree(const std::string& root, const std::string& name, int levels,
           const std::map<std::string, std::string>& files,
           const std::map<std::string, std::string>& links = {})
      : name_(name), files_(files), path_(root) {
    fds_.push_back(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < levels && fds_.back() >= 0; ++i) {
      ::mkdirat(fds_.back(), name.c_str(), 0700);
      fds_.push_back(::openat(fds_.back(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      path_ += "/" + name;
    }
    // Written where a path reaches, then moved down.
    for (const auto& [file, text] : files) {
      WriteText(root + "/" + file, text);
      if (::renameat(fds_[0], file.c_str(), fds_.back(), file.c_str()) != 0) ok_ = false;
    }
    for (const auto& [link, target] : links) {
      files_[link];  // removed with the files
      if (::symlinkat(target.c_str(), fds_.back(), link.c_str()) != 0) ok_ = false;
    }
    ok_ = ok_ && fds_.back() >= 0;
  }
  ~DeepTree() {
    for (const auto& [file, text] : files_) ::unlinkat(fds_.back(), file.c_str(), 0);
    for (size_t i = fds_.size() - 1; i > 0; --i) {
      ::close(fds_[i]);
      ::unlinkat(fds_[i - 1], name_.c_str(), AT_REMOVEDIR);
    }
    ::close(fds_[0]);
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }  // of the deepest folder

 private:
  std::string name_;
  std::map<std::string, std::string> files_;
  std::string path_;
  std::vector<int> fds_;
  bool ok_ = true;
};

inline std::string SharedData(const std::string& rel) {
  return std::string(MEDLAKE_SHARED_DATA) + "/" + rel;
}

inline bool HaveSharedData(const std::string& rel) {
  return std::filesystem::exists(SharedData(rel));
}

#ifdef MEDLAKE_BINARY
struct CliRun {
  int exit_code;
  std::string out;  // stdout and stderr together
};

// Runs the medlake binary without the caller's MEDLAKE_KEY and MEDLAKE_TOKEN, with `env`
// (VAR=value ...) set instead when given.
inline CliRun RunMedlake(const std::string& args, const std::string& env = "") {
  std::string cmd = std::string("env -u MEDLAKE_KEY -u MEDLAKE_TOKEN ") + env + " " +
                    MEDLAKE_BINARY + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
#endif

}  // namespace medlake::testing
