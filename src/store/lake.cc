#include "medlake/lake.h"

#include <roaring/roaring.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "common/file_util.h"
#include "store/bitmap.h"
#include "store/catalog.h"
#include "store/key_map.h"
#include "store/segment.h"
#include "store/sqlite.h"

namespace medlake {

using store::Db;
using store::SegmentReader;
using store::Stmt;

namespace {

// Opens a segment for a scan. A damaged file is reported in `damaged` and yields nullptr (the
// scan goes on without it); other errors are returned. A missing file is asked about to
// `removed_since` first (Lake::Impl::RemovedSince).
Result<std::unique_ptr<SegmentReader>> OpenForScan(
    const std::string& path, const store::SegmentCipher* cipher, std::vector<std::string>* damaged,
    const std::function<::medlake::Status()>& removed_since) {
  auto reader = SegmentReader::Open(path, cipher);
  if (reader.ok()) return std::move(reader).value();
  if (reader.status().code() == ErrorCode::kNotFound) MEDLAKE_RETURN_IF_ERROR(removed_since());
  if (!store::IsSegmentDamage(reader.status())) return reader.status();
  if (damaged) damaged->push_back(reader.status().message());
  return std::unique_ptr<SegmentReader>();
}

constexpr int kAllTypes = -1;
constexpr int kTypeAbsent = -2;

// The index of `type` in the segment's type dictionary; kAllTypes for an empty type,
// kTypeAbsent when the segment holds none of it.
int TypeIndexIn(const store::Columns& c, std::string_view type) {
  if (type.empty()) return kAllTypes;
  for (size_t i = 0; i < c.type_dict.size(); ++i) {
    if (c.type_dict[i] == type) return static_cast<int>(i);
  }
  return kTypeAbsent;
}

}  // namespace

struct Lake::Impl {
  std::unique_ptr<Db> db;
  std::shared_ptr<const store::SegmentCipher> cipher;  // null for a lake without a key
  // Deleted rows per segment id (portable roaring serialization, deserialized lazily).
  std::unordered_map<int64_t, roaring_bitmap_t*> deleted;
  ~Impl() {
    for (auto& [id, bm] : deleted) roaring_bitmap_free(bm);
  }
  bool IsDeleted(int64_t segment, uint32_t row) const {
    auto it = deleted.find(segment);
    return it != deleted.end() && roaring_bitmap_contains(it->second, row);
  }
  // Segments whose delete bitmap is damaged, with the report: which of their rows are live is
  // unknown, so they are read as damaged segments are (skipped and reported).
  std::unordered_map<int64_t, std::string> bitmap_damage;
  const std::string* BitmapDamage(int64_t segment) const {
    auto it = bitmap_damage.find(segment);
    return it == bitmap_damage.end() ? nullptr : &it->second;
  }

  // Lookup by identity (Get), guarded by lookup_mu: per shard (the shared area last), the live
  // rows' keys, built on first use; and the few segments read last, kept open.
  struct RowAddress {
    uint32_t segment = 0;  // index into Lake::segments_
    uint32_t row = 0;
  };
  static constexpr size_t kOpenSegments = 8;
  std::mutex lookup_mu;
  std::vector<std::unique_ptr<store::KeyMap<RowAddress>>> shard_index;
  std::vector<std::vector<std::string>> damaged;  // per shard: segments its index could not read
  std::vector<std::pair<size_t, std::unique_ptr<SegmentReader>>> open_segments;  // newest last

