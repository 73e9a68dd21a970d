#include "store/erase.h"

#include <fcntl.h>
#include <roaring/roaring.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "common/file_util.h"
#include "common/string_util.h"
#include "store/bitmap.h"
#include "store/catalog.h"
#include "store/identity_index.h"
#include "store/segment.h"
#include "store/sqlite.h"

namespace medlake::store {
namespace {

// Every row of a segment as Rows, for rewriting it, with whether it is deleted (a superseded
// version: not live, but its bytes are in the file until it is rewritten). A delete bitmap
// that does not read is an error: taking its rows for live would bring superseded versions
// back.
Result<std::vector<std::pair<Row, bool>>> ReadRows(SegmentReader& reader,
                                                   const CatalogSegment& seg) {
  std::unique_ptr<roaring_bitmap_t, decltype(&roaring_bitmap_free)> bm(nullptr,
                                                                       &roaring_bitmap_free);
  if (seg.has_deleted) {
    bm.reset(ReadCatalogBitmap(seg.deleted));
    if (!bm) return Corruption(DamagedBitmapMessage(seg.id));
  }
  std::vector<std::pair<Row, bool>> rows;
  for (uint32_t i = 0; i < reader.columns().rows; ++i) {
    MEDLAKE_ASSIGN_OR_RETURN(Row r, reader.ReadRow(i));
    rows.emplace_back(std::move(r), bm && roaring_bitmap_contains(bm.get(), i));
  }
  return rows;
}

// No freed page or WAL frame of the catalog may keep an erased id.
Status ScrubCatalog(Db& db) {
  MEDLAKE_RETURN_IF_ERROR(db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  MEDLAKE_RETURN_IF_ERROR(db.Exec("VACUUM"));
  return db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// True when the identity index describes a state other than the committed one `stamp` (an
// erasure removes the derived indexes after its commit; a crash may come first).
bool IndexStampedBefore(const std::string& lake_dir, uint64_t stamp) {
  auto index = IdentityIndex::Open(lake_dir + "/" + kIdentityIndexDir, stamp);
  return !index.ok() || (*index)->needs_rebuild();
}

// What an erasure cut short after its commit left (the caller holds the writer lock and has
// removed the segments no commit names): derived indexes of the state before it, freed
// catalog pages.
Status FinishLocked(const std::string& lake_dir, Db& db) {
  MEDLAKE_ASSIGN_OR_RETURN(uint64_t stamp, CommittedStateHash(db));
  if (IndexStampedBefore(lake_dir, stamp)) {
    std::error_code ec;
    std::filesystem::remove_all(lake_dir + "/index", ec);
  }
  return ScrubCatalog(db);
}

// The lake's catalog under its writer lock, with the segment files no commit names removed
// (an erasure's or an ingest's leftovers).
struct LockedCatalog {
  FolderLock lock;
  std::unique_ptr<Db> db;
};
Result<LockedCatalog> LockCatalog(const std::string& lake_dir) {
  if (!std::filesystem::exists(lake_dir + "/" + kCatalogFile)) {
    return NotFound("no lake at " + lake_dir);
  }
  MEDLAKE_ASSIGN_OR_RETURN(FolderLock lock, FolderLock::Acquire(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(auto db, Db::Open(lake_dir + "/" + kCatalogFile, false, false));
  MEDLAKE_RETURN_IF_ERROR(RemoveUncommittedSegments(lake_dir, *db).status());
  MEDLAKE_RETURN_IF_ERROR(UpgradeCatalog(*db));
  return LockedCatalog{std::move(lock), std::move(db)};
}

}  // namespace

Status FinishInterruptedErasure(const std::string& lake_dir) {
  MEDLAKE_ASSIGN_OR_RETURN(LockedCatalog locked, LockCatalog(lake_dir));
  return FinishLocked(lake_dir, *locked.db);
}

Result<std::vector<ErasedResource>> ErasePatient(const std::string& lake_dir,
                                                 const std::string& patient_id,
                                                 const BeforeCommit& before_commit,
                                                 std::string* warning) {
  namespace fs = std::filesystem;
  MEDLAKE_ASSIGN_OR_RETURN(LockedCatalog locked, LockCatalog(lake_dir));
  std::unique_ptr<Db>& db = locked.db;
  MEDLAKE_ASSIGN_OR_RETURN(auto cipher, SegmentCipher::ForLake(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(uint32_t shards, ReadShardCount(*db));
  int64_t ordinal = -1;
  {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt q,
                             db->Prepare("SELECT ordinal FROM patients WHERE patient_id = ?"));
    q.Bind(1, std::string_view(patient_id));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    ordinal = row ? q.Int(0) : -1;
  }
  if (ordinal < 0) {
    MEDLAKE_RETURN_IF_ERROR(FinishLocked(lake_dir, *db));
    return NotFound("no such patient in the lake");
  }
  const uint32_t shard = static_cast<uint32_t>(ordinal) % shards;
  std::vector<CatalogSegment> segments;
  int64_t next_id = 1;
  {
    MEDLAKE_ASSIGN_OR_RETURN(std::vector<CatalogSegment> all, ListSegments(*db));
    for (CatalogSegment& seg : all) {
      next_id = std::max(next_id, seg.id + 1);
      if (seg.shard == shard || seg.shard == shards) segments.push_back(std::move(seg));
    }
  }

  // New segments without the patient, written and synced before the catalog names them.
  struct Rewrite {
    CatalogSegment old;
    int64_t new_id = 0;
    std::string new_file;
    uint64_t rows = 0, bytes = 0;
  };
  std::vector<Rewrite> rewrites;
  std::vector<ErasedResource> erased;
  std::vector<ErasedResource> held;  // every row that held the patient: versions, shared rows
  std::map<std::string, int64_t> type_deltas;
  for (const auto& seg : segments) {
    MEDLAKE_ASSIGN_OR_RETURN(auto reader,
                             SegmentReader::Open(lake_dir + "/" + seg.file, cipher.get()));
    MEDLAKE_ASSIGN_OR_RETURN(auto rows, ReadRows(*reader, seg));
    std::vector<Row> kept;
    bool touched = false;
    for (auto& [r, deleted] : rows) {
      if (deleted) {
        // A superseded version: gone from the rewritten segment. The patient's, or one of the
        // shared area that names them, makes the segment one to rewrite (its bytes held them).
        if (r.patient == static_cast<uint32_t>(ordinal) ||
            (seg.shard == shards && r.json.find(patient_id) != std::string::npos)) {
          touched = true;
          held.push_back({r.type, r.id});
        }
        continue;
      }
      if (r.patient == static_cast<uint32_t>(ordinal)) {
        erased.push_back({r.type, r.id});
        held.push_back({r.type, r.id});
        type_deltas[r.type] -= 1;
        touched = true;
        continue;
      }
      if (seg.shard == shards && r.json.find(patient_id) != std::string::npos) {
        held.push_back({r.type, r.id});
        ReplaceAll(r.json, patient_id, "erased");
        r.content_hash = ContentHash(r.json);
        touched = true;
      }
      kept.push_back(std::move(r));
    }
    if (!touched) continue;
    Rewrite rw{seg};
    if (!kept.empty()) {
      rw.new_id = next_id++;
      char name[32];
      std::snprintf(name, sizeof name, "seg-%08lld.mls", static_cast<long long>(rw.new_id));
      rw.new_file = std::string(kSegmentsDir) + "/" + ShardDirName(seg.shard, shards) + "/" + name;
      SortRows(kept);
      MEDLAKE_ASSIGN_OR_RETURN(
          rw.bytes, WriteSegment(lake_dir + "/" + rw.new_file, seg.shard, kept, cipher.get()));
      rw.rows = kept.size();
    }
    rewrites.push_back(std::move(rw));
  }
  for (uint32_t s : {shard, shards}) {
    MEDLAKE_RETURN_IF_ERROR(SyncDir(lake_dir + "/" + kSegmentsDir + "/" + ShardDirName(s, shards)));
  }

  if (before_commit) {
    MEDLAKE_ASSIGN_OR_RETURN(uint64_t commits, ReadCommitCount(*db));
    MEDLAKE_RETURN_IF_ERROR(before_commit(held, commits));
  }
  MEDLAKE_RETURN_IF_ERROR(db->Exec("PRAGMA secure_delete=ON"));
  MEDLAKE_RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt del_seg,
                             db->Prepare("DELETE FROM segments WHERE segment_id = ?"));
    MEDLAKE_ASSIGN_OR_RETURN(Stmt del_bits,
                             db->Prepare("DELETE FROM segment_deletes WHERE segment_id = ?"));
    MEDLAKE_ASSIGN_OR_RETURN(Stmt add_seg,
                             db->Prepare("INSERT INTO segments VALUES(?, ?, ?, ?, ?, ?)"));
    for (const auto& rw : rewrites) {
      MEDLAKE_RETURN_IF_ERROR(del_bits.Bind(1, rw.old.id).Run());
      MEDLAKE_RETURN_IF_ERROR(del_seg.Bind(1, rw.old.id).Run());
      if (rw.new_id == 0) continue;
      MEDLAKE_RETURN_IF_ERROR(add_seg.Bind(1, rw.new_id)
                                  .Bind(2, int64_t(rw.old.shard))
                                  .Bind(3, rw.new_file)
                                  .Bind(4, int64_t(rw.rows))
                                  .Bind(5, int64_t(rw.bytes))
                                  .Bind(6, rw.old.run_id)
                                  .Run());
    }
    MEDLAKE_ASSIGN_OR_RETURN(Stmt types,
                             db->Prepare("UPDATE type_counts SET live = live + ? WHERE type = ?"));
    for (const auto& [type, delta] : type_deltas) {
      MEDLAKE_RETURN_IF_ERROR(types.Bind(1, delta).Bind(2, type).Run());
    }
    MEDLAKE_ASSIGN_OR_RETURN(Stmt rename,
                             db->Prepare("UPDATE patients SET patient_id = ? WHERE ordinal = ?"));
    MEDLAKE_RETURN_IF_ERROR(
        rename.Bind(1, "erased:" + std::to_string(ordinal)).Bind(2, ordinal).Run());
    MEDLAKE_ASSIGN_OR_RETURN(IdentifierRows links, IdentifierRows::Prepare(*db));
    return links.DeleteAllOf("Patient", patient_id);
  };
  Status s = body();
  if (!s.ok()) {
    (void)db->Exec("ROLLBACK");
    return s;
  }
  MEDLAKE_RETURN_IF_ERROR(db->Exec("COMMIT"));
  for (const auto& rw : rewrites) {
    std::error_code ec;
    fs::remove(lake_dir + "/" + rw.old.file, ec);
  }
  {
    // Derived caches hold the patient's events (cohort index) and keys (identity index):
    // removed, rebuilt on demand. A crash before this line leaves them stamped with the state
    // before the erasure, which is rebuilt as well.
    std::error_code ec;
    fs::remove_all(lake_dir + "/index", ec);
  }
  // Committed: what follows cannot undo the erasure, and its failure is a warning.
  Status after;
  for (uint32_t sh : {shard, shards}) {
    Status synced = SyncDir(lake_dir + "/" + kSegmentsDir + "/" + ShardDirName(sh, shards));
    if (after.ok()) after = synced;
  }
  if (Status scrubbed = ScrubCatalog(*db); after.ok()) after = scrubbed;
  if (!after.ok() && warning != nullptr) {
    *warning = "the erasure is committed, but a last step failed (" + after.ToString() +
               "): run the same erase again to finish it";
  }
  return erased;
}

}  // namespace medlake::store
