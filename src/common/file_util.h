// Small POSIX file helpers with Status errors. Messages name paths, never contents.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "medlake/status.h"

namespace medlake {

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

// fsync of a directory, so that renames and creations inside it are durable.
Status SyncDir(const std::string& dir);

// mkdir -p.
Status MakeDirs(const std::string& dir);

}  // namespace medlake
