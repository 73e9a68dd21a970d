#include "store/catalog.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <vector>

namespace medlake::store {

namespace {

Status CreateTables(Db& db, uint32_t shards) {
  MEDLAKE_RETURN_IF_ERROR(db.Exec(R"sql(
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS runs(
      run_id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, state TEXT NOT NULL,
      records_read INTEGER NOT NULL DEFAULT 0, stored INTEGER NOT NULL DEFAULT 0,
      duplicates INTEGER NOT NULL DEFAULT 0, replaced INTEGER NOT NULL DEFAULT 0,
      quarantined INTEGER NOT NULL DEFAULT 0, files INTEGER NOT NULL DEFAULT 0,
      skipped_files INTEGER NOT NULL DEFAULT 0, bytes_read INTEGER NOT NULL DEFAULT 0,
      deleted INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS segments(
      segment_id INTEGER PRIMARY KEY, shard INTEGER NOT NULL, file TEXT NOT NULL UNIQUE,
      rows INTEGER NOT NULL, bytes INTEGER NOT NULL, run_id INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS segment_deletes(
      segment_id INTEGER PRIMARY KEY REFERENCES segments(segment_id), deleted BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS type_counts(type TEXT PRIMARY KEY, live INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS patients(ordinal INTEGER PRIMARY KEY, patient_id TEXT NOT NULL UNIQUE);
    CREATE TABLE IF NOT EXISTS codes(
      code_id INTEGER PRIMARY KEY, system TEXT NOT NULL, code TEXT NOT NULL, UNIQUE(system, code));
    CREATE TABLE IF NOT EXISTS quarantine(
      entry_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, source TEXT NOT NULL,
      line INTEGER NOT NULL, byte_offset INTEGER NOT NULL, location TEXT NOT NULL,
      reason TEXT NOT NULL, record BLOB NOT NULL, record_hash INTEGER NOT NULL,
      UNIQUE(source, byte_offset, location, record_hash));
    CREATE TABLE IF NOT EXISTS skipped_files(
      run_id INTEGER NOT NULL, path TEXT NOT NULL, reason TEXT NOT NULL);
  )sql"));
  MEDLAKE_RETURN_IF_ERROR(db.Exec(kIdentifiersTable));
  MEDLAKE_RETURN_IF_ERROR(db.Exec(kIdentifierCarriersTable));
  MEDLAKE_RETURN_IF_ERROR(db.Exec(kDeletionsTable));
  MEDLAKE_ASSIGN_OR_RETURN(Stmt put, db.Prepare("INSERT OR IGNORE INTO meta VALUES(?, ?)"));
  MEDLAKE_RETURN_IF_ERROR(
      put.Bind(1, "format_version").Bind(2, std::to_string(kCatalogVersion)).Run());
  MEDLAKE_RETURN_IF_ERROR(put.Bind(1, "shards").Bind(2, std::to_string(shards)).Run());
  return Status::Ok();
}

}  // namespace

Status CreateSchema(Db& db, uint32_t shards) {
  // One transaction: a crash while a lake is being created leaves a catalog without tables,
  // which the next writer creates again (LakeWriter::Open), never a partial schema.
  MEDLAKE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status s = CreateTables(db, shards);
  MEDLAKE_RETURN_IF_ERROR(db.Exec(s.ok() ? "COMMIT" : "ROLLBACK"));
  return s;
}

Status UpgradeCatalog(Db& db) {
  {
    // A catalog of a later format is left alone: this writer would not keep what it adds.
    MEDLAKE_ASSIGN_OR_RETURN(Stmt v,
                             db.Prepare("SELECT value FROM meta WHERE key = 'format_version'"));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, v.Step());
    if (row && std::atoll(std::string(v.Text(0)).c_str()) > kCatalogVersion) {
      return Unsupported(db.path() + " is of catalog format " + std::string(v.Text(0)) +
                         ", newer than this medlake's (" + std::to_string(kCatalogVersion) +
                         "): use a newer medlake");
    }
  }
  // Format 3 had no deletions (docs/format.md, "Deletions"): the table and the runs' count are
  // added in one transaction (the callers hold the lake's writer lock), and the format becomes
  // 4, which a writer of format 3 leaves alone.
  {
    MEDLAKE_ASSIGN_OR_RETURN(
        Stmt q, db.Prepare("SELECT EXISTS(SELECT 1 FROM pragma_table_info('runs') WHERE name = "
                           "'deleted')"));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    const bool upgraded = row && q.Int(0) != 0;
    q.Reset();  // done before the schema changes
    if (!upgraded) {
      MEDLAKE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
      Status added = db.Exec(std::string(kDeletionsTable) +
                             "ALTER TABLE runs ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
                             "UPDATE meta SET value = '" +
                             std::to_string(kCatalogVersion) + "' WHERE key = 'format_version';");
      MEDLAKE_RETURN_IF_ERROR(db.Exec(added.ok() ? "COMMIT" : "ROLLBACK"));
      MEDLAKE_RETURN_IF_ERROR(added);
    }
  }
  // Format 1 kept one row per identifier (`id` not in the primary key), format 2 one row per
  // carrier with indexes by (type, id) and (type, value); both become format 3's two tables.
  // An ambiguous row of format 1 (id kAmbiguousIdentifier) stays as it is, its carriers being
  // unknown. A format 3 catalog that a writer of format 2 has written since (it knows neither
  // the format nor identifier_carriers, and leaves its two indexes on `identifiers`) has its
  // rows by resource made again from `identifiers`, which that writer kept.
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt q,
      db.Prepare(
          "SELECT (SELECT pk FROM pragma_table_info('identifiers') WHERE name = "
          "'value') = 2 AND EXISTS(SELECT 1 FROM sqlite_master WHERE type = "
          "'table' AND name = 'identifier_carriers') AND NOT EXISTS(SELECT 1 FROM "
          "sqlite_master WHERE type = 'index' AND tbl_name = 'identifiers') AND EXISTS(SELECT 1 "
          "FROM sqlite_master WHERE type = 'trigger' AND name = "
          "'identifier_deleted')"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
  if (row && q.Int(0) != 0) return Status::Ok();
  q.Reset();
  MEDLAKE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  // Each table is filled in its own key order (a B-tree filled page after page).
  Status s = db.Exec(
      "ALTER TABLE identifiers RENAME TO identifiers_before;" + std::string(kIdentifiersTable) +
      "INSERT OR IGNORE INTO identifiers SELECT type, system, value, id FROM identifiers_before "
      "ORDER BY type, value, system, id;"
      "DROP TRIGGER IF EXISTS identifier_deleted;"  // on identifiers_before since the rename
      "DROP TABLE IF EXISTS identifier_carriers;" +
      std::string(kIdentifierCarriersTable) +
      "INSERT OR IGNORE INTO identifier_carriers SELECT type, id, system, value FROM "
      "identifiers_before ORDER BY type, id, system, value;"
      "DROP TABLE identifiers_before;"
      "UPDATE meta SET value = '" +
      std::to_string(kCatalogVersion) + "' WHERE key = 'format_version';");
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s;
  }
  return db.Exec("COMMIT");
}

Result<IdentifierRows> IdentifierRows::Prepare(Db& db) {
  MEDLAKE_ASSIGN_OR_RETURN(Stmt held,
                           db.Prepare("SELECT system, value FROM identifier_carriers WHERE type = "
                                      "?1 AND id = ?2 AND (?3 IS NULL OR system <> ?3)"));
  MEDLAKE_ASSIGN_OR_RETURN(Stmt drop,
                           db.Prepare("DELETE FROM identifiers WHERE type = ? AND value = ? AND "
                                      "system = ? AND id = ?"));
  return IdentifierRows(std::move(held), std::move(drop));
}

Result<std::vector<std::pair<std::string, std::string>>> IdentifierRows::Of(
    std::string_view type, std::string_view id, std::optional<std::string_view> except_system) {
  std::vector<std::pair<std::string, std::string>> rows;
  held_.Bind(1, type).Bind(2, id);
  if (except_system) {
    held_.Bind(3, *except_system);
  } else {
    held_.BindNull(3);
  }
  for (;;) {
    Result<bool> row = held_.Step();
    if (!row.ok()) {
      held_.Reset();
      return row.status();
    }
    if (!*row) break;
    rows.emplace_back(held_.Text(0), held_.Text(1));
  }
  held_.Reset();
  return rows;
}

Status IdentifierRows::Delete(std::string_view type, std::string_view system,
                              std::string_view value, std::string_view id) {
  return drop_.Bind(1, type).Bind(2, value).Bind(3, system).Bind(4, id).Run();
}

Status IdentifierRows::DeleteAllOf(std::string_view type, std::string_view id,
                                   std::optional<std::string_view> except_system) {
  MEDLAKE_ASSIGN_OR_RETURN(auto rows, Of(type, id, except_system));
  for (const auto& [system, value] : rows) MEDLAKE_RETURN_IF_ERROR(Delete(type, system, value, id));
  return Status::Ok();
}

Result<bool> IsEmptyCatalog(Db& db) {
  MEDLAKE_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT count(*) FROM sqlite_master"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
  return !row || q.Int(0) == 0;
}

Result<uint32_t> ReadShardCount(Db& db) {
  auto stmt = db.Prepare("SELECT value FROM meta WHERE key = 'shards'");
  if (!stmt.ok()) {
    if (stmt.status().message().find("no such table") == std::string::npos) return stmt.status();
    auto empty = IsEmptyCatalog(db);
    if (empty.ok() && *empty) {
      MEDLAKE_RETURN_IF_ERROR(
          CheckNoOrphanSegments(std::filesystem::path(db.path()).parent_path().string()));
      return NotFound(db.path() +
                      " holds no lake yet (its creation did not complete; an ingest "
                      "creates it)");
    }
    return Corruption(db.path() + " is not a medlake catalog (no meta table)");
  }
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return Corruption(db.path() + " is not a medlake catalog (no shard count)");
  int64_t n = std::stoll(std::string(stmt->Text(0)));
  if (n <= 0 || n > 4096) return Corruption("catalog shard count out of range");
  return static_cast<uint32_t>(n);
}

Result<uint64_t> ReadCommitCount(Db& db) {
  MEDLAKE_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare("SELECT value FROM meta WHERE key = 'commits'"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return uint64_t{0};
  std::string_view text = stmt.Text(0);
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Corruption("catalog: the commit count is not a number");
  }
  return n;
}

Status WriteCommitCount(Db& db, uint64_t commits) {
  MEDLAKE_ASSIGN_OR_RETURN(Stmt stmt,
                           db.Prepare("INSERT OR REPLACE INTO meta VALUES('commits', ?)"));
  return stmt.Bind(1, std::to_string(commits)).Run();
}

Result<uint64_t> CommittedStateHash(Db& db) {
  std::vector<uint64_t> state;  // segments, then deleted-row bitmaps
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt seg, db.Prepare("SELECT segment_id, rows, bytes FROM segments ORDER BY segment_id"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, seg.Step());
    if (!row) break;
    for (int i = 0; i < 3; ++i) state.push_back(static_cast<uint64_t>(seg.Int(i)));
  }
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt del, db.Prepare("SELECT segment_id, deleted FROM segment_deletes ORDER BY segment_id"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, del.Step());
    if (!row) break;
    std::string_view blob = del.Blob(1);
    state.push_back(static_cast<uint64_t>(del.Int(0)));
    state.push_back(XXH64(blob.data(), blob.size(), 0));
  }
  // The commits that changed `deletions`, which the identity index holds too (a commit may
  // delete only what the lake did not hold: no segment changes). A lake without any has the
  // state of the formats before them.
  MEDLAKE_ASSIGN_OR_RETURN(Stmt changes,
                           db.Prepare("SELECT value FROM meta WHERE key = 'deletion_commits'"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, changes.Step());
  if (row) state.push_back(static_cast<uint64_t>(changes.Int(0)));
  return XXH64(state.data(), state.size() * sizeof(uint64_t), 0);
}

Status CountDeletionChange(Db& db) {
  return db.Exec(
      "INSERT INTO meta VALUES('deletion_commits', 1) ON CONFLICT(key) DO UPDATE SET value = "
      "value + 1");
}

Result<std::vector<CatalogSegment>> ListSegments(Db& db) {
  std::vector<CatalogSegment> segments;
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt q, db.Prepare("SELECT s.segment_id, s.shard, s.file, s.rows, s.bytes, s.run_id, "
                         "d.deleted FROM segments s LEFT JOIN segment_deletes d USING(segment_id) "
                         "ORDER BY s.segment_id"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    segments.push_back({q.Int(0), static_cast<uint32_t>(q.Int(1)), std::string(q.Text(2)),
                        static_cast<uint64_t>(q.Int(3)), static_cast<uint64_t>(q.Int(4)), q.Int(5),
                        q.IsNull(6) ? std::string() : std::string(q.Blob(6)), !q.IsNull(6)});
  }
  return segments;
}

std::string ShardDirName(uint32_t shard, uint32_t shards) {
  if (shard == shards) return "shared";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u", shard);
  return buf;
}

Result<PseudonymLinks> PseudonymLinks::Prepare(Db& db) {
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt find, db.Prepare("SELECT id FROM identifiers WHERE type = 'Patient' AND system = ? AND "
                            "value = ?"));
  return PseudonymLinks(std::move(find));
}

Result<std::optional<std::string>> PseudonymLinks::Find(std::string_view link) {
  find_.Bind(1, std::string_view(kPseudonymLinkSystem)).Bind(2, link);
  MEDLAKE_ASSIGN_OR_RETURN(bool row, find_.Step());
  std::optional<std::string> pseudonym;
  if (row) pseudonym = std::string(find_.Text(0));
  find_.Reset();
  return pseudonym;
}

namespace {

// "seg-" + at least 8 digits + ".mls" (lake_writer.cc, SegmentFileName).
bool IsSegmentFileName(std::string_view name) {
  if (name.size() < 16 || !name.starts_with("seg-") || !name.ends_with(".mls")) return false;
  std::string_view digits = name.substr(4, name.size() - 8);
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Status CheckNoOrphanSegments(const std::string& lake_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root = lake_dir + "/" + kSegmentsDir;
  uint64_t found = 0;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && IsSegmentFileName(it->path().filename().string())) ++found;
  }
  if (found == 0) return Status::Ok();
  return Corruption("the catalog of " + lake_dir + " (" + kCatalogFile +
                    ") is missing or empty, but " + std::to_string(found) +
                    " segment files are in its segments folder: the catalog was lost; restore "
                    "it from a backup (nothing was changed)");
}

std::vector<std::string> UnnamedSegmentFiles(const std::string& lake_dir,
                                             const std::set<std::string>& named) {
  namespace fs = std::filesystem;
  std::vector<std::string> unnamed;
  std::error_code ec;
  const fs::path root = lake_dir + "/" + kSegmentsDir;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file() || !IsSegmentFileName(it->path().filename().string())) continue;
    std::string rel =
        (fs::path(kSegmentsDir) / it->path().lexically_relative(root)).generic_string();
    if (!named.count(rel)) unnamed.push_back(std::move(rel));
  }
  return unnamed;
}

Result<uint32_t> RemoveUncommittedSegments(const std::string& lake_dir, Db& db) {
  std::set<std::string> committed;
  uint32_t last = 0;
  {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT segment_id, file FROM segments"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      committed.emplace(q.Text(1));
      last = std::max(last, static_cast<uint32_t>(q.Int(0)));
    }
  }
  for (const std::string& rel : UnnamedSegmentFiles(lake_dir, committed)) {
    std::error_code ec;
    std::filesystem::remove(lake_dir + "/" + rel, ec);
  }
  return last;
}

}  // namespace medlake::store
