// Segment files: immutable, checksummed, zstd-compressed sets of resources of one shard, with
// typed hot columns and per-code patient bitmaps. The byte layout is in docs/format.md.
// In a lake with a key, blocks and columns are also encrypted (privacy/segment_cipher.h):
// version 2 segments; plain ones are version 1, and both are read.
//
// SegmentWriter builds a segment in memory and writes it durably (fsync). SegmentReader opens
// one read-only; it is safe to use from one thread at a time (decompression buffers); open one
// reader per thread to scan in parallel.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fhir_time.h"
#include "fhir/resource_facts.h"
#include "medlake/status.h"
#include "privacy/segment_cipher.h"

namespace medlake::store {

class FileSyncer;  // store/file_syncer.h

using privacy::SegmentCipher;

inline constexpr uint32_t kNoPatient = 0xFFFFFFFFu;
inline constexpr uint32_t kPlainFormatVersion = 1;
inline constexpr uint32_t kEncryptedFormatVersion = 2;

// 128-bit identity of a resource: XXH3-128 of "Type/id".
struct Key128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const Key128&) const = default;
};
Key128 ResourceKey(std::string_view type, std::string_view id);
uint64_t ContentHash(std::string_view json);

// One resource as ingest hands it to storage.
struct Row {
  std::string type;
  std::string id;
  uint32_t patient = kNoPatient;  // patient ordinal (catalog table `patients`)
  TimeRange effective;
  std::vector<fhir::Coding> codings;
  double value = 0;
  bool has_value = false;
  std::string unit;
  std::string status;
  std::string encounter;
  int64_t last_updated = kNoTime;
  uint64_t content_hash = 0;
  Key128 key;
  std::string json;  // minified resource
  uint64_t seq = 0;  // admission ticket (LakeWriter::Admit), to drop superseded versions

  // Memory the row holds: itself and its strings' heap blocks (what buffers count).
  size_t MemoryBytes() const;
};

// The order of rows by (patient, effective start, type, id): a patient's rows are contiguous
// and in time order. Sorting indexes and then moving each row once is much cheaper than
// sorting the rows themselves (a Row is about 300 bytes).
std::vector<uint32_t> SortedOrder(const std::vector<Row>& rows);
// Sorts rows into that order.
void SortRows(std::vector<Row>& rows);

// Encodes `rows` (already sorted) and writes them to `path` (created, fsynced), encrypted when
// `cipher` is given. Returns the file size in bytes.
Result<uint64_t> WriteSegment(const std::string& path, uint32_t shard, const std::vector<Row>& rows,
                              const SegmentCipher* cipher = nullptr);
// The same for the rows `rows[order[0]], rows[order[1]], ...` (in that order): a writer sorts
// and filters indexes (SortedOrder) instead of moving rows. With a `syncer`, the written file
// is handed to it instead of being fsynced here: it is durable once syncer->Wait() succeeds.
Result<uint64_t> WriteSegment(const std::string& path, uint32_t shard, const std::vector<Row>& rows,
                              std::span<const uint32_t> order, const SegmentCipher* cipher,
                              FileSyncer* syncer = nullptr);

// Decoded hot columns of one segment.
struct Columns {
  uint32_t shard = 0;
  uint32_t rows = 0;
  std::vector<std::string> type_dict;
  std::vector<uint16_t> type;  // index into type_dict
  std::vector<std::string> id;
  std::vector<Key128> key;
  std::vector<uint64_t> content_hash;
  std::vector<uint32_t> patient;
  std::vector<int64_t> eff_start, eff_end, last_updated;
  std::vector<double> value;  // NaN when absent
  std::vector<std::string> unit_dict, status_dict;
  std::vector<uint16_t> unit, status;  // 0xFFFF when absent
  std::vector<std::string> encounter;
  std::vector<fhir::Coding> code_dict;
  std::vector<uint32_t> code_offsets;  // row i's codes: code_ids[code_offsets[i]..[i+1])
  std::vector<uint32_t> code_ids;
  // Patient ordinals per code (roaring, portable serialization), parallel to code_dict.
  std::vector<std::string> code_patients;
};

// Whether a failure to read a segment is damage to it, which readers skip and report by name
// while the rest of the lake stays readable: a bad checksum, header or trailer; a missing file;
// an unknown format version; a segment that says it is encrypted where the lake has no key
// (a keyed lake does not open without its key, so only a damaged header says so). A failure of
// the machine (permission denied, an I/O error, too many open files) says nothing of the file:
// it stops the read, and repair drops nothing for it.
bool IsSegmentDamage(const Status& s);

class SegmentReader {
 public:
  // Opens and validates the trailer, footer and column checksums. kCorruption names the file;
  // an encrypted segment needs `cipher` (kUnauthenticated without it) and fails with
  // kCorruption when a section does not open under it.
  static Result<std::unique_ptr<SegmentReader>> Open(const std::string& path,
                                                     const SegmentCipher* cipher = nullptr);
  ~SegmentReader();

  const Columns& columns() const { return columns_; }
  const std::string& path() const { return path_; }
  uint32_t block_count() const { return static_cast<uint32_t>(blocks_.size()); }

  // The minified JSON of `row`; the view is valid until the next call. Verifies the block's
  // checksum on first use; kCorruption names the file and block. A damaged block fails its
  // rows only (the last damaged block's error is kept: its other rows fail without a read);
  // the rows of the other blocks stay readable.
  Result<std::string_view> Resource(uint32_t row);
  // Every column of `row` and its resource, as WriteSegment took it (for rewriting segments).
  Result<Row> ReadRow(uint32_t row);
  // Reads and checks every block; the error of each damaged one, in block order.
  std::vector<Status> VerifyAll();

 private:
  struct Block {
    uint64_t offset;
    uint32_t compressed_size, raw_size, first_row, row_count;
    uint64_t checksum;
  };
  SegmentReader() = default;
  Status LoadBlock(uint32_t block);
  // Decrypts a stored section of an encrypted segment in place; true for plain segments.
  bool Unseal(uint64_t section, std::string& bytes) const;

  std::string path_;
  int fd_ = -1;
  Columns columns_;
  std::vector<Block> blocks_;
  std::vector<uint32_t> record_offset_;  // per row, within its block
  std::vector<uint32_t> record_size_;
  std::vector<uint32_t> row_block_;
  int64_t loaded_block_ = -1;
  std::string block_data_;
  int64_t failed_block_ = -1;  // the last block found damaged, and why
  Status failed_;
  std::optional<SegmentCipher::SegmentKey> key_;  // encrypted segments
};

// What is wrong with the segment file at `path`, one message per problem, each naming the file:
// it does not open (a damaged header, footer or column), a damaged block (each one), or it does
// not hold the `rows`, `bytes` and `shard` the catalog says (a file copied over another passes
// its own checksums). `problems` is empty when it is sound; `reader` is the file opened (its
// columns read), null when it does not open. An error when the file cannot be read for another
// reason than damage (IsSegmentDamage): repair must not drop a sound file it could not read (a
// review saw a segment deleted on "Permission denied").
struct SegmentCheck {
  std::vector<std::string> problems;
  std::unique_ptr<SegmentReader> reader;
};
Result<SegmentCheck> CheckSegment(const std::string& path, const SegmentCipher* cipher,
                                  uint64_t rows, uint64_t bytes, uint32_t shard);

}  // namespace medlake::store