  // For a segment file found missing: an error when the catalog no longer names the segment.
  // Then it is no damage: an erase or a repair replaced it after this reader read the catalog,
  // and removed the file once committed (a review saw exports during an erase report damage
  // and write part of the lake). The reader must start again.
  std::mutex catalog_mu;  // db, for this check from scanning threads
  ::medlake::Status RemovedSince(int64_t segment_id, const std::string& file) {
    std::lock_guard lock(catalog_mu);
    auto q = db->Prepare("SELECT 1 FROM segments WHERE segment_id = ?");
    if (!q.ok()) return q.status();
    q->Bind(1, segment_id);
    auto named = q->Step();
    if (!named.ok()) return named.status();
    if (*named) return ::medlake::Status::Ok();
    return IoError("the lake changed while it was read: " + file +
                   " was replaced by an erase or a repair; run the command again");
  }
};

Lake::~Lake() = default;

Result<std::unique_ptr<Lake>> Lake::Open(const std::string& dir) {
  std::string catalog = dir + "/" + store::kCatalogFile;
  std::error_code ec;
  std::unique_ptr<Db> empty;
  if (!std::filesystem::exists(catalog, ec)) {
    if (ec) return IoError("cannot read " + catalog + ": " + ec.message());
    MEDLAKE_RETURN_IF_ERROR(store::CheckNoOrphanSegments(dir));
    if (!std::filesystem::is_directory(dir + "/keys", ec)) {
      return NotFound("no lake at " + dir + " (run medlake ingest or init)");
    }
    // `medlake init`, no ingest yet: an empty lake, as a plain one whose runs stored nothing
    // (status counts zeros, export writes nothing), read from an empty catalog in memory: a
    // reader never writes the lake (until 2026-12-02 every reader said "no data yet", exit 4).
    MEDLAKE_ASSIGN_OR_RETURN(empty, Db::Open(":memory:", store::DbOptions{.create = true}));
    MEDLAKE_RETURN_IF_ERROR(store::CreateSchema(*empty, store::kDefaultShards));
  }
  std::unique_ptr<Lake> lake(new Lake());
  lake->dir_ = dir;
  lake->impl_ = std::make_unique<Impl>();
  MEDLAKE_ASSIGN_OR_RETURN(lake->impl_->cipher, store::SegmentCipher::ForLake(dir));

  // Read-only: a reader needs no write access to the lake, and never checkpoints the WAL.
  if (empty) {
    lake->impl_->db = std::move(empty);
  } else {
    MEDLAKE_ASSIGN_OR_RETURN(lake->impl_->db, Db::Open(catalog, false, true));
  }
  Db& db = *lake->impl_->db;
  MEDLAKE_ASSIGN_OR_RETURN(lake->shard_count_, store::ReadShardCount(db));
  MEDLAKE_RETURN_IF_ERROR(db.Exec("BEGIN"));
  MEDLAKE_ASSIGN_OR_RETURN(lake->commits_, store::ReadCommitCount(db));
  {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt seg,
                             db.Prepare("SELECT segment_id, shard, file, rows, bytes FROM "
                                        "segments ORDER BY shard, segment_id"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, seg.Step());
      if (!row) break;
      lake->segments_.push_back({seg.Int(0), static_cast<uint32_t>(seg.Int(1)),
                                 std::string(seg.Text(2)), static_cast<uint64_t>(seg.Int(3)),
                                 static_cast<uint64_t>(seg.Int(4))});
    }
    MEDLAKE_ASSIGN_OR_RETURN(Stmt del, db.Prepare("SELECT segment_id, deleted FROM segment_deletes "
                                                  "ORDER BY segment_id"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, del.Step());
      if (!row) break;
      std::string_view blob = del.Blob(1);
      roaring_bitmap_t* bm = store::ReadCatalogBitmap(blob);
      if (!bm) {
        std::string file;
        for (const auto& s : lake->segments_) {
          if (s.id == del.Int(0)) file = " " + s.file;
        }
        lake->impl_->bitmap_damage[del.Int(0)] =
            store::DamagedBitmapMessage(del.Int(0)) + ":" + file + " is not read";
        continue;
      }
      lake->impl_->deleted[del.Int(0)] = bm;
    }
  }
  MEDLAKE_ASSIGN_OR_RETURN(lake->state_hash_, store::CommittedStateHash(db));
  MEDLAKE_RETURN_IF_ERROR(db.Exec("COMMIT"));
  return lake;
}

Result<LakeStatus> Lake::Status() {
  // One read transaction, segments included: the counts of one commit (the segment list read
  // when the lake was opened may be a commit older; a review saw one segment count with two
  // totals while an ingest ran).
  Db& db = *impl_->db;
  std::lock_guard lock(impl_->catalog_mu);
  MEDLAKE_RETURN_IF_ERROR(db.Exec("BEGIN"));
  Result<LakeStatus> status = StatusLocked();
  ::medlake::Status ended = db.Exec(status.ok() ? "COMMIT" : "ROLLBACK");
  if (status.ok() && !ended.ok()) return ended;
  return status;
}

