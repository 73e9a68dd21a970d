// IdentityIndex: the committed identity of every live resource of a lake (key, content hash,
// last update, run, segment, row), kept on disk so that the writer's memory does not grow with
// the lake. The layout is in docs/format.md ("Identity index").
//
// The index is a set of runs under LAKE/index/identity/: files of fixed-size entries sorted by
// key, each with a blocked Bloom filter, and a MANIFEST that names the runs (oldest first) and
// stamps them with the committed catalog state they describe (CommittedStateHash). A key's
// entry in a newer run overrides older ones. The index is derived data: when the manifest is
// missing, damaged or stamped with another state (a crash between a catalog commit and the
// manifest update, an erasure, a lake written before the index existed), the writer rebuilds it
// from the segments.
//
// Memory: per run, its Bloom filter (10 bits per entry) and the first key of every block of
// 128 entries (1 bit per entry); an entry is read from disk (one pread of the quarter of a
// block where its key would lie, rarely the whole block) only when a filter says its key may
// be in that run. Merging keeps the number of runs logarithmic.
//
// Thread safety: Find may be called from many threads at once. AddRun and Publish must not run
// concurrently with anything else.
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fhir_time.h"
#include "medlake/status.h"
#include "store/segment.h"

namespace medlake::store {

inline constexpr char kIdentityIndexDir[] = "index/identity";

// One live resource's committed version, as stored in a run (48 bytes, little-endian).
struct IdentityEntry {
  Key128 key;
  uint64_t content_hash = 0;
  int64_t last_updated = kNoTime;
  uint32_t run = 0;      // ingest run that committed it
  uint32_t segment = 0;  // segment id and row of the live version
  uint32_t row = 0;
  uint16_t type = 0;  // index in the R4 resource type table
  uint16_t reserved = 0;
};
static_assert(sizeof(IdentityEntry) == 48);
static_assert(std::endian::native == std::endian::little);

class IdentityIndex {
  struct Run;  // one run file, open

 public:
  // Opens the index kept in `dir` if its manifest is stamped `stamp` and every run it names is
  // intact; files the manifest does not name are removed. Otherwise every file in `dir` is
  // removed and an empty index is returned with needs_rebuild() true: the caller adds the
  // entries of the committed segments (AddRun) and then publishes them. Errors: kIoError.
  static Result<std::unique_ptr<IdentityIndex>> Open(const std::string& dir, uint64_t stamp);
  ~IdentityIndex();
  IdentityIndex(const IdentityIndex&) = delete;
  IdentityIndex& operator=(const IdentityIndex&) = delete;

  bool needs_rebuild() const { return needs_rebuild_; }
  size_t run_count() const { return runs_.size(); }

  // The newest entry of `key`; false when no run holds it. Errors: kIoError.
  Result<bool> Find(const Key128& key, IdentityEntry& out) const;

  // Writes `entries` (any order, at most one per key) as a new run (not fsynced: Open checks
  // every run's checksum, and a damaged index is rebuilt from the segments), newer than every
  // run so far, then merges the newest runs while a run is not more than twice the size of the
  // runs after it. Find sees the new entries at once; a later writer sees them only after
  // Publish.
  Status AddRun(std::vector<IdentityEntry> entries);

  // AddRun in two steps, so that the costly one can run before the commit whose entries it
  // holds is made (ingest prepares it while the identity vault writes): Prepare sorts `entries`
  // and writes them as a run file that nothing reads; Add makes that run the newest, as AddRun
  // does. A prepared run that is never added is removed with its object.
  class PreparedRun {
   public:
    PreparedRun();
    PreparedRun(PreparedRun&&) noexcept;
    PreparedRun& operator=(PreparedRun&&) noexcept;
    ~PreparedRun();
    // No run: none prepared, or no entries to write.
    bool empty() const { return run_ == nullptr; }

   private:
    friend class IdentityIndex;
    std::unique_ptr<Run> run_;
  };
  Result<PreparedRun> Prepare(std::vector<IdentityEntry> entries);
  Status Add(PreparedRun prepared);

  // Names the current runs in the manifest, stamped `stamp`, atomically; then removes the run
  // files that merges made obsolete.
  Status Publish(uint64_t stamp);

 private:
  class RunWriter;
  IdentityIndex() = default;
  Status MergeTail(size_t first);
  std::string NextRunName();

  std::string dir_;
  bool needs_rebuild_ = false;
  uint32_t next_run_ = 1;
  std::vector<std::unique_ptr<Run>> runs_;  // oldest first
  std::vector<std::string> obsolete_;       // merged away, removed after the next Publish
};

}  // namespace medlake::store
