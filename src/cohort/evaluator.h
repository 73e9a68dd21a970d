// Evaluates a cohort definition over a cohort index (docs/cohorts.md): the attrition after each
// rule and the members with their index dates.
//
// Rules run in order over the patients still in the cohort. A code-set-only criterion is a
// bitmap operation on the index; the others run per candidate patient, in parallel, with a
// binary search into each matching entry's events.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cohort/cohort_index.h"
#include "cohort/definition.h"
#include "medlake/lake.h"
#include "medlake/status.h"

namespace medlake::cohort {

struct AttritionRow {
  std::string rule;
  std::string kind;  // "initial", "inclusion" or "exclusion"
  uint64_t remaining = 0;
};

struct Member {
  uint32_t patient = 0;  // ordinal; Lake::PatientIds() gives the id
  int64_t index_ms = 0;
};

struct CohortResult {
  std::vector<AttritionRow> attrition;
  std::vector<Member> members;  // by patient ordinal
  uint64_t count = 0;
  // Measurements that reached a value comparison but whose unit could not be converted to the
  // criterion's unit.
  uint64_t unconvertible_values = 0;
  // Resources on which a fhirpath criterion's expression failed (e.g. a collection where one
  // item is required): they did not match.
  uint64_t fhirpath_errors = 0;
  // Damaged segments a fhirpath criterion skipped (file and reason).
  std::vector<std::string> damaged;
};

struct EvaluateOptions {
  int64_t default_index_ms = 0;  // the index date when the definition gives none
  int threads = 0;               // 0: all cores
  // Needed by fhirpath criteria only (they read the resources); may be null otherwise.
  const Lake* lake = nullptr;
  // Which patients may be counted at all (the privacy layer's consent rule); null: everyone.
  std::function<bool(uint32_t patient)> admits;
};

Result<CohortResult> Evaluate(const CohortDefinition& def, const CohortIndex& index,
                              const EvaluateOptions& options);

}  // namespace medlake::cohort
