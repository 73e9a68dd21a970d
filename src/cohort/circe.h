// Import of OHDSI cohort definitions (ATLAS / Circe expression JSON) into the medlake cohort
// format, version 1 (docs/cohorts.md, section "Circe translation").
//
// The translation walks every member of the Circe document and either translates it or
// reports it, with its JSON path, as unsupported (left out of the output, which then selects
// a different set of patients than Circe would) or as an approximation (translated, with a
// documented difference). Nothing is ignored silently.
//
// Pure functions of their arguments: thread-safe, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::cohort {

// One element of a Circe document that was not translated exactly.
struct CirceIssue {
  std::string path;    // JSON path in the Circe document, e.g. "InclusionRules[2].expression.Type"
  std::string reason;  // what medlake does instead, or why it cannot
};

struct CirceTranslation {
  // The medlake cohort definition (format version 1), pretty-printed. Always a valid
  // document; when `unsupported` is not empty it leaves out the listed elements.
  std::string cohort_json;
  // Elements left out of cohort_json: the cohort selects other patients than Circe's.
  std::vector<CirceIssue> unsupported;
  // Elements translated with a documented difference (vocabulary hierarchy not expanded,
  // observation periods, exit dates, age in calendar years, ...).
  std::vector<CirceIssue> approximations;

  // True when nothing was left out (approximations allowed).
  bool complete() const { return unsupported.empty(); }
};

// Translates a Circe cohort expression; `name` becomes the cohort's name (Circe expressions
// carry none). Errors: kParseError when `circe_json` is not JSON, kInvalidArgument when it is
// not a Circe expression (no PrimaryCriteria object). Everything else, however unusual, is a
// translation with issues.
Result<CirceTranslation> TranslateCirce(std::string_view circe_json, std::string_view name = {});

// The issues for people, one per line: "unsupported   PATH: REASON", then
// "approximated  PATH: REASON", then a summary line. Empty issues give only the summary.
std::string FormatCirceReport(const CirceTranslation& translation);

}  // namespace medlake::cohort
