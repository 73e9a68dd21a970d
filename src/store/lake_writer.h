// LakeWriter: the single writer of a lake. It admits resources (deciding new / duplicate /
// newer version by identity type+id), buffers them per shard, writes full buffers as segment
// files, and makes everything visible atomically with Commit().
//
// Durability protocol (docs/format.md): segment files are written and fsynced first (on
// background threads, store/file_syncer.h; Commit waits for them); a segment becomes part of
// the lake only when the catalog transaction naming it commits. Files that no
// committed transaction names are deleted when the next writer opens the lake. A flock on the
// lake folder keeps a second writer out.
//
// Thread safety: PatientOrdinal, Admit, Add, AddQuarantine, AddIdentifiers and
// ResolveIdentifier may be called from many threads at once. Commit must not run concurrently
// with them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/file_util.h"
#include "medlake/lake.h"
#include "medlake/status.h"
#include "store/file_syncer.h"
#include "store/identity_index.h"
#include "store/key_filter.h"
#include "store/key_map.h"
#include "store/segment.h"
#include "store/sqlite.h"

namespace medlake::store {

// Where a record came from, to order versions deterministically: later run, then later file,
// then later position wins, unless both carry meta.lastUpdated and they differ.
struct RecordOrder {
  uint64_t hi = 0;      // run_id << 32 | file index
  uint64_t offset = 0;  // byte offset of the record in its file
  uint32_t entry = 0;   // index of the resource within the record (a Bundle's entries)
};

// kReplace: to store, in place of a version the lake holds or this run admitted before.
enum class Admission { kStore, kReplace, kDuplicate };

struct RunCounters {
  uint64_t records_read = 0;
  uint64_t stored = 0;
  uint64_t duplicates = 0;
  uint64_t replaced = 0;  // stored records that replaced a version committed by an earlier run
  // Deletions applied (a Bundle entry with a DELETE request; docs/format.md, "Deletions"): with
  // stored, duplicates and quarantined, the records read.
  uint64_t deleted = 0;
  uint64_t quarantined = 0;
  uint64_t files = 0;
  uint64_t skipped_files = 0;
  uint64_t bytes_read = 0;
};

class LakeWriter {
 public:
  // Opens `dir` for writing, creating the lake when absent. Takes the lake lock, removes
  // uncommitted segment files, and opens the identity index (store/identity_index.h),
  // rebuilding it from the segments when it does not describe the committed state.
  static Result<std::unique_ptr<LakeWriter>> Open(const std::string& dir);
  // Whether a lake may be made or opened at `dir`: it does not exist, or is an empty folder,
  // one that holds a lake, or one `medlake init` prepared. kInvalidArgument for a file, or a
  // folder of other files (a mistyped --lake would otherwise become a lake among them).
  static Status CheckFolder(const std::string& dir);
  ~LakeWriter();

  int64_t run_id() const { return run_id_; }
  uint32_t shard_count() const { return shards_; }
  // Shard of a patient ordinal; kNoPatient goes to the shared area (index shard_count()).
  uint32_t ShardOf(uint32_t patient) const {
    return patient == kNoPatient ? shards_ : patient % shards_;
  }

  uint32_t PatientOrdinal(const std::string& patient_id);
  // Whether committed resources of the lake are filed under patient `patient_id` (what is not
  // committed yet is not looked at: the answer does not depend on the threads' timing).
  bool KnowsPatient(const std::string& patient_id);