Result<LakeStatus> Lake::StatusLocked() {
  LakeStatus s;
  Db& db = *impl_->db;
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt types, db.Prepare("SELECT type, live FROM type_counts WHERE live > 0 ORDER BY type"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, types.Step());
    if (!row) break;
    s.resources[std::string(types.Text(0))] = static_cast<uint64_t>(types.Int(1));
    s.total_resources += static_cast<uint64_t>(types.Int(1));
  }
  s.patients = s.resources.count("Patient") ? s.resources["Patient"] : 0;
  MEDLAKE_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT count(*) FROM quarantine"));
  MEDLAKE_ASSIGN_OR_RETURN(bool qrow, q.Step());
  if (qrow) s.quarantined = static_cast<uint64_t>(q.Int(0));
  MEDLAKE_ASSIGN_OR_RETURN(Stmt r,
                           db.Prepare("SELECT count(*) FILTER (WHERE state = 'committed'), "
                                      "count(*) FILTER (WHERE state <> 'committed') FROM runs"));
  MEDLAKE_ASSIGN_OR_RETURN(bool rrow, r.Step());
  if (rrow) {
    s.runs = static_cast<uint64_t>(r.Int(0));
    s.unfinished_runs = static_cast<uint64_t>(r.Int(1));
  }
  // A catalog of an earlier format has no deletions.
  if (auto d = db.Prepare("SELECT count(*) FROM deletions"); d.ok()) {
    MEDLAKE_ASSIGN_OR_RETURN(bool drow, d->Step());
    if (drow) s.deleted = static_cast<uint64_t>(d->Int(0));
  }
  MEDLAKE_ASSIGN_OR_RETURN(Stmt g, db.Prepare("SELECT count(*), COALESCE(sum(bytes), 0) FROM "
                                              "segments"));
  MEDLAKE_ASSIGN_OR_RETURN(bool grow, g.Step());
  if (grow) {
    s.segments = static_cast<uint64_t>(g.Int(0));
    s.bytes = static_cast<uint64_t>(g.Int(1));
  }
  return s;
}

Result<std::vector<QuarantineEntry>> Lake::Quarantine(int64_t limit) {
  std::vector<QuarantineEntry> out;
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt q, impl_->db->Prepare("SELECT run_id, source, line, byte_offset, location, reason FROM "
                                 "quarantine ORDER BY entry_id LIMIT ?"));
  q.Bind(1, limit);
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back({q.Int(0), std::string(q.Text(1)), q.Int(2), q.Int(3), std::string(q.Text(4)),
                   std::string(q.Text(5))});
  }
  return out;
}

Result<std::string> Lake::PatientId(uint32_t ordinal) {
  MEDLAKE_ASSIGN_OR_RETURN(Stmt q,
                           impl_->db->Prepare("SELECT patient_id FROM patients WHERE ordinal = ?"));
  q.Bind(1, static_cast<int64_t>(ordinal));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? std::string(q.Text(0)) : std::string();
}

Result<std::optional<uint32_t>> Lake::PatientOrdinal(std::string_view patient_id) {
  MEDLAKE_ASSIGN_OR_RETURN(Stmt q,
                           impl_->db->Prepare("SELECT ordinal FROM patients WHERE patient_id = ?"));
  q.Bind(1, patient_id);
  MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<uint32_t>();
  return std::optional<uint32_t>(static_cast<uint32_t>(q.Int(0)));
}

