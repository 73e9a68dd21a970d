#include "cohort/definition.h"

#include <gtest/gtest.h>

namespace medlake::cohort {
namespace {

std::string ErrorOf(std::string_view json) {
  auto r = ParseCohort(json);
  return r.ok() ? std::string("ok") : r.status().message();
}

TEST(CohortDefinition, ParsesTheDocumentedExample) {
  auto def = ParseCohort(R"({
    "medlake_cohort": 1, "name": "n",
    "codesets": {"t2dm": [{"system": "http://snomed.info/sct", "codes": ["44054006"]},
                          {"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["E11"]}]},
    "index": {"date": "2024-01-01"},
    "inclusion": [
      {"name": "adults", "criterion": {"age": {"min": 40, "max": 75}}},
      {"name": "t2dm", "criterion": {"event": {"type": "Condition", "codeset": "t2dm",
          "select": "first", "window": {"end": {"days": -365, "inclusive": false}}}}},
      {"name": "a1c", "criterion": {"event": {"codes": [{"system": "http://loinc.org", "codes": "4548-4"}],
          "value": [{"op": ">", "value": 7.5, "unit": "%"}, {"op": "<", "value": 20, "unit": "%"}],
          "count": {"min": 2, "max": 5}}}}
    ],
    "exclusion": [{"criterion": {"not": {"any": [{"sex": ["male"]}, {"deceased": true}]}}}]
  })");
  ASSERT_TRUE(def.ok()) << def.status().message();
  EXPECT_EQ(def->index.kind, IndexSpec::Kind::kFixed);
  ASSERT_EQ(def->inclusion.size(), 3u);
  const auto& t2dm = def->inclusion[1].criterion.event;
  EXPECT_EQ(t2dm.codes.size(), 2u);
  EXPECT_EQ(t2dm.codes[1].prefixes, std::vector<std::string>{"E11"});
  EXPECT_EQ(t2dm.select, Select::kFirst);
  EXPECT_FALSE(t2dm.window.end.inclusive);
  EXPECT_FALSE(t2dm.IsCodeSetOnly());
  const auto& a1c = def->inclusion[2].criterion.event;
  EXPECT_EQ(a1c.values.size(), 2u);
  EXPECT_EQ(a1c.count_min, 2u);
  EXPECT_EQ(*a1c.count_max, 5u);
  EXPECT_EQ(def->exclusion[0].name, "exclusion[0]");
  EXPECT_EQ(def->exclusion[0].criterion.kind, Criterion::Kind::kNot);
}

TEST(CohortDefinition, CountDefaults) {
  auto def = ParseCohort(R"({"medlake_cohort": 1, "inclusion": [
      {"criterion": {"event": {"type": "Encounter", "count": {"max": 0}}}},
      {"criterion": {"event": {"type": "Encounter"}}}]})");
  ASSERT_TRUE(def.ok()) << def.status().message();
  EXPECT_EQ(def->inclusion[0].criterion.event.count_min, 0u);
  EXPECT_EQ(*def->inclusion[0].criterion.event.count_max, 0u);
  EXPECT_EQ(def->inclusion[1].criterion.event.count_min, 1u);
  EXPECT_TRUE(def->inclusion[1].criterion.event.IsCodeSetOnly());
}

TEST(CohortDefinition, ErrorsNameThePath) {
  EXPECT_EQ(ErrorOf(R"({"name": "x"})"), "medlake_cohort: missing (the format version, 1)");
  EXPECT_NE(ErrorOf(R"({"medlake_cohort": 2})").find("format version 2 is not supported"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "exclusoin": []})"), "exclusoin: unknown member");
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "inclusion": [{"criterion":
      {"event": {"type": "Observation", "value": {"op": "=>", "value": 1}}}}]})"),
            "inclusion[0].criterion.event.value.op: unknown operator '=>' (expected <, <=, >, >=, "
            "= or !=)");
  // A misspelt type matched nothing: an exclusion on it silently widened the cohort.
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "exclusion": [{"criterion":
      {"event": {"type": ["Condition", "Observaton"]}}}]})"),
            "exclusion[0].criterion.event.type: unknown FHIR R4 resource type \"Observaton\" "
            "(names are case-sensitive)");
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "inclusion": [{"criterion":
      {"event": {"codeset": "nope"}}}]})"),
            "inclusion[0].criterion.event.codeset: no code set named 'nope'");
  EXPECT_EQ(
      ErrorOf(
          R"({"medlake_cohort": 1, "inclusion": [{"criterion": {"age": {"min": 1}, "sex": ["male"]}}]})"),
      "inclusion[0].criterion: a criterion is an object with exactly one member");
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "inclusion": [{"criterion": {"sex": ["f"]}}]})"),
            "inclusion[0].criterion.sex: 'f' is not an R4 administrative gender (male, female, "
            "other, unknown)");
  EXPECT_EQ(
      ErrorOf(R"({"medlake_cohort": 1, "inclusion": [{"criterion":
      {"event": {"type": "Condition", "window": {"start": {"days": 1, "date": "2020"}}}}}]})"),
      "inclusion[0].criterion.event.window.start: needs exactly one of \"days\" and \"date\"");
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "index": {"event": {"type": "Condition",
      "window": {"start": {"days": -1}}}}})"),
            "index.event.window: the index event's window can only use fixed dates");
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "inclusion": [{"criterion":
      {"event": {"type": "Condition", "count": {"min": 3, "max": 2}}}}]})"),
            "inclusion[0].criterion.event.count: max is below min");
  EXPECT_EQ(ErrorOf(R"({"medlake_cohort": 1, "inclusion": [{"criterion": {"event": {}}}]})"),
            "inclusion[0].criterion.event: needs a \"type\", a \"codeset\" or \"codes\"");
  EXPECT_NE(ErrorOf("{not json").find("cohort document"), std::string::npos);
}

TEST(CohortDefinition, WindowBounds) {
  Window w;
  w.start = {true, true, -1, 0, true};
  w.end = {true, true, 0, 0, false};
  const int64_t day = 86'400'000;
  EXPECT_TRUE(w.Contains(10 * day - day, 10 * day));  // start edge, inclusive
  EXPECT_FALSE(w.Contains(10 * day, 10 * day));       // end edge, exclusive
  EXPECT_FALSE(w.Contains(10 * day - day - 1, 10 * day));
  EXPECT_FALSE(w.Contains(INT64_MIN, 10 * day));
}

}  // namespace
}  // namespace medlake::cohort
