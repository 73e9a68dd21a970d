// Fuzz target: the Circe importer on arbitrary bytes. Whatever it accepts must come out as a
// cohort document that the cohort parser accepts, with a path and a reason for every issue.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cohort/circe.h"
#include "cohort/definition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = medlake::cohort::TranslateCirce(text, "fuzz");
  if (!t.ok()) {
    if (t.status().message().empty()) std::abort();
    return 0;
  }
  if (!medlake::cohort::ParseCohort(t->cohort_json).ok()) std::abort();
  for (const auto* issues : {&t->unsupported, &t->approximations}) {
    for (const auto& issue : *issues) {
      if (issue.path.empty() || issue.reason.empty()) std::abort();
    }
  }
  if (medlake::cohort::FormatCirceReport(*t).empty()) std::abort();
  return 0;
}
