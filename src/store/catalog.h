// The catalog schema (catalog.sqlite in the lake directory) and the lake layout constants.
#pragma once

#include <string>

#include "medlake/status.h"
#include "store/sqlite.h"

namespace medlake::store {

inline constexpr char kCatalogFile[] = "catalog.sqlite";
inline constexpr char kSegmentsDir[] = "segments";
inline constexpr char kLockFile[] = "LOCK";
inline constexpr uint32_t kDefaultShards = 16;
inline constexpr int kCatalogVersion = 1;

// Creates the schema if absent (idempotent) and records format version and shard count.
Status CreateSchema(Db& db, uint32_t shards);

// Reads meta.shards; kCorruption if the catalog is not a medlake catalog.
Result<uint32_t> ReadShardCount(Db& db);

// A hash of the committed state: every segment (id, rows, bytes) and every deleted-row bitmap
// (segment id, XXH64 of its serialization). Equal hashes, same live rows. Call it inside a
// read transaction to see one state.
Result<uint64_t> CommittedStateHash(Db& db);

// Shard directory name: "shared" for the shared area (index == shards), else "NN".
std::string ShardDirName(uint32_t shard, uint32_t shards);

}  // namespace medlake::store