  // Decides what happens to a record with this identity and content. kStore hands out the
  // admission's ticket for Row::seq. The committed version is looked up in the identity index
  // the first time a key is met since the last commit. `read_early`: the record is read before
  // records that precede it in the input (the shared-area files, read first); the writer
  // remembers such a record's version for the rest of the run, so that those earlier records,
  // admitted after a commit, still lose to it. A kDuplicate of the version this run admitted
  // to store (the same content again) gets that version's ticket in `seq`, any other 0.
  // Errors: kIoError (index reads).
  Result<Admission> Admit(const Key128& key, uint16_t type_index, uint64_t content_hash,
                          int64_t last_updated, RecordOrder order, uint64_t& seq,
                          bool read_early = false);
  // Starts fetching what Admit(key, ...) will write first: the lock and the identity state of
  // the key's stripe, which another thread most likely wrote last (a hint, without the lock;
  // for a caller that has other work to do before it admits).
  void PrefetchAdmission(const Key128& key) const {
    const Stripe& stripe = StripeOf(key);
    __builtin_prefetch(&stripe.mu, 1);
    __builtin_prefetch(&stripe.pending, 1);
    stripe.map.Prefetch(key);
  }
  // Decides what happens to a deletion of the resource `key` (a DELETE request), ordered among
  // its versions as Admit orders them (`read_early` too) (`last_updated`: when it was deleted,
  // kNoTime when unknown). kStore or kReplace (the lake held a version, or this run admitted one):
  // it is applied, and `seq` is its ticket; whatever version it deletes is tombstoned, and the lake
  // remembers the deletion, so that an older version read later stays deleted. kDuplicate: a
  // newer version stands, or the resource is deleted already. Errors: as Admit.
  Result<Admission> AdmitDeletion(const Key128& key, uint16_t type_index, int64_t last_updated,
                                  RecordOrder order, uint64_t& seq, bool read_early = false);
  // Whether the lake held a live version of `key` when this run began, or at its last commit.
  // Errors: kIoError (index reads).
  Result<bool> HoldsCommitted(const Key128& key) const;
  // Buffers a row admitted for storage; writes a segment when the shard's buffer is full.
  Status Add(Row&& row);

  // Records a rejected record, kept with the next commit. Of a record longer than
  // kQuarantinedRecordBytes only that many bytes are kept (the reason says so).
  void AddQuarantine(const QuarantineEntry& entry, std::string_view record);
  static constexpr size_t kQuarantinedRecordBytes = 1u << 20;
  // What the reason of a quarantined record of `record_bytes` (more than
  // kQuarantinedRecordBytes) says of the part kept.
  static std::string KeptPartNote(uint64_t record_bytes);
  // Files of the input that were not read (path, reason), recorded in `skipped_files` by the
  // next commit.
  void AddSkippedFiles(std::vector<std::pair<std::string, std::string>> files);
  // Registers the identifiers of a Patient or shared-area resource for conditional references
  // (with set_isolate_batches, when the batch ends): they are all it carries, and those of its
  // earlier versions name it no more.
  void AddIdentifiers(const std::string& type, const std::string& id,
                      const std::vector<fhir::Identifier>& identifiers);
  // The same for the version admitted as `seq` (Admit's ticket) for `key`. With
  // set_isolate_batches, they are registered when the batch ends, and only if that version is
  // then still the one to store: a version that a later one of the same batch replaced
  // carries identifiers no stored resource has, and whether it was admitted before or after
  // its successor depends on the threads. Without, at once. Called for every version to store
  // that carries identifiers or replaces another (kReplace), which may have carried some.
  void AddIdentifiersOf(const Key128& key, uint64_t seq, const std::string& type,
                        const std::string& id, const std::vector<fhir::Identifier>& identifiers);
  // Whether the version admitted as `seq` (Admit's ticket) for `key` is still the one to store
  // (no later version of the same run replaced it). Valid until the next commit.
  bool StillToStore(const Key128& key, uint64_t seq);
  // The same, and if so whether the lake held a version of `key` when it was admitted.
  std::optional<bool> VersionToStore(const Key128& key, uint64_t seq);
  // "Type?identifier=system|value" lookup. Without a system ("Type?identifier=value", `system`
  // nullopt) the value matches in any system (FHIR token search); "|value" (system "") only
  // identifiers without one. With set_isolate_batches, as the identifiers stood when the current
  // batch began: those registered by the batch's other threads are not seen, so that the answer
  // does not depend on which thread got there first. Returns the id, "" when no resource carries
  // the identifier, kAmbiguousIdentifier when several do.
  std::string ResolveIdentifier(std::string_view type, std::optional<std::string_view> system,
                                std::string_view value);

