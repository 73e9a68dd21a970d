#include "common/file_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <vector>

namespace medlake {
namespace {

Status Errno(std::string_view what, const std::string& path) {
  return IoError(std::string(what) + " " + path + ": " + std::strerror(errno));
}

// Closes `fd` (unless it is AT_FDCWD) and keeps errno as it was.
void CloseKeepingErrno(int fd) {
  if (fd == AT_FDCWD) return;
  const int error = errno;
  ::close(fd);
  errno = error;
}

// Opens `path` and reads it whole into the bytes `reserve(file size)` returns; the number of
// bytes read (fewer if the file shrank meanwhile).
template <typename ReserveFn>
Result<size_t> ReadWhole(const std::string& path, ReserveFn reserve) {
  int fd = OpenAnyLength(path, O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no such file: " + path);
    return Errno("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = Errno("cannot stat", path);
    ::close(fd);
    return s;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  char* data = reserve(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return done;
}

}  // namespace

int OpenAnyLength(const std::string& path, int flags) {
  flags |= O_CLOEXEC;
  const int fd = ::open(path.c_str(), flags);
  if (fd >= 0 || errno != ENAMETOOLONG) return fd;
  size_t at = path.find_first_not_of('/');
  if (at == std::string::npos) return fd;  // a long run of slashes only
  // From the root for an absolute path, else from the working folder.
  int dir = at > 0 ? ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) : AT_FDCWD;
  if (at > 0 && dir < 0) return -1;
  while (path.size() - at >= PATH_MAX) {
    // The longest run of whole names from `at` that the kernel takes.
    const size_t cut = path.rfind('/', at + PATH_MAX - 1);
    if (cut == std::string::npos || cut <= at) {  // one name longer than any allowed
      CloseKeepingErrno(dir);
      errno = ENAMETOOLONG;
      return -1;
    }
    const std::string piece = path.substr(at, cut - at);
    const int next = ::openat(dir, piece.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    CloseKeepingErrno(dir);
    if (next < 0) return -1;
    dir = next;
    at = path.find_first_not_of('/', cut);
    if (at == std::string::npos) {  // "a/b/": the folder itself, as open(2) gives it
      const int self = ::openat(dir, ".", flags);
      CloseKeepingErrno(dir);
      return self;
    }
  }
  const int file = ::openat(dir, path.c_str() + at, flags);
  CloseKeepingErrno(dir);
  return file;
}

Result<std::string> ReadFile(const std::string& path, size_t padding) {
  std::string data;
  MEDLAKE_ASSIGN_OR_RETURN(size_t done, ReadWhole(path, [&](size_t size) {
                             data.reserve(size + padding);
                             data.resize(size);
                             return data.data();
                           }));
  data.resize(done);
  if (padding > 0) {
    data.append(padding, '\0');
    data.resize(done);  // capacity keeps the zeroed padding readable
  }
  return data;
}

Result<std::string_view> ReadFileInto(const std::string& path, size_t padding, GrowBuffer& buffer) {
  char* data = nullptr;
  MEDLAKE_ASSIGN_OR_RETURN(size_t done, ReadWhole(path, [&](size_t size) {
                             data = buffer.Reserve(size + padding);
                             return data;
                           }));
  std::memset(data + done, 0, padding);
  return std::string_view(data, done);
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync directory", dir);
  return Status::Ok();
}

namespace {

// Writes all of `data` to `fd` (`path` names it in errors), then closes it; with `sync`,
// fsyncs it first.
Status WriteAllAndClose(int fd, std::string_view data, const std::string& path, bool sync) {
  size_t done = 0;
  Status s;
  while (s.ok() && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Errno("cannot write", path);
    } else {
      done += static_cast<size_t>(n);
    }
  }
  if (s.ok() && sync && ::fsync(fd) != 0) s = Errno("cannot sync", path);
  ::close(fd);
  return s;
}

}  // namespace

std::FILE* OpenPrivateOutput(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    const int error = errno;
    ::close(fd);
    errno = error;
  }
  return f;
}

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  Status written = WriteAllAndClose(fd, data, tmp, /*sync=*/true);
  if (written.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    written = Errno("cannot rename to", path);
  }
  if (!written.ok()) {  // a full disk: the part written would hold it, and may hold data
    ::unlink(tmp.c_str());
    return written;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  return SyncDir(dir.empty() ? "." : dir);
}

Status WriteOutputFile(const std::string& path, std::string_view data) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return WriteFileAtomic(path, data);  // a new file
  std::error_code ec;
  std::string target = std::filesystem::canonical(path, ec).string();
  if (ec) return IoError("cannot resolve " + path + ": " + ec.message());
  if (S_ISREG(st.st_mode)) return WriteFileAtomic(target, data);
  int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  return WriteAllAndClose(fd, data, path, /*sync=*/false);
}

Status MakeDirs(const std::string& dir) {
  // The folders created are made durable, each entry fsynced in its parent: a commit may name
  // files in them right after, and a power loss must not take the folder away under them.
  std::vector<std::filesystem::path> created;
  std::error_code ec;
  for (std::filesystem::path p(dir); !p.empty() && !std::filesystem::exists(p, ec);
       p = p.parent_path()) {
    created.push_back(p);
    if (p == p.parent_path()) break;  // the root
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create directory " + dir + ": " + ec.message());
  for (const auto& p : created) {
    std::filesystem::path parent = p.parent_path();
    MEDLAKE_RETURN_IF_ERROR(SyncDir(parent.empty() ? "." : parent.string()));
  }
  return Status::Ok();
}

Status MakeChildDirs(const std::string& parent, const std::vector<std::string>& names) {
  bool created = false;
  for (const std::string& name : names) {
    const std::string path = parent + "/" + name;
    if (::mkdir(path.c_str(), 0777) == 0) {
      created = true;
    } else if (errno != EEXIST) {
      return IoError("cannot create directory " + path + ": " + std::strerror(errno));
    }
  }
  return created ? SyncDir(parent) : Status::Ok();
}

Result<FolderLock> FolderLock::Acquire(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + dir + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return Busy("lake " + dir + " is being written by another process");
    }
    // (NFS, for one, cannot flock a folder: the lake must be on a local file system.)
    return IoError("cannot lock " + dir + ": " + std::strerror(error));
  }
  return FolderLock(fd);
}

bool FolderLock::IsHeld(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  // A shared lock is refused while the exclusive one is held; taken, it goes with the close.
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

FolderLock& FolderLock::operator=(FolderLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::string ResolvedPath(const std::string& path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) return "";
  std::filesystem::path real = std::filesystem::weakly_canonical(absolute, ec);
  std::string text = (ec ? absolute.lexically_normal() : real).string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

bool IsWithin(const std::string& path, const std::string& folder) {
  const std::string inner = ResolvedPath(path), outer = ResolvedPath(folder);
  if (inner.empty() || outer.empty()) return false;
  if (outer == "/") return true;
  // Component by component: "/a/bc" is not inside "/a/b".
  return inner.starts_with(outer) && (inner.size() == outer.size() || inner[outer.size()] == '/');
}

}  // namespace medlake
