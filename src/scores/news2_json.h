// The JSON line of one NEWS2 score, shared by `medlake score news2 --json` and the alerts of
// `medlake watch` so that both speak the same shape (docs/news2.md):
//   {"patient","encounter","time","score","band","complete","scale","subscores","missing",
//    "stale","single_parameter_red","monitoring","response","qsofa","location", extra...}
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "scores/news2.h"

namespace medlake::scores {

struct News2JsonFields {
  std::string_view patient_id;
  std::string_view encounter_id;  // "" for none
  std::string_view location;      // "" writes null
  const News2Result& news2;
  const QSofaResult& qsofa;
};

// Names of the parameters whose bit is set in `mask` (1 << Parameter), in chart order.
std::vector<std::string> ParameterNames(uint8_t mask);

// One JSON object on one line (no newline). `extra_members` is appended inside the object as
// written: empty, or `"key":value` members separated by commas (no leading comma).
std::string News2Json(const News2JsonFields& fields, std::string_view extra_members = {});

}  // namespace medlake::scores
