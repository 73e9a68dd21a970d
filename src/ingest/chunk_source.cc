#include "ingest/chunk_source.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "common/file_util.h"
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

// Reads a gzip file member after member with zlib's inflate. gzread (which this replaces)
// dropped silently what followed the last member when it was not another member, and returned
// none of what it had inflated in a call that met damage; here both are seen: what was inflated
// before damage is returned, and bytes after the last member are an error. A file that does not
// start like gzip is read as it is (as gzread did).
class GzipReader {
 public:
  ~GzipReader() {
    if (started_) inflateEnd(&zs_);
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const std::string& path) {
    fd_ = OpenAnyLength(path, O_RDONLY);
    if (fd_ < 0) return IoError("cannot open " + path + ": " + std::strerror(errno));
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) return Internal("zlib: inflateInit2");
    started_ = true;
    return Status::Ok();
  }
  // Up to `n` bytes of the inflated file into `out`; 0 at its end. After damage (error() set),
  // what was inflated before it, then 0.
  Result<size_t> Read(char* out, size_t n, const std::string& path) {
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = static_cast<uInt>(n);
    while (!done_ && zs_.avail_out > 0) {
      if (zs_.avail_in == 0) {
        MEDLAKE_ASSIGN_OR_RETURN(bool more, Fill(path));
        if (!more) {
          if (in_member_) {
            error_ = "gzip stream truncated; the rest of the file was not read";
            content_cut_ = true;
          }
          done_ = true;
          break;
        }
      }
      if (direct_) {  // not gzip: the bytes as they are
        size_t take = std::min<size_t>(zs_.avail_in, zs_.avail_out);
        std::memcpy(zs_.next_out, zs_.next_in, take);
        zs_.next_in += take;
        zs_.avail_in -= static_cast<uInt>(take);
        zs_.next_out += take;
        zs_.avail_out -= static_cast<uInt>(take);
        continue;
      }
      if (!in_member_) {  // a member must start here
        if (zs_.avail_in < 2) {
          MEDLAKE_ASSIGN_OR_RETURN(bool more, Fill(path));
          (void)more;
        }
        const bool magic = zs_.avail_in >= 2 && zs_.next_in[0] == 0x1f && zs_.next_in[1] == 0x8b;
        if (!magic) {
          if (!seen_member_) {
            direct_ = true;
            continue;
          }
          error_ = "data after the end of the gzip stream; not read";
          done_ = true;
          break;
        }
        if (seen_member_) inflateReset(&zs_);
        in_member_ = seen_member_ = true;
      }
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        in_member_ = false;
      } else if (rc == Z_DATA_ERROR && zs_.msg != nullptr &&
                 (std::strcmp(zs_.msg, "incorrect data check") == 0 ||
                  std::strcmp(zs_.msg, "incorrect length check") == 0)) {
        // A member whose CRC-32 or length does not match what was inflated: its content was
        // altered somewhere (a stored block passes a flipped byte through to the check), and
        // its records are already on their way to the lake. Nothing of the run is committed:
        // it fails, naming the file (what earlier checkpoints committed was read before).
        return Corruption("gzip member of " + path + " fails its check (" + zs_.msg +
                          ", at compressed byte " + std::to_string(consumed()) +
                          "): its content is altered; the run stops, nothing of it committed; "
                          "repair or remove the file and run again");
      } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs_.avail_in == 0)) {
        error_ = std::string("gzip stream damaged: ") + (zs_.msg ? zs_.msg : "error") +
                 "; the rest of the file was not read";
        content_cut_ = true;
        done_ = true;
      }
    }
    return n - zs_.avail_out;
  }
  const std::string& error() const { return error_; }
  // The error cut the inflated content short (inside a member), rather than following its end
  // (data after the last member): then the last line read may be incomplete.
  bool content_cut() const { return content_cut_; }
  uint64_t consumed() const { return consumed_ - zs_.avail_in; }  // compressed bytes used

 private:
  // More compressed bytes after those not yet used; false at the end of the file.
  Result<bool> Fill(const std::string& path) {
    if (zs_.avail_in > 0) std::memmove(in_.data(), zs_.next_in, zs_.avail_in);
    size_t have = zs_.avail_in;
    ssize_t r;
    do {
      r = ::read(fd_, in_.data() + have, in_.size() - have);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return IoError("cannot read " + path + ": " + std::strerror(errno));
    consumed_ += static_cast<uint64_t>(r);
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(have + static_cast<size_t>(r));
    return r > 0;
  }

  int fd_ = -1;
  z_stream zs_{};
  bool started_ = false;
  bool direct_ = false;       // the file is not gzip
  bool in_member_ = false;    // inside a gzip member
  bool seen_member_ = false;  // one began
  bool done_ = false;
  std::vector<unsigned char> in_ = std::vector<unsigned char>(64 << 10);
  uint64_t consumed_ = 0;  // compressed bytes read from the file
  std::string error_;
  bool content_cut_ = false;
};

}  // namespace

struct ChunkSource::OpenFile {
  uint32_t index = 0;
  const InputFile* file = nullptr;
  int fd = -1;
  std::unique_ptr<GzipReader> gz;
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
  }
};

ChunkSource::ChunkSource(const std::vector<InputFile>& files, size_t chunk_bytes)
    : files_(files), base_chunk_bytes_(chunk_bytes), chunk_bytes_(chunk_bytes) {}

