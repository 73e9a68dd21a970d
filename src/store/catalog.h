// The catalog schema (catalog.sqlite in the lake directory) and the lake layout constants.
#pragma once

#include <optional>
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
// 2 since 2026-11-30: `identifiers` holds a row per resource carrying an identifier (1: a row
// per identifier, id kAmbiguousIdentifier when several resources carried it).
inline constexpr int kCatalogVersion = 2;
// The `identifiers` table (docs/format.md).
inline constexpr char kIdentifiersTable[] =
    "CREATE TABLE IF NOT EXISTS identifiers(type TEXT NOT NULL, system TEXT NOT NULL, "
    "value TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(type, system, value, id)) WITHOUT ROWID;";
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
// True for a catalog without tables: a lake whose creation did not commit.
Result<bool> IsEmptyCatalog(Db& db);

// Reads meta.shards; kCorruption if the catalog is not a medlake catalog.
Result<uint32_t> ReadShardCount(Db& db);

// OK unless `lake_dir/segments` holds segment files: then its catalog, missing or without
// tables, was lost (segments are written only after the catalog's schema has committed), and
// kCorruption says so. A writer must not take such a lake for a new one: it would remove every
// segment as uncommitted.
Status CheckNoOrphanSegments(const std::string& lake_dir);

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
  std::string deleted;  // portable roaring bitmap of replaced rows, empty when none
};
// Every committed segment, by id.
Result<std::vector<CatalogSegment>> ListSegments(Db& db);

// A hash of the committed state: every segment (id, rows, bytes) and every deleted-row bitmap
// (segment id, XXH64 of its serialization). Equal hashes, same live rows. Call it inside a
// read transaction to see one state.
Result<uint64_t> CommittedStateHash(Db& db);

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
