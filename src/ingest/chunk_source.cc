#include "ingest/chunk_source.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "json/json.h"

namespace medlake::ingest {
namespace {

// Newlines in `text`. memchr is vectorized in libc; std::count ran one byte per cycle on the
// serial stage of ingest (about 4 ms per 4 MiB chunk).
int64_t CountLines(std::string_view text) {
  int64_t lines = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (nl == nullptr) break;
    ++lines;
    p = static_cast<const char*>(nl) + 1;
  }
  return lines;
}

}  // namespace

struct ChunkSource::OpenFile {
  uint32_t index = 0;
  const InputFile* file = nullptr;
  int fd = -1;
  gzFile gz = nullptr;
  std::string carry;  // partial last line of the previous chunk
  int64_t line = 1;
  int64_t offset = 0;  // of carry[0] in the (inflated) file
  bool eof = false;
  uint64_t gz_consumed = 0;
  std::string error;  // why the rest of the file could not be read
  // A line longer than kMaxLineBytes being skipped: where it starts, its bytes so far, and its
  // first bytes (kept with the quarantine entry).
  struct LongLine {
    int64_t line;
    int64_t offset;
    uint64_t bytes;
    std::string head;
  };
  std::optional<LongLine> long_line;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
    if (gz) gzclose(gz);
  }
};

ChunkSource::ChunkSource(const std::vector<InputFile>& files, size_t chunk_bytes)
    : files_(files), base_chunk_bytes_(chunk_bytes), chunk_bytes_(chunk_bytes) {}
ChunkSource::~ChunkSource() = default;

