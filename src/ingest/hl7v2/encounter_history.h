// The location history of an Encounter across HL7 v2 ADT messages.
//
// Each ADT message maps to a version of its visit's Encounter that knows only the locations
// the message names (A01: the admission ward; A02: the prior location ending and the new one
// starting at the transfer; A03: the current one ending at discharge). A newer version would
// replace the older one and lose the earlier wards, so before a version is stored its
// location[] is merged with the one stored before it (docs/hl7v2.md, "Location history").
//
// MergeEncounterLocations is a pure function; EncounterHistory is not thread-safe (one per
// serialized stream of messages, in message order).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "medlake/status.h"

namespace medlake::hl7v2 {

// `next` (an Encounter) with its location[] merged with `previous`'s (the version stored
// before it) and its period.start taken from `previous` when `next` has none. An entry of
// `next` updates the latest entry of `previous` for the same Location that is still open (no
// end), or has the same start, or the same end: status and end come from `next` (an entry with
// an end is completed), start from `previous` when `next` has none. Other entries of `next` are
// appended; entries of `previous` that `next` does not name are kept. Errors: kParseError when
// either is not a JSON object.
Result<std::string> MergeEncounterLocations(std::string_view previous, std::string_view next);

// The latest merged version of each Encounter seen, for a sequence of messages in order.
class EncounterHistory {
 public:
  // Finds the stored version of an Encounter the history has not seen (nullopt: none). An
  // error (a damaged segment, an I/O error) is not "none": Add returns it.
  using Lookup = std::function<Result<std::optional<std::string>>(const std::string& id)>;
  explicit EncounterHistory(Lookup lookup = {}) : lookup_(std::move(lookup)) {}

  // Merges `json` (a new version of Encounter `id`) with the previous one, remembers the
  // result and returns it. On a merge error the new version is returned unchanged; an error of
  // the lookup is returned (storing the version unmerged would lose the earlier locations).
  Result<std::string> Add(const std::string& id, std::string json);
  size_t size() const { return latest_.size(); }
  // Forgets every version (they are stored; the lookup finds them from now on).
  void Clear() { latest_.clear(); }

 private:
  Lookup lookup_;
  std::unordered_map<std::string, std::string> latest_;
};

}  // namespace medlake::hl7v2
