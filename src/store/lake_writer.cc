#include "store/lake_writer.h"

#include <fcntl.h>
#include <roaring/roaring.h>
#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>

#include "common/fhir_time.h"
#include "common/file_util.h"
#include "common/string_util.h"
#include "fhir/r4_model.h"
#include "store/bitmap.h"
#include "store/catalog.h"
#include "store/key_filter.h"

namespace medlake::store {
namespace {

namespace fs = std::filesystem;

std::string NowUtc() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return FormatUtc(ms);
}

// Versions are ordered by meta.lastUpdated, a version without one older than any with one,
// then by input order (run, file, position). A total order: which version wins cannot depend
// on the order in which threads admit them. (A rule that looked at lastUpdated only when both
// versions have one is not transitive: 2020 > 2019 by time, 2019 > none and none > 2020 by
// position.)
bool Newer(int64_t a_updated, RecordOrder a, int64_t b_updated, RecordOrder b) {
  static_assert(kNoTime == std::numeric_limits<int64_t>::min());
  if (a_updated != b_updated) return a_updated > b_updated;
  if (a.hi != b.hi) return a.hi > b.hi;
  if (a.offset != b.offset) return a.offset > b.offset;
  return a.entry > b.entry;
}

std::string SegmentFileName(uint32_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "seg-%08u.mls", id);
  return buf;
}

}  // namespace

// A folder that already holds a catalog is a lake (the segments and index folders come before
// the catalog when a lake is made, and may be all a kill left).
Status LakeWriter::CheckFolder(const std::string& dir) {
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  if (ec || status.type() == std::filesystem::file_type::not_found) return Status::Ok();
  if (status.type() != std::filesystem::file_type::directory) {
    return InvalidArgument("lake " + dir + " is not a folder");
  }
  if (std::filesystem::exists(dir + "/" + kCatalogFile, ec) ||
      std::filesystem::exists(dir + "/keys", ec)) {
    return Status::Ok();
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    // What a lake's making leaves before its catalog or keys: a kill, or an init that failed
    // (it creates its key first and removes what it made when a later step fails).
    if (name != kSegmentsDir && name != "index" && name != "principals.sqlite" &&
        name != "audit.sqlite") {
      return InvalidArgument("lake " + dir +
                             " is a folder that holds other files and no lake: make the lake "
                             "in a new or empty folder");
    }
  }
  return Status::Ok();
}

LakeWriter::~LakeWriter() = default;

Result<std::unique_ptr<LakeWriter>> LakeWriter::Open(const std::string& dir) {
  std::unique_ptr<LakeWriter> w(new LakeWriter());
  w->dir_ = dir;
  MEDLAKE_RETURN_IF_ERROR(CheckFolder(dir));
  MEDLAKE_RETURN_IF_ERROR(MakeDirs(dir + "/" + kSegmentsDir));
  MEDLAKE_ASSIGN_OR_RETURN(FolderLock lock, FolderLock::Acquire(dir));
  w->lock_.emplace(std::move(lock));
  MEDLAKE_ASSIGN_OR_RETURN(w->cipher_, SegmentCipher::ForLake(dir));
  // A new catalog is created owner-only, as segments are: it holds patient ids and
  // quarantined records. SQLite gives the WAL files it creates beside it the same mode.
  const std::string catalog = dir + "/" + kCatalogFile;
  std::error_code ec;
  if (!std::filesystem::exists(catalog, ec) || std::filesystem::file_size(catalog, ec) == 0) {
    MEDLAKE_RETURN_IF_ERROR(CheckNoOrphanSegments(dir));
  }
  if (int fd = ::open(catalog.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600); fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return IoError("cannot create " + catalog + ": " + std::strerror(errno));
  }
  MEDLAKE_ASSIGN_OR_RETURN(w->db_, Db::Open(catalog, true, false));
  MEDLAKE_ASSIGN_OR_RETURN(bool fresh, IsEmptyCatalog(*w->db_));
  if (fresh) {
    MEDLAKE_RETURN_IF_ERROR(CheckNoOrphanSegments(dir));
    MEDLAKE_RETURN_IF_ERROR(CreateSchema(*w->db_, kDefaultShards));
    MEDLAKE_RETURN_IF_ERROR(SyncDir(dir));  // the catalog's entry in the lake folder
  }
  MEDLAKE_ASSIGN_OR_RETURN(w->shards_, ReadShardCount(*w->db_));
  w->buffer_limit_ = kBufferBudget / (w->shards_ + 1);
  std::vector<std::string> shard_dirs;
  for (uint32_t s = 0; s <= w->shards_; ++s) {
    shard_dirs.push_back(ShardDirName(s, w->shards_));
    w->buffers_.push_back(std::make_unique<ShardBuffer>());
  }
  MEDLAKE_RETURN_IF_ERROR(MakeChildDirs(dir + "/" + kSegmentsDir, shard_dirs));
  for (size_t i = 0; i < fhir::ResourceTypeCount(); ++i) {
    w->type_names_.emplace_back(fhir::ResourceTypeName(static_cast<int>(i)));
  }
  MEDLAKE_RETURN_IF_ERROR(w->LoadState());

  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt run, w->db_->Prepare("INSERT INTO runs(started, state) VALUES(?, 'running')"));
  MEDLAKE_RETURN_IF_ERROR(run.Bind(1, NowUtc()).Run());
  w->run_id_ = w->db_->LastInsertId();
  return w;
}

Status LakeWriter::LoadState() {
  Db& db = *db_;
  // Removal of files no commit names (a crashed run's leftovers), and the next segment id.
  MEDLAKE_ASSIGN_OR_RETURN(uint32_t last_segment, RemoveUncommittedSegments(dir_, db));
  next_segment_ = std::max(next_segment_.load(), last_segment + 1);
  // Before the index, which a rebuild fills from tables an older catalog lacks.
  MEDLAKE_RETURN_IF_ERROR(UpgradeCatalog(db));
  MEDLAKE_ASSIGN_OR_RETURN(uint64_t stamp, CommittedStateHash(db));
  MEDLAKE_ASSIGN_OR_RETURN(index_, IdentityIndex::Open(dir_ + "/" + kIdentityIndexDir, stamp));
  if (index_->needs_rebuild()) MEDLAKE_RETURN_IF_ERROR(RebuildIdentity(stamp));

  {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt q,
                             db.Prepare("SELECT COALESCE(MAX(ordinal) + 1, 0) FROM patients"));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    next_ordinal_ = row ? static_cast<uint32_t>(q.Int(0)) : 0;
  }
  catalog_has_patients_ = next_ordinal_ > 0;
  MEDLAKE_ASSIGN_OR_RETURN(commits_, ReadCommitCount(db));
  {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT EXISTS(SELECT 1 FROM identifiers)"));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    catalog_has_identifiers_ = row && q.Int(0) != 0;
  }
  MEDLAKE_ASSIGN_OR_RETURN(find_patient_,
                           db.Prepare("SELECT ordinal FROM patients WHERE patient_id = ?"));
  MEDLAKE_ASSIGN_OR_RETURN(
      find_identifier_,
      db.Prepare("SELECT id FROM identifiers WHERE type = ? AND system = ? AND value = ? "
                 "ORDER BY id"));
  // Conditional references without a system (the primary key's (type, value) prefix).
  MEDLAKE_ASSIGN_OR_RETURN(find_identifier_values_,
                           db.Prepare("SELECT system, id FROM identifiers WHERE type = ? AND "
                                      "value = ? AND system <> ?"));
  return Status::Ok();
}

