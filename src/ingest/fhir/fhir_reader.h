// FhirReader: turns the bytes of FHIR R4 JSON inputs (NDJSON lines, Bundles, single resources)
// into resources ready to store, or rejections with their location.
//
// In a Bundle, `urn:uuid:` and other fullUrls, and conditional references
// ("Practitioner?identifier=system|value"), are resolved to "Type/id" both in the facts and in
// the stored text. A resource without an id gets the one its fullUrl (urn:uuid) or its
// request.url (PUT Type/id) implies; otherwise it is rejected.
//
// One FhirReader per thread; it keeps parse buffers between calls.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/string_util.h"
#include "fhir/resource_facts.h"
#include "json/json.h"
#include "json/minify.h"
#include "json/scanner.h"
#include "medlake/status.h"

namespace medlake::ingest {

struct RecordLocation {
  std::string_view source;  // input file
  int64_t line = 0;         // 1-based line (NDJSON), 0 otherwise
  int64_t byte_offset = 0;  // of the record (the Bundle for its entries)
  uint32_t entry = 0;       // entry index within a Bundle (0 otherwise)
  std::string location;     // "Bundle.entry[3].resource", "" for a whole record
};

// What the parsed resource given with a record's text (FhirRecordSink::OnResource) holds of it.
enum class ParsedText : uint8_t {
  kOther,       // not that text (a parse of a copy that has gone, or without number text)
  kSame,        // exactly that text: a parse of it, or of the same text before minifying
  kUnresolved,  // that text before the resolver given with it resolved its references
};

class FhirRecordSink {
 public:
  virtual ~FhirRecordSink() = default;
  // `resource` is the parsed resource; `json` its minified text with references resolved;
  // `resolver` maps references as written to resolved ones (for fact extraction).
  // `parsed`: what `resource` holds of `json`; unless kOther, it answers NumberText() when the
  // reader keeps number text (set_keep_number_text).
  virtual void OnResource(json::Node resource, std::string_view json,
                          const fhir::ReferenceResolver& resolver, const RecordLocation& loc,
                          ParsedText parsed) = 0;
  // A record that cannot be stored. `record` is its raw text; `reason` names no patient data.
  virtual void OnReject(std::string_view record, const RecordLocation& loc, std::string reason) = 0;
  // A Bundle entry not stored because the lake holds what it stands for (a conditional create
  // whose condition matches), or has nothing to do (a conditional delete that matches nothing):
  // read, and counted with the duplicates.
  virtual void OnExisting(const RecordLocation& loc) = 0;
  // A Bundle entry with a DELETE request for `type`/`id` as the source names it (transaction,
  // batch and history Bundles; docs/format.md, "Deletions"), deleted at `last_updated`
  // (kNoTime when unknown). `entry` is the Bundle entry. A sink that applies no deletions
  // quarantines it.
  virtual void OnDelete(std::string_view type, std::string_view id, int64_t last_updated,
                        const RecordLocation& loc, json::Node entry) {
    (void)type, (void)id, (void)last_updated;
    OnReject(entry.ToJson(), loc,
             "bundle entry with a DELETE request: deletes are not applied here");
  }
};

// Resolves "Type", "system", "value" of a conditional reference outside the current Bundle
// (the lake's identifier index); returns the id, "" when none matches, or
// store::kAmbiguousIdentifier ("*", no valid id) when several do. `system` is nullopt for a
// reference without one ("Type?identifier=value": any system matches).
using IdentifierLookup = std::function<std::string(
    std::string_view type, std::optional<std::string_view> system, std::string_view value)>;

class FhirReader {
 public:
  explicit FhirReader(IdentifierLookup lookup);
  FhirReader(const FhirReader&) = delete;  // resolver_ refers to this object
  FhirReader& operator=(const FhirReader&) = delete;

