#include "scores/inpatient_news2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

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

// An inpatient stay in progress whose start the lake never received (an A08 for a stay whose
// admission was not sent) is current from its last update on, not never.
TEST(InpatientNews2Test, AStayInProgressWithoutAStartIsCurrentFromItsLastUpdate) {
  testing::TempDir dir;
  std::string enc =
      R"({"resourceType":"Encounter","id":"e-u","meta":{"lastUpdated":"2024-03-01T09:00:00Z"},)"
      R"("status":"in-progress","class":{"code":"IMP"},"subject":{"reference":"Patient/pu"},)"
      R"("location":[{"location":{"display":"W4 / 7"},"status":"active"}]})"
      "\n"
      // Neither a finished stay without times nor a planned one.
      R"({"resourceType":"Encounter","id":"e-f","status":"finished","class":{"code":"IMP"},"subject":{"reference":"Patient/pf"}})"
      "\n"
      R"({"resourceType":"Encounter","id":"e-p","status":"planned","class":{"code":"IMP"},"subject":{"reference":"Patient/pp"}})"
      "\n";
  std::string obs = Vital("u1", "pu", "9279-1", "2024-03-01T09:30:00Z", Qty(30, "/min")) + "\n" +
                    Vital("f1", "pf", "9279-1", "2024-03-01T09:30:00Z", Qty(30, "/min")) + "\n";
  testing::WriteText(dir / "in/Encounter.ndjson", enc);
  testing::WriteText(dir / "in/Observation.ndjson", obs);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto scores = ScoreInpatients(**lake, At("2024-03-01T10:00:00Z"));
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 1u);
  EXPECT_EQ((*scores)[0].patient_id, "pu");
  EXPECT_EQ((*scores)[0].location, "W4 / 7");
  EXPECT_EQ((*scores)[0].news2.subscores[static_cast<int>(Parameter::kRespirationRate)], 3);
  // Before its last update nothing says the stay had begun.
  auto before = ScoreInpatients(**lake, At("2024-03-01T08:00:00Z"));
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());
}

// A01 without PV1-44 (admit time): the stay starts at EVN-6, so the patient is scored.
TEST(InpatientNews2Test, AnAdmissionWithoutAdmitTimeIsScoredFromItsEvent) {
  testing::TempDir dir;
  testing::WriteText(
      dir / "in/feed.hl7",
      "MSH|^~\\&|ADT|HOSP|LAKE|LAKE|20240301080000||ADT^A01^ADT_A01|N44-1|P|2.5\r"
      "EVN|A01|20240301080000|||||20240301080000\rPID|1||MRN44^^^HOSP^MR||Doe^Jane||19600101|F\r"
      "PV1|1|I|W4^^7^HOSP||||||||||||||||V44\r"
      "MSH|^~\\&|MON|HOSP|LAKE|LAKE|20240301100000||ORU^R01^ORU_R01|N44-2|P|2.5\r"
      "PID|1||MRN44^^^HOSP^MR\rPV1|1|I|W4^^7^HOSP||||||||||||||||V44\r"
      "OBR|1||F44|85353-1^Vital signs^LN|||20240301100000\r"
      "OBX|1|NM|9279-1^RR^LN||30|/min^/min^UCUM|||||F|||20240301100000\r"
      "OBX|2|NM|8480-6^SBP^LN||85|mm[Hg]^mm[Hg]^UCUM|||||F|||20240301100000\r");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto scores = ScoreInpatients(**lake, At("2024-03-01T10:30:00Z"));
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 1u);
  EXPECT_EQ((*scores)[0].location, "W4 / 7");
  EXPECT_EQ((*scores)[0].news2.aggregate, 6);  // RR 30 (3) + SBP 85 (3), partial
  EXPECT_FALSE((*scores)[0].news2.complete());
  auto before = ScoreInpatients(**lake, At("2024-03-01T07:30:00Z"));
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());
}

