#include "scores/inpatient_news2.h"

#include <gtest/gtest.h>

#include "common/fhir_time.h"
#include "ingest/ingest.h"
#include "test_util.h"

namespace medlake::scores {
namespace {

std::string Vital(const std::string& id, const std::string& patient, const std::string& loinc,
                  const std::string& time, const std::string& value_json) {
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final",)"
         R"("code":{"coding":[{"system":"http://loinc.org","code":")" +
         loinc +
         R"("}]},)"
         R"("subject":{"reference":"Patient/)" +
         patient + R"("},"effectiveDateTime":")" + time + R"(",)" + value_json + "}";
}

std::string Qty(double v, const std::string& unit) {
  return R"("valueQuantity":{"value":)" + std::to_string(v) +
         R"(,"system":"http://unitsofmeasure.org","code":")" + unit + R"("})";
}

int64_t At(const char* t) {
  return ParseFhirTime(t)->start;
}

TEST(InpatientNews2Test, ScoresCurrentInpatientsFromTheirLatestVitals) {
  testing::TempDir dir;
  std::string enc =
      R"({"resourceType":"Encounter","id":"e1","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},)"
      R"("subject":{"reference":"Patient/p1"},"period":{"start":"2024-03-01T08:00:00Z"},)"
      R"("location":[{"location":{"reference":"Location/w1"},"period":{"start":"2024-03-01T08:00:00Z","end":"2024-03-01T10:00:00Z"}},)"
      R"({"location":{"reference":"Location/b7"},"period":{"start":"2024-03-01T10:00:00Z"}}]})"
      "\n"
      // An outpatient visit and a finished stay: not current inpatients.
      R"({"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"},"period":{"start":"2024-03-01T08:00:00Z","end":"2024-03-01T09:00:00Z"}})"
      "\n"
      R"({"resourceType":"Encounter","id":"e3","status":"finished","class":{"code":"IMP"},"subject":{"reference":"Patient/p3"},"period":{"start":"2024-02-01T08:00:00Z","end":"2024-02-03T09:00:00Z"}})"
      "\n";
  std::string loc = R"({"resourceType":"Location","id":"w1","name":"Ward 4"})"
                    "\n"
                    R"({"resourceType":"Location","id":"b7","name":"Ward 5 bed 7"})"
                    "\n";
  // Latest values at 12:00: RR 22 (2), SpO2 95 (1), on oxygen (2), SBP 105 (1), HR 95 (1),
  // new confusion (3), T 38.5 (1) = 11, high band. An older, normal RR reading is superseded,
  // and a reading after 12:00 is ignored.
  std::string obs =
      Vital("o1", "p1", "9279-1", "2024-03-01T09:00:00Z", Qty(16, "/min")) + "\n" +
      Vital("o2", "p1", "9279-1", "2024-03-01T11:00:00Z", Qty(22, "/min")) + "\n" +
      Vital("o3", "p1", "59408-5", "2024-03-01T11:00:00Z", Qty(95, "%")) + "\n" +
      Vital("o4", "p1", "3150-0", "2024-03-01T11:00:00Z", Qty(28, "%")) + "\n" +
      Vital(
          "o5", "p1", "85354-9", "2024-03-01T11:00:00Z",
          R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":105,"code":"mm[Hg]"}},)"
          R"({"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":60,"code":"mm[Hg]"}}])") +
      "\n" + Vital("o6", "p1", "8867-4", "2024-03-01T11:00:00Z", Qty(95, "/min")) + "\n" +
      Vital(
          "o7", "p1", "67775-7", "2024-03-01T11:00:00Z",
          R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"130987000"}]})") +
      "\n" + Vital("o8", "p1", "8310-5", "2024-03-01T11:00:00Z", Qty(38.5, "Cel")) + "\n" +
      Vital("o9", "p1", "8867-4", "2024-03-01T13:00:00Z", Qty(140, "/min")) + "\n";
  testing::WriteText(dir / "in/Encounter.ndjson", enc);
  testing::WriteText(dir / "in/Location.ndjson", loc);
  testing::WriteText(dir / "in/Observation.ndjson", obs);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());

  auto scores = ScoreInpatients(**lake, At("2024-03-01T12:00:00Z"));
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 1u);
  const InpatientScore& s = (*scores)[0];
  EXPECT_EQ(s.patient_id, "p1");
  EXPECT_EQ(s.encounter_id, "e1");
  EXPECT_EQ(s.location, "Ward 5 bed 7");
  EXPECT_TRUE(s.news2.complete());
  EXPECT_EQ(s.news2.aggregate, 11);
  EXPECT_EQ(s.news2.band, RiskBand::kHigh);
  EXPECT_EQ(s.news2.subscores[static_cast<int>(Parameter::kConsciousness)], 3);
  EXPECT_EQ(s.qsofa.score, 2);  // RR >= 22 and altered mentation; SBP 105 > 100

  // At 09:30 only the first RR reading exists: the rest is missing, never scored as normal.
  auto early = ScoreInpatients(**lake, At("2024-03-01T09:30:00Z"));
  ASSERT_TRUE(early.ok());
  ASSERT_EQ(early->size(), 1u);
  EXPECT_FALSE((*early)[0].news2.complete());
  EXPECT_EQ((*early)[0].location, "Ward 4");
  EXPECT_NE((*early)[0].news2.missing_mask, 0);

  // Two days later the 11:00 readings are stale under a 12 h window.
  auto later = ScoreInpatients(**lake, At("2024-03-03T12:00:00Z"));
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 1u);
  EXPECT_NE((*later)[0].news2.stale_mask, 0);
}

// A result with a comparator ("<91 mm[Hg]") is a bound, not a reading: the systolic pressure
// is missing, whether it comes alone or as the component of a BP panel (the panel's was scored
// as exactly 91), and the score says it is incomplete rather than inventing a subscore.
TEST(InpatientNews2Test, AResultWithAComparatorIsNoReading) {
  testing::TempDir dir;
  std::string enc;
  for (const char* p : {"b1", "b2"}) {
    enc += std::string(R"({"resourceType":"Encounter","id":"e-)") + p +
           R"(","status":"in-progress","class":{"code":"IMP"},"subject":{"reference":"Patient/)" +
           p + R"("},"period":{"start":"2024-01-01T08:00:00Z"}})" + "\n";
  }
  const std::string bound = R"({"comparator":"<","value":91,"code":"mm[Hg]"})";
  std::string obs =
      Vital("s1", "b1", "85354-9", "2024-01-01T10:00:00Z",
            R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},)"
            R"("valueQuantity":)" +
                bound + "}]") +
      "\n" + Vital("s2", "b2", "8480-6", "2024-01-01T10:00:00Z", R"("valueQuantity":)" + bound) +
      "\n";
  testing::WriteText(dir / "in/Encounter.ndjson", enc);
  testing::WriteText(dir / "in/Observation.ndjson", obs);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto scores = ScoreInpatients(**lake, At("2024-01-01T11:00:00Z"));
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 2u);
  for (const InpatientScore& s : *scores) {
    EXPECT_NE(s.news2.missing_mask & (1 << static_cast<int>(Parameter::kSystolicBp)), 0)
        << s.patient_id;
  }
}

}  // namespace
}  // namespace medlake::scores