  // Pseudonym links (privacy, ingest/deidentify.h): the pseudonym linked to the first of
  // `links` already known, else `proposed`; every link of `links` not yet known is linked to
  // the result. Stored in `identifiers` (type Patient, system urn:medlake:pseudonym-link).
  std::string LinkPseudonym(const std::vector<std::string>& links, const std::string& proposed);
  // The pseudonym linked to `link`, "" when unknown; `as_batch_began`: as ResolveIdentifier
  // sees identifiers (for conditional references).
  std::string FindLink(std::string_view link, bool as_batch_began = false);
  // Publishes links made apart (ingest::PendingLinks), each (link, pseudonym), unless a link of
  // `missed` (looked up and not found then; with the pseudonym the caller linked it to, "" for
  // none) has been linked since to another: false then, and nothing is published. The
  // catalog does not change within a batch, so only this run's links are looked at.
  bool PublishLinks(const std::vector<std::pair<std::string, std::string>>& missed,
                    const std::vector<std::pair<std::string, std::string>>& links);
  // Batch ingest: conditional references resolve against identifiers registered before the
  // current batch (a pipeline run between two boundaries) began; BeginBatch starts one.
  void set_isolate_batches(bool isolate) { isolate_batches_ = isolate; }
  // Registers the identifiers of the batch that ended, then starts one.
  void BeginBatch();
  // Steps run around every Commit, given the number the commit has once made (meta.commits,
  // commits() + 1 before it): `before` at its start, on another thread while the catalog
  // transaction is prepared, which commits only after it has succeeded (the privacy layer
  // stages the identity vault's records there; a failure aborts the commit); `after` once the
  // catalog has committed (`final`: the run's last commit). `before` may call StillToStore and
  // VersionToStore, and must not call anything else of the writer.
  void SetCommitSteps(std::function<Status(uint64_t commit)> before,
                      std::function<void(uint64_t commit, bool final)> after) {
    before_commit_ = std::move(before);
    after_commit_ = std::move(after);
  }
  // The catalog's commits so far (meta.commits), this run's included.
  uint64_t commits() const { return commits_; }
  // Writes every buffered row as segments (not yet visible).
  Status Flush();
  // Flushes, then commits the run so far with `counters` (state "running" or,
  // with `final`, "committed"). After a crash the lake shows the last Commit.
  Status Commit(const RunCounters& counters, bool final);

  // Records in this run that a later version in the same run superseded (they were counted as
  // stored when admitted; the caller moves them to duplicates).
  uint64_t superseded_in_run() const { return superseded_in_run_.load(); }
  // Deletions in this run that a later version in the same run superseded (they were counted
  // as deleted when admitted; the caller moves them to duplicates).
  uint64_t deletions_superseded() const { return deletions_superseded_.load(); }
  // Why the identity index could not take the final commit (OK when it did): the lake is
  // committed, and the next writer rebuilds the index from the segments.
  const Status& index_warning() const { return index_warning_; }
  uint64_t replaced_committed() const { return replaced_committed_.load(); }
  // Identities held in memory since the last commit (about 200 bytes each).
  uint64_t identities_since_commit() const;
  // Budgets of a checkpoint (ingest counts the records and identifiers it sends, ChunkLoad):
  // the identities of as many records, and as many identifiers of Patients and shared
  // resources or pseudonym links, held until the commit for conditional references (about
  // 200-270 bytes each; IngestOptions::checkpoint_identifiers).
  static constexpr uint64_t kIdentitiesPerCommit = 1u << 20;
  static constexpr uint64_t kIdentifiersPerCommit = 1u << 18;
  // See MayBeCommittedLocked; tests lower it.
  static constexpr uint64_t kFilterAfterLookups = 1u << 16;
  void set_filter_after_lookups(uint64_t lookups) { filter_after_lookups_ = lookups; }

