// RecordWorker: turns records read by the format readers into lake rows (facts, identity,
// admission, quarantine). One per thread; the counters are shared.
#pragma once

#include <tbb/enumerable_thread_specific.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/file_util.h"
#include "fhir/r4_model.h"
#include "fhir/resource_facts.h"
#include "ingest/chunk_source.h"
#include "ingest/deidentify.h"
#include "ingest/device/device_reading.h"
#include "ingest/fhir/fhir_reader.h"
#include "ingest/hl7v2/fhir_mapper.h"
#include "ingest/hl7v2/message.h"
#include "ingest/hl7v2/resource_history.h"
#include "json/json.h"
#include "medlake/lake.h"
#include "store/lake_writer.h"
#include "store/segment.h"

namespace medlake::ingest {

// The stored version of a resource in `lake`: nullopt when it holds none; an error when the
// version cannot be read (a damaged segment), which is not the same as none.
inline Result<std::optional<std::string>> StoredVersion(const Lake& lake, std::string_view type,
                                                        std::string_view id) {
  auto json = lake.Get(type, id);
  if (json.ok()) return std::optional<std::string>(std::move(*json));
  if (json.status().code() == ErrorCode::kNotFound) return std::optional<std::string>();
  return json.status();
}

// The version of `type`/`id` (as an HL7 v2 mapping names it) that the next version is merged
// with (hl7v2/resource_history.h): the stored one, or in a keyed lake (`deid` not null) the
// resource stored under its pseudonymized id, and for a Patient (`id` is then its pseudonym,
// RecordWorker's history key) its original in the vault.
inline Result<std::optional<std::string>> VersionToMerge(const Lake& lake, Deidentifier* deid,
                                                         std::string_view type,
                                                         const std::string& id) {
  if (deid == nullptr) return StoredVersion(lake, type, id);
  if (type == "Patient") return deid->PatientOriginal(id);
  // The stored form of an order, report or document is de-identified: its references are
  // pseudonyms, which storing the merge would pseudonymize again (a report's kept results
  // named no Observation). Those merge with what the run holds only.
  if (type != "Encounter") return std::optional<std::string>();
  return StoredVersion(lake, type, deid->StoredId(type, id));
}

// The counters of a run, summed over its workers. Each worker counts in a block of its own
// (one cache line): workers on different cores never contend for a counter's line, which they
// did twice per resource with one shared set.
class SharedCounters {
 public:
  struct alignas(64) Block {
    std::atomic<uint64_t> records{0}, stored{0}, duplicates{0}, quarantined{0}, deleted{0};
  };
  // A block for one worker, valid as long as this object.
  Block& NewBlock() {
    std::lock_guard lock(mu_);
    blocks_.push_back(std::make_unique<Block>());
    return *blocks_.back();
  }
  // Records read so far (for progress).
  uint64_t records() const { return Sum(&Block::records); }
  // Bytes of the whole files (JSON documents, HL7 v2 files) read so far, a large Bundle's as
  // its entries are stored (it is one chunk, read for seconds): with the bytes read into
  // chunks, the input's progress.
  std::atomic<uint64_t> document_bytes_read{0};
  // DELETE requests admitted without a time (RecordWorker::StoreDeletion), for the report.
  std::atomic<uint64_t> untimed_deletions{0};

  // The run's counters so far. Records of this run that a later version superseded were
  // counted as stored (or deleted) when admitted; they move to duplicates.
  store::RunCounters Snapshot(const store::LakeWriter& writer) const {
    store::RunCounters c;
    uint64_t superseded = writer.superseded_in_run();
    uint64_t deletions_superseded = writer.deletions_superseded();
    c.records_read = records();
    c.stored = Sum(&Block::stored) - superseded;
    c.deleted = Sum(&Block::deleted) - deletions_superseded;
    c.duplicates = Sum(&Block::duplicates) + superseded + deletions_superseded;
    c.replaced = writer.replaced_committed();
    c.quarantined = Sum(&Block::quarantined);
    return c;
  }

 private:
  uint64_t Sum(std::atomic<uint64_t> Block::*counter) const {
    std::lock_guard lock(mu_);
    uint64_t total = 0;
    for (const auto& b : blocks_) total += ((*b).*counter).load(std::memory_order_relaxed);
    return total;
  }

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Block>> blocks_;
};

// What a chunk's records will hold in the writer's memory until the next commit, counted from
// their content alone (so that the count does not depend on which thread stored what first):
// batch ingest brings a checkpoint when the chunks since the last one reach a budget.
struct ChunkLoad {
  uint64_t records = 0;
  // Registrations for conditional references: a Patient's or shared-area resource's
  // identifiers (at least one each: its version is held too); in a lake with a key, a Patient's
  // pseudonym links (one per identifier, one for its source id and one for the pseudonym).
  uint64_t identifiers = 0;
  // What quarantined records keep until the commit (each up to
  // LakeWriter::kQuarantinedRecordBytes of the record, with its entry).
  uint64_t quarantined_bytes = 0;
};

// The quarantined bytes that bring a checkpoint (ChunkLoad::quarantined_bytes).
inline constexpr uint64_t kQuarantinedBytesPerCommit = 64u << 20;

// A chunk of FHIR resources (or device readings) for a lake with a key, prepared by the
// parallel stage of batch ingest: its resources de-identified, with the pseudonym links they
// need made apart (PendingLinks). The serial stage publishes those links in input order, or
// prepares the chunk again when a chunk before it made a link it looked for
// (RecordWorker::PublishPrepared); then a parallel stage stores it (StorePrepared). Until the
// chunk first needs a link not yet published, its records are handled as they are read (they
// read what reading the input in order would); what the others would change in the lake waits
// here, so that preparing the chunk again changes nothing twice.
struct PreparedChunk {
  struct Row {
    store::Row row;  // its json included
    uint16_t type_index = 0;
    store::RecordOrder order;
    std::string patient_id;
    std::vector<fhir::Identifier> identifiers;
    VaultRecord removed;    // json empty: nothing was removed
    bool deletion = false;  // a DELETE request (RecordWorker::OnDelete): row.key, type, id only
  };
  bool active = false;  // false: the chunk was processed as it was read (not prepared)
  // The first records of the chunk, handled as they were read (stored, counted, quarantined)
  // because none of them needed a link not yet published. Preparing it again skips them.
  uint32_t read_early = 0;
  // A JSON document too large to hold its rows until they are stored: read by the serial
  // stage itself, which stores as it reads (RecordWorker::set_in_order_document_bytes).
  bool in_order = false;
  PendingLinks links;
  std::deque<Row> rows;  // a deque: rows are not moved as it grows
  std::vector<QuarantineEntry> quarantined;
  uint64_t records = 0;     // records read (rows, quarantined and unchanged)
  uint64_t unchanged = 0;   // records found unchanged before admission: duplicates
  uint64_t unresolved = 0;  // references left unresolved