Status LakeWriter::RebuildIdentity(uint64_t stamp) {
  Db& db = *db_;
  std::unordered_map<uint32_t, roaring_bitmap_t*> deleted;
  auto free_deleted = [&deleted] {
    for (auto& [id, bm] : deleted) roaring_bitmap_free(bm);
  };
  auto rebuild = [&]() -> Status {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt del,
                             db.Prepare("SELECT segment_id, deleted FROM segment_deletes"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, del.Step());
      if (!row) break;
      std::string_view blob = del.Blob(1);
      roaring_bitmap_t* bm = ReadCatalogBitmap(blob);
      if (!bm) {
        return Corruption(DamagedBitmapMessage(del.Int(0)));
      }
      deleted[static_cast<uint32_t>(del.Int(0))] = bm;
    }
    // Entries are added in batches of bounded size; the index merges the runs. The deletions
    // the lake remembers go first: should a key be both (a commit drops the deletion of what
    // it stores again), the live version, in a newer run, wins.
    constexpr size_t kBatch = 1u << 19;
    std::vector<IdentityEntry> batch;
    auto add_batch = [&](size_t at_least) -> Status {
      if (batch.empty() || batch.size() < at_least) return Status::Ok();
      Status added = index_->AddRun(std::move(batch));
      batch.clear();
      return added;
    };
    MEDLAKE_ASSIGN_OR_RETURN(Stmt deletions,
                             db.Prepare("SELECT key, type, run_id, last_updated FROM deletions"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, deletions.Step());
      if (!row) break;
      std::string_view k = deletions.Blob(0);
      if (k.size() != sizeof(Key128)) return Corruption("catalog: a deletion's key is damaged");
      IdentityEntry marker{};
      std::memcpy(&marker.key, k.data(), sizeof(Key128));
      marker.type = static_cast<uint16_t>(deletions.Int(1));
      marker.run = static_cast<uint32_t>(deletions.Int(2));
      marker.last_updated = deletions.Int(3);
      batch.push_back(marker);
      MEDLAKE_RETURN_IF_ERROR(add_batch(kBatch));
    }
    MEDLAKE_RETURN_IF_ERROR(add_batch(1));
    MEDLAKE_ASSIGN_OR_RETURN(
        Stmt q, db.Prepare("SELECT segment_id, file, run_id FROM segments ORDER BY segment_id"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool more, q.Step());
      if (!more) break;
      const auto segment = static_cast<uint32_t>(q.Int(0));
      MEDLAKE_ASSIGN_OR_RETURN(
          auto reader, SegmentReader::Open(dir_ + "/" + std::string(q.Text(1)), cipher_.get()));
      const Columns& c = reader->columns();
      auto del = deleted.find(segment);
      for (uint32_t row = 0; row < c.rows; ++row) {
        if (del != deleted.end() && roaring_bitmap_contains(del->second, row)) continue;
        int type = fhir::ResourceTypeIndex(c.type_dict[c.type[row]]);
        batch.push_back(IdentityEntry{c.key[row], c.content_hash[row], c.last_updated[row],
                                      static_cast<uint32_t>(q.Int(2)), segment, row,
                                      static_cast<uint16_t>(type < 0 ? 0 : type), 0});
      }
      MEDLAKE_RETURN_IF_ERROR(add_batch(kBatch));
    }
    MEDLAKE_RETURN_IF_ERROR(index_->AddRun(std::move(batch)));
    return index_->Publish(stamp);
  };
  Status s = rebuild();
  free_deleted();
  return s;
}

namespace {

template <typename V>
void Remember(std::unordered_map<std::string, V>& cache, size_t limit, const std::string& key,
              const V& value) {
  if (cache.size() >= limit) cache.clear();
  cache.insert_or_assign(key, value);
}

std::string IdentifierKey(std::string_view type, std::string_view system, std::string_view value) {
  // Type names hold no '|'; the system's length keeps system "a|b" with value "c" apart from
  // system "a" with value "b|c".
  std::string k;
  k.append(type).push_back('|');
  k.append(std::to_string(system.size())).push_back('|');
  k.append(system);
  k.append(value);
  return k;
}

// The key of the writer's flat maps of identifiers for an IdentifierKey or "type|value".
Key128 HashOfKey(std::string_view key) {
  XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return {h.low64, h.high64};
}

struct IdentifierParts {
  std::string_view type, system, value;
};

// Builds `filter` afresh, with room for `room` keys, from the key `key_of` gives each row of
// `sql`; false, leaving it as it was, when the catalog could not be read.
template <typename KeyOf>
bool BuildFilter(Db& db, std::string_view sql, uint64_t room, KeyOf key_of, LookupFilter& filter) {
  LookupFilter built;
  built.Reset(room);
  auto all = db.Prepare(sql);
  if (!all.ok()) return false;
  for (;;) {
    auto row = all->Step();
    if (!row.ok()) return false;
    if (!*row) break;
    built.Add(key_of(*all));
  }
  built.lookups = filter.lookups;
  filter = std::move(built);
  return true;
}

// The parts of an IdentifierKey.
IdentifierParts SplitIdentifierKey(std::string_view k) {
  IdentifierParts p;
  size_t bar = k.find('|');
  p.type = k.substr(0, bar);
  size_t length_end = k.find('|', bar + 1);
  size_t length = 0;
  std::from_chars(k.data() + bar + 1, k.data() + length_end, length);
  p.system = k.substr(length_end + 1, length);
  p.value = k.substr(length_end + 1 + length);
  return p;
}

}  // namespace

std::optional<uint32_t> LakeWriter::FindPatient(std::string_view patient_id) {
  if (!catalog_has_patients_) return std::nullopt;
  std::lock_guard lock(catalog_mu_);
  auto row = find_patient_.Bind(1, patient_id).Step();
  std::optional<uint32_t> ordinal;
  if (!row.ok()) {
    if (lookup_error_.ok()) lookup_error_ = row.status();
  } else if (*row) {
    ordinal = static_cast<uint32_t>(find_patient_.Int(0));
  }
  find_patient_.Reset();
  return ordinal;
}

bool LakeWriter::MayHoldPatientLocked(std::string_view patient_id) {
  if (!catalog_has_patients_) return false;
  return patient_filter_.MayHave(
      HashOfKey(patient_id), filter_after_lookups_,
      [this] {
        // Reading a patient costs about a sixteenth of a lookup's B-tree descent; the ordinals
        // handed out count the catalog's patients (and this run's: later, not sooner). A
        // test's lower threshold builds it at once.
        return filter_after_lookups_ < kFilterAfterLookups ||
               patient_filter_.lookups * 16 >= next_ordinal_;
      },
      [this] { return BuildPatientFilterLocked(); });
}

bool LakeWriter::BuildPatientFilterLocked() {
  // Room for as many patients again, and at least a million; the commits add theirs, and past
  // the room it is built again.
  std::lock_guard lock(catalog_mu_);
  return BuildFilter(
      *db_, "SELECT patient_id FROM patients", 2 * uint64_t{next_ordinal_} + (1u << 20),
      [](const Stmt& row) { return HashOfKey(row.Text(0)); }, patient_filter_);
}

uint32_t LakeWriter::PatientOrdinal(const std::string& patient_id) {
  std::lock_guard lock(patients_mu_);
  // This run's patients are answered by new_patient_ordinals_ until the commit, the catalog's
  // by a cache of recent lookups, the filter and the catalog.
  if (auto it = new_patient_ordinals_.find(patient_id); it != new_patient_ordinals_.end()) {
    return it->second;
  }
  if (auto it = recent_patients_.find(patient_id); it != recent_patients_.end()) return it->second;
  if (MayHoldPatientLocked(patient_id)) {
    if (std::optional<uint32_t> known = FindPatient(patient_id)) {
      Remember(recent_patients_, kLookupCache, patient_id, *known);
      return *known;
    }
  }
  const uint32_t ordinal = next_ordinal_++;
  new_patient_ordinals_.emplace(patient_id, ordinal);
  return ordinal;
}

bool LakeWriter::KnowsPatient(const std::string& patient_id) {
  std::lock_guard lock(patients_mu_);
  if (recent_patients_.find(patient_id) != recent_patients_.end()) return true;
  return MayHoldPatientLocked(patient_id) && FindPatient(patient_id).has_value();
}

Result<bool> LakeWriter::HoldsCommitted(const Key128& key) const {
  IdentityEntry committed;
  MEDLAKE_ASSIGN_OR_RETURN(bool found, index_->Find(key, committed));
  return found && committed.segment != 0;  // segment 0: remembered as deleted
}

Result<Admission> LakeWriter::Admit(const Key128& key, uint16_t type_index, uint64_t content_hash,
                                    int64_t last_updated, RecordOrder order, uint64_t& seq,
                                    bool read_early) {
  return AdmitVersion(key, type_index, content_hash, last_updated, order, seq, read_early, false);
}

Result<Admission> LakeWriter::AdmitDeletion(const Key128& key, uint16_t type_index,
                                            int64_t last_updated, RecordOrder order, uint64_t& seq,
                                            bool read_early) {
  return AdmitVersion(key, type_index, 0, last_updated, order, seq, read_early, true);
}

