// Outputs of a cohort evaluation (docs/cohorts.md, "Attrition and outputs"): the summary as
// text or JSON, and the members as CSV or a FHIR R4 Group.
#pragma once

#include <string>
#include <vector>

#include "cohort/definition.h"
#include "cohort/evaluator.h"

namespace medlake::cohort {

struct OutputContext {
  const CohortDefinition* definition = nullptr;
  const CohortResult* result = nullptr;
  const std::vector<std::string>* patient_ids = nullptr;  // by ordinal; needed for members
  double elapsed_ms = 0;                                  // evaluation time
  double index_ms = 0;                                    // time to load or build the cohort index
  bool index_built = false;  // built from the segments (else loaded from its cache)
  std::string index_text;    // how the index date was chosen, for people
  // Small-count suppression (docs/privacy.md): counts from 1 to suppress_below - 1 are shown
  // as "<suppress_below", and attrition counts from which such a count follows by subtraction
  // as "suppressed" (AttritionMask); 0 disables it.
  int64_t suppress_below = 0;
};

// Complementary suppression of an attrition table (counts remaining after each step, never
// increasing): besides every small count, a step is masked when the patients it removed,
// counted from the last visible step, are a small number, so that no small group follows by
// subtracting two visible counts. The final count is the last step's.
std::vector<bool> AttritionMask(const std::vector<uint64_t>& remaining, int64_t threshold);

// Attrition table, count and timings for people.
std::string SummaryText(const OutputContext& out);
// The JSON document of docs/cohorts.md; members included when `with_members`.
std::string SummaryJson(const OutputContext& out, bool with_members);
// "patient,index" rows with a header.
std::string MembersCsv(const OutputContext& out);
// A FHIR R4 Group (type person, actual) of the members; `id` is the Group's id.
std::string MembersGroup(const OutputContext& out, const std::string& id);

}  // namespace medlake::cohort
