// The catalog schema (catalog.sqlite in the lake directory) and the lake layout constants.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "medlake/status.h"
#include "store/sqlite.h"

namespace medlake::store {

inline constexpr char kCatalogFile[] = "catalog.sqlite";
inline constexpr char kSegmentsDir[] = "segments";
inline constexpr uint32_t kDefaultShards = 16;
// 4 since 2026-12-02: `deletions`, the resources deleted by DELETE requests, and `runs.deleted`.
// 3 since 2026-11-30: `identifiers` keyed by value before system, and its rows by resource in
// `identifier_carriers` (2: one table with two indexes; 1: a row per identifier, id
// kAmbiguousIdentifier when several resources carried it). A writer upgrades older catalogs
// (UpgradeCatalog).
inline constexpr int kCatalogVersion = 4;
// The `deletions` table (docs/format.md, "Deletions"): a row per resource that a DELETE request
// deleted and that no later version stored again, by its ResourceKey (16 bytes), with its type
// (index in the R4 type table), the run that deleted it and when (last_updated, kNoTime when
// unknown). The identity index holds the same at segment 0.
inline constexpr char kDeletionsTable[] =
    "CREATE TABLE IF NOT EXISTS deletions(key BLOB PRIMARY KEY, type INTEGER NOT NULL, "
    "run_id INTEGER NOT NULL, last_updated INTEGER NOT NULL) WITHOUT ROWID;";
// The `identifiers` table (docs/format.md): lookups by (type, system, value) and, without a
// system, by (type, value).
inline constexpr char kIdentifiersTable[] =
    "CREATE TABLE IF NOT EXISTS identifiers(type TEXT NOT NULL, system TEXT NOT NULL, "
    "value TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(type, value, system, id)) WITHOUT ROWID;";
// The same rows by resource (a new version drops the identifiers it no longer carries). A
// table rather than an index, so that a commit inserts into each B-tree in its own key order.
// A row deleted from `identifiers` leaves it by a trigger, whichever medlake deletes it (one of
// catalog format 2 knows no identifier_carriers).
inline constexpr char kIdentifierCarriersTable[] =
    "CREATE TABLE IF NOT EXISTS identifier_carriers(type TEXT NOT NULL, id TEXT NOT NULL, "
    "system TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(type, id, system, value)) "
    "WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS identifier_deleted AFTER DELETE ON identifiers BEGIN "
    "DELETE FROM identifier_carriers WHERE type = OLD.type AND id = OLD.id AND "
    "system = OLD.system AND value = OLD.value; END;";
// The `identifiers` system of pseudonym links in a lake with a key (type Patient): value a
// keyed hash of a source Patient id or identifier (privacy::Pseudonymizer::SourceLink,
// IdentifierLink), id the pseudonym it was given.
inline constexpr char kPseudonymLinkSystem[] = "urn:medlake:pseudonym-link";
// What a lookup of an identifier that several resources of a type carry answers (not a valid
// FHIR id): a conditional reference to it has no single match. Catalogs of version 1 stored it
// as the id of such identifiers; those rows are kept.
inline constexpr char kAmbiguousIdentifier[] = "*";

// Creates the schema if absent (idempotent) and records format version and shard count.
Status CreateSchema(Db& db, uint32_t shards);
// Brings a catalog of an earlier format to kCatalogVersion (one transaction; nothing to do for a
// current one). Every writer of `identifiers` (ingest, erase, repair) calls it first.
Status UpgradeCatalog(Db& db);

// The statements that change an identifier's rows in `identifiers` and `identifier_carriers`
// together.
class IdentifierRows {
 public:
  static Result<IdentifierRows> Prepare(Db& db);
  // (system, value) of the identifiers resource type/id carries, except those of system
  // `except_system` when given.
  Result<std::vector<std::pair<std::string, std::string>>> Of(
      std::string_view type, std::string_view id,
      std::optional<std::string_view> except_system = std::nullopt);
  // Deletes one row (from `identifiers`; the trigger deletes it from identifier_carriers).
  Status Delete(std::string_view type, std::string_view system, std::string_view value,
                std::string_view id);
  // Deletes every row of resource type/id, except those of `except_system` when given.
  Status DeleteAllOf(std::string_view type, std::string_view id,
                     std::optional<std::string_view> except_system = std::nullopt);

