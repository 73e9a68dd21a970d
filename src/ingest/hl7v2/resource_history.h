// The history of the resources that HL7 v2 messages update: Encounters and Patients.
//
// A message knows only part of what the receiver holds, and a newer version of a resource
// replaces the older one in the lake. So before a version mapped from a message is stored, it
// is merged with the version stored before it (docs/hl7v2.md, "Updates"):
//   * Encounter: each ADT message knows only the locations it names (A01 the admission ward,
//     A02 the prior location ending and the new one starting, A03 the current one ending), so
//     its location[] is merged with the earlier one (MergeEncounterLocations); an A13 (cancel
//     discharge) reopens the stay and its last location, and an update (A08) that leaves
//     PV1-45 empty does not undo a discharge.
//   * Patient: HL7 v2.5 section 2.5.3: a field left empty in an update means "no change", the
//     null value "" means "delete the old value". A lab message with a PID of identifier and
//     name only keeps the address and telecom of the admission (MergeElements).
//
// The merge functions are pure; ResourceHistory is not thread-safe (one per serialized stream
// of messages, in message order).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "json/json.h"
#include "medlake/status.h"

namespace medlake::hl7v2 {

// Whether versions of `type` mapped from HL7 v2 are merged with the version before them.
bool HasHistory(std::string_view type);
// Whether `version` (of a type with history) may tell only part of its resource, so that the
// version before it is looked for in the lake when the run has not seen one: Patients and
// Encounters always (sparse PIDs, transfers); an order whose status is not active or draft
// (a cancel, a hold: ORC without OBR); a report that is not final (a correction may carry the
// changed results only); a document without its text (an MDM notification).
bool IsPartial(std::string_view type, json::Node version);

// `next` (an Encounter) with its location[] merged with `previous`'s (the version stored
// before it) and its period.start taken from `previous` when `next` has none. An entry of
// `next` updates the latest entry of `previous` for the same Location that is still open (no
// end), or has the same start, or the same end: status and end come from `next` (an entry with
// an end is completed), start from `previous` when `next` has none. Other entries of `next` are
// appended; entries of `previous` that `next` does not name are kept. `trigger` is the event
// of the message `next` comes from: for "A13" (cancel discharge) the last entry of `previous`
// is reopened (its end removed) when `next` names its Location; for "A08" (update) a finished
// `previous` keeps its status and period.end when `next` has no period.end. Errors:
// kParseError when either is not a JSON object.
Result<std::string> MergeEncounterLocations(std::string_view previous, std::string_view next,
                                            std::string_view trigger = {});

// `next` with the top-level elements it does not have taken from `previous`, except those in
// `cleared` (elements the message explicitly nulls) and the other forms of a choice element
// `next` has (previous deceasedBoolean with next deceasedDateTime). Elements come in the order
// of `next`, then those kept from `previous` in their order. Errors: kParseError when either
// is not a JSON object.
Result<std::string> MergeElements(std::string_view previous, std::string_view next,
                                  const std::vector<std::string>& cleared);

// The latest merged version of each Patient and Encounter seen, for messages in order.
class ResourceHistory {
 public:
  // Finds the stored version of a resource the history has not seen (nullopt: none). An
  // error (a damaged segment, an I/O error) is not "none": Add returns it.
  using Lookup = std::function<Result<std::optional<std::string>>(std::string_view type,
                                                                  const std::string& id)>;
  explicit ResourceHistory(Lookup lookup = {}) : lookup_(std::move(lookup)) {
    for (json::Parser* p : {&previous_parser_, &next_parser_, &merged_parser_}) {
      p->set_keep_number_text(true);  // decimals are written back as they were
    }
  }

  // Merges `json` (a new version of `type`/`id`, mapped from a message of event `trigger` that
  // nulls the elements `cleared`) with the previous one, remembers the result and returns it.
  // nullopt when there is nothing new to store: the message is older (by meta.lastUpdated, its
  // MSH-7) than the previous version (a replayed or late message), or it changes nothing but
  // the time (the time of the last change orders later messages). On a merge error the new
  // version is returned unchanged; an error of the lookup is returned (storing the version
  // unmerged would lose what the earlier one knew).
  Result<std::optional<std::string>> Add(std::string_view type, const std::string& id,
                                         std::string json, std::string_view trigger = {},
                                         const std::vector<std::string>& cleared = {});
  // The version held for `type`/`id` (the last one stored or kept), if any.
  std::optional<std::string> Latest(std::string_view type, const std::string& id) const {
    auto it = latest_.find(std::string(type) + "/" + id);
    if (it == latest_.end()) return std::nullopt;
    return it->second.json;
  }
  size_t size() const { return latest_.size(); }
  // Memory the held orders, reports and documents take, about (readable from any thread:
  // batch ingest commits a checkpoint when it reaches kBytesPerCommit).
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  static constexpr size_t kBytesPerCommit = 64u << 20;
  // Forgets every version (they are stored; the lookup finds them from now on): batch ingest
  // calls it after each checkpoint, so that memory follows the checkpoint, not the feed.
  void Clear() {
    latest_.clear();
    bytes_ = 0;
  }
  // Forgets the orders, reports and documents held (they are stored; the lookup finds them
  // from now on): batch ingest calls it after each checkpoint, so that memory follows the
  // checkpoint. Patients and Encounters stay: most messages update them, and finding each
  // again in the lake would cost a block read per patient and checkpoint.
  void ForgetSettled();

 private:
  Lookup lookup_;
  // The version held, its content (members but meta, canonical) and time, so that a message
  // repeating it is recognised without parsing it again.
  struct Held {
    std::string json;
    uint64_t content = 0;         // XXH3-64 of the canonical members but meta
    std::optional<int64_t> time;  // meta.lastUpdated
    bool measured = true;         // content and time are set (else computed when needed)
  };
  using HeldMap = std::unordered_map<std::string, Held>;
  static constexpr size_t kBytesPerHeld = 96;  // the map node and the Held beside the strings
  HeldMap::iterator Hold(std::string key, Held held);
  HeldMap latest_;  // by "Type/id"
  std::atomic<size_t> bytes_{0};
  json::Parser previous_parser_, next_parser_, merged_parser_;  // reused: no buffers per merge
};

}  // namespace medlake::hl7v2