  void Clear() { *this = PreparedChunk(); }
};

class RecordWorker final : public FhirRecordSink {
 public:
  // `deidentifier` is null for a lake without a key (resources are stored as given).
  RecordWorker(store::LakeWriter& writer, SharedCounters& counters,
               Deidentifier* deidentifier = nullptr)
      : writer_(writer),
        shared_(counters),
        counters_(counters.NewBlock()),
        deid_(deidentifier),
        reader_([this](std::string_view type, std::optional<std::string_view> system,
                       std::string_view value) {
          return FindIdentifier(type, system, value, links_);
        }) {
    deid_parser_.set_keep_number_text(true);
    reader_.set_keep_number_text(deidentifier != nullptr);
    // In a keyed lake a Patient matched by identifier is its pseudonym, which the entry would
    // then be stored (or referred to) under and pseudonymized again.
    reader_.set_conditional_patient_writes(deidentifier == nullptr);
  }

  // Reads the chunk's records and stores them; with `prepared` (batch ingest) and a key, FHIR
  // resources and device readings are prepared into it instead (PreparedChunk). HL7 v2 chunks
  // are mapped into Chunk::mapped when set_defer_hl7v2 is set.
  void Process(const Chunk& chunk, PreparedChunk* prepared = nullptr) {
    if (prepared != nullptr && deid_ != nullptr && chunk.format != InputFormat::kHl7v2) {
      prepared->active = true;
      if (chunk.whole_file && chunk.file_bytes > in_order_document_bytes_) {
        prepared->in_order = true;
        return;
      }
      prepared_ = prepared;
      links_ = &prepared->links;
      record_index_ = 0;
      const uint64_t unresolved_before = reader_.unresolved_references();
      Read(chunk);
      prepared_ = nullptr;
      links_ = nullptr;
      prepared->unresolved = reader_.unresolved_references() - unresolved_before;
      unresolved_prepared_ += prepared->unresolved;
      return;
    }
    Read(chunk);
  }

  // The serial stage of batch ingest for a prepared chunk: publishes the pseudonym links it
  // made, or, when a chunk before it made one it looked for, prepares it again (in input
  // order now, so what it finds is what reading the input in order finds).
  void PublishPrepared(const Chunk& chunk, PreparedChunk& prepared) {
    if (!prepared.active) return;
    if (prepared.in_order) {
      // The serial stage: the lake's links are those of the input before this chunk, and
      // its own are made as it reads.
      PendingLinks at_once;
      at_once.at_once = true;
      links_ = &at_once;
      Read(chunk);
      links_ = nullptr;
      return;
    }
    while (!deid_->Publish(prepared.links)) {
      const uint32_t read_early = prepared.read_early;
      prepared.Clear();
      prepared.read_early = read_early;
      Process(chunk, &prepared);
      if (!error_.ok()) return;
    }
  }

  // The parallel stage after PublishPrepared: stores what the chunk's preparing made.
  void StorePrepared(const Chunk& chunk, PreparedChunk& prepared) {
    if (!prepared.active) return;
    read_early_ = chunk.shared_wave;
    counters_.records.fetch_add(prepared.records, std::memory_order_relaxed);
    counters_.duplicates.fetch_add(prepared.unchanged, std::memory_order_relaxed);
    counters_.quarantined.fetch_add(prepared.quarantined.size(), std::memory_order_relaxed);
    for (const QuarantineEntry& e : prepared.quarantined) writer_.AddQuarantine(e, {});
    // The identity state a row's admission reads is a cache miss: fetched a few rows ahead.
    constexpr size_t kPrefetchAhead = 8;
    std::deque<PreparedChunk::Row>& rows = prepared.rows;
    for (size_t i = 0; i < std::min(kPrefetchAhead, rows.size()); ++i) {
      writer_.PrefetchAdmission(rows[i].row.key);
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (i + kPrefetchAhead < rows.size()) {
        writer_.PrefetchAdmission(rows[i + kPrefetchAhead].row.key);
      }
      PreparedChunk::Row& r = rows[i];
      if (r.deletion) {
        StoreDeletion(r.row, r.type_index, r.order);
        continue;
      }
      StoreRow(std::move(r.row), nullptr, r.type_index, r.order, r.patient_id, r.identifiers,
               &r.removed);
    }
    unresolved_stored_ += prepared.unresolved;
  }

  void OnResource(json::Node resource, std::string_view json,
                  const fhir::ReferenceResolver& resolver, const RecordLocation& loc,
                  ParsedText parsed) override {
    if (SkipReadEarly()) return;
    if (deid_ != nullptr) {
      // The reader's parse serves when it is of the same text (an NDJSON line), or of the text
      // before its references were resolved (a Bundle's entry): the de-identifier resolves
      // them as it writes. It keeps number text in a keyed lake.
      StoreDeidentified(json, loc, parsed == ParsedText::kOther ? nullptr : &resource,
                        parsed == ParsedText::kUnresolved ? &resolver : nullptr, links_);
    } else {
      Store(resource, json, resolver, loc, nullptr);
    }
    EndRecord();
  }

