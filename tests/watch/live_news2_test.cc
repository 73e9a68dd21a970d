// LiveNews2 and the RiskAssessment of an alert, without any I/O. Bands and sub-scores are
// those of RCP NEWS2 2017, chart 1 and chart 2.
#include "watch/live_news2.h"

#include <gtest/gtest.h>

#include "json/json.h"
#include "watch/risk_assessment.h"

namespace medlake::watch {
namespace {

using scores::Parameter;
using scores::RiskBand;

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kMinute = 60'000;

// Adds readings for one patient at `t` and evaluates; returns the alerts.
std::vector<Alert> Step(LiveNews2& live, const std::string& patient, int64_t t,
                        std::initializer_list<std::pair<Parameter, double>> readings) {
  for (auto [p, v] : readings) {
    EXPECT_TRUE(live.Add(patient, p, t, v,
                         "obs-" + std::to_string(t) + "-" + std::to_string(static_cast<int>(p))));
  }
  std::vector<Alert> alerts;
  live.Evaluate(alerts);
  return alerts;
}

TEST(LiveNews2Test, AlertsOnlyWhenEnteringAHigherBand) {
  LiveNews2 live;
  // All normal (oxygen and consciousness not recorded: a partial score of 0, band low).
  auto a = Step(live, "p1", kT0,
                {{Parameter::kRespirationRate, 16},
                 {Parameter::kSpO2, 97},
                 {Parameter::kPulse, 80},
                 {Parameter::kTemperature, 37.0},
                 {Parameter::kSystolicBp, 120}});
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(live.band("p1"), RiskBand::kLow);

  // Respiration 25 scores 3: single-parameter red, aggregate 3 -> low-medium.
  a = Step(live, "p1", kT0 + kMinute, {{Parameter::kRespirationRate, 25}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.band, RiskBand::kLowMedium);
  EXPECT_EQ(a[0].previous_band, RiskBand::kLow);
  EXPECT_TRUE(a[0].news2.single_parameter_red);
  EXPECT_EQ(a[0].news2.aggregate, 3);
  EXPECT_FALSE(a[0].news2.complete());
  EXPECT_EQ(a[0].reading_ms, kT0 + kMinute);
  EXPECT_EQ(a[0].basis.size(), 5u);

  // Band stays: no alert.
  EXPECT_TRUE(Step(live, "p1", kT0 + 2 * kMinute, {{Parameter::kPulse, 85}}).empty());
  // SpO2 93 scores 2: aggregate 5 -> medium.
  a = Step(live, "p1", kT0 + 3 * kMinute, {{Parameter::kSpO2, 93}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.band, RiskBand::kMedium);
  EXPECT_EQ(a[0].previous_band, RiskBand::kLowMedium);
  // Pulse 120 scores 2: aggregate 7 -> high.
  a = Step(live, "p1", kT0 + 4 * kMinute, {{Parameter::kPulse, 120}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.band, RiskBand::kHigh);
  EXPECT_EQ(a[0].news2.aggregate, 7);
  // Drop to low (respiration 16: aggregate 4): no alert; rising again alerts from low.
  EXPECT_TRUE(Step(live, "p1", kT0 + 5 * kMinute, {{Parameter::kRespirationRate, 16}}).empty());
  EXPECT_EQ(live.band("p1"), RiskBand::kLow);
  a = Step(live, "p1", kT0 + 6 * kMinute, {{Parameter::kRespirationRate, 26}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.band, RiskBand::kHigh);
  EXPECT_EQ(a[0].previous_band, RiskBand::kLow);
}

TEST(LiveNews2Test, ReadingsOfOneMessageAreScoredTogether) {
  LiveNews2 live;
  // Low to high in one step: one alert, not one per reading.
  auto a =
      Step(live, "p1", kT0,
           {{Parameter::kRespirationRate, 26}, {Parameter::kPulse, 135}, {Parameter::kSpO2, 90}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.band, RiskBand::kHigh);
  EXPECT_FALSE(a[0].previous_band.has_value());  // first score of this patient
}

TEST(LiveNews2Test, StaleParametersAreNotScored) {
  scores::News2Options options;
  options.window_ms.fill(60 * kMinute);  // one hour
  LiveNews2 live(options);
  auto a = Step(live, "p2", kT0, {{Parameter::kRespirationRate, 30}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.band, RiskBand::kLowMedium);
  // Two hours later the respiration rate is stale: it is reported, not scored, and not taken
  // as normal (the score is partial).
  a = Step(live, "p2", kT0 + 120 * kMinute, {{Parameter::kPulse, 80}});
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(live.band("p2"), RiskBand::kLow);
  a = Step(live, "p2", kT0 + 121 * kMinute, {{Parameter::kPulse, 135}});
  ASSERT_EQ(a.size(), 1u);
  const auto& n = a[0].news2;
  EXPECT_EQ(n.band, RiskBand::kLowMedium);
  EXPECT_EQ(n.aggregate, 3);
  EXPECT_EQ(n.subscores[static_cast<size_t>(Parameter::kRespirationRate)], -1);
  EXPECT_TRUE(n.stale_mask & (1u << static_cast<int>(Parameter::kRespirationRate)));
  EXPECT_TRUE(n.missing_mask & (1u << static_cast<int>(Parameter::kSpO2)));
  EXPECT_FALSE(n.complete());
  ASSERT_EQ(a[0].basis.size(), 1u);  // only the pulse was scored
}

TEST(LiveNews2Test, OlderReadingDoesNotReplaceANewerOne) {
  LiveNews2 live;
  EXPECT_TRUE(Step(live, "p3", kT0 + kMinute, {{Parameter::kRespirationRate, 16}}).empty());
  EXPECT_TRUE(Step(live, "p3", kT0, {{Parameter::kRespirationRate, 30}}).empty());
  EXPECT_EQ(live.band("p3"), RiskBand::kLow);
  EXPECT_FALSE(live.Add("p3", Parameter::kPulse, kT0, -5, "bad"));
}

// An Observation entered in error takes its values back: the value it had replaced counts
// again (RR 16 entered in error after RR 30: the patient's RR is 30, and the next reading
// raises the medium alert that `score news2` over the lake gives).
TEST(LiveNews2Test, AnObservationEnteredInErrorGivesBackTheValueItReplaced) {
  LiveNews2 live;
  auto a = Step(live, "p5", kT0,
                {{Parameter::kRespirationRate, 30},
                 {Parameter::kSpO2, 96},
                 {Parameter::kSupplementalOxygen, 0},
                 {Parameter::kSystolicBp, 120},
                 {Parameter::kPulse, 80},
                 {Parameter::kConsciousness, 0},
                 {Parameter::kTemperature, 37.0}});
  ASSERT_EQ(a.size(), 1u);  // RR 30 scores 3: low-medium
  EXPECT_TRUE(live.Add("p5", Parameter::kRespirationRate, kT0 + kMinute, 16, "rr-16"));
  std::vector<Alert> none;
  live.Evaluate(none);
  EXPECT_EQ(live.band("p5"), RiskBand::kLow);
  EXPECT_TRUE(live.Retract("p5", "rr-16"));
  EXPECT_FALSE(live.Retract("p5", "rr-16"));
  live.Evaluate(none);
  EXPECT_EQ(live.band("p5"), RiskBand::kLowMedium);                   // RR 30 again
  a = Step(live, "p5", kT0 + 2 * kMinute, {{Parameter::kSpO2, 92}});  // +2: 5, medium
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.aggregate, 5);
  EXPECT_EQ(a[0].news2.band, RiskBand::kMedium);
}

// A patient loaded from the lake is scored at its latest reading's time, as every patient:
// readings replayed from the past were scored (and their RiskAssessments timed) at the time
// watch started, so two alerts got the same RiskAssessment id and one overwrote the other.
TEST(LiveNews2Test, ASeededPatientIsScoredAtItsReadingsTime) {
  LiveNews2 live;
  scores::PatientVitals v;
  v.Add(Parameter::kPulse, kT0, 80);
  live.Seed("p6", v, scores::SpO2Scale::kScale1, kT0 + 60 * kMinute, "", "");
  auto a = Step(live, "p6", kT0 + kMinute, {{Parameter::kRespirationRate, 30}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.at_ms, kT0 + kMinute);
}

// A loaded patient without stored readings is scored at its readings' time too (it was
// scored at the time watch started); the end of an earlier stay (an A08 correcting it) does
// not clear the current one.
TEST(LiveNews2Test, AnEmptySeedIsScoredAtItsReadingsAndOnlyTheCurrentStayEnds) {
  LiveNews2 live;
  live.Seed("p7", scores::PatientVitals(), scores::SpO2Scale::kScale1, kT0 + 60 * kMinute, "e20",
            "Ward 2");
  live.EndStay("p7", "e19");
  auto a = Step(live, "p7", kT0, {{Parameter::kRespirationRate, 30}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.at_ms, kT0);
  EXPECT_EQ(a[0].encounter_id, "e20");
  live.EndStay("p7", "e20");
  a = Step(live, "p7", kT0 + kMinute, {{Parameter::kPulse, 135}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].encounter_id, "");
}

TEST(LiveNews2Test, SeededBandIsTheReference) {
  LiveNews2 live;
  scores::PatientVitals v;
  v.Add(Parameter::kRespirationRate, kT0, 26);  // 3: low-medium
  live.Seed("p4", v, scores::SpO2Scale::kScale1, kT0, "enc-1", "Ward 5 / Bed 2");
  EXPECT_EQ(live.band("p4"), RiskBand::kLowMedium);
  // A reading older than the stored one changes nothing, and is not cited as a basis.
  EXPECT_TRUE(Step(live, "p4", kT0 - kMinute, {{Parameter::kRespirationRate, 16}}).empty());
  EXPECT_EQ(live.band("p4"), RiskBand::kLowMedium);
  EXPECT_TRUE(Step(live, "p4", kT0 + kMinute, {{Parameter::kPulse, 80}}).empty());
  auto a = Step(live, "p4", kT0 + 2 * kMinute, {{Parameter::kPulse, 115}, {Parameter::kSpO2, 95}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].news2.aggregate, 6);  // 3 + 2 + 1
  EXPECT_EQ(a[0].news2.band, RiskBand::kMedium);
  EXPECT_EQ(a[0].previous_band, RiskBand::kLowMedium);
  EXPECT_EQ(a[0].basis.size(), 2u);  // pulse and SpO2; the stored respiration rate has no id
  EXPECT_EQ(a[0].encounter_id, "enc-1");
  EXPECT_EQ(a[0].location, "Ward 5 / Bed 2");
}

TEST(RiskAssessmentTest, IsAValidR4RiskAssessment) {
  Alert a;
  a.patient_id = "p1";
  a.encounter_id = "enc-1";
  a.news2.at_ms = kT0;
  a.news2.aggregate = 7;
  a.news2.band = RiskBand::kHigh;
  a.news2.subscores = {3, 2, -1, 0, 2, -1, 0};
  a.news2.missing_mask = (1u << 2) | (1u << 5);
  a.basis = {"obs-1", "obs-2"};
  std::string text = RiskAssessmentJson(a);
  json::Parser parser;
  auto node = parser.Parse(text);
  ASSERT_TRUE(node.ok()) << text;
  EXPECT_EQ(node->Find("resourceType")->GetString(), "RiskAssessment");
  EXPECT_EQ(node->Find("status")->GetString(), "final");
  EXPECT_EQ(node->Find("subject")->Find("reference")->GetString(), "Patient/p1");
  EXPECT_EQ(node->Find("encounter")->Find("reference")->GetString(), "Encounter/enc-1");
  EXPECT_EQ(node->Find("occurrenceDateTime")->GetString(), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(node->Find("basis")->Size(), 2u);
  auto prediction = node->Find("prediction");
  ASSERT_TRUE(prediction && prediction->Size() == 1);
  std::string qualitative;
  prediction->ForEachItem([&](json::Node p) {
    p.Find("qualitativeRisk")->Find("coding")->ForEachItem([&](json::Node c) {
      qualitative = std::string(c.Find("code")->GetString());
      return true;
    });
    EXPECT_NE(p.Find("rationale")->GetString().find("supplemental_oxygen, consciousness missing"),
              std::string::npos);
    return true;
  });
  EXPECT_EQ(qualitative, "high");
  EXPECT_NE(node->Find("method")->Find("text")->GetString().find("NEWS2"), std::string::npos);
  // Same alert, same id (a replay replaces its RiskAssessment).
  EXPECT_EQ(RiskAssessmentJson(a), text);
}

}  // namespace
}  // namespace medlake::watch