  // Reads NDJSON: one resource per line. `data[size .. size + json::kPadding)` must be
  // readable. `first_line` and `base_offset` locate data[0] in its source.
  void ReadNdjson(const char* data, size_t size, std::string_view source, int64_t first_line,
                  int64_t base_offset, FhirRecordSink& sink);
  // Reads one JSON document: a Bundle (its entries are the records) or a single resource.
  // `line`: the document's line in an NDJSON file (0 for a file of its own).
  void ReadJson(const char* data, size_t size, std::string_view source, int64_t base_offset,
                FhirRecordSink& sink, int64_t line = 0);

  // Reads the JSON document of `size` bytes that `read` gives without holding it whole, when
  // it is a Bundle other than a document: the members of its top-level object are found by a
  // scan, and its entries are parsed one at a time, once to learn what each is stored under
  // and once to store it (json/scanner.h). Memory holds the largest entry or other member of
  // the Bundle (each is parsed alone) and, per entry, its ids, fullUrl and extent; the records
  // are those ReadJson gives for the same bytes (a Bundle refused whole keeps the head of its
  // text as read, and a reason that gives the file's size, not the minified one). Returns false,
  // having read nothing, for any other document (a single resource, or a document Bundle: one
  // record each, read whole with ReadJson). Errors: I/O, or a file that changed while read.
  Result<bool> ReadJsonStreamed(const json::ReadAt& read, uint64_t size, std::string_view source,
                                FhirRecordSink& sink);
  // ReadJsonStreamed of the file at `path` (named `source` in locations).
  Result<bool> ReadJsonFileStreamed(const std::string& path, std::string_view source,
                                    FhirRecordSink& sink);

  // Called, while a Bundle is read an entry at a time (ReadJsonStreamed), with how far the
  // reading has come, as a position in the document that only grows: its file is read three
  // times (the scan, the plan of what each entry is stored under, the storing), each read
  // counted for its pass's share of the time. Null: not at all.
  void set_document_progress(std::function<void(uint64_t position)> progress) {
    document_progress_ = std::move(progress);
  }

  // Where the ranges of a Bundle's entries read by parallel tasks go (set_entry_ranges).
  // Each range is read on one thread into the sink Open gives (Open, the reading, Close); then,
  // one range at a time in range order, Publish accepts it or has it read again (Open with
  // `again`, the reading, Close, Publish); then Finish ends it, on any thread. A range is read
  // again after every range before it was published: a reader whose records depend on what
  // the ranges before made (a keyed lake's pseudonym links) holds them until Publish and, when
  // those made what a range looked for, reads it again in order.
  class EntryRanges {
   public:
    virtual ~EntryRanges() = default;
    // Before the first Open: the number of ranges (Open's `range` is below it).
    virtual void Begin(size_t count) = 0;
    virtual FhirRecordSink& Open(size_t range, bool again) = 0;
    // How conditional references of the range's entries outside the Bundle are looked up, on
    // the thread that reads it; null: the reader's IdentifierLookup.
    virtual const IdentifierLookup* LookupOf(size_t range) = 0;
    virtual void Close(size_t range) = 0;
    virtual bool Publish(size_t range) = 0;
    virtual void Finish(size_t range) = 0;
    // Waves: when `bytes` is not 0, the ranges are read in waves of at most `bytes` of the file
    // (`shared_bytes` for a wave whose resources are all outside the patient compartment:
    // Organizations, Practitioners, ...) and `entries` entries (a range larger than that is a
    // wave of its own); between two waves, when every range of the first is finished and none
    // of the next is open, Pause is called (the lake can commit there). An error from Pause
    // ends the reading with it.
    struct Waves {
      uint64_t bytes = 0;
      uint64_t shared_bytes = 0;
      size_t entries = 0;
    };
    virtual Waves waves() const { return {}; }
    virtual Status Pause() { return Status::Ok(); }
    // Whether ranges hold their records until Publish: they are then kept to about
    // kHeldRangeEntries entries each (at most twice that; memory does not grow with the
    // Bundle), and each begins at the first Patient entry of its span when it has one, so
    // that a Bundle that lists each patient's resources with them (Synthea's) splits no
    // patient between two ranges.
    virtual bool holds() const = 0;
  };
  static constexpr size_t kHeldRangeEntries = 2048;
  // Where a task storing entries sends their records: the sink of the thread it runs on
  // (set_parallel_entries: ranges published as read, that hold nothing).
  using SinkOfThread = std::function<FhirRecordSink&()>;
  // A Bundle read an entry at a time (ReadJsonStreamed) is read by parallel tasks (TBB, in an
  // isolated region): ranges of its entries are planned at once, the plans joined in entry
  // order; then ranges are stored at once through `ranges` (not owned). The records are those
  // of a reading in order, each with the same location and entry number, but they reach
  // several sinks, in no set order. A Bundle that holds a Bundle is stored in order (the
  // entries of the inner one are numbered among the outer one's), and one of fewer than
  // `min_entries` entries. Null (the default): one thread, in order. The IdentifierLookup
  // must then be callable from several threads at once.
  static constexpr size_t kParallelEntries = 512;
  void set_entry_ranges(EntryRanges* ranges, size_t min_entries = kParallelEntries) {
    thread_sinks_.reset();
    ranges_ = ranges;
    parallel_min_entries_ = std::max<size_t>(min_entries, 2);
  }
  void set_parallel_entries(SinkOfThread sink_of_thread, size_t min_entries = kParallelEntries);

