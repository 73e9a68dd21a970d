// Small POSIX file helpers with Status errors. Messages name paths, never contents.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "medlake/status.h"

namespace medlake {

// open(2) of `path` with `flags` (O_CLOEXEC added), whatever its length: a path longer than the
// kernel takes at once (PATH_MAX, 4096 bytes: a folder tree a thousand levels deep) is opened a
// piece at a time, each piece relative to the folder the one before it opened (an absolute
// path from the root, a relative one from the working folder). -1 with errno set on failure,
// as open(2). Not for O_CREAT.
int OpenAnyLength(const std::string& path, int flags);

// Reads a whole file. `padding` zero bytes are appended after size() (capacity), so the
// buffer can be handed to parsers that read past the end.
Result<std::string> ReadFile(const std::string& path, size_t padding = 0);

// Scratch bytes that grow and never shrink: Reserve(n) gives at least n bytes, without
// zero-filling them and without keeping what was there (for buffers refilled per input).
class GrowBuffer {
 public:
  char* Reserve(size_t n) {
    if (n > capacity_) {
      capacity_ = std::max(n, capacity_ + capacity_ / 2);
      data_.reset(new char[capacity_]);
    }
    return data_.get();
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

// Reads a whole file into `buffer` (reused from call to call, so that reading many files
// touches no new memory); the view is followed by `padding` zero bytes.
Result<std::string_view> ReadFileInto(const std::string& path, size_t padding, GrowBuffer& buffer);

// Writes `data` to `path` via a temporary file, fsyncs it, renames it into place and fsyncs
// the directory: after return the file is durable and readers see old or new, never half.
Status WriteFileAtomic(const std::string& path, std::string_view data);
// A command's output file (--out): written atomically like WriteFileAtomic into the file a
// symbolic link names, and written in place when `path` is not a regular file (/dev/null,
// /dev/stdout, a pipe), which a rename would replace.
Status WriteOutputFile(const std::string& path, std::string_view data);

// Opens `path` for writing from its start (created, or truncated): a new file is owner-only
// (0600), as the lake's files are, since outputs hold patient data; an existing file keeps
// its mode. nullptr with errno set on failure.
std::FILE* OpenPrivateOutput(const std::string& path);

// fsync of a directory, so that renames and creations inside it are durable.
Status SyncDir(const std::string& dir);

// mkdir -p.
Status MakeDirs(const std::string& dir);

// `path` made absolute, its symbolic links, "." and ".." resolved as far as it exists (the rest
// may not exist yet), without a trailing separator; "" when it cannot be made absolute.
std::string ResolvedPath(const std::string& path);
// Whether `path` is the folder `folder` or lies inside it, both resolved (ResolvedPath).
bool IsWithin(const std::string& path, const std::string& folder);
// Creates the folders `names` that do not exist yet in the existing folder `parent`, durable
// as MakeDirs makes them, with one fsync of `parent` for them all.
Status MakeChildDirs(const std::string& parent, const std::vector<std::string>& names);

// An exclusive flock on a folder, held until the object is destroyed: a lake's writer lock.
// The folder itself is locked, not a lock file in it, which could be deleted under a running
// holder and let a second one lock a new file.
class FolderLock {
 public:
  // kBusy when another process holds it, naming the folder.
  static Result<FolderLock> Acquire(const std::string& dir);
  // Whether a process holds the lock on `dir` now (false when `dir` cannot be opened).
  static bool IsHeld(const std::string& dir);
  FolderLock(FolderLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FolderLock& operator=(FolderLock&& other) noexcept;
  ~FolderLock();

 private:
  explicit FolderLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace medlake
