// NEWS2 against the RCP 2017 chart 1 (both sides of every threshold), chart 2 bands and
// chart 4 responses; qSOFA; missing and stale parameters.
#include "scores/news2.h"

#include <gtest/gtest.h>

#include <vector>

#include "scores/news2_batch.h"

namespace medlake::scores {
namespace {

struct Case {
  double value;
  int score;
};

TEST(News2Chart, RespirationRate) {
  for (Case c : std::vector<Case>{
           {0, 3}, {8, 3}, {9, 1}, {11, 1}, {12, 0}, {20, 0}, {21, 2}, {24, 2}, {25, 3}, {60, 3}}) {
    EXPECT_EQ(RespirationRateScore(c.value), c.score) << c.value;
  }
}

TEST(News2Chart, SpO2Scale1) {
  for (Case c :
       std::vector<Case>{{50, 3}, {91, 3}, {92, 2}, {93, 2}, {94, 1}, {95, 1}, {96, 0}, {100, 0}}) {
    EXPECT_EQ(SpO2Scale1Score(c.value), c.score) << c.value;
  }
}

TEST(News2Chart, SpO2Scale2OnAir) {
  for (Case c : std::vector<Case>{{70, 3},
                                  {83, 3},
                                  {84, 2},
                                  {85, 2},
                                  {86, 1},
                                  {87, 1},
                                  {88, 0},
                                  {92, 0},
                                  {93, 0},
                                  {96, 0},
                                  {97, 0},
                                  {100, 0}}) {
    EXPECT_EQ(SpO2Scale2Score(c.value, false), c.score) << c.value;
  }
}

TEST(News2Chart, SpO2Scale2OnOxygen) {
  for (Case c : std::vector<Case>{{83, 3},
                                  {84, 2},
                                  {85, 2},
                                  {86, 1},
                                  {87, 1},
                                  {88, 0},
                                  {92, 0},
                                  {93, 1},
                                  {94, 1},
                                  {95, 2},
                                  {96, 2},
                                  {97, 3},
                                  {100, 3}}) {
    EXPECT_EQ(SpO2Scale2Score(c.value, true), c.score) << c.value;
  }
}

TEST(News2Chart, AirOrOxygen) {
  EXPECT_EQ(SupplementalOxygenScore(false), 0);
  EXPECT_EQ(SupplementalOxygenScore(true), 2);
}

TEST(News2Chart, SystolicBp) {
  for (Case c : std::vector<Case>{{60, 3},
                                  {90, 3},
                                  {91, 2},
                                  {100, 2},
                                  {101, 1},
                                  {110, 1},
                                  {111, 0},
                                  {219, 0},
                                  {220, 3},
                                  {260, 3}}) {
    EXPECT_EQ(SystolicBpScore(c.value), c.score) << c.value;
  }
}

TEST(News2Chart, Pulse) {
  for (Case c : std::vector<Case>{{30, 3},
                                  {40, 3},
                                  {41, 1},
                                  {50, 1},
                                  {51, 0},
                                  {90, 0},
                                  {91, 1},
                                  {110, 1},
                                  {111, 2},
                                  {130, 2},
                                  {131, 3},
                                  {180, 3}}) {
    EXPECT_EQ(PulseScore(c.value), c.score) << c.value;
  }
}

TEST(News2Chart, Consciousness) {
  EXPECT_EQ(ConsciousnessScore(Acvpu::kAlert), 0);
  EXPECT_EQ(ConsciousnessScore(Acvpu::kConfusion), 3);
  EXPECT_EQ(ConsciousnessScore(Acvpu::kVoice), 3);
  EXPECT_EQ(ConsciousnessScore(Acvpu::kPain), 3);
  EXPECT_EQ(ConsciousnessScore(Acvpu::kUnresponsive), 3);
}

TEST(News2Chart, Temperature) {
  for (Case c : std::vector<Case>{{33.0, 3},
                                  {35.0, 3},
                                  {35.1, 1},
                                  {36.0, 1},
                                  {36.1, 0},
                                  {38.0, 0},
                                  {38.1, 1},
                                  {39.0, 1},
                                  {39.1, 2},
                                  {41.0, 2}}) {
    EXPECT_EQ(TemperatureScore(c.value), c.score) << c.value;
  }
}

TEST(News2Chart, RealValuesRoundHalfUp) {
  EXPECT_EQ(RespirationRateScore(20.4), 0);
  EXPECT_EQ(RespirationRateScore(20.5), 2);
  EXPECT_EQ(PulseScore(90.49), 0);
  EXPECT_EQ(PulseScore(90.5), 1);
  EXPECT_EQ(TemperatureScore(38.04), 0);
  EXPECT_EQ(TemperatureScore(38.06), 1);
}

TEST(News2Bands, Chart2) {
  EXPECT_EQ(BandFor(0, false), RiskBand::kLow);
  EXPECT_EQ(BandFor(4, false), RiskBand::kLow);
  EXPECT_EQ(BandFor(3, true), RiskBand::kLowMedium);
  EXPECT_EQ(BandFor(4, true), RiskBand::kLowMedium);
  EXPECT_EQ(BandFor(5, false), RiskBand::kMedium);
  EXPECT_EQ(BandFor(5, true), RiskBand::kMedium);
  EXPECT_EQ(BandFor(6, true), RiskBand::kMedium);
  EXPECT_EQ(BandFor(7, false), RiskBand::kHigh);
  EXPECT_EQ(BandFor(20, true), RiskBand::kHigh);
  EXPECT_EQ(BandName(RiskBand::kLowMedium), "low-medium");
}

TEST(News2Bands, Chart4Responses) {
  EXPECT_EQ(ResponseFor(0, false).monitoring, "Minimum 12 hourly");
  EXPECT_EQ(ResponseFor(1, false).monitoring, "Minimum 4-6 hourly");
  EXPECT_EQ(ResponseFor(4, false).monitoring, "Minimum 4-6 hourly");
  EXPECT_EQ(ResponseFor(3, true).monitoring, "Minimum 1 hourly");
  EXPECT_EQ(ResponseFor(5, false).monitoring, "Minimum 1 hourly");
  EXPECT_NE(ResponseFor(5, false).response.find("Urgent response"), std::string_view::npos);
  EXPECT_EQ(ResponseFor(7, false).monitoring, "Continuous monitoring of vital signs");
  EXPECT_NE(ResponseFor(7, true).response.find("Emergency response"), std::string_view::npos);
  // An incomplete set scores a lower bound: below the urgent thresholds it asks for the
  // missing readings, never for routine monitoring; at or above them the response stands.
  for (int partial : {0, 1, 4}) {
    EXPECT_EQ(ResponseFor(partial, false, false).monitoring, "Complete the observation set now");
    EXPECT_EQ(ResponseFor(partial, false, false).response.find("routine"), std::string_view::npos);
  }
  EXPECT_EQ(ResponseFor(3, true, false).monitoring, "Minimum 1 hourly");
  EXPECT_NE(ResponseFor(5, false, false).response.find("Urgent response"), std::string_view::npos);
}

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kT0 = 1'700'000'000'000;

// A full set of normal vitals at `t`.
void AddNormal(PatientVitals& v, int64_t t) {
  v.Add(Parameter::kRespirationRate, t, 16);
  v.Add(Parameter::kSpO2, t, 97);
  v.Add(Parameter::kSupplementalOxygen, t, 0);
  v.Add(Parameter::kSystolicBp, t, 120);
  v.Add(Parameter::kPulse, t, 70);
  v.Add(Parameter::kConsciousness, t, 0);
  v.Add(Parameter::kTemperature, t, 36.8);
}

TEST(News2Vitals, CompleteNormalScoresZero) {
  PatientVitals v;
  AddNormal(v, kT0);
  News2Result r = v.News2(kT0, SpO2Scale::kScale1);
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.aggregate, 0);
  EXPECT_EQ(r.band, RiskBand::kLow);
  for (int8_t s : r.subscores) EXPECT_EQ(s, 0);
}

TEST(News2Vitals, AggregateAndBands) {
  PatientVitals v;
  AddNormal(v, kT0);
  v.Add(Parameter::kRespirationRate, kT0 + 1, 22);  // 2
  v.Add(Parameter::kPulse, kT0 + 1, 115);           // 2
  News2Result r = v.News2(kT0 + 1, SpO2Scale::kScale1);
  EXPECT_EQ(r.aggregate, 4);
  EXPECT_EQ(r.band, RiskBand::kLow);
  v.Add(Parameter::kConsciousness, kT0 + 2, static_cast<double>(Acvpu::kConfusion));  // 3
  r = v.News2(kT0 + 2, SpO2Scale::kScale1);
  EXPECT_EQ(r.aggregate, 7);
  EXPECT_EQ(r.band, RiskBand::kHigh);
  EXPECT_TRUE(r.single_parameter_red);
}

TEST(News2Vitals, SingleRedScoreIsLowMedium) {
  PatientVitals v;
  AddNormal(v, kT0);
  v.Add(Parameter::kSystolicBp, kT0 + 5, 88);  // 3
  News2Result r = v.News2(kT0 + 5, SpO2Scale::kScale1);
  EXPECT_EQ(r.aggregate, 3);
  EXPECT_TRUE(r.single_parameter_red);
  EXPECT_EQ(r.band, RiskBand::kLowMedium);
}

TEST(News2Vitals, OxygenScoresTwoAndMediumBand) {
  PatientVitals v;
  AddNormal(v, kT0);
  v.Add(Parameter::kSupplementalOxygen, kT0 + 1, 2.0);  // 2 L/min
  v.Add(Parameter::kTemperature, kT0 + 1, 39.5);        // 2
  v.Add(Parameter::kRespirationRate, kT0 + 1, 10);      // 1
  News2Result r = v.News2(kT0 + 1, SpO2Scale::kScale1);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kSupplementalOxygen)], 2);
  EXPECT_EQ(r.aggregate, 5);
  EXPECT_EQ(r.band, RiskBand::kMedium);
}

