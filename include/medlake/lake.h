// The lake: a directory holding a SQLite catalog and immutable, patient-sharded segment files
// (docs/format.md). Lake gives read access to the last committed state; writes go through
// ingest (src/ingest), which commits through store::LakeWriter.
//
// A Lake is a snapshot: it sees the segments committed when it was opened. It may be used from
// several threads for reads of different segments (ScanShard opens its own readers).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake {
namespace privacy {
class SegmentCipher;
}

struct LakeStatus {
  uint64_t patients = 0;
  std::map<std::string, uint64_t> resources;  // live resources per type
  uint64_t total_resources = 0;
  uint64_t quarantined = 0;
  uint64_t segments = 0;
  uint64_t bytes = 0;  // segment bytes on disk
  uint64_t runs = 0;   // ingest runs that reached their end
  // Ingest runs that did not (killed, failed, or still running): what they committed before
  // stopping is in the lake.
  uint64_t unfinished_runs = 0;
  // Resources a DELETE request deleted that the lake remembers (docs/format.md, "Deletions").
  uint64_t deleted = 0;
};

struct QuarantineEntry {
  int64_t run_id = 0;
  std::string source;       // input file
  int64_t line = 0;         // 1-based line, 0 when not line-oriented
  int64_t byte_offset = 0;  // of the record in the (decompressed) input
  std::string location;     // position inside the record, e.g. "Bundle.entry[3].resource"
  std::string reason;       // why it was rejected; never contains patient data
};

// One live resource as a scan sees it.
struct ResourceView {
  std::string_view type;
  std::string_view id;
  uint32_t patient;  // ordinal, 0xFFFFFFFF for the shared area
  int64_t effective_start;
  int64_t effective_end;
  std::string_view json;  // minified resource
};

struct CodeView {
  std::string_view system;
  std::string_view code;
  uint32_t local_id = 0;  // index in its segment's code dictionary (stable within one segment)
};

// The typed hot columns of one live resource (docs/format.md), read without decompressing the
// resource itself. Views are valid during the callback only.
struct HotRow {
  std::string_view type;
  std::string_view id;
  uint32_t patient;         // ordinal, 0xFFFFFFFF for the shared area
  int64_t effective_start;  // ms since epoch, INT64_MIN if none
  int64_t effective_end;
  int64_t last_updated;  // meta.lastUpdated, ms since epoch, INT64_MIN if none
  double value;          // valueQuantity.value, NaN if none
  std::string_view unit;
  std::string_view status;
  std::string_view encounter;
  const CodeView* codes;
  size_t code_count;
  // The resource's JSON (decompresses its block on first use). Errors: kCorruption.
  std::function<Result<std::string_view>()> json;
};

struct SegmentInfo {
  int64_t id = 0;
  uint32_t shard = 0;
  std::string file;  // relative to the lake directory
  uint64_t rows = 0;
  uint64_t bytes = 0;
};

class Lake {
 public:
  // Opens an existing lake read-only. kNotFound when `dir` holds no lake.
  static Result<std::unique_ptr<Lake>> Open(const std::string& dir);
  ~Lake();

  const std::string& dir() const { return dir_; }
  uint32_t shard_count() const { return shard_count_; }
  const std::vector<SegmentInfo>& segments() const { return segments_; }
  // A hash of the committed state this snapshot sees (its segments and replaced rows): equal
  // hashes, same live rows. Caches derived from a lake (the cohort index) are stamped with it.
  uint64_t state_hash() const { return state_hash_; }
  // How many commits ingest had made to the catalog when this snapshot was taken: the identity
  // vault is read as of it (privacy::Vault::SetCommitted).
  uint64_t commits() const { return commits_; }

  Result<LakeStatus> Status();
  Result<std::vector<QuarantineEntry>> Quarantine(int64_t limit);
  // The patient id behind an ordinal ("" if unknown).
  Result<std::string> PatientId(uint32_t ordinal);
  // The ordinal of a patient id (a pseudonym in a keyed lake); nullopt when the lake has none.
  Result<std::optional<uint32_t>> PatientOrdinal(std::string_view patient_id);
  // Every patient id, indexed by ordinal ("" for unused ordinals).
  Result<std::vector<std::string>> PatientIds();

  // Calls `fn` for every live resource of `type` (all types when empty), segment by segment.
  // A damaged segment is skipped and reported in `damaged` (its file name and reason); the scan
  // goes on. Returns the first non-corruption error.
  ::medlake::Status Scan(std::string_view type, const std::function<void(const ResourceView&)>& fn,
                         std::vector<std::string>* damaged);
  // Scan of one segment (index into segments()), for callers that spread segments over
  // threads. Safe to call concurrently for different segments.
  ::medlake::Status ScanSegment(size_t segment, std::string_view type,
                                const std::function<void(const ResourceView&)>& fn,
                                std::vector<std::string>* damaged) const;
  // Calls `fn` with the hot columns of every live resource of `type` (all when empty). Damage
  // is handled as in Scan.
  ::medlake::Status ScanHot(std::string_view type, const std::function<void(const HotRow&)>& fn,
                            std::vector<std::string>* damaged);
  // ScanHot of one segment (index into segments()); `row` numbers the segment's rows. Safe to
  // call concurrently for different segments; `damaged` must then be per thread.
  ::medlake::Status ScanHotSegment(size_t segment, std::string_view type,
                                   const std::function<void(const HotRow&, uint32_t row)>& fn,
                                   std::vector<std::string>* damaged) const;
  // The stored resource Type/id. kNotFound if absent. Looks it up in a key index per shard
  // that this Lake builds on first use from the segments' key columns (about 40 bytes per
  // resource of the shards indexed; no resource is decompressed but the one returned). Shards
  // are searched in this order until found: `shard_hint` (e.g. the shard of the resource that
  // holds the reference), the shared area, then the others, so a lookup of a resource of the
  // same patient or of the shared area indexes one or two shards only; a Patient is looked up
  // in its own shard only (its ordinal from the catalog). Thread-safe (lookups are
  // serialized).
  Result<std::string> Get(std::string_view type, std::string_view id,
                          uint32_t shard_hint = kNoShard) const;
  static constexpr uint32_t kNoShard = 0xFFFFFFFFu;
  // Checks the catalog's pages and every checksum of every segment; returns one line per
  // problem found. An error (kIoError) when a segment cannot be read for another reason than
  // damage (permission denied, an I/O error): nothing is then known of it.
  Result<std::vector<std::string>> Verify();
  // Segment files under the lake's segments folder that the catalog does not name, when no
  // writer holds the lake (a writer's are not yet committed): an interrupted run's leftovers,
  // which the next writer removes, unless the catalog lost commits. Not damage: Verify does
  // not count them.
  std::vector<std::string> UnnamedSegmentFiles() const;
  // The lake's data cipher (segments, inbox, derived caches), null for a lake without a key.
  const privacy::SegmentCipher* data_cipher() const;

 private:
  struct Impl;
  Lake() = default;
  Result<LakeStatus> StatusLocked();  // Status, in its read transaction
  // Verify's check of the catalog's live count per type against the segments' live rows.
  ::medlake::Status VerifyTypeCounts(const std::map<std::string, int64_t, std::less<>>& live,
                                     std::vector<std::string>& problems);
  std::string dir_;
  uint32_t shard_count_ = 0;
  uint64_t commits_ = 0;
  uint64_t state_hash_ = 0;
  std::vector<SegmentInfo> segments_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medlake
