// Time-keyed records (HL7 v2 messages, device readings, bed stays) and a stable external sort
// over them, so a run can write time-ordered files of any size in bounded memory.
//
// Records are framed as [int64 key][uint32 length][payload]. A RecordBuffer collects the frames
// of one chunk of patients on one thread; the serial stage of the run hands them to an
// ExternalSorter. Neither class is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"
#include "synth/text_util.h"

namespace medlake::synth {

class RecordBuffer {
 public:
  // Starts a record with sort key `key`; append the payload to the returned string, then
  // Commit().
  std::string& Begin(int64_t key);
  void Commit();
  // Appends a whole record.
  void Add(int64_t key, std::string_view payload) {
    Begin(key).append(payload);
    Commit();
  }

  std::string_view frames() const { return data_; }
  uint64_t count() const { return count_; }
  // Empties the buffer (text_util.h, ClearBuffer: an unusually large one is released).
  void Clear() {
    ClearBuffer(data_, typical_);
    count_ = 0;
  }

 private:
  std::string data_;
  size_t open_header_ = 0;
  uint64_t count_ = 0;
  double typical_ = 0;
};

// One record in sorted order.
struct TimedRecord {
  int64_t key;
  std::string_view payload;
};

// Sorts records by key; records with equal keys keep the order in which they were added (a
// stable sort), so the output is a pure function of the input sequence.
//
// Frames are buffered up to `memory_budget` bytes; each full buffer is sorted and appended as
// one run to a temporary file at `tmp_path` (unlinked as soon as it is created, so nothing is
// left behind). Finish() prepares a k-way merge that reads each run through a buffer of
// memory_budget / runs bytes; when that would be less than 16 KiB, the oldest runs are first
// merged into one (a second pass over part of the data, whose disk space is then released).
// Memory: the budget plus 24 bytes per buffered record while adding, about the budget while
// merging, whatever the number of records (a single record larger than its read buffer gets
// a buffer of its size). When everything fits in one buffer, nothing touches the disk.
class ExternalSorter {
 public:
  ExternalSorter(std::string tmp_path, size_t memory_budget);
  ExternalSorter(const ExternalSorter&) = delete;
  ExternalSorter& operator=(const ExternalSorter&) = delete;
  ~ExternalSorter();

  // Appends whole frames (RecordBuffer::frames()). Errors: kCorruption (truncated frame),
  // kIoError (writing a run).
  Status AddFrames(std::string_view frames);
  Status Add(int64_t key, std::string_view payload);

  // Ends the input. Errors: kIoError.
  Status Finish();
  // After Finish(): fills `out` with the next record in key order and returns true, or returns
  // false at the end. The payload view stays valid until the next call. Errors: kIoError,
  // kCorruption.
  Result<bool> Next(TimedRecord& out);

  uint64_t records() const { return records_; }
  size_t runs() const { return runs_.size(); }

 private:
  struct Entry {
    int64_t key;
    size_t offset;  // of the payload in buffer_
    uint32_t length;
  };
  struct RunReader {
    uint64_t pos = 0;  // next file offset to read
    uint64_t end = 0;  // end of the run in the file
    std::string buf;
    size_t lo = 0;  // current record's frame starts here
    size_t hi = 0;  // valid bytes in buf
    int64_t key = 0;
    uint32_t length = 0;
  };

  Status SortBuffer();
  Status SpillRun();
  // Appends `data` at the end of the temporary file and clears it.
  Status AppendToFile(std::string& data);
  // Merges the first `ways` runs into one run, which replaces them at the front.
  Status MergePrefix(size_t ways);
  // Loads run r's next frame into its buffer; `has` = false at the run's end.
  Status Fill(RunReader& r, bool& has);

  std::string tmp_path_;
  size_t budget_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  std::string buffer_;
  std::vector<Entry> entries_;
  std::vector<RunReader> runs_;
  uint64_t records_ = 0;
  bool finished_ = false;
  // In-memory mode (no run was spilled): the position in entries_.
  size_t next_entry_ = 0;
  // Merge mode: heap of (key, run) and the run whose record was returned last.
  std::vector<std::pair<int64_t, size_t>> heap_;
  size_t last_run_ = SIZE_MAX;
};

}  // namespace medlake::synth