 private:
  // The version of a resource that this run wants to store (until the next commit).
  // Its place in Stripe::pending (index + 1) is the admission's ticket (Row::seq): a row finds
  // its version there when it is written, without looking its identity up.
  struct Pending {
    uint64_t content_hash;
    int64_t last_updated;
    RecordOrder order;
    uint32_t segment = 0;  // 0 while still buffered
    uint32_t row = 0;
    // The committed version met again later in the input: nothing is stored, but a record
    // that comes earlier in the input (processed later, by another thread) must lose to it.
    bool reaffirms_committed = false;
    bool dropped = false;           // a later version of this run replaced it
    bool committed_exists = false;  // the lake held a version when this one was admitted
    bool deletion = false;          // a deletion (AdmitDeletion): never written
    // A deletion that reaffirms one the lake remembers, at a later time, which it takes.
    bool retime = false;
    // Whether the commit writes this deletion as one the lake remembers (CommitDeletions, and
    // the identity index at segment 0): a new one, or one retimed.
    bool RemembersDeletion() const { return deletion && (!reaffirms_committed || retime); }
  };
  // Identity state of a resource met since the last commit: its committed version (from the
  // identity index) and, if this run has a newer one not yet committed, an index into the
  // stripe's pending versions. Cleared at every commit, so memory follows the checkpoint size,
  // not the lake.
  struct Entry {
    uint64_t content_hash = 0;
    int64_t last_updated = kNoTime;
    uint32_t run = 0;      // run that committed it
    uint32_t segment = 0;  // 0: no committed version
    uint32_t row = 0;
    uint32_t pending = 0;  // index + 1 into Stripe::pending; 0: none
    uint16_t type = 0;
    bool deleted = false;  // the committed version is tombstoned by this run
    // What the tombstone of the committed version was counted as (Untombstone takes it back).
    enum class Counted : uint8_t {
      kNothing,
      kSuperseded,
      kReplaced
    } deleted_as = Counted::kNothing;
    // The index holds a deletion of this key (segment 0): the lake remembers it was deleted,
    // by run `run` at `last_updated`.
    bool marker = false;
  };
  static constexpr size_t kStripes = 64;
  // Early-read versions remembered per stripe: 262,144 in all, about 17 MB (Synthea's
  // 10,000-patient export has a few thousand shared-area resources).
  static constexpr size_t kEarlyPerStripe = 4096;
  // The winning version of a record read early (Admit), kept for the whole run.
  struct EarlyVersion {
    uint64_t content_hash = 0;
    int64_t last_updated = kNoTime;
    RecordOrder order;
  };
  // A cache line or more of its own: the ingest threads lock different stripes at once.
  struct alignas(64) Stripe {
    std::mutex mu;
    KeyMap<Entry> map;
    std::vector<Pending> pending;
    // Not cleared by commits: a commit forgets the input order of the versions it names (the
    // index keeps their run only), which for these is not the order they were read in. At
    // most kEarlyPerStripe entries (about 64 bytes each).
    KeyMap<EarlyVersion> early;
    // map.size(), readable without the lock (identities_since_commit); one counter per stripe,
    // not one for the writer, which every admission of every thread would write.
    std::atomic<uint64_t> identities{0};
  };
  struct ShardBuffer {
    std::mutex mu;
    std::vector<Row> rows;
    size_t bytes = 0;
  };
  struct PendingSegment {
    uint32_t id, shard;
    std::string file;
    uint64_t rows, bytes;
  };