Result<Admission> LakeWriter::AdmitVersion(const Key128& key, uint16_t type_index,
                                           uint64_t content_hash, int64_t last_updated,
                                           RecordOrder order, uint64_t& seq, bool read_early,
                                           bool deletion) {
  if (index_failed_) return IoError("identity index update failed at the last commit");
  if (index_unread_) return IoError("identity index could not be read earlier in this run");
  if (failed_) return Failure();
  seq = 0;
  Stripe& stripe = StripeOf(key);
  std::lock_guard lock(stripe.mu);
  bool first_sight = false;
  Entry& e = stripe.map.FindOrInsert(key, first_sight);
  if (first_sight) {
    // First time since the last commit: the committed version, if any, is in the index.
    stripe.identities.store(stripe.map.size(), std::memory_order_relaxed);
    IdentityEntry committed;
    Result<bool> found = index_->Find(key, committed);
    if (!found.ok()) {
      // The entry now in the map does not know the committed version: no admission may
      // trust the map again in this writer.
      index_unread_ = true;
      return found.status();
    }
    if (*found) {
      e.content_hash = committed.content_hash;
      e.last_updated = committed.last_updated;
      e.run = committed.run;
      e.segment = committed.segment;
      e.row = committed.row;
      // Segment 0: the lake remembers a deletion (CommitDeletions), which stands where its run
      // began, as a committed version does.
      e.marker = committed.segment == 0;
      if (e.marker) deletions_met_ = true;
    }
  }
  if (deletion) deletions_met_ = true;
  e.type = type_index;
  bool live_committed = e.segment != 0 && !e.deleted;
  bool replaces_pending = false;
  if (e.pending != 0 || live_committed || e.marker) {
    uint64_t winner_hash = e.content_hash;
    int64_t winner_updated = e.last_updated;
    bool winner_deletion = !live_committed && e.marker;
    // A committed version stands at the start of the run that committed it, unless this run
    // read it early: then it stands where it was read.
    RecordOrder committed_order{static_cast<uint64_t>(e.run) << 32, 0, 0};
    if (const EarlyVersion* early = stripe.early.Find(key); early != nullptr &&
                                                            early->content_hash == e.content_hash &&
                                                            early->last_updated == e.last_updated) {
      committed_order = early->order;
    }
    RecordOrder winner_order = committed_order;
    if (e.pending != 0) {
      const Pending& p = stripe.pending[e.pending - 1];
      winner_hash = p.content_hash;
      winner_updated = p.last_updated;
      winner_order = p.order;
      winner_deletion = p.deletion;
    }
    // The same content again (or a deletion of what is deleted): nothing to store, but its
    // place in the input counts. Files are read in parallel, so a record that comes earlier in
    // the input may be admitted after this one and must then lose to it.
    auto reaffirm = [&]() {
      if (read_early) RememberEarly(stripe, key, content_hash, last_updated, order);
      if (e.pending != 0) {
        Pending& p = stripe.pending[e.pending - 1];
        if (Newer(last_updated, order, p.last_updated, p.order)) {
          p.order = order;
          // Two deletions: the later one's time orders the versions that come after, and a
          // deletion the lake remembers takes it (CommitDeletions).
          if (deletion) {
            p.last_updated = last_updated;
            p.retime = p.reaffirms_committed && last_updated > e.last_updated;
          }
        }
        if (!p.reaffirms_committed) seq = e.pending;  // a copy of the version this run stores
      } else if (live_committed || e.marker) {
        // The committed version keeps the later of its places: this one or the one it had.
        const bool later = Newer(last_updated, order, e.last_updated, committed_order);
        Pending kept{content_hash, later ? last_updated : e.last_updated,
                     later ? order : committed_order};
        kept.reaffirms_committed = true;
        kept.deletion = deletion;
        kept.retime = deletion && later && last_updated > e.last_updated;
        stripe.pending.push_back(kept);
        e.pending = static_cast<uint32_t>(stripe.pending.size());
      }
      return Admission::kDuplicate;
    };
    if (deletion ? winner_deletion : !winner_deletion && winner_hash == content_hash) {
      return reaffirm();
    }
    if (!Newer(last_updated, order, winner_updated, winner_order)) return Admission::kDuplicate;
    if (!deletion && e.marker && e.run == static_cast<uint32_t>(run_id_) &&
        (e.pending == 0 || stripe.pending[e.pending - 1].reaffirms_committed)) {
      // A deletion this run committed at an earlier checkpoint was counted as deleted: a newer
      // version supersedes it, as it would have before that commit.
      deletions_superseded_.fetch_add(1);
    }
    if (e.pending != 0) {
      // The version of this run that was winning loses: drop it (or delete it if written).
      replaces_pending = true;
      Pending& p = stripe.pending[e.pending - 1];
      p.dropped = true;
      if (p.deletion) {
        if (!p.reaffirms_committed) deletions_superseded_.fetch_add(1);
      } else if (!p.reaffirms_committed) {
        superseded_in_run_.fetch_add(1);
      }
      if (p.segment != 0) Tombstone(p.segment, p.row, e.type);
      e.pending = 0;
      if (!deletion && e.segment != 0 && e.content_hash == content_hash) {
        // Back to what the lake already holds. If the dropped version was written, or was a
        // deletion, it deleted the committed one: that deletion is taken back (it is not
        // committed yet: the entry is forgotten at every commit), instead of storing a copy of
        // what stands in the lake.
        if (e.deleted) Untombstone(e);
        live_committed = true;
        return reaffirm();
      }
    }
  }
  if (read_early) RememberEarly(stripe, key, content_hash, last_updated, order);
  Pending admitted{content_hash, last_updated, order};
  admitted.committed_exists = e.segment != 0;
  admitted.deletion = deletion;
  // A deletion is never written: the version it deletes is tombstoned now (a new version's,
  // when its row is written: FlushShard).
  if (deletion && e.segment != 0 && !e.deleted) {
    TombstoneCommitted(e, e.run == static_cast<uint32_t>(run_id_));
  } else if (deletion && e.deleted && e.deleted_as == Entry::Counted::kReplaced) {
    // A version this run wrote replaced it; deleted now, it was not replaced by a stored record
    // (as when that version is dropped before it is written).
    replaced_committed_.fetch_sub(1);
    e.deleted_as = Entry::Counted::kNothing;
  }
  stripe.pending.push_back(admitted);
  e.pending = static_cast<uint32_t>(stripe.pending.size());
  seq = e.pending;
  return admitted.committed_exists || replaces_pending ? Admission::kReplace : Admission::kStore;
}

uint64_t LakeWriter::identities_since_commit() const {
  uint64_t total = 0;
  for (const Stripe& stripe : stripes_) total += stripe.identities.load(std::memory_order_relaxed);
  return total;
}

std::vector<IdentityEntry> LakeWriter::PendingEntries(bool release) {
  std::vector<IdentityEntry> committed;
  committed.reserve(identities_since_commit());
  for (Stripe& stripe : stripes_) {
    std::lock_guard lock(stripe.mu);
    stripe.map.ForEach([&](const Key128& key, Entry& e) {
      if (e.pending == 0) return;
      const Pending& p = stripe.pending[e.pending - 1];
      // A deletion is remembered at segment 0 (one the lake remembered already stays as it
      // was, unless retimed); a version never written is not committed (the run failed).
      if (p.deletion ? !p.RemembersDeletion() : p.segment == 0) return;
      const uint32_t run = p.deletion ? DeletionRun(e, p) : static_cast<uint32_t>(run_id_);
      committed.push_back(IdentityEntry{key, p.deletion ? 0 : p.content_hash, p.last_updated, run,
                                        p.segment, p.row, e.type, 0});
    });
    if (release) ClearStripeLocked(stripe);
  }
  return committed;
}

void LakeWriter::ClearStripeLocked(Stripe& stripe) {
  stripe.map.Clear();
  stripe.pending = std::vector<Pending>();
  stripe.identities.store(0, std::memory_order_relaxed);
}

Status LakeWriter::FoldPending(Result<IdentityIndex::PreparedRun> prepared) {
  // Without a run prepared before the commit (or when it could not be written: a full disk,
  // which the commit may have needed first), each stripe is freed as soon as it is copied.
  if (!prepared.ok() || prepared->empty()) {
    prepared = index_->Prepare(PendingEntries(/*release=*/true));
  } else {
    for (Stripe& stripe : stripes_) {
      std::lock_guard lock(stripe.mu);
      ClearStripeLocked(stripe);
    }
  }
  MEDLAKE_RETURN_IF_ERROR(prepared.status());
  MEDLAKE_RETURN_IF_ERROR(index_->Add(std::move(prepared).value()));
  MEDLAKE_ASSIGN_OR_RETURN(uint64_t stamp, CommittedStateHash(*db_));
  return index_->Publish(stamp);
}