Status ChunkSource::OpenNext() {
  current_.reset();
  if (next_file_ >= files_.size()) return Status::Ok();
  auto f = std::make_unique<OpenFile>();
  f->index = static_cast<uint32_t>(next_file_);
  f->file = &files_[next_file_++];
  if (f->file->format == InputFormat::kNdjsonGz) {
    f->gz = gzopen(f->file->path.c_str(), "rb");
    if (!f->gz) return IoError("cannot open " + f->file->path);
    // zlib inflates into a buffer of twice this size, and a read that meets damage returns
    // none of it: the buffer bounds what is lost before the damage (see Next).
    gzbuffer(f->gz, 64 << 10);
  } else if (f->file->format == InputFormat::kNdjson ||
             f->file->format == InputFormat::kDeviceNdjson) {
    f->fd = ::open(f->file->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return IoError("cannot open " + f->file->path + ": " + std::strerror(errno));
  }
  current_ = std::move(f);
  return Status::Ok();
}

void ChunkSource::Recycle(std::string buffer) {
  constexpr size_t kKept = 8;  // the chunks in flight on up to 4 threads; more are freed
  std::lock_guard lock(free_mu_);
  if (buffer.capacity() > 0 && free_buffers_.size() < kKept) {
    free_buffers_.push_back(std::move(buffer));
  }
}

Result<std::optional<Chunk>> ChunkSource::Next() {
  for (;;) {
    if (!current_) {
      MEDLAKE_RETURN_IF_ERROR(OpenNext());
      if (!current_) return std::optional<Chunk>();
    }
    OpenFile& f = *current_;
    Chunk chunk;
    chunk.file_index = f.file->input_order;
    chunk.format = f.file->format;
    chunk.source = &f.file->path;
    chunk.shared_wave = f.file->shared_first;
    bool last_shared =
        f.file->shared_first && (f.index + 1 == files_.size() || !files_[f.index + 1].shared_first);

    if (f.file->format == InputFormat::kJson || f.file->format == InputFormat::kHl7v2) {
      chunk.whole_file = true;
      bytes_consumed_ += f.file->size;
      chunk.ends_shared_wave = last_shared;
      current_.reset();
      return std::optional<Chunk>(std::move(chunk));
    }

    if (f.eof && f.carry.empty() && !f.error.empty()) {
      chunk.error = std::move(f.error);
      chunk.base_offset = f.offset;
      chunk.first_line = f.line;
      chunk.ends_shared_wave = last_shared;
      current_.reset();
      return std::optional<Chunk>(std::move(chunk));
    }
    // NDJSON: fill up to chunk_bytes_, cut after the last newline.
    std::string buf;
    {
      std::lock_guard lock(free_mu_);
      if (!free_buffers_.empty()) {
        buf.swap(free_buffers_.back());
        free_buffers_.pop_back();
      }
    }
    buf.assign(f.carry);
    f.carry.clear();
    size_t want = std::max(chunk_bytes_, buf.size() + 65536);
    while (!f.eof && buf.size() < want) {
      size_t old = buf.size();
      buf.resize(want);
      long n;
      if (f.gz) {
        // In steps: a read that meets damage returns nothing of what it inflated, so a step
        // (with zlib's buffer, OpenNext) bounds what is lost before the damage to about 192 KiB
        // (this step, and the 128 KiB zlib had inflated); it goes with the quarantined rest.
        constexpr size_t kGzipStep = 64 << 10;
        n = gzread(f.gz, buf.data() + old, static_cast<unsigned>(std::min(want - old, kGzipStep)));
        int err = Z_OK;
        const char* msg = n <= 0 ? gzerror(f.gz, &err) : nullptr;
        if (n < 0 || (n == 0 && err == Z_BUF_ERROR)) {
          f.error = std::string(n < 0 ? "gzip stream damaged: " : "gzip stream truncated: ") +
                    (msg ? msg : "error") + "; the rest of the file was not read";
          buf.resize(old);
          f.eof = true;
          // The last line read may be cut short by the damage: it belongs to the damaged rest
          // (quarantined from its first byte on), not to the records.
          size_t nl = buf.rfind('\n');
          buf.resize(nl == std::string::npos ? 0 : nl + 1);
          break;
        }
      } else {
        n = ::read(f.fd, buf.data() + old, want - old);
        if (n < 0 && errno == EINTR) n = 0;
        if (n < 0) return IoError("cannot read " + f.file->path + ": " + std::strerror(errno));
        bytes_consumed_ += static_cast<uint64_t>(n);
      }
      buf.resize(old + static_cast<size_t>(n));
      if (n == 0) f.eof = true;
    }
    if (f.gz) {  // progress counts compressed bytes
      auto pos = static_cast<uint64_t>(gzoffset(f.gz));
      bytes_consumed_ += pos - f.gz_consumed;
      f.gz_consumed = pos;
    }
    if (f.long_line) {
      // Skipping a line too long to read: up to its newline, or the end of the file.
      size_t nl = buf.find('\n');
      if (nl == std::string::npos && !f.eof) {
        f.long_line->bytes += buf.size();
        f.carry.clear();
        Recycle(std::move(buf));
        continue;
      }
      const size_t end = nl == std::string::npos ? buf.size() : nl + 1;
      const auto& skipped = *f.long_line;
      chunk.error = "line longer than " + std::to_string(kMaxLineBytes >> 20) + " MiB (" +
                    std::to_string(skipped.bytes + end) + " bytes): not read";
      chunk.first_line = skipped.line;
      chunk.base_offset = skipped.offset;
      chunk.data = skipped.head;
      f.line = skipped.line + 1;
      f.offset = skipped.offset + static_cast<int64_t>(skipped.bytes + end);
      f.carry.assign(buf.data() + end, buf.size() - end);
      f.long_line.reset();
      Recycle(std::move(buf));
      if (f.eof && f.carry.empty() && f.error.empty()) {
        chunk.ends_shared_wave = last_shared;
        current_.reset();
      }
      return std::optional<Chunk>(std::move(chunk));
    }
    size_t cut = buf.size();
    if (!f.eof) {
      size_t nl = buf.rfind('\n');
      if (nl == std::string::npos && buf.size() >= kMaxLineBytes) {
        // A line this long is not held in memory to be parsed: it is skipped and quarantined
        // (peak memory would otherwise follow the longest line, at about four times its size).
        f.long_line =
            OpenFile::LongLine{f.line, f.offset, buf.size(), buf.substr(0, kLongLineHeadBytes)};
        f.carry.clear();
        chunk_bytes_ = base_chunk_bytes_;
        Recycle(std::move(buf));
        continue;
      }
      if (nl == std::string::npos) {
        // One line longer than the chunk: keep reading into it.
        f.carry = std::move(buf);
        chunk_bytes_ *= 2;
        continue;
      }
      chunk_bytes_ = base_chunk_bytes_;  // after a long line, chunks of the usual size again
      cut = nl + 1;
      f.carry.assign(buf.data() + cut, buf.size() - cut);
      buf.resize(cut);
    }
    chunk.first_line = f.line;
    chunk.base_offset = f.offset;
    f.line += CountLines(buf);
    f.offset += static_cast<int64_t>(cut);
    buf.reserve(buf.size() + json::kPadding);
    chunk.data.swap(buf);  // (swap: GCC 12 warns falsely on string move-assignment here)
    if (f.eof && f.carry.empty() && f.error.empty()) {
      chunk.ends_shared_wave = last_shared;
      current_.reset();
    }
    if (chunk.data.empty()) continue;
    return std::optional<Chunk>(std::move(chunk));
  }
}

}  // namespace medlake::ingest
