// ChunkSource: reads the input files in order and cuts them into chunks that workers can
// process independently: NDJSON at line boundaries (about 512 KiB each, gzip inflated on the
// fly). A JSON document or HL7 v2 file is one chunk that names the file: the worker reads it
// (in parallel, into a buffer it reuses). Single-threaded; memory is one chunk plus a carried
// partial line.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ingest/input_files.h"
#include "medlake/status.h"

namespace medlake::ingest {

struct Chunk {
  uint32_t file_index = 0;  // the file's InputFile::input_order
  InputFormat format = InputFormat::kNdjson;
  const std::string* source = nullptr;  // file path, owned by the ChunkSource
  std::string data;                     // followed by json::kPadding readable bytes
  bool whole_file = false;              // no data: the worker reads the whole file `source`
  uint64_t file_bytes = 0;              // whole_file: its size
  int64_t first_line = 1;
  int64_t base_offset = 0;
  bool shared_wave = false;       // of the shared-first files (read before the others)
  bool ends_shared_wave = false;  // last chunk of a wave read first: a pipeline boundary follows
  // Read in a batch of its own (batch ingest: a JSON document larger than a checkpoint), so
  // that the lake can commit while it is read (RecordWorker::set_checkpoints_inside).
  bool alone = false;
  // Set when the rest of the file cannot be read (a damaged gzip stream): the chunk carries no
  // data, and the reason, with base_offset, goes to quarantine.
  std::string error;
  // The resources mapped from the chunk's HL7 v2 messages, in input order (batch ingest,
  // RecordWorker::set_defer_hl7v2): mapped by the parallel stage, sequenced by a serial one
  // (Patients and Encounters merged with the version before them, pseudonyms linked), stored
  // by a parallel one. Filled while the chunk is otherwise read-only, hence mutable.
  struct MappedRecord {
    std::string type, id, json;
    std::string trigger;               // the message's trigger event ("A08")
    std::vector<std::string> cleared;  // elements the message nulls
    int64_t byte_offset = 0;
    uint32_t entry = 0;
    std::string location;    // "message N"
    bool unchanged = false;  // the history found nothing new in it: a duplicate
  };
  mutable std::vector<MappedRecord> mapped;
  // whole_file: the bytes of the file not yet read, for progress (RecordWorker::ReportRead,
  // which counts what it reads in SharedCounters::document_bytes_read).
  mutable uint64_t unread_bytes = 0;
};

// How much more input the shared-area files take between two checkpoints: they repeat
// resources in different versions (Synthea's hospital and practitioner files), and a commit
// between two versions would store the first again on every re-ingest before the second
// replaces it.
inline constexpr uint64_t kSharedCheckpointFactor = 4;
// The input between two checkpoints of batch ingest (`checkpoint_bytes`, IngestOptions) where
// `chunk` is: kSharedCheckpointFactor times as much in the shared-area files (a large Bundle
// read alone decides by the resources of each wave of its entries instead: the file's first
// resource is what made it a shared-area file).
inline uint64_t CheckpointBytesAt(const Chunk& chunk, uint64_t checkpoint_bytes) {
  return checkpoint_bytes * (chunk.shared_wave ? kSharedCheckpointFactor : 1);
}

class ChunkSource {
 public:
  explicit ChunkSource(const std::vector<InputFile>& files, size_t chunk_bytes = 512u << 10);
  ~ChunkSource();

  // The next chunk, nullopt at the end. I/O errors become a chunk-less Status.
  Result<std::optional<Chunk>> Next();
  // Gives a processed chunk's buffer back for a later chunk (its pages are already mapped, so
  // reading into it costs no page faults). Thread-safe against Next().
  void Recycle(std::string buffer);
  uint64_t bytes_consumed() const { return bytes_consumed_; }
  // Of those, the bytes read into chunks (not whole files, which their readers count: Chunk::
  // unread_bytes); read by the progress thread.
  uint64_t chunked_bytes() const { return chunked_bytes_.load(std::memory_order_relaxed); }
  // Every chunk has been handed out: Next() would give nullopt.
  bool exhausted() const { return !current_ && next_file_ >= files_.size(); }

  // An NDJSON line longer than this is not read: it comes as a chunk with an error (its line,
  // offset and first kLongLineHeadBytes), quarantined like any bad record.
  static constexpr size_t kMaxLineBytes = 64u << 20;
  static constexpr size_t kLongLineHeadBytes = 4096;

 private:
  struct OpenFile;
  Status OpenNext();
  // Read-ahead: a thread asks the kernel to read the input up to kReadAheadBytes past what has
  // been handed out (posix_fadvise WILLNEED) while what was handed out is parsed. From a cold
  // cache each worker otherwise read its file when its turn came, and the disk waited between
  // files; asked here, on the input stage, the advice blocked it for 0.17 s of a 2.7 s run.
  void AdviseReadAhead();  // Next's: moves the target on
  void ReadAheadLoop();    // the thread's
  static constexpr uint64_t kReadAheadBytes = 256u << 20;

  const std::vector<InputFile>& files_;
  const size_t base_chunk_bytes_;
  size_t chunk_bytes_;  // doubled while one line is longer than a chunk
  size_t next_file_ = 0;
  std::unique_ptr<OpenFile> current_;
  uint64_t bytes_consumed_ = 0;
  std::atomic<uint64_t> chunked_bytes_{0};
  std::mutex free_mu_;
  std::vector<std::string> free_buffers_;
  std::mutex ahead_mu_;
  std::condition_variable ahead_cv_;
  uint64_t ahead_target_ = 0;            // counted as bytes_consumed_ counts
  std::atomic<bool> ahead_stop_{false};  // also read between pieces, without the lock
  std::thread ahead_thread_;             // started by the first Next()
};

}  // namespace medlake::ingest