Result<std::vector<std::string>> Lake::PatientIds() {
  std::vector<std::string> ids;
  MEDLAKE_ASSIGN_OR_RETURN(Stmt q, impl_->db->Prepare("SELECT ordinal, patient_id FROM patients"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    auto ordinal = static_cast<size_t>(q.Int(0));
    if (ordinal >= ids.size()) ids.resize(ordinal + 1);
    ids[ordinal] = std::string(q.Text(1));
  }
  return ids;
}

::medlake::Status Lake::Scan(std::string_view type,
                             const std::function<void(const ResourceView&)>& fn,
                             std::vector<std::string>* damaged) {
  for (size_t i = 0; i < segments_.size(); ++i)
    MEDLAKE_RETURN_IF_ERROR(ScanSegment(i, type, fn, damaged));
  return ::medlake::Status::Ok();
}

::medlake::Status Lake::ScanSegment(size_t index, std::string_view type,
                                    const std::function<void(const ResourceView&)>& fn,
                                    std::vector<std::string>* damaged) const {
  const SegmentInfo& seg = segments_.at(index);
  if (const std::string* bitmap = impl_->BitmapDamage(seg.id)) {
    if (damaged) damaged->push_back(*bitmap);
    return ::medlake::Status::Ok();
  }
  MEDLAKE_ASSIGN_OR_RETURN(auto reader,
                           OpenForScan(dir_ + "/" + seg.file, impl_->cipher.get(), damaged,
                                       [&] { return impl_->RemovedSince(seg.id, seg.file); }));
  int type_index = reader ? TypeIndexIn(reader->columns(), type) : kTypeAbsent;
  if (type_index == kTypeAbsent) return ::medlake::Status::Ok();
  const store::Columns& c = reader->columns();
  for (uint32_t row = 0; row < c.rows; ++row) {
    if (type_index >= 0 && c.type[row] != type_index) continue;
    if (impl_->IsDeleted(seg.id, row)) continue;
    auto json = reader->Resource(row);
    if (!json.ok()) {
      if (json.status().code() != ErrorCode::kCorruption) return json.status();
      // The rows of a damaged block are skipped, the block reported once; the segment's
      // other blocks and the other segments go on.
      if (damaged && (damaged->empty() || damaged->back() != json.status().message())) {
        damaged->push_back(json.status().message());
      }
      continue;
    }
    fn(ResourceView{c.type_dict[c.type[row]], c.id[row], c.patient[row], c.eff_start[row],
                    c.eff_end[row], *json});
  }
  return ::medlake::Status::Ok();
}

::medlake::Status Lake::ScanHot(std::string_view type, const std::function<void(const HotRow&)>& fn,
                                std::vector<std::string>* damaged) {
  for (size_t i = 0; i < segments_.size(); ++i) {
    MEDLAKE_RETURN_IF_ERROR(ScanHotSegment(
        i, type, [&](const HotRow& hot, uint32_t) { fn(hot); }, damaged));
  }
  return ::medlake::Status::Ok();
}

::medlake::Status Lake::ScanHotSegment(size_t index, std::string_view type,
                                       const std::function<void(const HotRow&, uint32_t row)>& fn,
                                       std::vector<std::string>* damaged) const {
  const SegmentInfo& seg = segments_.at(index);
  if (const std::string* bitmap = impl_->BitmapDamage(seg.id)) {
    if (damaged) damaged->push_back(*bitmap);
    return ::medlake::Status::Ok();
  }
  MEDLAKE_ASSIGN_OR_RETURN(auto reader,
                           OpenForScan(dir_ + "/" + seg.file, impl_->cipher.get(), damaged,
                                       [&] { return impl_->RemovedSince(seg.id, seg.file); }));
  int type_index = reader ? TypeIndexIn(reader->columns(), type) : kTypeAbsent;
  if (type_index == kTypeAbsent) return ::medlake::Status::Ok();
  const store::Columns& c = reader->columns();
  std::vector<CodeView> dict;
  std::vector<CodeView> row_codes;
  for (const auto& coding : c.code_dict)
    dict.push_back({coding.system, coding.code, static_cast<uint32_t>(dict.size())});
  auto dict_at = [](const std::vector<std::string>& d, uint16_t i) {
    return i < d.size() ? std::string_view(d[i]) : std::string_view();
  };
  SegmentReader* r = reader.get();
  for (uint32_t row = 0; row < c.rows; ++row) {
    if (type_index >= 0 && c.type[row] != type_index) continue;
    if (impl_->IsDeleted(seg.id, row)) continue;
    row_codes.clear();
    for (uint32_t k = c.code_offsets[row]; k < c.code_offsets[row + 1] && k < c.code_ids.size();
         ++k) {
      if (c.code_ids[k] < dict.size()) row_codes.push_back(dict[c.code_ids[k]]);
    }
    HotRow hot{c.type_dict[c.type[row]],
               c.id[row],
               c.patient[row],
               c.eff_start[row],
               c.eff_end[row],
               c.last_updated[row],
               c.value[row],
               dict_at(c.unit_dict, c.unit[row]),
               dict_at(c.status_dict, c.status[row]),
               c.encounter[row],
               row_codes.data(),
               row_codes.size(),
               [r, row, damaged]() -> Result<std::string_view> {
                 auto json = r->Resource(row);
                 // Each damaged block once (its error names it).
                 if (!json.ok() && damaged &&
                     (damaged->empty() || damaged->back() != json.status().message())) {
                   damaged->push_back(json.status().message());
                 }
                 return json;
               }};
    fn(hot, row);
  }
  return ::medlake::Status::Ok();
}

Result<std::string> Lake::Get(std::string_view type, std::string_view id,
                              uint32_t shard_hint) const {
  const store::Key128 key = store::ResourceKey(type, id);
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.lookup_mu);
  if (m.shard_index.empty()) {
    m.shard_index.resize(static_cast<size_t>(shard_count_) + 1);
    m.damaged.resize(static_cast<size_t>(shard_count_) + 1);
  }
  std::vector<uint32_t> order;
  if (type == "Patient") {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt q,
                             m.db->Prepare("SELECT ordinal FROM patients WHERE patient_id = ?"));
    q.Bind(1, id);
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    // A Patient lives in its own shard only; without an ordinal it was never stored.
    if (row && shard_count_ > 0)
      order.push_back(static_cast<uint32_t>(q.Int(0) % static_cast<int64_t>(shard_count_)));
  } else {
    if (shard_hint <= shard_count_) order.push_back(shard_hint);
    order.push_back(shard_count_);
    for (uint32_t s = 0; s < shard_count_; ++s) order.push_back(s);
  }
  std::vector<bool> seen(static_cast<size_t>(shard_count_) + 1, false);
  for (uint32_t shard : order) {
    if (seen[shard]) continue;
    seen[shard] = true;
    auto& index = m.shard_index[shard];
    if (!index) {
      auto built = std::make_unique<store::KeyMap<Impl::RowAddress>>();
      for (size_t i = 0; i < segments_.size(); ++i) {
        if (segments_[i].shard != shard) continue;
        if (const std::string* bitmap = m.BitmapDamage(segments_[i].id)) {
          m.damaged[shard].push_back(*bitmap);  // as Scan: skipped
          continue;
        }
        auto reader = SegmentReader::Open(dir_ + "/" + segments_[i].file, m.cipher.get());
        if (!reader.ok()) {
          if (reader.status().code() == ErrorCode::kNotFound) {
            MEDLAKE_RETURN_IF_ERROR(m.RemovedSince(segments_[i].id, segments_[i].file));
          }
          if (!store::IsSegmentDamage(reader.status())) return reader.status();
          m.damaged[shard].push_back(reader.status().message());  // as Scan: skipped
          continue;
        }
        const store::Columns& c = (*reader)->columns();
        for (uint32_t row = 0; row < c.rows; ++row) {
          if (m.IsDeleted(segments_[i].id, row)) continue;
          bool inserted = false;
          built->FindOrInsert(c.key[row], inserted) = {static_cast<uint32_t>(i), row};
        }
      }
      index = std::move(built);
    }
    const Impl::RowAddress* at = index->Find(key);
    if (!at) continue;
    SegmentReader* reader = nullptr;
    for (auto& [segment, open] : m.open_segments) {
      if (segment == at->segment) reader = open.get();
    }
    if (!reader) {
      MEDLAKE_ASSIGN_OR_RETURN(
          auto opened,
          SegmentReader::Open(dir_ + "/" + segments_[at->segment].file, m.cipher.get()));
      if (m.open_segments.size() >= Impl::kOpenSegments)
        m.open_segments.erase(m.open_segments.begin());
      m.open_segments.emplace_back(at->segment, std::move(opened));
      reader = m.open_segments.back().second.get();
    }
    MEDLAKE_ASSIGN_OR_RETURN(std::string_view json, reader->Resource(at->row));
    return std::string(json);
  }
  // Not in any readable segment. Where the shards it could be in hold damaged segments, the
  // answer is unknown, not "absent".
  std::string damaged;
  for (uint32_t shard = 0; shard < seen.size(); ++shard) {
    if (!seen[shard]) continue;  // the shards searched, each once
    for (const auto& message : m.damaged[shard]) damaged += (damaged.empty() ? "" : "; ") + message;
  }
  if (!damaged.empty()) {
    return Corruption(std::string(type) + "/" + std::string(id) +
                      " is in no readable segment, and damaged segments may hold it: " + damaged);
  }
  // A resource a DELETE request deleted (docs/format.md, "Deletions") says so. A catalog of
  // an earlier format has no such table.
  if (auto deleted = m.db->Prepare("SELECT run_id FROM deletions WHERE key = ?"); deleted.ok()) {
    deleted->BindBlob(1, std::string_view(reinterpret_cast<const char*>(&key), sizeof key));
    if (auto row = deleted->Step(); row.ok() && *row) {
      return NotFound(std::string(type) + "/" + std::string(id) +
                      " is not in the lake: a DELETE request of ingest run " +
                      std::to_string(deleted->Int(0)) + " deleted it");
    }
  }
  return NotFound(std::string(type) + "/" + std::string(id) + " is not in the lake");
}