TEST(News2Vitals, Scale2WithAndWithoutOxygen) {
  PatientVitals v;
  AddNormal(v, kT0);
  v.Add(Parameter::kSpO2, kT0, 97);
  // On air, 97 % on scale 2 scores 0 (and 0 on scale 1).
  EXPECT_EQ(v.News2(kT0, SpO2Scale::kScale2).aggregate, 0);
  // On oxygen: 97 % scores 3 on scale 2, plus 2 for oxygen; on scale 1 only the oxygen.
  v.Add(Parameter::kSupplementalOxygen, kT0 + 1, 1);
  News2Result s2 = v.News2(kT0 + 1, SpO2Scale::kScale2);
  EXPECT_EQ(s2.subscores[static_cast<size_t>(Parameter::kSpO2)], 3);
  EXPECT_EQ(s2.aggregate, 5);
  EXPECT_EQ(s2.band, RiskBand::kMedium);
  EXPECT_EQ(v.News2(kT0 + 1, SpO2Scale::kScale1).aggregate, 2);
  // 90 % is on target for scale 2 (0), but scores 3 on scale 1.
  v.Add(Parameter::kSpO2, kT0 + 2, 90);
  EXPECT_EQ(v.News2(kT0 + 2, SpO2Scale::kScale2).subscores[1], 0);
  EXPECT_EQ(v.News2(kT0 + 2, SpO2Scale::kScale1).subscores[1], 3);
}