// After a transfer the bed left is not named: its entry (from an update, A08, that did not say
// since when) has an end and no start, and the end is before the scoring time.
TEST(InpatientNews2Test, ALocationLeftBeforeTheTimeIsNotNamedEvenWithoutAStart) {
  testing::TempDir dir;
  testing::WriteText(
      dir / "in/feed.hl7",
      "MSH|^~\\&|ADT|HOSP|LAKE|LAKE|20240301090000||ADT^A08^ADT_A01|L1|P|2.5\r"
      "EVN|A08|20240301090000\rPID|1||ML^^^HOSP^MR||Doe^J\r"
      "PV1|1|I|W4^12^7^HOSP||||||||||||||||VL|||||||||||||||||||||||||20240301080000\r"
      "MSH|^~\\&|ADT|HOSP|LAKE|LAKE|20240301120000||ADT^A02^ADT_A02|L2|P|2.5\r"
      "EVN|A02|20240301120000||||20240301120000\rPID|1||ML^^^HOSP^MR||Doe^J\r"
      "PV1|1|I|ICU^1^3^HOSP||W4^12^7^HOSP||||||||||||||VL|||||||||||||||||||||||||"
      "20240301080000\r");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto after = ScoreInpatients(**lake, At("2024-03-01T13:00:00Z"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].location, "ICU / 1 / 3");
  auto before = ScoreInpatients(**lake, At("2024-03-01T11:00:00Z"));
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].location, "W4 / 12 / 7");
}

// Open mHealth statistics over a day, stored as FHIR's $stats writes them (the value in a
// component coded with the statistic), are not spot readings: a day's maximum heart rate of
// 150 does not score 3.
TEST(InpatientNews2Test, StatisticsOverAnIntervalAreNotScored) {
  testing::TempDir dir;
  testing::WriteText(
      dir / "in/Encounter.ndjson",
      R"({"resourceType":"Encounter","id":"e6","status":"in-progress","class":{"code":"IMP"},"subject":{"reference":"Patient/P6"},"period":{"start":"2024-02-28T08:00:00Z"}})"
      "\n");
  testing::WriteText(
      dir / "in/readings.ndjson",
      R"({"patient":"P6","header":{"schema_id":{"namespace":"omh","name":"heart-rate","version":"2.0"}},"body":{"heart_rate":{"value":150,"unit":"beats/min"},"effective_time_frame":{"time_interval":{"start_date_time":"2024-03-01T00:00:00Z","end_date_time":"2024-03-02T00:00:00Z"}},"descriptive_statistic":"maximum"}})"
      "\n"
      R"({"patient":"P6","header":{"schema_id":{"namespace":"omh","name":"oxygen-saturation","version":"2.0"}},"body":{"oxygen_saturation":{"value":88,"unit":"%"},"effective_time_frame":{"time_interval":{"start_date_time":"2024-03-01T00:00:00Z","end_date_time":"2024-03-02T00:00:00Z"}},"descriptive_statistic":"minimum"}})"
      "\n");
  auto run = ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->counters.stored, 3u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto scores = ScoreInpatients(**lake, At("2024-03-01T10:00:00Z"));
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 1u);
  EXPECT_EQ((*scores)[0].news2.aggregate, 0);
  EXPECT_EQ((*scores)[0].news2.subscores[static_cast<int>(Parameter::kPulse)], -1);
  EXPECT_EQ((*scores)[0].news2.subscores[static_cast<int>(Parameter::kSpO2)], -1);
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

std::string Inpatient(const std::string& patient, const std::string& status = "in-progress",
                      const std::string& end = "") {
  return R"({"resourceType":"Encounter","id":"e-)" + patient + R"(","status":")" + status +
         R"(","class":{"code":"IMP"},"subject":{"reference":"Patient/)" + patient +
         R"("},"period":{"start":"2024-01-01T08:00:00Z")" +
         (end.empty() ? "" : R"(,"end":")" + end + "\"") + "}}\n";
}

std::string Diagnosis(const std::string& id, const std::string& patient, const std::string& system,
                      const std::string& code, const std::string& extra) {
  return R"({"resourceType":"Condition","id":")" + id + R"(","subject":{"reference":"Patient/)" +
         patient + R"("},"code":{"coding":[{"system":")" + system + R"(","code":")" + code +
         R"("}]})" + extra + "}\n";
}