  // Pseudonymization at ingest (deidentify.h): the resource as stored is the de-identified
  // one, and what was removed goes to the vault once the resource is admitted.
  // `parsed_json`: `json` parsed, with number text; null to parse it here. `unresolved`: the
  // resolver that gives `json` from `parsed_json`, null when it is `json` as it is. `pending`:
  // where the pseudonym links it needs are made (Deidentifier::Apply).
  void StoreDeidentified(std::string_view json, const RecordLocation& loc,
                         const json::Node* parsed_json = nullptr,
                         const fhir::ReferenceResolver* unresolved = nullptr,
                         PendingLinks* pending = nullptr) {
    auto parsed =
        parsed_json != nullptr ? Result<json::Node>(*parsed_json) : deid_parser_.Parse(json);
    // The resource as given must be storable (a valid type and id, no name repeated) whatever
    // pseudonyms replace its ids and whatever de-identification removes: the same records are
    // quarantined with or without a key.
    Status s = parsed.ok() ? fhir::ExtractIdentity(*parsed, facts_) : parsed.status();
    if (s.ok()) s = fhir::IdentityNotRepeated(*parsed);
    if (s.ok()) s = fhir::NoRepeatedName(*parsed);
    if (s.ok() && load_ != nullptr && facts_.type == "Patient") {
      // Its links: the stored Patient carries no identifier (Store counts the others).
      auto list = parsed->Find("identifier");
      load_->identifiers += (list && list->IsArray() ? list->Size() : 0) + 2;
    }
    if (s.ok()) s = deid_->Apply(*parsed, deid_json_, removed_, pending, unresolved);
    if (!s.ok()) {
      Reject(json, loc, s.message());
      return;
    }
    // The rewrite gives each object at most the names it had, so the stored form repeats none
    // either (the deidentify fuzz target checks it): its facts are read without that walk.
    auto stored = hl7_parser_.ParseWithUniqueNames(deid_json_);
    if (!stored.ok()) {
      Reject(json, loc, "de-identified resource is not valid JSON");
      return;
    }
    const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
    Store(*stored, deid_json_, same, loc, &removed_);
  }

  void Store(json::Node resource, std::string_view json, const fhir::ReferenceResolver& resolver,
             const RecordLocation& loc, VaultRecord* removed) {
    CountRecord();
    Status s = fhir::ExtractIdentity(resource, facts_);
    if (!s.ok()) {
      Quarantine(json, loc, s.message());
      return;
    }
    store::Row row;
    row.key = store::ResourceKey(facts_.type, facts_.id);
    // The identity state is one cache miss in a table far larger than the cache: fetched while
    // the facts are read, it is there when Admit looks.
    writer_.PrefetchAdmission(row.key);
    s = fhir::ExtractFields(resource, &resolver, facts_);
    if (!s.ok()) {
      Quarantine(json, loc, s.message());
      return;
    }
    // In a keyed lake, a resource outside the compartment that is about one patient is theirs
    // (Deidentifier::Apply).
    if (removed != nullptr && facts_.patient_id.empty() && !removed->patient.empty()) {
      facts_.patient_id = removed->patient;
    }
    if (load_ != nullptr &&
        (facts_.type == "Patient" ? deid_ == nullptr
                                  : fhir::PatientCompartmentPaths(facts_.type_index).empty())) {
      load_->identifiers += std::max<size_t>(facts_.identifiers.size(), 1);
    }
    if (hook_) hook_(facts_, resource);
    row.content_hash = store::ContentHash(json);
    row.type = std::move(facts_.type);
    row.id = std::move(facts_.id);
    row.effective = facts_.effective;
    row.codings = std::move(facts_.codings);
    row.has_value = !std::isnan(facts_.value);
    row.value = row.has_value ? facts_.value : 0;
    row.unit = std::move(facts_.unit);
    row.status = std::move(facts_.status);
    row.encounter = std::move(facts_.encounter_id);
    row.last_updated = facts_.last_updated;
    const auto type_index = static_cast<uint16_t>(facts_.type_index);
    store::RecordOrder order{(static_cast<uint64_t>(writer_.run_id()) << 32) | file_index_,
                             static_cast<uint64_t>(loc.byte_offset), loc.entry};
    if (Held()) {
      PreparedChunk::Row& r = prepared_->rows.emplace_back();
      r.row = std::move(row);
      r.row.json.assign(json);
      r.type_index = type_index;
      r.order = order;
      r.patient_id = facts_.patient_id;
      r.identifiers = std::move(facts_.identifiers);
      if (removed != nullptr) r.removed = std::move(*removed);
      return;
    }
    StoreRow(std::move(row), &json, type_index, order, facts_.patient_id, facts_.identifiers,
             removed);
  }