  LakeWriter() = default;
  Status LoadState();
  // Adds the live rows of every committed segment to an empty identity index.
  Status RebuildIdentity(uint64_t stamp);
  // After a commit, this run's written versions become the committed ones: they are added to
  // the identity index as a new run (`prepared`, unless empty: Commit wrote it before the
  // commit was made), published with the committed state's stamp, and the in-memory identity
  // state is cleared.
  Status FoldPending(Result<IdentityIndex::PreparedRun> prepared);
  // The identity entries of this run's written versions; `release` clears each stripe once
  // copied.
  std::vector<IdentityEntry> PendingEntries(bool release);
  void ClearStripeLocked(Stripe& stripe);
  Status FlushShard(uint32_t shard, std::vector<Row> rows);
  // A segment that could not be written or synced leaves admitted versions and queued
  // deletions pointing at rows that are nowhere: after it the writer refuses every admission
  // and commit (Failure() says why), and the lake keeps its last commit, from which the next
  // writer starts (a stream's inbox replays what came after it).
  void Fail(const Status& error);
  Status Failure() const;
  // Under the stripe's lock: `key`'s winning version is one read early.
  void RememberEarly(Stripe& stripe, const Key128& key, uint64_t content_hash, int64_t last_updated,
                     RecordOrder order);
  void Tombstone(uint32_t segment, uint32_t row, uint16_t type);
  // Takes back the deletion of `e`'s committed version (under the stripe's lock).
  void Untombstone(Entry& e);
  // Tombstones `e`'s committed version for a new version or a deletion of this run (under the
  // stripe's lock), counted as FlushShard counts it; `counts`: whether it moves a record (a
  // deletion's does only for a version this run committed).
  void TombstoneCommitted(Entry& e, bool counts);
  // Admit and AdmitDeletion.
  Result<Admission> AdmitVersion(const Key128& key, uint16_t type_index, uint64_t content_hash,
                                 int64_t last_updated, RecordOrder order, uint64_t& seq,
                                 bool read_early, bool deletion);
  // In the commit's transaction: the deletions the lake remembers (`deletions`) gain this
  // run's and lose those of resources stored again.
  Status CommitDeletions(Db& db);
  // The run a deletion the commit remembers (Pending::RemembersDeletion) is written with: a
  // retimed one keeps the run that made it, as it is counted as a duplicate in this one, and a
  // later version of this run must not take it back from this run's deletions.
  uint32_t DeletionRun(const Entry& e, const Pending& p) const {
    return p.retime ? e.run : static_cast<uint32_t>(run_id_);
  }
  Stripe& StripeOf(const Key128& k) { return stripes_[k.hi % kStripes]; }
  const Stripe& StripeOf(const Key128& k) const { return stripes_[k.hi % kStripes]; }

  std::shared_ptr<const SegmentCipher> cipher_;  // null for a lake without a key
  std::string dir_;
  std::optional<FolderLock> lock_;  // the lake folder, flock()ed while this writer lives
  uint32_t shards_ = 0;
  int64_t run_id_ = 0;
  std::unique_ptr<Db> db_;
  std::unique_ptr<IdentityIndex> index_;
  FileSyncer syncer_;  // fsyncs written segments; Commit waits for it
  std::vector<Stripe> stripes_{kStripes};
  std::vector<std::unique_ptr<ShardBuffer>> buffers_;
  std::atomic<uint32_t> next_segment_{1};
  std::atomic<uint64_t> superseded_in_run_{0};
  std::atomic<uint64_t> deletions_superseded_{0};
  // A deletion was admitted, or a remembered one met, since the last commit: CommitDeletions
  // has work (a run without deletions does not walk its identities for them).
  std::atomic<bool> deletions_met_{false};
  std::atomic<uint64_t> replaced_committed_{0};
  std::atomic<bool> index_failed_{false};  // a commit could not update the identity index
  std::atomic<bool> index_unread_{false};  // an admission could not read it
  std::atomic<bool> failed_{false};        // Fail() was called
  Status index_warning_;                   // see index_warning()
  mutable std::mutex failure_mu_;
  Status failure_;                       // the first error given to Fail()
  std::vector<std::string> type_names_;  // type index -> name (R4 table order)