ChunkSource::~ChunkSource() {
  if (!ahead_thread_.joinable()) return;
  {
    std::lock_guard lock(ahead_mu_);
    ahead_stop_.store(true);
  }
  ahead_cv_.notify_one();
  ahead_thread_.join();
}

void ChunkSource::AdviseReadAhead() {
  constexpr uint64_t kStep = 4u << 20;  // the thread is woken every 4 MiB handed out
  const uint64_t target = bytes_consumed_ + kReadAheadBytes;
  if (!ahead_thread_.joinable()) {
    if (ahead_stop_.load(std::memory_order_relaxed)) return;  // no thread could be started
    ahead_target_ = target;
    try {
      ahead_thread_ = std::thread([this] { ReadAheadLoop(); });
    } catch (const std::system_error&) {
      ahead_stop_.store(true, std::memory_order_relaxed);  // read without it
    }
    return;
  }
  {
    std::lock_guard lock(ahead_mu_);
    if (target < ahead_target_ + kStep) return;
    ahead_target_ = target;
  }
  ahead_cv_.notify_one();
}

void ChunkSource::ReadAheadLoop() {
  // The kernel reads at most its read-ahead window (read_ahead_kb, 128 KiB on many disks) per
  // piece advised: a file is advised in pieces of this size.
  constexpr uint64_t kPiece = 1u << 20;
  size_t file = 0;      // the file advised next
  uint64_t offset = 0;  // in it
  uint64_t done = 0;    // bytes advised in all
  std::unique_lock lock(ahead_mu_);
  while (file < files_.size()) {
    ahead_cv_.wait(lock, [&] { return ahead_stop_.load() || ahead_target_ > done; });
    if (ahead_stop_.load()) return;
    const uint64_t target = ahead_target_;
    lock.unlock();
    while (done < target && file < files_.size() && !ahead_stop_.load()) {
      const InputFile& f = files_[file];
      const uint64_t length = std::min(f.size - std::min(f.size, offset), target - done);
      // A file that cannot be opened is reported when it is read.
      if (const int fd = length > 0 ? OpenAnyLength(f.path, O_RDONLY) : -1; fd >= 0) {
        for (uint64_t at = 0; at < length && !ahead_stop_.load(); at += kPiece) {
          ::posix_fadvise(fd, static_cast<off_t>(offset + at),
                          static_cast<off_t>(std::min(kPiece, length - at)), POSIX_FADV_WILLNEED);
        }
        ::close(fd);
      }
      offset += length;
      done += length;
      if (offset >= f.size) {
        ++file;
        offset = 0;
      }
    }
    lock.lock();
  }
}

Status ChunkSource::OpenNext() {
  current_.reset();
  if (next_file_ >= files_.size()) return Status::Ok();
  auto f = std::make_unique<OpenFile>();
  f->index = static_cast<uint32_t>(next_file_);
  f->file = &files_[next_file_++];
  if (f->file->format == InputFormat::kNdjsonGz) {
    f->gz = std::make_unique<GzipReader>();
    MEDLAKE_RETURN_IF_ERROR(f->gz->Open(f->file->path));
  } else if (f->file->format == InputFormat::kNdjson ||
             f->file->format == InputFormat::kDeviceNdjson) {
    f->fd = OpenAnyLength(f->file->path, O_RDONLY);
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
  AdviseReadAhead();
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
    // The last file of a wave read first: a pipeline boundary follows it.
    bool last_shared = f.file->wave < InputFile::kLastWave &&
                       (f.index + 1 == files_.size() || files_[f.index + 1].wave != f.file->wave);

    if (f.file->format == InputFormat::kJson || f.file->format == InputFormat::kHl7v2) {
      chunk.whole_file = true;
      chunk.file_bytes = f.file->size;
      chunk.unread_bytes = f.file->size;
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
        MEDLAKE_ASSIGN_OR_RETURN(size_t got,
                                 f.gz->Read(buf.data() + old, want - old, f.file->path));
        n = static_cast<long>(got);
        if (!f.gz->error().empty()) {
          f.error = f.gz->error();
          buf.resize(old + got);
          f.eof = true;
          // Damage inside a member may cut the last line read short: it belongs to the damaged
          // rest (quarantined from its first byte on), not to the records. Data after the last
          // member leaves the content whole, its last line too.
          if (f.gz->content_cut()) {
            size_t nl = buf.rfind('\n');
            buf.resize(nl == std::string::npos ? 0 : nl + 1);
          }
          break;
        }
      } else {
        n = ::read(f.fd, buf.data() + old, want - old);
        if (n < 0 && errno == EINTR) n = 0;
        if (n < 0) return IoError("cannot read " + f.file->path + ": " + std::strerror(errno));
        bytes_consumed_ += static_cast<uint64_t>(n);
        chunked_bytes_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      }
      buf.resize(old + static_cast<size_t>(n));
      if (n == 0) f.eof = true;
    }
    if (f.gz) {  // progress counts compressed bytes
      const uint64_t pos = f.gz->consumed();
      bytes_consumed_ += pos - f.gz_consumed;
      chunked_bytes_.fetch_add(pos - f.gz_consumed, std::memory_order_relaxed);
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
        // (peak memory would otherwise follow the longest line: 3.1 GB for a 1 GiB one).
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
    // An empty chunk is passed on only when it ends the shared wave: the pipeline boundary
    // after it is due even when a file's last read (of a file of exactly N chunks, or of an
    // empty one) found nothing more.
    if (chunk.data.empty() && !chunk.ends_shared_wave) continue;
    return std::optional<Chunk>(std::move(chunk));
  }
}

}  // namespace medlake::ingest