const privacy::SegmentCipher* Lake::data_cipher() const {
  return impl_->cipher.get();
}

Result<std::vector<std::string>> Lake::Verify() {
  std::vector<std::string> problems;
  // The catalog itself: SQLite's own check of its pages (a damaged page is otherwise found
  // only by the query that reads it).
  {
    auto check = impl_->db->Prepare("PRAGMA quick_check");
    if (!check.ok()) {
      problems.push_back(check.status().message());
    } else {
      for (;;) {
        auto row = check->Step();
        if (!row.ok()) {
          problems.push_back(row.status().message());
          break;
        }
        if (!*row || check->Text(0) == "ok") break;
        problems.push_back(dir_ + "/" + store::kCatalogFile + ": " + std::string(check->Text(0)));
      }
    }
  }
  std::map<std::string, int64_t, std::less<>> live;  // live rows per type, of the segments
  for (const auto& seg : segments_) {
    MEDLAKE_ASSIGN_OR_RETURN(store::SegmentCheck check,
                             store::CheckSegment(dir_ + "/" + seg.file, impl_->cipher.get(),
                                                 seg.rows, seg.bytes, seg.shard));
    std::error_code ec;
    if (!check.problems.empty() && !std::filesystem::exists(dir_ + "/" + seg.file, ec) && !ec) {
      MEDLAKE_RETURN_IF_ERROR(impl_->RemovedSince(seg.id, seg.file));
    }
    problems.insert(problems.end(), check.problems.begin(), check.problems.end());
    if (const std::string* bitmap = impl_->BitmapDamage(seg.id)) {
      problems.push_back(*bitmap);
      continue;
    }
    if (check.reader == nullptr) continue;
    const store::Columns& c = check.reader->columns();
    for (uint32_t row = 0; row < c.rows; ++row) {
      if (!impl_->IsDeleted(seg.id, row)) ++live[c.type_dict[c.type[row]]];
    }
  }
  if (problems.empty()) MEDLAKE_RETURN_IF_ERROR(VerifyTypeCounts(live, problems));
  return problems;
}