  // Patients and identifiers are looked up in the catalog; memory holds those added since the
  // last commit and a cache of recent lookups (cleared when it reaches kLookupCache entries).
  static constexpr size_t kLookupCache = 1u << 14;
  std::optional<uint32_t> FindPatient(std::string_view patient_id);
  // Under patients_mu_: false when the catalog certainly holds no patient `patient_id`. As for
  // identifiers (MayBeCommittedLocked), a Bloom filter of the catalog's patients is built once
  // the lookups pay for reading them (a file of new Patients looks each up: a B-tree read
  // under the lock the workers share), and the commits add theirs.
  bool MayHoldPatientLocked(std::string_view patient_id);
  // Under patients_mu_: builds it; false when the catalog could not be read.
  bool BuildPatientFilterLocked();
  // Identifiers map to the resources that carry them (their "carriers"): one carrier is a
  // match, several none. The catalog holds a row per carrier; memory the carriers registered
  // since the last commit, and the resources whose stored version is now this run's (their
  // committed rows no longer hold: a new version may have dropped an identifier).
  // Under ident_mu_: the id of the one carrier of (type, system, value), "" when none,
  // kAmbiguousIdentifier when several.
  std::string IdentifierLocked(std::string_view type, std::string_view system,
                               std::string_view value);
  // Under ident_mu_: adds the distinct carriers of (type, system, value) to `ids`.
  void CarriersLocked(std::string_view type, std::string_view system, std::string_view value,
                      std::vector<std::string>& ids);
  struct NewIdentifier;
  // Under ident_mu_: CarriersLocked for an identifier registered since the last commit.
  void EntryCarriersLocked(NewIdentifier& entry, std::string_view type, std::string_view system,
                           std::string_view value, std::vector<std::string>& ids);
  // Under ident_mu_: appends the ids of the catalog's rows for (type, system, value).
  void ReadCommittedLocked(std::string_view type, std::string_view system, std::string_view value,
                           std::vector<std::string>& ids);
  // Under ident_mu_: false when the catalog certainly holds no row of the identifier whose
  // IdentifierKey hashes to `key`. After kFilterAfterLookups catalog lookups, and once they pay
  // for reading the table, the writer builds a Bloom filter of the catalog's identifiers (new
  // Patients into a keyed lake look up a pseudonym link per source id and identifier, nearly
  // all of them new: each was a B-tree read), kept up to date by the commits.
  bool MayBeCommittedLocked(const Key128& key);
  // Under catalog_mu_: the catalog's identifier rows, overestimated from its pages (about 20
  // rows of the two identifier tables fit a 4 KiB page; other tables count too); nullopt when
  // the catalog cannot be read.
  std::optional<uint64_t> IdentifierRowsEstimateLocked();
  // Under ident_mu_: whether enough lookups were made to pay for building it.
  bool FilterWorthBuildingLocked();
  // Under ident_mu_ and catalog_mu_: builds it; false when the catalog could not be read.
  bool BuildCatalogFilterLocked();
  // Under ident_mu_: adds the ids of `committed` (catalog rows of (type, system, ...)) whose
  // resources' committed identifiers still hold.
  void AddHeldLocked(std::string_view type, std::string_view system,
                     const std::vector<std::string>& committed, std::vector<std::string>& ids);
  // Under ident_mu_: ReadCommittedLocked, less the resources whose committed identifiers no
  // longer hold.
  void CommittedCarriersLocked(std::string_view type, std::string_view system,
                               std::string_view value, std::vector<std::string>& ids);
  // Under ident_mu_: registers `identifiers` as those of resource type/id's version to store:
  // the identifiers of an earlier version of this run no longer name it, nor (`replaces`) those
  // of a committed one.
  void RegisterLocked(uint64_t seq, bool replaces, const std::string& type, const std::string& id,
                      const std::vector<fhir::Identifier>& identifiers);
  // Under ident_mu_: whether resource type/id's committed identifiers no longer hold.
  bool ReplacedLocked(std::string_view type, std::string_view id);
  // Makes a pseudonym link (one the lake does not have yet): lookups as the batch began
  // (FindLink, ResolveIdentifier) do not see it until the next batch (isolate_batches_).
  void SetLinkLocked(std::string_view link, const std::string& pseudonym);
  // Whether `key` is a link made in the current batch: lookups as the batch began find none.
  bool LinkedInBatchLocked(const std::string& key);
  // Under ident_mu_: the one id registered for (type, value) in any system; "" when none,
  // kAmbiguousIdentifier when several.
  std::string AnySystemLocked(std::string_view type, std::string_view value);

  std::mutex catalog_mu_;  // db_ for lookups from ingest threads, and what follows
  Stmt find_patient_, find_identifier_, find_identifier_values_;
  Status lookup_error_;  // the first failed lookup; the next Commit fails with it