void LakeWriter::Tombstone(uint32_t segment, uint32_t row, uint16_t type) {
  std::lock_guard lock(pending_mu_);
  tombstones_[segment].push_back(row);
  type_deltas_[type_names_[type]] -= 1;
}

void LakeWriter::Untombstone(Entry& e) {
  {
    std::lock_guard lock(pending_mu_);
    std::vector<uint32_t>& rows = tombstones_[e.segment];
    auto it = std::find(rows.begin(), rows.end(), e.row);
    if (it != rows.end()) rows.erase(it);
    if (rows.empty()) tombstones_.erase(e.segment);
    type_deltas_[type_names_[e.type]] += 1;
  }
  // What the tombstone was counted as is taken back: the version stands again.
  if (e.deleted_as == Entry::Counted::kSuperseded) superseded_in_run_.fetch_sub(1);
  if (e.deleted_as == Entry::Counted::kReplaced) replaced_committed_.fetch_sub(1);
  e.deleted = false;
  e.deleted_as = Entry::Counted::kNothing;
}

void LakeWriter::TombstoneCommitted(Entry& e, bool counts) {
  e.deleted = true;
  // A version this run committed at an earlier checkpoint was counted as stored: it moves to
  // duplicates like any superseded record of the run. Only a version of an earlier run that a
  // new version replaces counts as replaced.
  e.deleted_as = !counts                                   ? Entry::Counted::kNothing
                 : e.run == static_cast<uint32_t>(run_id_) ? Entry::Counted::kSuperseded
                                                           : Entry::Counted::kReplaced;
  if (e.deleted_as == Entry::Counted::kSuperseded) superseded_in_run_.fetch_add(1);
  if (e.deleted_as == Entry::Counted::kReplaced) replaced_committed_.fetch_add(1);
  Tombstone(e.segment, e.row, e.type);
}

void LakeWriter::RememberEarly(Stripe& stripe, const Key128& key, uint64_t content_hash,
                               int64_t last_updated, RecordOrder order) {
  // Bounded: past kEarlyPerStripe new identities are not remembered, and follow the rule
  // without a place (the run's start) after a commit (docs/format.md).
  if (stripe.early.size() >= kEarlyPerStripe && stripe.early.Find(key) == nullptr) return;
  bool inserted = false;
  EarlyVersion& v = stripe.early.FindOrInsert(key, inserted);
  // The version admitted is the winner; the same content seen again keeps its latest place.
  if (inserted || v.content_hash != content_hash ||
      Newer(last_updated, order, v.last_updated, v.order)) {
    v = {content_hash, last_updated, order};
  }
}

Status LakeWriter::Add(Row&& row) {
  uint32_t shard = ShardOf(row.patient);
  ShardBuffer& buf = *buffers_[shard];
  std::vector<Row> full;
  {
    std::lock_guard lock(buf.mu);
    buf.bytes += row.MemoryBytes();
    buf.rows.push_back(std::move(row));
    if (buf.bytes < buffer_limit_) return Status::Ok();
    full.swap(buf.rows);
    // The next fill is about as many rows: room for them now, rather than moving every row
    // (300 bytes each) through a dozen reallocations as the vector doubles.
    buf.rows.reserve(full.size());
    buf.bytes = 0;
  }
  Status s = FlushShard(shard, std::move(full));
  if (!s.ok()) Fail(s);
  return s;
}

void LakeWriter::Fail(const Status& error) {
  std::lock_guard lock(failure_mu_);
  if (failure_.ok()) failure_ = error;
  failed_ = true;
}

Status LakeWriter::Failure() const {
  std::lock_guard lock(failure_mu_);
  return Status(failure_.code(),
                "an earlier segment could not be written or synced (" + failure_.message() +
                    "): this writer stores nothing more; the lake keeps its last commit");
}

Status LakeWriter::FlushShard(uint32_t shard, std::vector<Row> rows) {
  if (rows.empty()) return Status::Ok();
  uint32_t id = next_segment_.fetch_add(1);
  // Drop rows that a newer version superseded while buffered; point the version of the others
  // at their final row. One lock per row makes check and set atomic against Admit. Rows stay
  // where they are: the segment is written through the order of the kept ones.
  std::vector<uint32_t> order = SortedOrder(rows);
  size_t kept = 0;
  for (uint32_t i : order) {
    Row& r = rows[i];
    Stripe& stripe = StripeOf(r.key);
    std::lock_guard lock(stripe.mu);
    if (r.seq == 0 || r.seq > stripe.pending.size()) {
      return Internal("a buffered row has no admission");
    }
    Pending& p = stripe.pending[r.seq - 1];
    if (p.dropped) continue;
    p.segment = id;
    p.row = static_cast<uint32_t>(kept);
    if (p.committed_exists) {  // a new version replaces a committed one (unless one did already)
      Entry* e = stripe.map.Find(r.key);
      if (e != nullptr && !e->deleted) {
        TombstoneCommitted(*e, true);
      } else if (e != nullptr && e->deleted_as == Entry::Counted::kNothing &&
                 e->run != static_cast<uint32_t>(run_id_)) {
        // A deletion of this run tombstoned it, and this version, newer, replaces it.
        e->deleted_as = Entry::Counted::kReplaced;
        replaced_committed_.fetch_add(1);
      }
    }
    order[kept++] = i;
  }
  order.resize(kept);
  if (order.empty()) return Status::Ok();
  std::string rel =
      std::string(kSegmentsDir) + "/" + ShardDirName(shard, shards_) + "/" + SegmentFileName(id);
  MEDLAKE_ASSIGN_OR_RETURN(
      uint64_t bytes, WriteSegment(dir_ + "/" + rel, shard, rows, order, cipher_.get(), &syncer_));
  // Rows per type: a segment holds a few types, counted without a map lookup per row.
  std::vector<std::pair<std::string_view, int64_t>> per_type;
  for (uint32_t i : order) {
    std::string_view type = rows[i].type;
    auto it = std::find_if(per_type.begin(), per_type.end(),
                           [type](const auto& t) { return t.first == type; });
    if (it == per_type.end()) {
      per_type.emplace_back(type, 1);
    } else {
      ++it->second;
    }
  }
  std::lock_guard lock(pending_mu_);
  for (const auto& [type, n] : per_type) type_deltas_[std::string(type)] += n;
  pending_segments_.push_back({id, shard, std::move(rel), order.size(), bytes});
  return Status::Ok();
}

void LakeWriter::AddSkippedFiles(std::vector<std::pair<std::string, std::string>> files) {
  std::lock_guard lock(pending_mu_);
  for (auto& f : files) skipped_files_.push_back(std::move(f));
}

std::string LakeWriter::KeptPartNote(uint64_t record_bytes) {
  return " (record of " + std::to_string(record_bytes) + " bytes; the first " +
         std::to_string(kQuarantinedRecordBytes) + " are kept)";
}

void LakeWriter::AddQuarantine(const QuarantineEntry& entry, std::string_view record) {
  QuarantineEntry kept = entry;
  if (record.size() > kQuarantinedRecordBytes) {
    // A record of any size is accounted for; its first MiB is what is kept to look at.
    kept.reason += KeptPartNote(record.size());
    record = record.substr(0, kQuarantinedRecordBytes);
  }
  std::lock_guard lock(pending_mu_);
  quarantine_.push_back({std::move(kept), std::string(record)});
}