std::vector<std::string> Lake::UnnamedSegmentFiles() const {
  if (FolderLock::IsHeld(dir_)) return {};
  std::set<std::string> named;
  for (const auto& seg : segments_) named.insert(seg.file);
  return store::UnnamedSegmentFiles(dir_, named);
}

::medlake::Status Lake::VerifyTypeCounts(const std::map<std::string, int64_t, std::less<>>& live,
                                         std::vector<std::string>& problems) {
  // The live resources per type that the catalog keeps (`status`), against the live rows of
  // the segments: a damaged count was seen nowhere (a review flipped one bit of it). Compared
  // only while the catalog is the commit this reader opened.
  Db& db = *impl_->db;
  std::lock_guard lock(impl_->catalog_mu);
  MEDLAKE_RETURN_IF_ERROR(db.Exec("BEGIN"));
  auto compare = [&]() -> ::medlake::Status {
    MEDLAKE_ASSIGN_OR_RETURN(uint64_t state, store::CommittedStateHash(db));
    if (state != state_hash_) return ::medlake::Status::Ok();  // a commit since: not comparable
    std::map<std::string, int64_t, std::less<>> counted;
    MEDLAKE_ASSIGN_OR_RETURN(Stmt types, db.Prepare("SELECT type, live FROM type_counts"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, types.Step());
      if (!row) break;
      if (types.Int(1) != 0) counted[std::string(types.Text(0))] = types.Int(1);
    }
    for (const auto& [type, n] : live) counted.try_emplace(type, 0);
    for (const auto& [type, n] : counted) {
      auto it = live.find(type);
      const int64_t held = it == live.end() ? 0 : it->second;
      if (n != held) {
        problems.push_back(dir_ + "/" + store::kCatalogFile + ": type_counts says " +
                           std::to_string(n) + " live " + type + ", the segments hold " +
                           std::to_string(held) +
                           " (medlake verify --drop-damaged counts them again)");
      }
    }
    return ::medlake::Status::Ok();
  };
  ::medlake::Status compared = compare();
  ::medlake::Status ended = db.Exec(compared.ok() ? "COMMIT" : "ROLLBACK");
  return compared.ok() ? ended : compared;
}

}  // namespace medlake