TEST(News2Vitals, MissingParametersAreReportedNotNormal) {
  PatientVitals v;
  v.Add(Parameter::kRespirationRate, kT0, 26);  // 3
  v.Add(Parameter::kPulse, kT0, 70);
  News2Result r = v.News2(kT0, SpO2Scale::kScale1);
  EXPECT_FALSE(r.complete());
  EXPECT_EQ(r.aggregate, 3);
  uint8_t expected_missing = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6);
  EXPECT_EQ(r.missing_mask, expected_missing);
  EXPECT_EQ(r.stale_mask, 0);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kSpO2)], -1);
}

TEST(News2Vitals, StaleParametersDropOutOfTheWindow) {
  News2Options options;
  options.window_ms.fill(4 * kHour);
  PatientVitals v;
  AddNormal(v, kT0);
  v.Add(Parameter::kPulse, kT0 + 3 * kHour, 135);  // 3
  EXPECT_TRUE(v.News2(kT0 + 4 * kHour, SpO2Scale::kScale1, options).complete());
  News2Result r = v.News2(kT0 + 4 * kHour + 1, SpO2Scale::kScale1, options);
  EXPECT_FALSE(r.complete());
  EXPECT_EQ(r.stale_mask, 0x7F & ~(1 << static_cast<int>(Parameter::kPulse)));
  EXPECT_EQ(r.missing_mask, 0);
  EXPECT_EQ(r.aggregate, 3);
  // Per-parameter windows.
  options.window_ms[static_cast<size_t>(Parameter::kTemperature)] = 24 * kHour;
  r = v.News2(kT0 + 5 * kHour, SpO2Scale::kScale1, options);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kTemperature)], 0);
}

