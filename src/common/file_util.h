// Small POSIX file helpers with Status errors. Messages name paths, never contents.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "medlake/status.h"

namespace medlake {

// Reads a whole file. `padding` zero bytes are appended after size() (capacity), so the
// buffer can be handed to parsers that read past the end.
Result<std::string> ReadFile(const std::string& path, size_t padding = 0);

// Writes `data` to `path` via a temporary file, fsyncs it, renames it into place and fsyncs
// the directory: after return the file is durable and readers see old or new, never half.
Status WriteFileAtomic(const std::string& path, std::string_view data);

// fsync of a directory, so that renames and creations inside it are durable.
Status SyncDir(const std::string& dir);

// mkdir -p.
Status MakeDirs(const std::string& dir);

}  // namespace medlake