 private:
  IdentifierRows(Stmt held, Stmt drop) : held_(std::move(held)), drop_(std::move(drop)) {}
  Stmt held_, drop_;
};
// True for a catalog without tables: a lake whose creation did not commit.
Result<bool> IsEmptyCatalog(Db& db);

// Reads meta.shards; kCorruption if the catalog is not a medlake catalog.
Result<uint32_t> ReadShardCount(Db& db);
// meta.commits: how many commits ingest has made to the catalog (LakeWriter::Commit counts
// them; the identity vault tags what it stages with the number of the commit to come). 0 when
// absent: none yet, or a catalog written before the count was kept.
Result<uint64_t> ReadCommitCount(Db& db);
// In a transaction the caller holds: sets meta.commits.
Status WriteCommitCount(Db& db, uint64_t commits);

// OK unless `lake_dir/segments` holds segment files: then its catalog, missing or without
// tables, was lost (segments are written only after the catalog's schema has committed), and
// kCorruption says so. A writer must not take such a lake for a new one: it would remove every
// segment as uncommitted.
Status CheckNoOrphanSegments(const std::string& lake_dir);

// The segment files of `lake_dir` (paths as spelled under it, "segments/..."; only files named
// like segments) that `named` (the catalog's `file` column) does not hold.
std::vector<std::string> UnnamedSegmentFiles(const std::string& lake_dir,
                                             const std::set<std::string>& named);

// Removes the segment files of `lake_dir` that no committed segment names (what a crashed
// writer left) and returns the highest committed segment id (0 when none). Paths are compared
// as spelled under the lake folder, never resolved (`segments/` may be a link to another disk);
// only files named like segments are candidates. The caller holds the writer lock.
Result<uint32_t> RemoveUncommittedSegments(const std::string& lake_dir, Db& db);

// A committed segment as the catalog lists it, with its deleted-row bitmap.
struct CatalogSegment {
  int64_t id = 0;
  uint32_t shard = 0;
  std::string file;  // relative to the lake directory
  uint64_t rows = 0, bytes = 0;
  int64_t run_id = 0;
  std::string deleted;       // the segment_deletes blob of replaced rows (ReadCatalogBitmap)
  bool has_deleted = false;  // a segment_deletes row exists (its blob may still be empty)
};
// Every committed segment, by id.
Result<std::vector<CatalogSegment>> ListSegments(Db& db);

// A hash of the committed state: every segment (id, rows, bytes), every deleted-row bitmap
// (segment id, XXH64 of its serialization) and the count of commits that changed `deletions`.
// Equal hashes, same live rows and remembered deletions. Call it inside a
// read transaction to see one state.
Result<uint64_t> CommittedStateHash(Db& db);
// In a commit's transaction that changes `deletions`: counts it in `meta` (key
// `deletion_commits`), which CommittedStateHash reads instead of the table.
Status CountDeletionChange(Db& db);

// Reads pseudonym links from a catalog. Holds a statement prepared on `db`, which must outlive
// it; not thread-safe, like Db.
class PseudonymLinks {
 public:
  static Result<PseudonymLinks> Prepare(Db& db);
  // The pseudonym linked to `link`, or nullopt when the catalog has no such link.
  Result<std::optional<std::string>> Find(std::string_view link);

 private:
  explicit PseudonymLinks(Stmt find) : find_(std::move(find)) {}
  Stmt find_;
};

// Shard directory name: "shared" for the shared area (index == shards), else "NN".
std::string ShardDirName(uint32_t shard, uint32_t shards);

}  // namespace medlake::store