namespace {

// Steps `q` (bound by the caller) through its rows, calling `on_row()` at each, and resets it.
// A failed step ends the rows and is kept in `error` unless an earlier one is.
template <typename Fn>
void ForEachRow(Stmt& q, Status& error, const Fn& on_row) {
  for (;;) {
    auto row = q.Step();
    if (!row.ok()) {
      if (error.ok()) error = row.status();
      break;
    }
    if (!*row) break;
    on_row();
  }
  q.Reset();
}

// What a lookup answers for `ids`, the distinct carriers of an identifier.
std::string OneCarrier(const std::vector<std::string>& ids) {
  if (ids.empty()) return std::string();
  return ids.size() == 1 ? ids.front() : std::string(kAmbiguousIdentifier);
}

void AddDistinct(std::vector<std::string>& ids, const std::string& id) {
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

}  // namespace

std::string LakeWriter::IdentifierLocked(std::string_view type, std::string_view system,
                                         std::string_view value) {
  std::string k = IdentifierKey(type, system, value);
  std::vector<std::string> ids;
  if (NewIdentifier* entry = new_identifiers_.Find(HashOfKey(k))) {
    EntryCarriersLocked(*entry, type, system, value, ids);
    return OneCarrier(ids);
  }
  if (auto it = recent_identifiers_.find(k); it != recent_identifiers_.end()) return it->second;
  CommittedCarriersLocked(type, system, value, ids);
  std::string id = OneCarrier(ids);
  Remember(recent_identifiers_, kLookupCache, k, id);
  return id;
}

void LakeWriter::CarriersLocked(std::string_view type, std::string_view system,
                                std::string_view value, std::vector<std::string>& ids) {
  NewIdentifier* entry = new_identifiers_.Find(HashOfKey(IdentifierKey(type, system, value)));
  if (entry == nullptr) {
    CommittedCarriersLocked(type, system, value, ids);
  } else {
    EntryCarriersLocked(*entry, type, system, value, ids);
  }
}

void LakeWriter::EntryCarriersLocked(NewIdentifier& entry, std::string_view type,
                                     std::string_view system, std::string_view value,
                                     std::vector<std::string>& ids) {
  if (!entry.committed_read) {  // the catalog does not change until the commit
    ReadCommittedLocked(type, system, value, entry.committed);
    entry.committed_read = true;
  }
  for (const std::string& id : entry.carriers) AddDistinct(ids, id);
  // Whether a resource's committed identifiers still hold may change from batch to batch.
  AddHeldLocked(type, system, entry.committed, ids);
}

void LakeWriter::AddHeldLocked(std::string_view type, std::string_view system,
                               const std::vector<std::string>& committed,
                               std::vector<std::string>& ids) {
  // A pseudonym link names a person, whatever the versions of their Patient resource.
  for (const std::string& id : committed) {
    if (system == kPseudonymLinkSystem || !ReplacedLocked(type, id)) AddDistinct(ids, id);
  }
}

void LakeWriter::ReadCommittedLocked(std::string_view type, std::string_view system,
                                     std::string_view value, std::vector<std::string>& ids) {
  if (!catalog_has_identifiers_) return;
  if (!MayBeCommittedLocked(HashOfKey(IdentifierKey(type, system, value)))) return;
  std::lock_guard lock(catalog_mu_);
  find_identifier_.Bind(1, type).Bind(2, system).Bind(3, value);
  ForEachRow(find_identifier_, lookup_error_, [&] { ids.emplace_back(find_identifier_.Text(0)); });
}

bool LakeWriter::MayBeCommittedLocked(const Key128& key) {
  return catalog_filter_.MayHave(
      key, filter_after_lookups_, [this] { return FilterWorthBuildingLocked(); },
      [this] {
        std::lock_guard lock(catalog_mu_);
        return BuildCatalogFilterLocked();
      });
}

std::optional<uint64_t> LakeWriter::IdentifierRowsEstimateLocked() {
  auto pages = db_->Prepare("PRAGMA page_count");
  if (!pages.ok()) return std::nullopt;
  auto row = pages->Step();
  if (!row.ok() || !*row) return std::nullopt;
  return static_cast<uint64_t>(pages->Int(0)) * 20;
}

bool LakeWriter::FilterWorthBuildingLocked() {
  if (filter_after_lookups_ < kFilterAfterLookups) return true;  // a test's threshold
  if (catalog_filter_.lookups % 4096 != 0) return false;
  // Building reads every row, each at about a sixteenth of a lookup's B-tree descent: it waits
  // until the lookups reach a sixteenth of the rows (an overestimate: later, not sooner). A
  // short run into a large lake builds none.
  std::lock_guard lock(catalog_mu_);
  std::optional<uint64_t> rows = IdentifierRowsEstimateLocked();
  return rows && catalog_filter_.lookups * 16 >= *rows;
}

bool LakeWriter::BuildCatalogFilterLocked() {
  // Room for as many keys again as the estimate, and at least a million; past that the
  // commits have made it less selective, and it is built again (CommitIdentifiers).
  std::optional<uint64_t> estimate = IdentifierRowsEstimateLocked();
  if (!estimate) return false;
  return BuildFilter(
      *db_, "SELECT type, system, value FROM identifiers", 2 * *estimate + (1u << 20),
      [](const Stmt& row) {
        return HashOfKey(IdentifierKey(row.Text(0), row.Text(1), row.Text(2)));
      },
      catalog_filter_);
}

void LakeWriter::CommittedCarriersLocked(std::string_view type, std::string_view system,
                                         std::string_view value, std::vector<std::string>& ids) {
  std::vector<std::string> found;
  ReadCommittedLocked(type, system, value, found);
  AddHeldLocked(type, system, found, ids);
}

bool LakeWriter::ReplacedLocked(std::string_view type, std::string_view id) {
  if (registered_versions_.size() == 0) return false;
  const RegisteredVersion* v = registered_versions_.Find(ResourceKey(type, id));
  return v != nullptr && v->replaces;
}

void LakeWriter::SetLinkLocked(std::string_view link, const std::string& pseudonym) {
  std::string k = IdentifierKey("Patient", kPseudonymLinkSystem, link);
  // new_identifiers_ answers for it until the commit, the catalog after: a cached lookup from
  // before would outlive the first.
  recent_identifiers_.erase(k);
  bool inserted = false;
  NewIdentifier& e = new_identifiers_.FindOrInsert(HashOfKey(k), inserted);
  if (inserted) e.key = std::move(k);
  e.carriers.assign(1, pseudonym);
  e.linked_in_batch = batch_ + 1;
}

bool LakeWriter::LinkedInBatchLocked(const std::string& key) {
  // (Links are made once: the key stood for nothing before. Every other identifier is
  // registered between batches.)
  if (!isolate_batches_) return false;
  const NewIdentifier* e = new_identifiers_.Find(HashOfKey(key));
  return e != nullptr && e->linked_in_batch == batch_ + 1;
}

void LakeWriter::AddIdentifiers(const std::string& type, const std::string& id,
                                const std::vector<fhir::Identifier>& identifiers) {
  if (isolate_batches_) {  // the batch sees them when it ends, like AddIdentifiersOf's
    std::lock_guard lock(queued_mu_);
    queued_identifiers_.push_back({Key128{}, kAlwaysRegister, type, id, identifiers});
    return;
  }
  std::lock_guard lock(ident_mu_);
  RegisterLocked(kAlwaysRegister, /*replaces=*/false, type, id, identifiers);
}

void LakeWriter::RegisterLocked(uint64_t seq, bool replaces, const std::string& type,
                                const std::string& id,
                                const std::vector<fhir::Identifier>& identifiers) {
  bool first = false;
  RegisteredVersion& version = registered_versions_.FindOrInsert(ResourceKey(type, id), first);
  const bool was_replaced = !first && version.replaces;
  if (!first) {
    // An earlier version of this run: the identifiers it carried name this resource no more.
    for (const Key128& key : version.identifiers) {
      if (NewIdentifier* e = new_identifiers_.Find(key)) std::erase(e->carriers, id);
    }
    version.identifiers.clear();
  }
  replaces = replaces || was_replaced;
  // Cached lookups of its committed version's identifiers hold no more (clear() of an empty
  // std::unordered_map still zeroes its buckets: not once per resource of a re-ingest).
  if (replaces && !was_replaced && !recent_identifiers_.empty()) recent_identifiers_.clear();
  version.seq = seq;
  version.replaces = replaces;
  version.dropped = false;
  version.type = type;
  version.id = id;
  // A lake's first run of a Patient master file registers millions of identifiers: the key is
  // built and hashed once, and the catalog is not read (a lookup does, CarriersLocked; the
  // commit adds a row per carrier).
  for (const fhir::Identifier& ident : identifiers) {
    // The writer's own pseudonym links are not an input's to set.
    if (ident.system == kPseudonymLinkSystem) continue;
    std::string k = IdentifierKey(type, ident.system, ident.value);
    const Key128 hash = HashOfKey(k);
    bool inserted = false;
    NewIdentifier& e = new_identifiers_.FindOrInsert(hash, inserted);
    if (inserted) {
      // new_identifiers_ answers for it until the commit, the catalog after: a cached lookup
      // from before would outlive the first.
      if (!recent_identifiers_.empty()) recent_identifiers_.erase(k);
      e.key = std::move(k);
      // For lookups without a system.
      std::string vk;
      vk.append(type).push_back('|');  // type names hold no '|'
      vk.append(ident.value);
      bool first_of_value = false;
      new_identifier_values_.FindOrInsert(HashOfKey(vk), first_of_value).push_back(hash);
    }
    AddDistinct(e.carriers, id);
    version.identifiers.push_back(hash);
  }
}

std::string LakeWriter::ResolveIdentifier(std::string_view type,
                                          std::optional<std::string_view> system,
                                          std::string_view value) {
  std::lock_guard lock(ident_mu_);
  std::string id;
  if (system) {
    id = IdentifierLocked(type, *system, value);
    if (LinkedInBatchLocked(IdentifierKey(type, *system, value))) id.clear();
  } else {
    id = AnySystemLocked(type, value);
  }
  return id;  // kAmbiguousIdentifier when several carry it
}

void LakeWriter::AddIdentifiersOf(const Key128& key, uint64_t seq, const std::string& type,
                                  const std::string& id,
                                  const std::vector<fhir::Identifier>& identifiers) {
  if (!isolate_batches_) {
    std::optional<bool> replaces = VersionToStore(key, seq);
    if (!replaces) return;
    std::lock_guard lock(ident_mu_);
    RegisterLocked(seq, *replaces, type, id, identifiers);
    return;
  }
  std::lock_guard lock(queued_mu_);
  queued_identifiers_.push_back({key, seq, type, id, identifiers});
}

bool LakeWriter::StillToStore(const Key128& key, uint64_t seq) {
  return VersionToStore(key, seq).has_value();
}

std::optional<bool> LakeWriter::VersionToStore(const Key128& key, uint64_t seq) {
  Stripe& stripe = StripeOf(key);
  std::lock_guard lock(stripe.mu);
  if (seq == 0 || seq > stripe.pending.size() || stripe.pending[seq - 1].dropped) {
    return std::nullopt;
  }
  return stripe.pending[seq - 1].committed_exists;
}

void LakeWriter::SettleIdentifiers() {
  std::vector<QueuedIdentifiers> queued;
  {
    std::lock_guard lock(queued_mu_);
    queued.swap(queued_identifiers_);
  }
  // Only the versions still to be stored register theirs. The result does not depend on the
  // order: an identifier that two resources carry is ambiguous whichever comes first, and of
  // two versions of one resource in a batch only the one to store is still to store.
  std::vector<std::optional<bool>> replaces(queued.size());
  for (size_t i = 0; i < queued.size(); ++i) {
    replaces[i] = queued[i].seq == kAlwaysRegister ? std::optional<bool>(false)
                                                   : VersionToStore(queued[i].key, queued[i].seq);
  }
  {
    std::lock_guard lock(ident_mu_);
    for (size_t i = 0; i < queued.size(); ++i) {
      const QueuedIdentifiers& q = queued[i];
      if (replaces[i]) RegisterLocked(q.seq, *replaces[i], q.type, q.id, q.identifiers);
    }
  }
  // A version registered at an earlier batch's end that the lake's own version beat after
  // all (it came back in this batch): the next batch must not see its identifiers, nor take
  // the lake's for gone.
  ForgetUnstoredVersions();
}

void LakeWriter::ForgetUnstoredVersions() {
  std::lock_guard lock(ident_mu_);
  // A version registered at an earlier batch's end that a later admission replaced after all
  // (the lake's own version came back): its identifiers are not stored, and the committed ones
  // still hold.
  bool forgot = false;
  registered_versions_.ForEach([this, &forgot](const Key128& key, RegisteredVersion& v) {
    if (v.seq == kAlwaysRegister || v.dropped || StillToStore(key, v.seq)) return;
    for (const Key128& ident : v.identifiers) {
      if (NewIdentifier* e = new_identifiers_.Find(ident)) std::erase(e->carriers, v.id);
    }
    v.identifiers.clear();
    v.dropped = true;
    v.replaces = false;
    forgot = true;
  });
  // Cached lookups took the resource's committed identifiers for gone.
  if (forgot) recent_identifiers_.clear();
}

void LakeWriter::BeginBatch() {
  SettleIdentifiers();
  std::lock_guard lock(ident_mu_);
  ++batch_;
}

std::string LakeWriter::AnySystemLocked(std::string_view type, std::string_view value) {
  // Not cached (a registration in any system changes the answer); such references are rare.
  std::vector<std::string> ids;
  std::string vk;
  vk.append(type).push_back('|');
  vk.append(value);
  if (const std::vector<Key128>* keys = new_identifier_values_.Find(HashOfKey(vk))) {
    for (const Key128& key : *keys) {
      NewIdentifier* entry = new_identifiers_.Find(key);
      if (entry == nullptr) continue;
      const IdentifierParts parts = SplitIdentifierKey(entry->key);
      EntryCarriersLocked(*entry, parts.type, parts.system, parts.value, ids);
      if (ids.size() > 1) return kAmbiguousIdentifier;
    }
  }
  if (!catalog_has_identifiers_) return OneCarrier(ids);
  // The catalog's rows in systems no registration of this run answers for (those that one
  // does were counted with it).
  std::vector<std::pair<std::string, std::string>> rows;  // system, id
  {
    std::lock_guard lock(catalog_mu_);
    Stmt& q = find_identifier_values_;
    q.Bind(1, type).Bind(2, value).Bind(3, std::string_view(kPseudonymLinkSystem));
    ForEachRow(q, lookup_error_, [&] { rows.emplace_back(q.Text(0), q.Text(1)); });
  }
  for (const auto& [system, id] : rows) {
    if (new_identifiers_.Find(HashOfKey(IdentifierKey(type, system, value))) != nullptr) continue;
    if (!ReplacedLocked(type, id)) AddDistinct(ids, id);
    if (ids.size() > 1) break;
  }
  return OneCarrier(ids);
}

std::string LakeWriter::LinkPseudonym(const std::vector<std::string>& links,
                                      const std::string& proposed) {
  std::lock_guard lock(ident_mu_);
  // Each link is looked up once (a Patient has one per source id and identifier).
  std::vector<std::string> known(links.size());
  std::string pseudonym;
  for (size_t i = 0; i < links.size(); ++i) {
    known[i] = IdentifierLocked("Patient", kPseudonymLinkSystem, links[i]);
    if (pseudonym.empty()) pseudonym = known[i];
  }
  if (pseudonym.empty()) pseudonym = proposed;
  for (size_t i = 0; i < links.size(); ++i) {
    if (known[i].empty()) SetLinkLocked(links[i], pseudonym);
  }
  return pseudonym;
}

bool LakeWriter::PublishLinks(const std::vector<std::pair<std::string, std::string>>& missed,
                              const std::vector<std::pair<std::string, std::string>>& links) {
  auto linked = [this](const std::string& link) -> const std::string* {
    const NewIdentifier* entry =
        new_identifiers_.Find(HashOfKey(IdentifierKey("Patient", kPseudonymLinkSystem, link)));
    return entry != nullptr && !entry->carriers.empty() ? &entry->carriers.front() : nullptr;
  };
  std::lock_guard lock(ident_mu_);
  for (const auto& [link, mine] : missed) {
    const std::string* now = linked(link);
    if (now != nullptr && (mine.empty() || *now != mine)) return false;
  }
  for (const auto& [link, pseudonym] : links) {
    if (linked(link) == nullptr) SetLinkLocked(link, pseudonym);
  }
  return true;
}

std::string LakeWriter::FindLink(std::string_view link, bool as_batch_began) {
  std::lock_guard lock(ident_mu_);
  std::string id = IdentifierLocked("Patient", kPseudonymLinkSystem, link);
  if (as_batch_began && LinkedInBatchLocked(IdentifierKey("Patient", kPseudonymLinkSystem, link))) {
    id.clear();
  }
  return id;
}

Status LakeWriter::Flush() {
  // Shards are independent: write their last segments in parallel.
  std::vector<Status> results(shards_ + 1);
  tbb::parallel_for(uint32_t{0}, shards_ + 1, [&](uint32_t s) {
    std::vector<Row> rows;
    {
      std::lock_guard lock(buffers_[s]->mu);
      rows.swap(buffers_[s]->rows);
      buffers_[s]->bytes = 0;
    }
    results[s] = FlushShard(s, std::move(rows));
  });
  for (auto& r : results) {
    if (!r.ok()) {
      Fail(r);
      return r;
    }
  }
  return Status::Ok();
}

Result<bool> LakeWriter::CommitIdentifiers(Db& db) {
  std::lock_guard ilock(ident_mu_);
  // The committed identifiers that resources whose version is now this run's no longer
  // carry go, then a row for each carrier registered (one already there is not written
  // again: a new version of a Patient that keeps its identifiers writes none).
  MEDLAKE_ASSIGN_OR_RETURN(IdentifierRows rows_of, IdentifierRows::Prepare(db));
  Status dropped = Status::Ok();
  registered_versions_.ForEach([&](const Key128&, const RegisteredVersion& v) {
    if (!dropped.ok() || !v.replaces || v.dropped) return;
    auto held = rows_of.Of(v.type, v.id, std::string_view(kPseudonymLinkSystem));
    if (!held.ok()) {
      dropped = held.status();
      return;
    }
    for (const auto& [system, value] : *held) {
      const Key128 key = HashOfKey(IdentifierKey(v.type, system, value));
      if (std::find(v.identifiers.begin(), v.identifiers.end(), key) != v.identifiers.end()) {
        continue;
      }
      dropped = rows_of.Delete(v.type, system, value, v.id);
      if (!dropped.ok()) return;
    }
  });
  MEDLAKE_RETURN_IF_ERROR(dropped);
  // Each table in its own key order, so that its B-tree fills page after page rather than at
  // random pages (1.6 million identifiers took 24 s in random order: a page cache spilling to
  // the WAL and reading it back). Until catalog format 3 the rows by resource were an index,
  // written in the table's order: at random.
  // The sorts compare ranks of the few types and systems, and the first eight bytes of values
  // and ids, before any string: comparing the strings themselves (a system URL shared by every
  // row of a Patient, ids that share a prefix) was most of the sorts' time.
  struct NewRow {
    IdentifierParts parts;
    const std::string* id;
    uint32_t type_rank = 0, system_rank = 0;
    uint64_t value_head = 0, id_head = 0;
  };
  std::vector<NewRow> rows;
  rows.reserve(new_identifiers_.size());
  new_identifiers_.ForEach([&](const Key128& key, const NewIdentifier& e) {
    for (const std::string& id : e.carriers) {
      rows.push_back({SplitIdentifierKey(e.key), &id});
    }
    // The catalog filter learns the keys now (a commit that then fails leaves it a few keys
    // it need not have, which costs a lookup each and nothing else).
    if (catalog_filter_.built() && !e.carriers.empty()) catalog_filter_.Add(key);
  });
  catalog_filter_.DropIfFull();
  {
    // Each distinct type and system once (hashed per row), then ranked in string order.
    std::unordered_map<std::string_view, uint32_t> types, systems;
    for (const NewRow& r : rows) {
      types.emplace(r.parts.type, 0);
      systems.emplace(r.parts.system, 0);
    }
    auto rank = [](std::unordered_map<std::string_view, uint32_t>& names) {
      std::vector<std::string_view> sorted;
      for (const auto& [name, unused] : names) sorted.push_back(name);
      std::sort(sorted.begin(), sorted.end());
      for (uint32_t i = 0; i < sorted.size(); ++i) names[sorted[i]] = i;
    };
    rank(types);
    rank(systems);
    for (NewRow& r : rows) {
      r.type_rank = types[r.parts.type];
      r.system_rank = systems[r.parts.system];
      r.value_head = OrderedHead(r.parts.value);
      r.id_head = OrderedHead(*r.id);
    }
  }
  std::sort(rows.begin(), rows.end(), [](const NewRow& a, const NewRow& b) {
    return std::tie(a.type_rank, a.value_head, a.parts.value, a.system_rank, *a.id) <
           std::tie(b.type_rank, b.value_head, b.parts.value, b.system_rank, *b.id);
  });
  MEDLAKE_ASSIGN_OR_RETURN(Stmt ident,
                           db.Prepare("INSERT OR IGNORE INTO identifiers VALUES(?, ?, ?, ?)"));
  // The rows' strings (new_identifiers_) outlive both statements: bound without a copy.
  for (const NewRow& r : rows) {
    MEDLAKE_RETURN_IF_ERROR(ident.BindView(1, r.parts.type)
                                .BindView(2, r.parts.system)
                                .BindView(3, r.parts.value)
                                .BindView(4, *r.id)
                                .Run());
  }
  std::sort(rows.begin(), rows.end(), [](const NewRow& a, const NewRow& b) {
    return std::tie(a.type_rank, a.id_head, *a.id, a.system_rank, a.parts.value) <
           std::tie(b.type_rank, b.id_head, *b.id, b.system_rank, b.parts.value);
  });
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt carrier, db.Prepare("INSERT OR IGNORE INTO identifier_carriers VALUES(?, ?, ?, ?)"));
  for (const NewRow& r : rows) {
    MEDLAKE_RETURN_IF_ERROR(carrier.BindView(1, r.parts.type)
                                .BindView(2, *r.id)
                                .BindView(3, r.parts.system)
                                .BindView(4, r.parts.value)
                                .Run());
  }
  return !rows.empty();
}