  // Admits `row` (its facts read; `json`, copied into it once admitted, null when it holds it
  // already) and, unless it is a duplicate, registers its identifiers, queues what
  // de-identification removed from it for the vault and adds it to the lake.
  void StoreRow(store::Row&& row, const std::string_view* json, uint16_t type_index,
                store::RecordOrder order, const std::string& patient_id,
                const std::vector<fhir::Identifier>& identifiers, VaultRecord* removed) {
    Result<store::Admission> admission = writer_.Admit(
        row.key, type_index, row.content_hash, row.last_updated, order, row.seq, read_early_);
    if (!admission.ok()) {
      // The run fails with this error; the record is not counted as stored.
      if (error_.ok()) error_ = admission.status();
      return;
    }
    if (*admission == store::Admission::kDuplicate) {
      counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
      // The same content as the version this run stores: what de-identification removed may
      // differ (a corrected name), and the vault keeps the first record in the input.
      if (row.seq != 0) QueueRemoved(row, patient_id, order, removed);
      return;
    }
    // Only a version that is stored registers its identifiers for conditional references: a
    // version that loses to the stored one (older, or read again) would make a reference
    // match an identifier that no stored resource carries.
    bool shared_type = row.type != "Patient" && fhir::PatientCompartmentPaths(type_index).empty();
    // A new version without identifiers still takes away those of the version it replaces.
    if ((row.type == "Patient" || shared_type) &&
        (!identifiers.empty() || *admission == store::Admission::kReplace)) {
      writer_.AddIdentifiersOf(row.key, row.seq, row.type, row.id, identifiers);
    }
    QueueRemoved(row, patient_id, order, removed);
    row.patient = PatientOrdinal(patient_id);
    if (json != nullptr) row.json.assign(*json);
    Status add = writer_.Add(std::move(row));
    if (!add.ok() && error_.ok()) error_ = add;
    counters_.stored.fetch_add(1, std::memory_order_relaxed);
  }

