// Golden files: six cohorts of the OHDSI Phenotype Library (../shared/data), translated, are
// compared with golden/circe_<id>.reference (the cohort document, then the report) byte for
// byte. After an intended change, regenerate with MEDLAKE_REGENERATE_GOLDEN=1 and review the
// diff of the .reference files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cohort/circe.h"
#include "common/file_util.h"
#include "test_util.h"

namespace medlake::cohort {
namespace {

namespace fs = std::filesystem;

// Inpatient visits; NF1 without NF2 (exclusions); beta-blocker new users (drug entry, First,
// prior observation); T2DM (additional criteria, ATC prefix, CPT4); asthma (entries of several
// shapes, RxNorm Extension); neutropenia (values in several units).
constexpr const char* kCohorts[] = {"23", "305", "1049", "957", "27", "213"};

TEST(CirceGolden, TranslationsMatchReferenceFiles) {
  const std::string dir = "ohdsi-phenotype-cohorts/cohorts";
  if (!testing::HaveSharedData(dir)) GTEST_SKIP() << "no " << testing::SharedData(dir);
  fs::path golden = fs::path(MEDLAKE_SOURCE_DIR) / "tests" / "cohort" / "golden";
  const bool regenerate = std::getenv("MEDLAKE_REGENERATE_GOLDEN") != nullptr;
  for (const char* id : kCohorts) {
    std::string input = testing::SharedData(dir + "/" + id + ".json");
    auto t = TranslateCirce(testing::ReadText(input), std::string("OHDSI cohort ") + id);
    ASSERT_TRUE(t.ok()) << input << ": " << t.status().ToString();
    std::string actual = t->cohort_json + "\n" + FormatCirceReport(*t);
    fs::path reference = golden / (std::string("circe_") + id + ".reference");
    if (regenerate) {
      ASSERT_TRUE(WriteFileAtomic(reference.string(), actual).ok()) << reference;
      continue;
    }
    auto expected = ReadFile(reference.string());
    ASSERT_TRUE(expected.ok()) << reference << " missing: run with MEDLAKE_REGENERATE_GOLDEN=1";
    size_t at = 0;
    while (at < actual.size() && at < expected->size() && actual[at] == (*expected)[at]) ++at;
    if (at == actual.size() && at == expected->size()) continue;
    size_t line = static_cast<size_t>(std::count(actual.begin(), actual.begin() + at, '\n')) + 1;
    ADD_FAILURE() << reference.filename() << " differs at line " << line
                  << "\nIf the change is intended, regenerate with "
                     "MEDLAKE_REGENERATE_GOLDEN=1 and review the diff.";
  }
}

}  // namespace
}  // namespace medlake::cohort
