#include "store/repair.h"

#include <roaring/roaring.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "common/file_util.h"
#include "privacy/segment_cipher.h"
#include "store/bitmap.h"
#include "store/catalog.h"
#include "store/identity_index.h"
#include "store/segment.h"
#include "store/sqlite.h"

namespace medlake::store {
namespace {

using Bitmap = std::unique_ptr<roaring_bitmap_t, decltype(&roaring_bitmap_free)>;

// The rows of `seg` that later versions replaced. A bitmap that does not read is catalog
// damage: taking its rows for live would count superseded versions.
Result<Bitmap> DeletedRows(const CatalogSegment& seg) {
  Bitmap bm(nullptr, &roaring_bitmap_free);
  if (seg.has_deleted) {  // an empty blob is damage too, as Lake::Open reads it
    bm.reset(ReadCatalogBitmap(seg.deleted));
    if (!bm) {
      return Corruption(DamagedBitmapMessage(seg.id));
    }
  }
  return bm;
}

bool IsLive(const Bitmap& deleted, uint32_t row) {
  return !deleted || !roaring_bitmap_contains(deleted.get(), row);
}

Status CheckCatalog(Db& db, const std::string& path) {
  MEDLAKE_ASSIGN_OR_RETURN(Stmt check, db.Prepare("PRAGMA quick_check"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, check.Step());
  if (row && check.Text(0) == "ok") return Status::Ok();
  return Corruption(path + " is damaged (" + (row ? std::string(check.Text(0)) : "no answer") +
                    "): nothing was dropped; restore the catalog from a backup");
}

}  // namespace

Result<std::vector<DroppedSegment>> DropDamagedSegments(const std::string& lake_dir,
                                                        bool* recounted) {
  if (recounted != nullptr) *recounted = false;
  namespace fs = std::filesystem;
  const std::string catalog = lake_dir + "/" + kCatalogFile;
  if (!fs::exists(catalog)) return NotFound("no lake at " + lake_dir);
  MEDLAKE_ASSIGN_OR_RETURN(FolderLock lock, FolderLock::Acquire(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(auto db, Db::Open(catalog, false, false));
  MEDLAKE_RETURN_IF_ERROR(RemoveUncommittedSegments(lake_dir, *db).status());
  MEDLAKE_RETURN_IF_ERROR(CheckCatalog(*db, catalog));
  MEDLAKE_RETURN_IF_ERROR(UpgradeCatalog(*db));
  MEDLAKE_ASSIGN_OR_RETURN(auto cipher, privacy::SegmentCipher::ForLake(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(std::vector<CatalogSegment> segments, ListSegments(*db));

  std::vector<DroppedSegment> dropped;
  std::vector<const CatalogSegment*> dropped_rows;
  std::map<std::string, int64_t> live_per_type;        // in the segments that stay
  std::set<std::pair<std::string, std::string>> held;  // (type, id) live in dropped ones
  // Per segment dropped for its delete bitmap (index in `dropped`): its rows' (type, id).
  std::map<size_t, std::vector<std::pair<std::string, std::string>>> unknown_live;
  std::set<int64_t> bitmap_damaged;
  for (const CatalogSegment& seg : segments) {
    const std::string path = lake_dir + "/" + seg.file;
    // A segment that cannot be read for another reason than damage stops the repair: it may be
    // sound (CheckSegment).
    MEDLAKE_ASSIGN_OR_RETURN(SegmentCheck check,
                             CheckSegment(path, cipher.get(), seg.rows, seg.bytes, seg.shard));
    // A damaged delete bitmap makes the segment damaged: which of its rows are live is unknown.
    Result<Bitmap> read_deleted = DeletedRows(seg);
    if (!read_deleted.ok() && read_deleted.status().code() != ErrorCode::kCorruption) {
      return read_deleted.status();
    }
    std::vector<std::string> problems = check.problems;
    if (!read_deleted.ok()) {
      problems.insert(problems.begin(), read_deleted.status().message());
      bitmap_damaged.insert(seg.id);  // its bitmap is not read again below
    }
    const Bitmap deleted =
        read_deleted.ok() ? std::move(*read_deleted) : Bitmap(nullptr, &roaring_bitmap_free);
    if (problems.empty()) {
      const Columns& c = check.reader->columns();
      for (uint32_t r = 0; r < c.rows; ++r) {
        if (IsLive(deleted, r)) ++live_per_type[c.type_dict[c.type[r]]];
      }
      continue;
    }
    DroppedSegment d;
    d.file = seg.file;
    d.problem = problems.front();
    d.rows = seg.rows;
    d.live = seg.rows;
    if (check.reader && !read_deleted.ok()) {  // which rows are live is found below
      auto& rows = unknown_live[dropped.size()];
      const Columns& c = check.reader->columns();
      for (uint32_t r = 0; r < c.rows; ++r) rows.emplace_back(c.type_dict[c.type[r]], c.id[r]);
    } else if (check.reader) {  // a damaged block: the columns say what it held
      d.columns_read = true;
      d.live = 0;
      const Columns& c = check.reader->columns();
      for (uint32_t r = 0; r < c.rows; ++r) {
        if (!IsLive(deleted, r)) continue;
        ++d.live;
        held.emplace(c.type_dict[c.type[r]], c.id[r]);
      }
    }
    dropped.push_back(std::move(d));
    dropped_rows.push_back(&seg);
  }
  if (!unknown_live.empty()) {
    // A row is replaced only by a newer version, which is live in another segment: the rows of
    // a segment with a damaged bitmap whose resource is live nowhere else were its live ones.
    std::set<std::pair<std::string, std::string>> candidates, live_elsewhere;
    for (const auto& [index, rows] : unknown_live) candidates.insert(rows.begin(), rows.end());
    for (const CatalogSegment& seg : segments) {
      if (bitmap_damaged.contains(seg.id)) continue;
      auto reader = SegmentReader::Open(lake_dir + "/" + seg.file, cipher.get());
      if (!reader.ok()) continue;  // damaged: its live rows are in `held` when its columns read
      MEDLAKE_ASSIGN_OR_RETURN(Bitmap deleted, DeletedRows(seg));
      const Columns& c = (*reader)->columns();
      for (uint32_t r = 0; r < c.rows; ++r) {
        if (!IsLive(deleted, r)) continue;
        auto key = std::make_pair(c.type_dict[c.type[r]], c.id[r]);
        if (candidates.contains(key)) live_elsewhere.insert(std::move(key));
      }
    }
    for (auto& [index, rows] : unknown_live) {
      DroppedSegment& d = dropped[index];
      d.columns_read = true;
      d.live = 0;
      for (auto& key : rows) {
        if (live_elsewhere.contains(key)) continue;
        ++d.live;
        held.insert(std::move(key));
      }
    }
  }
  std::map<std::string, int64_t> counted;  // the catalog's, types with none left out
  {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt types, db->Prepare("SELECT type, live FROM type_counts"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, types.Step());
      if (!row) break;
      if (types.Int(1) != 0) counted[std::string(types.Text(0))] = types.Int(1);
    }
  }
  std::erase_if(live_per_type, [](const auto& type_live) { return type_live.second == 0; });
  if (dropped.empty() && counted == live_per_type) return dropped;
  if (recounted != nullptr) *recounted = counted != live_per_type;

  MEDLAKE_RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt del_bitmap,
                             db->Prepare("DELETE FROM segment_deletes WHERE segment_id = ?"));
    MEDLAKE_ASSIGN_OR_RETURN(Stmt del_segment,
                             db->Prepare("DELETE FROM segments WHERE segment_id = ?"));
    for (const CatalogSegment* seg : dropped_rows) {
      MEDLAKE_RETURN_IF_ERROR(del_bitmap.Bind(1, seg->id).Run());
      MEDLAKE_RETURN_IF_ERROR(del_segment.Bind(1, seg->id).Run());
    }
    MEDLAKE_RETURN_IF_ERROR(db->Exec("DELETE FROM type_counts"));
    MEDLAKE_ASSIGN_OR_RETURN(Stmt count, db->Prepare("INSERT INTO type_counts VALUES(?, ?)"));
    for (const auto& [type, live] : live_per_type) {
      MEDLAKE_RETURN_IF_ERROR(count.Bind(1, type).Bind(2, live).Run());
    }
    // A resource whose live version was dropped carries no identifier any more (a pseudonym
    // link names a person, and stays).
    MEDLAKE_ASSIGN_OR_RETURN(IdentifierRows identifiers, IdentifierRows::Prepare(*db));
    for (const auto& [type, id] : held) {
      MEDLAKE_RETURN_IF_ERROR(
          identifiers.DeleteAllOf(type, id, std::string_view(kPseudonymLinkSystem)));
    }
    return Status::Ok();
  };
  if (Status s = body(); !s.ok()) {
    (void)db->Exec("ROLLBACK");
    return s;
  }
  MEDLAKE_RETURN_IF_ERROR(db->Exec("COMMIT"));
  // Committed: what follows only removes what no commit names any more (the next writer
  // would, as it removes a crashed run's files).
  std::error_code ec;
  std::set<std::string> folders;
  for (const DroppedSegment& d : dropped) {
    fs::remove(lake_dir + "/" + d.file, ec);
    folders.insert(fs::path(lake_dir + "/" + d.file).parent_path().string());
  }
  fs::remove_all(lake_dir + "/" + kIdentityIndexDir, ec);
  for (const std::string& folder : folders) MEDLAKE_RETURN_IF_ERROR(SyncDir(folder));
  return dropped;
}

}  // namespace medlake::store