// RCP NEWS2 (2017): SpO2 scale 2 only "in patients with confirmed hypercapnic respiratory
// failure". A refuted, provisional or differential diagnosis, or one recorded after the
// scoring time, left SpO2 88 % on air at 0 (scale 2) instead of 3; ICD-10-GM's hypercapnic
// codes (5th digit 1) were not known. A finished stay without an end is no current stay.
TEST(InpatientNews2Test, ScaleTwoNeedsAConfirmedDiagnosisKnownAtTheTime) {
  testing::TempDir dir;
  const std::string cm = "http://hl7.org/fhir/sid/icd-10-cm";
  const std::string gm = "http://fhir.de/CodeSystem/bfarm/icd-10-gm";
  auto verification = [](const char* code) {
    return std::string(
               R"(,"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":")") +
           code + R"("}]})";
  };
  std::string enc, cond, obs;
  struct Case {
    const char* patient;
    std::string condition;
    int spo2_subscore;
  };
  std::vector<Case> cases = {
      {"confirmed", Diagnosis("c1", "confirmed", cm, "J96.12", verification("confirmed")), 0},
      {"unstated", Diagnosis("c2", "unstated", cm, "J96.12", ""), 0},
      {"gm", Diagnosis("c3", "gm", gm, "J96.11", ""), 0},
      {"refuted", Diagnosis("c4", "refuted", cm, "J96.12", verification("refuted")), 3},
      {"differential", Diagnosis("c5", "differential", cm, "J96.12", verification("differential")),
       3},
      {"later",
       Diagnosis("c6", "later", cm, "J96.12", R"(,"onsetDateTime":"2024-01-05T00:00:00Z")"), 3},
      {"gm-hypoxic", Diagnosis("c7", "gm-hypoxic", gm, "J96.10", ""), 3},
  };
  for (const Case& c : cases) {
    enc += Inpatient(c.patient);
    cond += c.condition;
    obs += Vital(std::string("s-") + c.patient, c.patient, "59408-5", "2024-01-01T10:00:00Z",
                 Qty(88, "%")) +
           "\n";
  }
  enc += Inpatient("gone", "finished");  // discharged, end not recorded
  testing::WriteText(dir / "in/Encounter.ndjson", enc);
  testing::WriteText(dir / "in/Condition.ndjson", cond);
  testing::WriteText(dir / "in/Observation.ndjson", obs);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto scores = ScoreInpatients(**lake, At("2024-01-01T11:00:00Z"));
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), cases.size()) << "the finished stay is not current";
  for (const Case& c : cases) {
    auto it = std::find_if(scores->begin(), scores->end(),
                           [&](const InpatientScore& s) { return s.patient_id == c.patient; });
    ASSERT_NE(it, scores->end()) << c.patient;
    EXPECT_EQ(it->news2.subscores[static_cast<int>(Parameter::kSpO2)], c.spo2_subscore)
        << c.patient;
  }
}

// The systolic component of a BP panel in kPa was scored as if in mm[Hg]: 16 kPa (120 mm[Hg],
// 0 points) scored 3.
TEST(InpatientNews2Test, PanelComponentsAreReadInTheirUnit) {
  testing::TempDir dir;
  std::string obs = Vital(
      "bp", "k1", "85354-9", "2024-01-01T10:00:00Z",
      R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":16,"system":"http://unitsofmeasure.org","code":"kPa"}}])");
  testing::WriteText(dir / "in/Encounter.ndjson", Inpatient("k1"));
  testing::WriteText(dir / "in/Observation.ndjson", obs + "\n");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto scores = ScoreInpatients(**lake, At("2024-01-01T11:00:00Z"));
  ASSERT_TRUE(scores.ok());
  ASSERT_EQ(scores->size(), 1u);
  EXPECT_EQ((*scores)[0].news2.subscores[static_cast<int>(Parameter::kSystolicBp)], 0);
  EXPECT_TRUE((*scores)[0].news2.subscores[static_cast<int>(Parameter::kSystolicBp)] >= 0);
}

}  // namespace
}  // namespace medlake::scores