  // Admits the deletion of `row`'s resource (OnDelete: its key, type, id and when it was
  // deleted) and counts it. A Patient or shared-area resource deleted no longer carries its
  // identifiers for conditional references, as a new version without any.
  void StoreDeletion(const store::Row& row, uint16_t type_index, store::RecordOrder order) {
    uint64_t seq = 0;
    Result<store::Admission> admission =
        writer_.AdmitDeletion(row.key, type_index, row.last_updated, order, seq, read_early_);
    if (!admission.ok()) {
      if (error_.ok()) error_ = admission.status();
      return;
    }
    // Without a time it is older than any version with one (docs/format.md, "Deletions"):
    // counted, for the run's report.
    if (row.last_updated == kNoTime) {
      shared_.untimed_deletions.fetch_add(1, std::memory_order_relaxed);
    }
    if (*admission == store::Admission::kDuplicate) {
      counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (*admission == store::Admission::kReplace &&
        (row.type == "Patient" || fhir::PatientCompartmentPaths(type_index).empty())) {
      writer_.AddIdentifiersOf(row.key, seq, row.type, row.id, {});
    }
    counters_.deleted.fetch_add(1, std::memory_order_relaxed);
  }

  // Queues what de-identification removed from the record of `row` (admitted as row.seq), if
  // anything, for the vault.
  void QueueRemoved(const store::Row& row, const std::string& patient_id, store::RecordOrder order,
                    VaultRecord* removed) {
    if (removed == nullptr || removed->json.empty()) return;
    if (removed->key.empty() && !patient_id.empty()) {
      removed->key = patient_id + "/" + row.type + "/" + row.id;
    }
    removed->row_key = row.key;
    removed->row_seq = row.seq;
    removed->order = order;
    if (!removed->key.empty()) deid_->Queue(std::move(*removed));
  }

  void OnExisting(const RecordLocation&) override {
    if (SkipReadEarly()) return;
    CountUnchanged();
    EndRecord();
  }

  // A DELETE request (docs/format.md, "Deletions"): in a lake with a key the resource is named
  // by its stored id, as a reference to it is.
  void OnDelete(std::string_view type, std::string_view id, int64_t last_updated,
                const RecordLocation& loc, json::Node) override {
    if (SkipReadEarly()) return;
    store::Row row;
    row.type = type;
    row.id = id;
    if (deid_ != nullptr) {
      std::string reference = row.type + "/" + row.id;
      deid_->RewriteReference(reference, links_, deid_json_);
      std::string_view stored_type, stored_id;
      if (fhir::SplitReference(deid_json_, stored_type, stored_id)) row.id = stored_id;
    }
    // Counted once it is known whether it is held: a Patient's pseudonym may need a link not
    // yet published, and a held record is read again when its chunk is prepared again.
    CountRecord();
    row.key = store::ResourceKey(row.type, row.id);
    row.last_updated = last_updated;
    const auto type_index = static_cast<uint16_t>(fhir::ResourceTypeIndex(type));
    store::RecordOrder order{(static_cast<uint64_t>(writer_.run_id()) << 32) | file_index_,
                             static_cast<uint64_t>(loc.byte_offset), loc.entry};
    if (Held()) {
      PreparedChunk::Row& r = prepared_->rows.emplace_back();
      r.row = std::move(row);
      r.type_index = type_index;
      r.order = order;
      r.deletion = true;
    } else {
      StoreDeletion(row, type_index, order);
    }
    EndRecord();
  }

  void OnReject(std::string_view record, const RecordLocation& loc, std::string reason) override {
    if (SkipReadEarly()) return;
    Reject(record, loc, std::move(reason));
    EndRecord();
  }

  // HL7 v2 messages are mapped to FHIR R4 (docs/hl7v2.md); each resulting resource is a
  // record, and a message that cannot be parsed or mapped is one quarantined record.
  void ProcessHl7v2(const Chunk& chunk, std::string_view file) {
    size_t read = 0;
    for (const auto& entry : hl7v2::ReadMessages(file)) {
      const hl7v2::SourceLocation& at = entry.location;
      // Mapping messages to store later is the first half of a file's reading (for progress).
      if (read++ % 256 == 0) ReportRead(chunk, defer_hl7v2_ ? at.byte_offset / 2 : at.byte_offset);
      RecordLocation loc{*chunk.source, 0, static_cast<int64_t>(at.byte_offset), 0,
                         at.outside_message
                             ? "before message " + std::to_string(at.message_index + 1)
                             : "message " + std::to_string(at.message_index + 1)};
      if (!entry.message.ok()) {
        // The message's own bytes, whole (the record to fix and send again), and nothing of
        // the next one.
        OnReject(file.substr(at.byte_offset, at.byte_length), loc,
                 entry.message.status().message());
        continue;
      }
      pending_ = defer_hl7v2_ ? &chunk.mapped : nullptr;
      (void)StoreHl7v2(*entry.message, loc);
      pending_ = nullptr;
    }
  }

  // The serial stage of batch ingest, after the parallel mapping of a chunk's HL7 v2
  // messages: in input order, links each Patient's pseudonym (keyed lakes) and merges each
  // Patient and Encounter with the version before it (set_resource_history first). What it
  // does must follow the input order; storing, the costly part, does not and stays parallel.
  void SequenceMapped(const Chunk& chunk) {
    for (auto& m : chunk.mapped) {
      if (!hl7v2::HasHistory(m.type) || history_ == nullptr) continue;
      // In a keyed lake a Patient's history is its pseudonym's: messages that name the
      // patient by different identifiers update one record (the vault's original). Linking
      // here, in input order, also makes pseudonyms independent of the number of threads.
      std::string key = m.id;
      if (deid_ != nullptr && m.type == "Patient") key = LinkedPseudonym(m.json);
      auto merged = history_->Add(m.type, key, std::move(m.json), m.trigger, m.cleared);
      if (!merged.ok()) {  // the run fails: its earlier version could not be read
        if (error_.ok()) error_ = merged.status();
        return;
      }
      if (*merged) {
        m.json = std::move(**merged);
      } else {
        m.unchanged = true;
      }
    }
  }

  // The parallel stage after SequenceMapped: stores the chunk's mapped resources.
  void StoreMapped(const Chunk& chunk) {
    const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
    file_index_ = chunk.file_index;
    read_early_ = chunk.shared_wave;
    size_t stored = 0;
    for (auto& m : chunk.mapped) {
      // Storing them is the second half of the file's reading (for progress).
      if (stored++ % 256 == 0) {
        ReportRead(chunk, chunk.file_bytes / 2 + static_cast<uint64_t>(m.byte_offset) / 2);
      }
      if (m.unchanged) {
        CountUnchanged();
        continue;
      }
      RecordLocation loc{*chunk.source, 0, m.byte_offset, m.entry, m.location};
      StoreParsed(std::move(m.json), same, loc);
    }
    ReportRead(chunk, chunk.file_bytes);
  }

  // Device readings, one per line (ingest/device/device_reading.h).
  void ProcessDeviceReadings(const Chunk& chunk) {
    const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
    std::string_view data(chunk.data.data(), chunk.data.size());
    size_t pos = 0;
    int64_t line = chunk.first_line;
    while (pos < data.size()) {
      size_t end = data.find('\n', pos);
      if (end == std::string_view::npos) end = data.size();
      std::string_view text = data.substr(pos, end - pos);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      if (!text.empty()) {
        RecordLocation loc{*chunk.source, line, chunk.base_offset + static_cast<int64_t>(pos), 0,
                           ""};
        auto mapped = DeviceReadingToFhir(text, "", kNoTime);
        if (!mapped.ok()) {
          OnReject(text, loc, mapped.status().message());
        } else {
          for (const auto& resource : *mapped) {
            auto node = hl7_parser_.Parse(resource.json);
            if (node.ok()) OnResource(*node, resource.json, same, loc, ParsedText::kOther);
            ++loc.entry;
          }
        }
      }
      pos = end + 1;
      ++line;
    }
  }

  // Maps one parsed message and stores its resources; a message that cannot be mapped is
  // quarantined and its reason returned.
  Status StoreHl7v2(const hl7v2::Message& message, RecordLocation loc) {
    const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
    auto mapped = hl7v2::MapToFhir(message);
    if (!mapped.ok()) {
      OnReject(message.raw(), loc, mapped.status().message());
      return mapped.status();
    }
    // Batch ingest: every resource goes through the sequencing stage (SequenceMapped), which
    // must see a message's Patient before the stores of its other resources: their
    // references in a keyed lake need the pseudonym it links.
    for (auto& resource : mapped->resources) {
      if (pending_) {
        pending_->push_back({resource.resource_type, resource.id, std::move(resource.json),
                             mapped->trigger, std::move(resource.cleared), loc.byte_offset,
                             loc.entry, loc.location});
      } else {
        StoreMappedResource(resource.resource_type, resource.id, std::move(resource.json), same,
                            loc, mapped->trigger, resource.cleared);
      }
      ++loc.entry;
    }
    return Status::Ok();
  }

  // Patients and Encounters of HL7 v2 messages are merged with the version before them
  // (hl7v2/resource_history.h); null: stored as mapped. Not owned.
  void set_resource_history(hl7v2::ResourceHistory* history) { history_ = history; }
  // Process() maps the HL7 v2 messages of a chunk into Chunk::mapped without storing them,
  // for SequenceMapped and StoreMapped.
  void set_defer_hl7v2(bool defer) { defer_hl7v2_ = defer; }
  // Where the records read from now on are counted (ChunkLoad); null: nowhere. Batch ingest
  // sets it while a chunk is first read (preparing it again counts nothing).
  void set_load(ChunkLoad* load) { load_ = load; }
  // Process() leaves a JSON document larger than this to PublishPrepared (PreparedChunk).
  void set_in_order_document_bytes(uint64_t bytes) { in_order_document_bytes_ = bytes; }
  // A Bundle file larger than this is read an entry at a time (FhirReader::ReadJsonStreamed).
  void set_streamed_document_bytes(uint64_t bytes) { streamed_document_bytes_ = bytes; }
  // Batch ingest: the entries of a Bundle read an entry at a time are read by parallel tasks
  // (FhirReader::set_entry_ranges), each range through a helper worker of the thread it runs
  // on, which counts as this one does (BundleRanges). In a lake with a key, only when this
  // worker makes its links at once (the serial stage's reading of a large Bundle).
  void set_parallel_bundles(bool on) { parallel_bundles_ = on; }
  // Batch ingest: a Bundle read in ranges in a batch of its own (Chunk::alone) commits inside,
  // through `commit`, every `bytes` of its entries (kSharedCheckpointFactor times that where
  // they hold shared-area resources only, as between files) or `records` entries (in waves of
  // ranges, FhirReader::EntryRanges::Waves), so that what the lake holds until a commit stays
  // bounded and a crash loses at most that much.
  void set_checkpoints_inside(std::function<Status()> commit, uint64_t bytes, size_t records) {
    commit_inside_ = std::move(commit);
    checkpoint_bytes_ = bytes;
    checkpoint_records_ = records;
  }

  // Called with every resource whose facts could be extracted (about to be stored, or a
  // duplicate of a stored one), on the worker's thread. Empty by default.
  using ResourceHook = std::function<void(const fhir::ResourceFacts&, json::Node)>;
  void set_resource_hook(ResourceHook hook) { hook_ = std::move(hook); }

  const Status& error() const { return error_; }
  // References left unresolved in what this worker read and stored (a prepared chunk's count
  // goes to the worker that stores it).
  uint64_t unresolved() const {
    return reader_.unresolved_references() - unresolved_prepared_ + unresolved_stored_;
  }

 private:
  void Read(const Chunk& chunk) {
    file_index_ = chunk.file_index;
    read_early_ = chunk.shared_wave;
    if (!chunk.error.empty()) {  // a damaged rest of a file, or a line too long to read
      OnReject(std::string_view(chunk.data.data(), chunk.data.size()),
               RecordLocation{*chunk.source, chunk.first_line, chunk.base_offset, 0, ""},
               chunk.error);
      return;
    }
    std::string_view data(chunk.data.data(), chunk.data.size());
    if (chunk.whole_file) {
      // Read (and counted for progress) when this returns, whatever the way.
      struct ReadAtEnd {
        RecordWorker* worker;
        const Chunk& chunk;
        ~ReadAtEnd() {
          // HL7 v2 messages mapped to store later: half of the file's reading (StoreMapped).
          const bool half =
              chunk.format == InputFormat::kHl7v2 && worker->defer_hl7v2_ && !chunk.mapped.empty();
          worker->ReportRead(chunk, half ? chunk.file_bytes / 2 : chunk.file_bytes);
        }
      } read_at_end{this, chunk};
      if (chunk.format == InputFormat::kJson && chunk.file_bytes > streamed_document_bytes_) {
        reader_.set_document_progress([&](uint64_t position) { ReportRead(chunk, position); });
        const bool parallel = parallel_bundles_ && prepared_ == nullptr && pending_ == nullptr &&
                              !hook_ &&
                              (deid_ == nullptr || (links_ != nullptr && links_->at_once));
        BundleRanges ranges(*this, chunk);
        if (parallel) reader_.set_entry_ranges(&ranges);
        Result<bool> streamed = reader_.ReadJsonFileStreamed(*chunk.source, *chunk.source, *this);
        reader_.set_document_progress(nullptr);
        if (parallel) {
          reader_.set_entry_ranges(nullptr);
          JoinHelpers();
        }
        if (!streamed.ok()) {
          if (error_.ok()) error_ = streamed.status();  // the run fails, as for any I/O error
          return;
        }
        if (*streamed) return;
      }
      auto read = ReadFileInto(*chunk.source, json::kPadding, file_buffer_);
      if (!read.ok()) {
        if (error_.ok()) error_ = read.status();  // the run fails, as for any I/O error
        return;
      }
      ReadChunk(chunk, *read);
      return;
    }
    ReadChunk(chunk, data);
  }

  // Reads the records of `data`, the chunk's text (or its whole file's).
  void ReadChunk(const Chunk& chunk, std::string_view data) {
    if (chunk.format == InputFormat::kJson) {
      reader_.ReadJson(data.data(), data.size(), *chunk.source, chunk.base_offset, *this);
    } else if (chunk.format == InputFormat::kHl7v2) {
      ProcessHl7v2(chunk, data);
    } else if (chunk.format == InputFormat::kDeviceNdjson) {
      ProcessDeviceReadings(chunk);
    } else {
      reader_.ReadNdjson(data.data(), data.size(), *chunk.source, chunk.first_line,
                         chunk.base_offset, *this);
    }
  }

  // How a conditional reference outside a Bundle is looked up: `links`, the pseudonym links
  // made so far (Deidentifier::ResolvePatientIdentifier), for a Patient in a keyed lake.
  std::string FindIdentifier(std::string_view type, std::optional<std::string_view> system,
                             std::string_view value, PendingLinks* links) {
    if (deid_ != nullptr && type == "Patient") {
      // Links are kept by (system, value): a reference without a system matches an identifier
      // without one only (docs/privacy.md). A prepared chunk sees the links made before it in
      // the input.
      return deid_->ResolvePatientIdentifier(system.value_or(""), value, links);
    }
    return writer_.ResolveIdentifier(type, system, value);
  }

  // The ranges of the entries of a Bundle read an entry at a time (set_parallel_bundles), each
  // read through the helper of the thread that reads it. In a lake without a key the helper
  // stores as it reads. In a lake with a key a range is prepared as a chunk is (PreparedChunk:
  // its pseudonym links made apart, what it changes held from the first link it needs that is
  // not published), then its links are published in range order, or it is prepared again when
  // a range before it made one it looked for, and then it is stored: the pseudonyms are those
  // of a reading in order, as the serial stage's own reading makes them.
  class BundleRanges final : public FhirReader::EntryRanges {
   public:
    BundleRanges(RecordWorker& owner, const Chunk& chunk) : owner_(owner), chunk_(chunk) {}
    void Begin(size_t count) override {
      if (owner_.deid_ == nullptr) return;
      prepared_.clear();
      prepared_.resize(count);  // never resized again: lookups_ hold their links
      lookups_.clear();
      lookups_.reserve(count);
      for (PreparedChunk& p : prepared_) {
        lookups_.emplace_back([this, links = &p.links](std::string_view type,
                                                       std::optional<std::string_view> system,
                                                       std::string_view value) {
          return owner_.FindIdentifier(type, system, value, links);
        });
      }
    }
    FhirRecordSink& Open(size_t range, bool again) override {
      RecordWorker& helper = owner_.HelperFor(chunk_);
      if (owner_.deid_ == nullptr) return helper;
      PreparedChunk& p = prepared_[range];
      if (again) {  // what its first reading handled as read is passed over, and not counted
        const uint32_t read_early = p.read_early;
        p.Clear();
        p.read_early = read_early;
        helper.load_ = nullptr;
      }
      p.active = true;
      helper.prepared_ = &p;
      helper.links_ = &p.links;
      helper.record_index_ = 0;
      return helper;
    }
    const IdentifierLookup* LookupOf(size_t range) override {
      return owner_.deid_ == nullptr ? nullptr : &lookups_[range];
    }
    void Close(size_t) override {
      if (owner_.deid_ == nullptr) return;
      RecordWorker& helper = *owner_.helpers_.local();
      helper.prepared_ = nullptr;
      helper.links_ = nullptr;
    }
    bool Publish(size_t range) override {
      return owner_.deid_ == nullptr || owner_.deid_->Publish(prepared_[range].links);
    }
    void Finish(size_t range) override {
      if (owner_.deid_ == nullptr) return;
      owner_.HelperFor(chunk_).StorePrepared(chunk_, prepared_[range]);
      prepared_[range].Clear();
    }
    bool holds() const override { return owner_.deid_ != nullptr; }
    Waves waves() const override {
      if (!chunk_.alone || !owner_.commit_inside_) return {};
      return {owner_.checkpoint_bytes_, owner_.checkpoint_bytes_ * kSharedCheckpointFactor,
              owner_.checkpoint_records_};
    }
    // Every range so far is stored: the lake commits, unless a helper failed (the run then
    // fails with its error, and nothing more is committed).
    Status Pause() override {
      for (const std::unique_ptr<RecordWorker>& helper : owner_.helpers_) {
        if (helper && !helper->error_.ok()) return helper->error_;
      }
      return owner_.commit_inside_();
    }

   private:
    RecordWorker& owner_;
    const Chunk& chunk_;
    std::vector<PreparedChunk> prepared_;  // per range, in a lake with a key
    std::vector<IdentifierLookup> lookups_;
  };

  // The helper of the calling thread for the entries of `chunk` (set_parallel_bundles), made
  // at its first call.
  RecordWorker& HelperFor(const Chunk& chunk) {
    std::unique_ptr<RecordWorker>& helper = helpers_.local();
    if (!helper) helper = std::make_unique<RecordWorker>(writer_, shared_, deid_);
    helper->file_index_ = chunk.file_index;
    helper->read_early_ = chunk.shared_wave;
    helper->load_ = load_ != nullptr ? &helper->helped_load_ : nullptr;
    return *helper;
  }
  // Takes over what the helpers counted for the chunk's load and the first error they met.
  void JoinHelpers() {
    for (std::unique_ptr<RecordWorker>& helper : helpers_) {
      if (!helper) continue;
      if (load_ != nullptr) {
        load_->records += helper->helped_load_.records;
        load_->identifiers += helper->helped_load_.identifiers;
        load_->quarantined_bytes += helper->helped_load_.quarantined_bytes;
      }
      helper->helped_load_ = ChunkLoad();
      helper->load_ = nullptr;
      if (!helper->error_.ok() && error_.ok()) error_ = helper->error_;
      helper->error_ = Status::Ok();
    }
  }

  // The whole file of `chunk` has been read up to `position` (for progress). Reading it again
  // (a prepared chunk prepared again) counts nothing twice.
  void ReportRead(const Chunk& chunk, uint64_t position) {
    const uint64_t unread = chunk.file_bytes - std::min(position, chunk.file_bytes);
    if (unread >= chunk.unread_bytes) return;
    shared_.document_bytes_read.fetch_add(chunk.unread_bytes - unread, std::memory_order_relaxed);
    chunk.unread_bytes = unread;
  }

  // Stream ingest: stores one resource mapped from an HL7 v2 message, merged with the version
  // before it when it is a Patient or an Encounter (as SequenceMapped does in batch).
  void StoreMappedResource(std::string_view type, const std::string& id, std::string json,
                           const fhir::ReferenceResolver& resolver, const RecordLocation& loc,
                           std::string_view trigger = {},
                           const std::vector<std::string>& cleared = {}) {
    if (history_ && hl7v2::HasHistory(type)) {
      std::string key = id;
      if (deid_ != nullptr && type == "Patient") key = LinkedPseudonym(json);
      auto merged = history_->Add(type, key, std::move(json), trigger, cleared);
      if (!merged.ok()) {  // the run fails: its earlier version could not be read
        if (error_.ok()) error_ = merged.status();
        return;
      }
      if (!*merged) {
        CountUnchanged();
        return;
      }
      json = std::move(**merged);
    }
    StoreParsed(std::move(json), resolver, loc);
  }

  // A record the history found nothing new in (a replayed message, or one that repeats the
  // stored version): read, and a duplicate of what is stored.
  void CountUnchanged() {
    if (load_ != nullptr) ++load_->records;
    if (Held()) {
      ++prepared_->records;
      ++prepared_->unchanged;
      return;
    }
    counters_.records.fetch_add(1, std::memory_order_relaxed);
    counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
  }

  // While a chunk is prepared, what a record changes in the lake is held (PreparedChunk) once
  // the chunk has needed a link not yet published: its own lookups, or the reader's before it
  // (a Bundle's conditions are all matched first). Until then each record reads what reading
  // the input in order would, and is handled as it is read.
  bool Held() const { return prepared_ != nullptr && prepared_->links.touches > 0; }
  // While a chunk is prepared again: the record at hand was handled as it was read the first
  // time (PreparedChunk::read_early), and is passed over.
  bool SkipReadEarly() {
    if (prepared_ == nullptr || record_index_ >= prepared_->read_early) return false;
    ++record_index_;
    return true;
  }
  void EndRecord() {
    ++record_index_;
    if (prepared_ != nullptr && !Held()) prepared_->read_early = record_index_;
  }

  // A record read and quarantined.
  void Reject(std::string_view record, const RecordLocation& loc, std::string reason) {
    CountRecord();
    Quarantine(record, loc, std::move(reason));
  }

  void CountRecord() {
    if (load_ != nullptr) ++load_->records;
    if (Held()) {
      ++prepared_->records;
    } else {
      counters_.records.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // The pseudonym of an HL7 v2 Patient (keyed lake), its links made. A Patient with the
  // same id and identifiers as one linked before has nothing new to link (most messages repeat
  // the PID of the admission): its pseudonym is remembered, without the keyed hashes.
  std::string LinkedPseudonym(std::string_view patient_json) {
    auto node = hl7_parser_.Parse(patient_json);
    if (!node.ok()) return "";
    std::string key;
    if (auto id = node->Find("id"); id && id->IsString()) key = id->GetString();
    key.push_back('\0');
    if (auto identifiers = node->Find("identifier")) key += identifiers->ToJson();
    auto it = linked_.find(key);
    if (it != linked_.end()) return it->second;
    std::string pseudonym = deid_->LinkPatient(*node);
    if (linked_.size() >= kLinkedCache) linked_.clear();
    linked_.emplace(std::move(key), pseudonym);
    return pseudonym;
  }
  static constexpr size_t kLinkedCache = 1u << 16;

  void StoreParsed(std::string json, const fhir::ReferenceResolver& resolver,
                   const RecordLocation& loc) {
    auto node = hl7_parser_.Parse(json);
    if (!node.ok()) {
      OnReject(json, loc, "mapped resource is not valid JSON: " + node.status().message());
      return;
    }
    OnResource(*node, json, resolver, loc, ParsedText::kOther);
  }

  // A patient's resources mostly come together (a bulk export's lines, a Bundle's entries):
  // the last ordinal is kept here and the writer's shared, locked table asked only on a change.
  // Ordinals never change once handed out.
  uint32_t PatientOrdinal(const std::string& patient_id) {
    if (patient_id.empty()) return store::kNoPatient;
    if (patient_id != last_patient_) {
      last_ordinal_ = writer_.PatientOrdinal(patient_id);
      last_patient_ = patient_id;
    }
    return last_ordinal_;
  }

  void Quarantine(std::string_view record, const RecordLocation& loc, std::string reason) {
    QuarantineEntry e{writer_.run_id(), std::string(loc.source), loc.line, loc.byte_offset,
                      loc.location,     std::move(reason)};
    if (Held()) {  // a lake with a key: the record is not kept
      prepared_->quarantined.push_back(std::move(e));
      return;
    }
    counters_.quarantined.fetch_add(1, std::memory_order_relaxed);
    // In a lake with a key the raw record, which may identify a patient, is not kept: the
    // entry names the source location instead.
    const std::string_view kept = deid_ != nullptr ? std::string_view() : record;
    if (load_ != nullptr) {
      load_->quarantined_bytes += sizeof(e) + e.source.size() + e.location.size() +
                                  e.reason.size() +
                                  std::min(kept.size(), store::LakeWriter::kQuarantinedRecordBytes);
    }
    writer_.AddQuarantine(e, kept);
  }

  store::LakeWriter& writer_;
  SharedCounters& shared_;
  SharedCounters::Block& counters_;
  Deidentifier* deid_;
  FhirReader reader_;
  json::Parser hl7_parser_;
  json::Parser deid_parser_;
  std::string deid_json_;
  VaultRecord removed_;
  fhir::ResourceFacts facts_;
  std::string last_patient_;  // "" before the first
  uint32_t last_ordinal_ = store::kNoPatient;
  uint32_t file_index_ = 0;
  bool read_early_ = false;  // the chunk is of the shared-area files, read first
  Status error_;
  ResourceHook hook_;
  hl7v2::ResourceHistory* history_ = nullptr;
  std::unordered_map<std::string, std::string> linked_;  // LinkedPseudonym's memory
  bool defer_hl7v2_ = false;
  std::vector<Chunk::MappedRecord>* pending_ = nullptr;  // set while a chunk's HL7 v2 is mapped
  PreparedChunk* prepared_ = nullptr;                    // set while a chunk is prepared
  PendingLinks* links_ = nullptr;  // where pseudonym links are made (Deidentifier::Apply)
  ChunkLoad* load_ = nullptr;
  uint64_t in_order_document_bytes_ = std::numeric_limits<uint64_t>::max();
  uint64_t streamed_document_bytes_ = std::numeric_limits<uint64_t>::max();
  uint32_t record_index_ = 0;         // of the record at hand in the chunk being prepared
  uint64_t unresolved_prepared_ = 0;  // counted by reader_ in chunks prepared here
  uint64_t unresolved_stored_ = 0;    // of the prepared chunks stored here
  GrowBuffer file_buffer_;            // whole files (JSON documents, HL7 v2) are read into it
  bool parallel_bundles_ = false;
  std::function<Status()> commit_inside_;  // set_checkpoints_inside
  uint64_t checkpoint_bytes_ = 0;
  size_t checkpoint_records_ = 0;
  // Per thread, the worker that stores the entries a task of this one's Bundle reads there
  // (HelperFor), and what it counted for the chunk's load.
  tbb::enumerable_thread_specific<std::unique_ptr<RecordWorker>> helpers_;
  ChunkLoad helped_load_;
};

}  // namespace medlake::ingest