Status LakeWriter::CommitDeletions(Db& db) {
  if (!deletions_met_.load()) return Status::Ok();
  MEDLAKE_ASSIGN_OR_RETURN(
      Stmt put,
      db.Prepare("INSERT OR REPLACE INTO deletions(key, type, run_id, last_updated) VALUES(?, ?, "
                 "?, ?)"));
  MEDLAKE_ASSIGN_OR_RETURN(Stmt drop, db.Prepare("DELETE FROM deletions WHERE key = ?"));
  Status s;
  bool changed = false;
  for (Stripe& stripe : stripes_) {
    std::lock_guard lock(stripe.mu);
    stripe.map.ForEach([&](const Key128& key, Entry& e) {
      if (!s.ok() || e.pending == 0) return;
      const Pending& p = stripe.pending[e.pending - 1];
      const std::string_view k(reinterpret_cast<const char*>(&key), sizeof key);
      if (p.RemembersDeletion()) {
        changed = true;
        s = put.BindBlob(1, k)
                .Bind(2, int64_t{e.type})
                .Bind(3, int64_t{DeletionRun(e, p)})
                .Bind(4, p.last_updated)
                .Run();
      } else if (!p.deletion && e.marker && p.segment != 0) {
        changed = true;
        s = drop.BindBlob(1, k).Run();  // stored again
      }
    });
    MEDLAKE_RETURN_IF_ERROR(s);
  }
  // The committed state's stamp counts the commits that changed the table (CommittedStateHash).
  return changed ? CountDeletionChange(db) : Status::Ok();
}

