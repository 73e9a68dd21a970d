// The 100 Synthea patients of ../shared/data: every record accounted for, per-type counts exact,
// every reference inside a patient's resources resolved.
#include <gtest/gtest.h>

#include <set>

#include "ingest/ingest.h"
#include "json/json.h"
#include "json_references.h"
#include "medlake/lake.h"
#include "test_util.h"

namespace medlake::ingest {
namespace {

using testing::TempDir;

using testing::CollectReferences;

// Parsed whole (each Bundle is under IngestOptions::streamed_document_bytes), and read an
// entry at a time (FhirReader::ReadJsonStreamed).
class SyntheaLoadTest : public ::testing::TestWithParam<bool> {};

TEST_P(SyntheaLoadTest, HundredPatientsLoadExactly) {
  if (!testing::HaveSharedData("synthea-r4-dev-100"))
    GTEST_SKIP() << "../shared/data/synthea-r4-dev-100 not present";
  TempDir dir;
  IngestOptions options;
  options.jobs = 2;
  if (GetParam()) options.streamed_document_bytes = 0;
  auto r = Ingest(dir / "lake", {testing::SharedData("synthea-r4-dev-100")}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& c = r->counters;
  EXPECT_EQ(c.records_read, 38971u);  // 38,970 bundle entries and one Group
  EXPECT_EQ(c.stored, 38473u);        // 249 Organizations and 249 Practitioners repeat
  EXPECT_EQ(c.duplicates, 498u);
  EXPECT_EQ(c.quarantined, 0u);
  EXPECT_EQ(r->unresolved_references, 0u);
  EXPECT_EQ(r->skipped.size(), 2u);  // LICENSE, SOURCE.md

  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto s = (*lake)->Status();
  ASSERT_TRUE(s.ok());
  const std::map<std::string, uint64_t> expected = {{"AllergyIntolerance", 38},
                                                    {"CarePlan", 278},
                                                    {"CareTeam", 278},
                                                    {"Claim", 6083},
                                                    {"Condition", 639},
                                                    {"Device", 4},
                                                    {"DiagnosticReport", 897},
                                                    {"Encounter", 3697},
                                                    {"ExplanationOfBenefit", 3697},
                                                    {"Group", 1},
                                                    {"ImagingStudy", 16},
                                                    {"Immunization", 1287},
                                                    {"MedicationRequest", 2386},
                                                    {"Observation", 16315},
                                                    {"Organization", 203},
                                                    {"Patient", 100},
                                                    {"Practitioner", 203},
                                                    {"Procedure", 2351}};
  EXPECT_EQ(s->resources, expected);
  EXPECT_EQ(s->patients, 100u);
  EXPECT_EQ(s->total_resources, 38473u);

  // Every reference of every patient-compartment resource names a stored resource.
  std::set<std::string> stored;
  std::vector<std::pair<uint32_t, std::string>> rows;
  ASSERT_TRUE((*lake)
                  ->Scan(
                      "",
                      [&](const ResourceView& v) {
                        stored.insert(std::string(v.type) + "/" + std::string(v.id));
                        if (v.patient != 0xFFFFFFFFu)
                          rows.emplace_back(v.patient, std::string(v.json));
                      },
                      nullptr)
                  .ok());
  EXPECT_EQ(stored.size(), 38473u);
  size_t checked = 0, unresolved = 0;
  json::Parser parser;
  for (const auto& [patient, text] : rows) {
    auto node = parser.Parse(text);
    ASSERT_TRUE(node.ok());
    std::vector<std::string> refs;
    CollectReferences(*node, refs);
    for (const auto& ref : refs) {
      if (ref.starts_with("#")) continue;  // contained resources
      ++checked;
      if (!stored.count(ref)) ++unresolved;
    }
  }
  EXPECT_GT(checked, 100000u);
  EXPECT_EQ(unresolved, 0u);
  // All but Organizations, Practitioners, the Group and the 4 Devices (outside the R4 Patient
  // compartment).
  EXPECT_EQ(rows.size(), 38473u - 203 - 203 - 1 - 4);
}

INSTANTIATE_TEST_SUITE_P(BundlesParsedWholeOrStreamed, SyntheaLoadTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Streamed" : "Whole"; });

TEST(SyntheaTest, SpecificationExamplesIngest) {
  if (!testing::HaveSharedData("fhir-r4-spec-examples"))
    GTEST_SKIP() << "../shared/data/fhir-r4-spec-examples not present";
  TempDir dir;
  auto r = Ingest(dir / "lake", {testing::SharedData("fhir-r4-spec-examples")}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& c = r->counters;
  EXPECT_EQ(c.files, 72u);  // the JSON examples; the 10 XML ones are listed as skipped
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined + c.deleted);
  // The only rejection: the Parameters example has no id and nothing implies one (Parameters
  // is an operation payload, not a stored resource).
  EXPECT_EQ(c.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  auto q = (*lake)->Quarantine(10);
  ASSERT_EQ(q->size(), 1u);
  EXPECT_TRUE((*q)[0].source.ends_with("parameters-example.json"));
  EXPECT_EQ((*q)[0].reason, "missing id");
  EXPECT_GE((*lake)->Status()->resources.size(), 60u);
}

}  // namespace
}  // namespace medlake::ingest