  // Number of references that could not be resolved (conditional references with no match).
  uint64_t unresolved_references() const { return rewriting_.unresolved + unresolved_; }
  // Whether a conditional create or update of a Patient is applied (not in a keyed lake, where
  // the match is a pseudonym: a matched conditional create, or update without an id, is then
  // quarantined; an update with the Patient's id is a plain update).
  void set_conditional_patient_writes(bool on) { conditional_patient_writes_ = on; }
  // Parsed resources answer Node::NumberText() (json::Parser::set_keep_number_text).
  void set_keep_number_text(bool keep) {
    keep_number_text_ = keep;
    parser_.set_keep_number_text(keep);
  }

 private:
  // Reads the entries of `bundle` (its text `record`). A Bundle in an entry is read the same
  // way (`depth` deep; at most kMaxBundleDepth): a Bundle other than a document is a container
  // wherever it is, so the lake never holds one that a re-ingest of its export would unpack.
  // `next_entry` numbers the entries of the whole top-level Bundle (their order).
  void ReadBundle(json::Node bundle, std::string_view record, const RecordLocation& base,
                  FhirRecordSink& sink, int depth = 0, uint32_t* next_entry = nullptr);
  static constexpr int kMaxBundleDepth = 4;
  // The entries of a Bundle, walked in order as often as reading it needs: fn(entry, resource)
  // for each, `resource` the text of entry.resource as minified ("" when it has none, or when
  // the walk is `with_resources` false), both valid during the call, until fn returns false.
  // A walk may begin while another runs.
  // kParseError when an entry is not valid JSON (only a streamed Bundle's: a parsed one was
  // checked whole); I/O errors as they come.
  using EntryFn = std::function<bool(json::Node entry, std::string_view resource)>;
  class Entries {
   public:
    virtual ~Entries() = default;
    Status ForEach(const EntryFn& fn, bool with_resources) const {
      return ForEachIn(0, size(), fn, with_resources);
    }
    // The walk of the entries [begin, end) only.
    virtual Status ForEachIn(size_t begin, size_t end, const EntryFn& fn,
                             bool with_resources) const = 0;
    virtual size_t size() const = 0;  // the number of entries
    // The byte of the document after entry `index`; 0 when the entries are not read from it.
    virtual uint64_t EndOf(size_t index) const = 0;
  };
  class ParsedEntries;
  class StreamedEntries;
  // The progress of a Bundle read an entry at a time, pass by pass (set_document_progress).
  class PassProgress;
  // Reads the entries of a Bundle (ReadBundle, ReadJsonStreamed): first what each is stored
  // under, then each in order. `streamed`: the progress of a Bundle read an entry at a time
  // (ReadJsonStreamed; its entries are read in parallel ranges after set_parallel_entries);
  // null for one parsed whole. `history`: the Bundle is one (Bundle.type); `record`: its text,
  // quarantined (followed by `kept_note`, LakeWriter::KeptPartNote when `record` is only its
  // head) when the Bundle is refused whole. `deleted_at`: when its DELETE requests deleted,
  // unless an entry's response.lastModified says (ReadDelete): a transaction's or batch's
  // meta.lastUpdated, else its timestamp (DeletionTime: kNoTime when neither, kUnreadableTime
  // when no instant); kNoTime for a history Bundle; nullopt when its type applies none
  // (DeletesApplied). Errors: those of a streamed walk other than kParseError, which refuses
  // the Bundle.
  Status ReadEntries(const Entries& entries, bool history, std::optional<int64_t> deleted_at,
                     std::string_view record, const RecordLocation& base, FhirRecordSink& sink,
                     int depth, uint32_t* next_entry, std::string_view kept_note,
                     PassProgress* streamed = nullptr);
  // What the url of an entry's DELETE request names (a transaction, batch or history Bundle's),
  // decided when its Bundle's entries are planned.
  enum class DeleteTarget : uint8_t {
    kNone,                  // no DELETE request
    kResource,              // Type/id, or the one match of a condition on an identifier
    kNoMatch,               // a condition that matches nothing: nothing to delete
    kNoUrl,                 // none
    kNoResource,            // not Type/id (a version, another path)
    kUnsupported,           // a condition MatchIdentifier does not evaluate
    kSeveral,               // a condition that matches several resources (R4: 412)
    kKeyedPatient,          // a condition on a Patient, in a lake with a key
    kCompartmentCondition,  // a condition on a type whose identifiers the lake does not keep
  };
  // The target of `entry`'s DELETE request; with kResource, the type's index and the id.
  DeleteTarget PlanDelete(json::Node entry, int& type_index, std::string& id);
  // Reads that entry: the resource `type_index`/`id` is deleted at the entry's
  // response.lastModified, else at `deleted_at` (the Bundle's time); the others are refused
  // with their reason (a condition that matches nothing is read, and deletes nothing).
  void ReadDelete(json::Node entry, DeleteTarget target, int type_index, std::string_view id,
                  const RecordLocation& loc, FhirRecordSink& sink, int64_t deleted_at);
  // The identifiers of a Bundle's entries, by (resource type, value): what conditional
  // references are matched against, built once per Bundle (a scan of every entry per reference
  // made a Bundle of 20,000 such references take 20 s). Views of the parsed Bundle.
  struct IdentifierHash {
    size_t operator()(const std::pair<std::string_view, std::string_view>& k) const;
  };
  struct EntryIdentifier {
    std::string_view system;  // empty when has_system is false
    bool has_system = false;
    std::string_view id;  // the entry's id, or the one its fullUrl or request implies
  };
  struct BundleIdentifiers {
    StringArena strings;  // what the views of `index` name, the ids aside
    std::unordered_multimap<std::pair<std::string_view, std::string_view>, EntryIdentifier,
                            IdentifierHash>
        index;
  };
  // `stored_id(index)`: the id entry `index`'s resource is stored under, empty when it is not
  // stored (quarantined or unpacked): only those are matched (and viewed, not copied, by `out`).
  static Status IndexIdentifiers(const Entries& entries,
                                 const std::function<std::string_view(size_t)>& stored_id,
                                 BundleIdentifiers& out);
  // What a condition "Type?identifier=[system|]value" matches: in the Bundle whose identifiers
  // are `bundle` (when given), else in the lake. Any other condition (other parameters, several,
  // an unknown type) is kUnsupported.
  struct ConditionMatch {
    enum Kind : uint8_t { kUnsupported, kNone, kOne, kSeveral } kind = kUnsupported;
    std::string id;  // kOne
  };
  // `lookup`: where the lake is looked up; null: lookup_.
  ConditionMatch MatchIdentifier(std::string_view condition, const BundleIdentifiers* bundle,
                                 const IdentifierLookup* lookup = nullptr);
  // "Type/id" for a conditional reference that matches exactly one resource (MatchIdentifier);
  // the reference as written otherwise.
  std::string ResolveConditional(std::string_view reference, const BundleIdentifiers* bundle,
                                 const IdentifierLookup* lookup = nullptr);
  // A Bundle's fullUrls and the "Type/id" each stands for: the entry each names (a later one
  // wins), and per entry the type and id of its resource. About 90 bytes an entry whose id is
  // a UUID (a slot and a half of HashIndex, the id's view and its 36 characters): neither the
  // fullUrls nor "Type/id" strings are kept, which with the map's views made about 250 bytes
  // an entry (a Bundle of millions of entries holds them while it is read).
  struct FullUrls {
    HashIndex entries;           // a fullUrl (urn:uuid: and urn:oid: in lower case) -> its entry
    std::vector<uint8_t> types;  // per entry: fhir::ResourceTypeIndex of a named resource
    // Per entry: the id its resource is stored under, or given ("" when neither); views of the
    // plan's strings, valid while the Bundle is read.
    std::vector<std::string_view> ids;
    // "Type/id" of the resource `entry` holds, in `out`.
    std::string_view Typed(uint32_t entry, std::string& out) const;
  };
  // What the condition of a Bundle entry's request matches in the lake: `ifNoneExist` of a
  // POST (conditional create; "Type?" before it is allowed), the search URL of a PUT
  // (conditional update); identifier conditions only, as for conditional references. nullopt
  // when the entry has no condition.
  std::optional<ConditionMatch> MatchCondition(json::Node entry, std::string_view method,
                                               std::optional<json::Node> type);
  // The "Type/id" a Bundle entry's fullUrl gives `ref`, in `scratch`: an exact match, else (R4
  // Bundle: "remove the version from the URL before matching fullUrl") the match of `ref`
  // without its "/_history/v", as "Type/id/_history/v"; nullopt when no entry has it. A
  // "urn:uuid:" is matched without regard to case (its lower-case form).
  static std::optional<std::string_view> LookupFullUrl(const FullUrls& full_urls,
                                                       std::string_view ref, std::string& scratch);
  // What rewriting a resource's references works with: one per thread that rewrites.
  struct Rewriting {
    std::string scratch;   // what a resolver returns when it computes a reference
    json::Parser escapes;  // decodes a reference written with escapes
    std::string quoted;    // that reference, quoted for it
    std::string out;       // the text rewritten
    uint64_t unresolved = 0;
  };
  // Rewrites every "reference":"..." value in `text` into r.out: through `full_urls` (when
  // given) first, else through `resolver` when it is a conditional reference. In a Bundle, a
  // `urn:uuid:` or `urn:oid:` reference that no entry has is counted unresolved.
  static void RewriteReferences(std::string_view text, const FullUrls* full_urls,
                                const fhir::ReferenceResolver& resolver, Rewriting& r);

  IdentifierLookup lookup_;
  // References outside a Bundle: conditional ones through the lake, the others as written.
  const fhir::ReferenceResolver resolver_;
  Rewriting rewriting_;  // of the records read on the caller's thread
  json::Parser parser_;
  json::MinifyBuffer line_;      // the minified NDJSON line being read
  json::MinifyBuffer document_;  // the minified JSON document being read
  uint64_t unresolved_ = 0;      // in parallel tasks (rewriting_ counts the others)
  bool conditional_patient_writes_ = true;
  bool keep_number_text_ = false;
  std::function<void(uint64_t position)> document_progress_;
  EntryRanges* ranges_ = nullptr;
  std::unique_ptr<EntryRanges> thread_sinks_;  // what ranges_ is after set_parallel_entries
  size_t parallel_min_entries_ = kParallelEntries;
};

// The first resourceType in `head` that is not "Bundle" ("" if none): used to schedule files
// holding shared-area resources (Organization, Practitioner, ...) first.
std::string SniffFirstResourceType(std::string_view head);

}  // namespace medlake::ingest