  std::mutex patients_mu_;
  uint32_t next_ordinal_ = 0;
  // Whether the catalog holds any patient (under patients_mu_) or identifier (under ident_mu_):
  // a lake's first run looks up nothing there.
  bool catalog_has_patients_ = false;
  bool catalog_has_identifiers_ = false;
  std::unordered_map<std::string, uint32_t> new_patient_ordinals_;  // not yet committed
  std::unordered_map<std::string, uint32_t> recent_patients_;
  LookupFilter patient_filter_;  // MayHoldPatientLocked's

  std::mutex ident_mu_;
  // Identifiers registered since the last commit, by the XXH3-128 hash of their key (flat maps:
  // a Patient master file registers millions, and std::unordered_map's node per entry made
  // its lookups, growth and clearing most of a commit).
  struct NewIdentifier {
    std::string key;                     // IdentifierKey(type, system, value)
    std::vector<std::string> carriers;   // ids of this run's versions to store that carry it
    std::vector<std::string> committed;  // the catalog's rows' ids, once read (committed_read)
    bool committed_read = false;
    // A pseudonym link made in this run: the batch that made it (batch_ + 1; 0: none).
    uint64_t linked_in_batch = 0;
  };
  KeyMap<NewIdentifier> new_identifiers_;
  // By ResourceKey: the version of a resource whose identifiers were registered last.
  struct RegisteredVersion {
    uint64_t seq;   // Admit's ticket, or kAlwaysRegister
    bool replaces;  // the catalog's rows of this resource no longer hold
    bool dropped;   // a later admission replaced it after all (ForgetUnstoredVersions)
    std::string type, id;
    std::vector<Key128> identifiers;  // keys of new_identifiers_
  };
  KeyMap<RegisteredVersion> registered_versions_;
  // By the hash of "type|value": the keys of new_identifiers_ with that value, for lookups
  // without a system.
  KeyMap<std::vector<Key128>> new_identifier_values_;
  std::unordered_map<std::string, std::string> recent_identifiers_;  // "" when unknown
  // MayBeCommittedLocked's filter (empty until built), how many keys it was sized for and
  // holds, and the catalog lookups made before it.
  LookupFilter catalog_filter_;
  uint64_t filter_after_lookups_ = kFilterAfterLookups;
  bool isolate_batches_ = false;
  uint64_t batch_ = 0;  // under ident_mu_
  // Identifiers of admitted versions, registered when the batch ends (AddIdentifiersOf).
  static constexpr uint64_t kAlwaysRegister = ~uint64_t{0};  // AddIdentifiers' seq
  struct QueuedIdentifiers {
    Key128 key;
    uint64_t seq;          // Admit's ticket, or kAlwaysRegister
    std::string type, id;  // of a Patient or shared-area resource
    std::vector<fhir::Identifier> identifiers;
  };
  std::mutex queued_mu_;
  std::vector<QueuedIdentifiers> queued_identifiers_;
  // Registers the queued identifiers of versions still to be stored, and forgets those of
  // versions no longer to be stored (before a commit clears what Admit knows, and at a batch's
  // end).
  void SettleIdentifiers();
  // In the commit's transaction: the identifier rows that replaced versions no longer carry go,
  // and a row for each carrier registered is added. Whether any was added.
  Result<bool> CommitIdentifiers(Db& db);
  // Forgets the registrations of versions that are not to be stored after all.
  void ForgetUnstoredVersions();

  std::function<Status(uint64_t)> before_commit_;     // see SetCommitSteps
  std::function<void(uint64_t, bool)> after_commit_;  // see SetCommitSteps
  uint64_t commits_ = 0;                              // see commits()
  std::mutex pending_mu_;
  std::vector<PendingSegment> pending_segments_;
  std::map<uint32_t, std::vector<uint32_t>> tombstones_;
  std::map<std::string, int64_t> type_deltas_;
  struct PendingQuarantine {
    QuarantineEntry entry;
    std::string record;
  };
  std::vector<PendingQuarantine> quarantine_;
  std::vector<std::pair<std::string, std::string>> skipped_files_;  // under pending_mu_
  // Per-shard buffer size: all shards together hold at most kBufferBudget of rows.
  static constexpr uint64_t kBufferBudget = 48u << 20;
  uint64_t buffer_limit_ = 8u << 20;
};

}  // namespace medlake::store