Status LakeWriter::Commit(const RunCounters& counters, bool final) {
  if (failed_) return Failure();
  MEDLAKE_RETURN_IF_ERROR(Flush());
  SettleIdentifiers();  // while Admit's tickets still say which versions are stored
  {
    // A lookup that failed (in the run or as the identifiers settled) leaves them unknown.
    std::lock_guard clock(catalog_mu_);
    MEDLAKE_RETURN_IF_ERROR(lookup_error_);
  }
  // The step before the commit (the identity vault's records: a SQLite transaction on a file of
  // its own, serial) runs on a thread of its own while this one waits for the segments and
  // writes the catalog's transaction, which commits only once the step has succeeded. The
  // thread is joined before this function returns, whatever happens. Nothing may admit
  // meanwhile (see the header): this thread holds pending_mu_ across the join, which Admit
  // takes under a stripe's lock, and the step takes stripes' locks.
  Status before = Status::Ok();
  std::jthread before_thread;
  if (before_commit_) {
    before_thread = std::jthread([&] {
      try {
        before = before_commit_(commits_ + 1);
      } catch (const std::exception& e) {  // out of memory: the commit fails with a status
        before = Internal(std::string("the step before the commit failed: ") + e.what());
      }
    });
  }
  // Segment files are synced in the background while ingest goes on; all must be durable, and
  // then their directory entries, before the catalog names them.
  if (Status synced = syncer_.Wait(); !synced.ok()) {
    Fail(synced);
    return synced;
  }
  // While that thread works, the identity state this commit folds into the index is written as
  // a run that nothing reads until the commit is made (FoldPending). It is a copy of the state,
  // which stays until then: done here only when there is a step to wait for.
  Result<IdentityIndex::PreparedRun> prepared_fold = IdentityIndex::PreparedRun();
  if (before_commit_) prepared_fold = index_->Prepare(PendingEntries(/*release=*/false));
  std::unique_lock lock(pending_mu_);
  std::set<uint32_t> shards_touched;
  for (const auto& seg : pending_segments_) shards_touched.insert(seg.shard);
  for (uint32_t s : shards_touched) {
    MEDLAKE_RETURN_IF_ERROR(SyncDir(dir_ + "/" + kSegmentsDir + "/" + ShardDirName(s, shards_)));
  }

  Db& db = *db_;
  bool identifiers_committed = false;
  MEDLAKE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    MEDLAKE_ASSIGN_OR_RETURN(Stmt seg, db.Prepare("INSERT INTO segments VALUES(?, ?, ?, ?, ?, ?)"));
    for (const auto& p : pending_segments_) {
      MEDLAKE_RETURN_IF_ERROR(seg.Bind(1, int64_t(p.id))
                                  .Bind(2, int64_t(p.shard))
                                  .Bind(3, p.file)
                                  .Bind(4, int64_t(p.rows))
                                  .Bind(5, int64_t(p.bytes))
                                  .Bind(6, run_id_)
                                  .Run());
    }
    MEDLAKE_ASSIGN_OR_RETURN(
        Stmt get_del, db.Prepare("SELECT deleted FROM segment_deletes WHERE segment_id = ?"));
    MEDLAKE_ASSIGN_OR_RETURN(Stmt put_del,
                             db.Prepare("INSERT OR REPLACE INTO segment_deletes VALUES(?, ?)"));
    for (const auto& [segment, rows] : tombstones_) {
      get_del.Bind(1, int64_t(segment));
      MEDLAKE_ASSIGN_OR_RETURN(bool have, get_del.Step());
      roaring_bitmap_t* bm = nullptr;
      if (have) {
        std::string_view blob = get_del.Blob(0);
        bm = ReadCatalogBitmap(blob);
        if (bm == nullptr) {
          // Replacing it by this run's deletions alone would bring back every version it
          // deleted: the commit fails instead (the catalog's damage is reported, not erased).
          get_del.Reset();
          return Corruption(DamagedBitmapMessage(segment));
        }
      } else {
        bm = roaring_bitmap_create();
      }
      get_del.Reset();
      for (uint32_t r : rows) roaring_bitmap_add(bm, r);
      const std::string blob = CatalogBitmapBytes(bm);
      roaring_bitmap_free(bm);
      MEDLAKE_RETURN_IF_ERROR(put_del.Bind(1, int64_t(segment)).BindBlob(2, blob).Run());
    }
    MEDLAKE_ASSIGN_OR_RETURN(Stmt types,
                             db.Prepare("INSERT INTO type_counts VALUES(?1, ?2) ON CONFLICT(type) "
                                        "DO UPDATE SET live = live + ?2"));
    for (const auto& [type, delta] : type_deltas_) {
      MEDLAKE_RETURN_IF_ERROR(types.Bind(1, type).Bind(2, delta).Run());
    }
    {
      std::lock_guard plock(patients_mu_);
      // In ordinal order: the table's key.
      std::vector<std::pair<uint32_t, std::string_view>> patients;
      patients.reserve(new_patient_ordinals_.size());
      for (const auto& [id, ordinal] : new_patient_ordinals_) patients.emplace_back(ordinal, id);
      std::sort(patients.begin(), patients.end());
      MEDLAKE_ASSIGN_OR_RETURN(Stmt pat, db.Prepare("INSERT INTO patients VALUES(?, ?)"));
      for (const auto& [ordinal, id] : patients) {
        MEDLAKE_RETURN_IF_ERROR(pat.Bind(1, int64_t(ordinal)).BindView(2, id).Run());
      }
    }
    MEDLAKE_ASSIGN_OR_RETURN(identifiers_committed, CommitIdentifiers(db));
    MEDLAKE_RETURN_IF_ERROR(CommitDeletions(db));
    MEDLAKE_RETURN_IF_ERROR(WriteCommitCount(db, commits_ + 1));
    MEDLAKE_ASSIGN_OR_RETURN(
        Stmt q,
        db.Prepare(
            "INSERT OR IGNORE INTO quarantine(run_id, source, line, byte_offset, location, reason, "
            "record, record_hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
    for (const auto& pq : quarantine_) {
      MEDLAKE_RETURN_IF_ERROR(q.Bind(1, run_id_)
                                  .Bind(2, pq.entry.source)
                                  .Bind(3, pq.entry.line)
                                  .Bind(4, pq.entry.byte_offset)
                                  .Bind(5, pq.entry.location)
                                  .Bind(6, pq.entry.reason)
                                  .BindBlob(7, pq.record)
                                  .Bind(8, static_cast<int64_t>(ContentHash(pq.record) >> 1))
                                  .Run());
    }
    MEDLAKE_ASSIGN_OR_RETURN(
        Stmt skipped,
        db.Prepare("INSERT INTO skipped_files(run_id, path, reason) VALUES(?, ?, ?)"));
    for (const auto& [path, reason] : skipped_files_) {
      MEDLAKE_RETURN_IF_ERROR(skipped.Bind(1, run_id_).Bind(2, path).Bind(3, reason).Run());
    }
    MEDLAKE_ASSIGN_OR_RETURN(Stmt run,
                             db.Prepare("UPDATE runs SET finished = ?, state = ?, records_read = "
                                        "?, stored = ?, duplicates = ?, "
                                        "replaced = ?, quarantined = ?, files = ?, skipped_files = "
                                        "?, bytes_read = ?, deleted = ? WHERE run_id = ?"));
    return run.Bind(1, NowUtc())
        .Bind(2, final ? "committed" : "running")
        .Bind(3, int64_t(counters.records_read))
        .Bind(4, int64_t(counters.stored))
        .Bind(5, int64_t(counters.duplicates))
        .Bind(6, int64_t(counters.replaced))
        .Bind(7, int64_t(counters.quarantined))
        .Bind(8, int64_t(counters.files))
        .Bind(9, int64_t(counters.skipped_files))
        .Bind(10, int64_t(counters.bytes_read))
        .Bind(11, int64_t(counters.deleted))
        .Bind(12, run_id_)
        .Run();
  };
  Status s = body();
  if (before_thread.joinable()) before_thread.join();
  if (s.ok()) s = before;
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s;
  }
  MEDLAKE_RETURN_IF_ERROR(db.Exec("COMMIT"));
  ++commits_;
  // The commit is durable in the write-ahead log; folded into the catalog file it no longer
  // depends on the log, where one damaged frame would lose it and every later commit without
  // a word (Db::Checkpoint). A failure to fold leaves it in the log, as SQLite would: the run
  // goes on, and the next commit folds both.
  (void)db.Checkpoint();
  pending_segments_.clear();
  tombstones_.clear();
  type_deltas_.clear();
  deletions_met_ = false;  // FoldPending forgets the identities that met them
  quarantine_.clear();
  skipped_files_.clear();
  {
    std::lock_guard plock(patients_mu_);
    catalog_has_patients_ = catalog_has_patients_ || !new_patient_ordinals_.empty();
    if (patient_filter_.built()) {
      for (const auto& [id, ordinal] : new_patient_ordinals_) patient_filter_.Add(HashOfKey(id));
      patient_filter_.DropIfFull();
    }
    new_patient_ordinals_.clear();
  }
  {
    std::lock_guard ilock(ident_mu_);
    catalog_has_identifiers_ = catalog_has_identifiers_ || identifiers_committed;
    new_identifiers_.Clear();
    registered_versions_.Clear();
    new_identifier_values_.Clear();
    recent_identifiers_.clear();  // those of replaced versions may have gone
  }
  lock.unlock();
  if (after_commit_) after_commit_(commits_, final);
  // This run's rows are committed now. If the identity index cannot take them, the writer no
  // longer knows what is live: it refuses further records (the lake stays consistent; the next
  // writer rebuilds the index).
  Status folded = FoldPending(std::move(prepared_fold));
  if (!folded.ok()) {
    index_failed_ = true;
    std::lock_guard clock(catalog_mu_);
    if (lookup_error_.ok()) lookup_error_ = folded;
  }
  // After the last commit nothing more is admitted: the run succeeded, and what the index
  // missed only costs the next writer a rebuild. The caller reports it as a warning.
  if (final && !folded.ok()) {
    index_warning_ = folded;
    return Status::Ok();
  }
  return folded;
}

}  // namespace medlake::store