TEST(News2Vitals, ReadingsAfterScoringTimeDoNotCount) {
  PatientVitals v;
  AddNormal(v, kT0);
  News2Result r = v.News2(kT0 - 1, SpO2Scale::kScale1);
  EXPECT_EQ(r.missing_mask, 0x7F);
}

TEST(News2Vitals, OlderReadingDoesNotReplaceNewer) {
  PatientVitals v;
  v.Add(Parameter::kPulse, kT0 + 10, 135);
  v.Add(Parameter::kPulse, kT0, 70);
  EXPECT_EQ(v.News2(kT0 + 10, SpO2Scale::kScale1).subscores[4], 3);
}

TEST(News2Vitals, InvalidValuesRejected) {
  PatientVitals v;
  EXPECT_FALSE(v.Add(Parameter::kPulse, kT0, -1));
  EXPECT_FALSE(v.Add(Parameter::kPulse, kT0, std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(v.Add(Parameter::kConsciousness, kT0, 5));
  EXPECT_FALSE(v.Add(Parameter::kConsciousness, kT0, 1.5));
  EXPECT_FALSE(v.Add(static_cast<Parameter>(9), kT0, 1));
  EXPECT_TRUE(v.Add(Parameter::kConsciousness, kT0, 4));
  // Values no living patient shows (a monitor artefact, a unit mix-up) are not readings: an
  // SpO2 of 185 % scored 0 and took a desaturated patient out of the medium band.
  EXPECT_FALSE(v.Add(Parameter::kSpO2, kT0, 185));
  EXPECT_TRUE(v.Add(Parameter::kSpO2, kT0, 100));
  EXPECT_FALSE(v.Add(Parameter::kRespirationRate, kT0, 160));
  EXPECT_FALSE(v.Add(Parameter::kSystolicBp, kT0, 1200));
  EXPECT_FALSE(v.Add(Parameter::kTemperature, kT0, 98.6));  // °F given as Cel
  EXPECT_FALSE(v.Add(Parameter::kTemperature, kT0, 0.37));
  EXPECT_TRUE(v.Add(Parameter::kTemperature, kT0, 34.5));
}

TEST(QSofa, Criteria) {
  PatientVitals v;
  AddNormal(v, kT0);
  EXPECT_EQ(v.QSofa(kT0).score, 0);
  EXPECT_TRUE(v.QSofa(kT0).complete());
  v.Add(Parameter::kRespirationRate, kT0 + 1, 21);
  v.Add(Parameter::kSystolicBp, kT0 + 1, 101);
  EXPECT_EQ(v.QSofa(kT0 + 1).score, 0);
  v.Add(Parameter::kRespirationRate, kT0 + 2, 22);
  EXPECT_EQ(v.QSofa(kT0 + 2).score, 1);
  v.Add(Parameter::kSystolicBp, kT0 + 3, 100);
  EXPECT_EQ(v.QSofa(kT0 + 3).score, 2);
  EXPECT_TRUE(v.QSofa(kT0 + 3).positive());
  v.Add(Parameter::kConsciousness, kT0 + 4, static_cast<double>(Acvpu::kConfusion));
  EXPECT_EQ(v.QSofa(kT0 + 4).score, 3);
}

TEST(QSofa, MissingInputs) {
  PatientVitals v;
  v.Add(Parameter::kRespirationRate, kT0, 30);
  QSofaResult q = v.QSofa(kT0);
  EXPECT_EQ(q.score, 1);
  EXPECT_FALSE(q.complete());
  EXPECT_EQ(q.missing_mask, (1 << 3) | (1 << 5));
}

}  // namespace
}  // namespace medlake::scores
