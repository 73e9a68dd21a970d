// Batch NEWS2: ScoreAt and ScoreTimeline against the per-patient PatientVitals reference.
#include "scores/news2_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace medlake::scores {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0 = 1'700'000'000'000;

Reading R(uint32_t patient, int64_t t, Parameter p, double v) {
  return {patient, t, p, v};
}

TEST(ScoreAt, TakesMostRecentReadingAtOrBeforeTime) {
  std::vector<Reading> readings = {
      R(0, kT0, Parameter::kPulse, 70),
      R(0, kT0 + 10 * kMinute, Parameter::kPulse, 135),  // after `at`: ignored
      R(0, kT0 - kMinute, Parameter::kPulse, 45),        // older: ignored
      R(2, kT0, Parameter::kRespirationRate, 26),
  };
  auto result = ScoreAt(readings, kT0 + kMinute);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->patients.size(), 2u);
  EXPECT_EQ(result->patients[0].patient, 0u);
  EXPECT_EQ(result->patients[0].news2.subscores[4], 0);
  EXPECT_FALSE(result->patients[0].news2.complete());
  EXPECT_EQ(result->patients[1].patient, 2u);
  EXPECT_EQ(result->patients[1].news2.aggregate, 3);
  EXPECT_EQ(result->patients[1].news2.band, RiskBand::kLowMedium);
}

TEST(ScoreAt, UsesScalePerPatientAndCountsSkipped) {
  std::vector<Reading> readings = {R(0, kT0, Parameter::kSpO2, 90),
                                   R(0, kT0, Parameter::kPulse, -3),
                                   R(1, kT0, Parameter::kSpO2, 90)};
  std::vector<SpO2Scale> scales = {SpO2Scale::kScale1, SpO2Scale::kScale2};
  auto result = ScoreAt(readings, kT0, scales);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->skipped_readings, 1u);
  EXPECT_EQ(result->patients[0].news2.subscores[1], 3);
  EXPECT_EQ(result->patients[1].news2.subscores[1], 0);
}

TEST(ScoreAt, RejectsUngroupedInput) {
  std::vector<Reading> readings = {R(1, kT0, Parameter::kPulse, 70),
                                   R(0, kT0, Parameter::kPulse, 70)};
  auto result = ScoreAt(readings, kT0);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
}

TEST(ScoreAt, EmptyInput) {
  auto result = ScoreAt({}, kT0);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->patients.empty());
}

std::vector<Reading> RandomReadings(size_t patients, size_t per_patient, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> param(0, 6);
  std::uniform_int_distribution<int> gap(0, 90);
  std::vector<Reading> out;
  for (uint32_t p = 0; p < patients; ++p) {
    int64_t t = kT0;
    for (size_t i = 0; i < per_patient; ++i) {
      t += gap(rng) * kMinute;
      Parameter par = static_cast<Parameter>(param(rng));
      double v = 0;
      switch (par) {
        case Parameter::kRespirationRate:
          v = std::uniform_int_distribution<int>(5, 30)(rng);
          break;
        case Parameter::kSpO2:
          v = std::uniform_int_distribution<int>(80, 100)(rng);
          break;
        case Parameter::kSupplementalOxygen:
          v = std::uniform_int_distribution<int>(0, 1)(rng);
          break;
        case Parameter::kSystolicBp:
          v = std::uniform_int_distribution<int>(80, 230)(rng);
          break;
        case Parameter::kPulse:
          v = std::uniform_int_distribution<int>(35, 140)(rng);
          break;
        case Parameter::kConsciousness:
          v = std::uniform_int_distribution<int>(0, 4)(rng);
          break;
        case Parameter::kTemperature:
          v = std::uniform_int_distribution<int>(340, 400)(rng) / 10.0;
          break;
      }
      out.push_back({p, t, par, v});
    }
  }
  return out;
}

TEST(ScoreTimeline, MatchesPatientVitalsAtEveryReading) {
  News2Options options;
  options.window_ms.fill(4 * 60 * kMinute);
  std::vector<Reading> readings = RandomReadings(20, 300, 7);
  std::vector<SpO2Scale> scales(20, SpO2Scale::kScale1);
  for (size_t i = 0; i < scales.size(); i += 3) scales[i] = SpO2Scale::kScale2;
  std::vector<News2Point> points(readings.size());
  auto skipped = ScoreTimeline(readings, points, scales, options);
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  EXPECT_EQ(*skipped, 0u);
  PatientVitals vitals;
  uint32_t patient = UINT32_MAX;
  for (size_t i = 0; i < readings.size(); ++i) {
    if (readings[i].patient != patient) {
      vitals.Clear();
      patient = readings[i].patient;
    }
    vitals.Add(readings[i]);
    News2Result ref = vitals.News2(readings[i].time_ms, scales[patient], options);
    ASSERT_EQ(points[i].aggregate, ref.aggregate) << "reading " << i;
    ASSERT_EQ(points[i].band, ref.band) << "reading " << i;
    ASSERT_EQ(points[i].absent_mask, ref.missing_mask | ref.stale_mask) << "reading " << i;
    ASSERT_EQ(points[i].single_parameter_red, ref.single_parameter_red) << "reading " << i;
  }
}

TEST(ScoreTimeline, ScoreAtAgreesWithPatientVitals) {
  std::vector<Reading> readings = RandomReadings(50, 40, 11);
  int64_t at = kT0 + 20 * 45 * kMinute;
  auto batch = ScoreAt(readings, at);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->patients.size(), 50u);
  for (const PatientScore& score : batch->patients) {
    PatientVitals vitals;
    for (const Reading& r : readings) {
      if (r.patient == score.patient && r.time_ms <= at) vitals.Add(r);
    }
    News2Result ref = vitals.News2(at, SpO2Scale::kScale1);
    EXPECT_EQ(score.news2.aggregate, ref.aggregate);
    EXPECT_EQ(score.news2.subscores, ref.subscores);
    EXPECT_EQ(score.news2.missing_mask, ref.missing_mask);
    EXPECT_EQ(score.news2.stale_mask, ref.stale_mask);
    EXPECT_EQ(score.qsofa.score, vitals.QSofa(at).score);
  }
}

TEST(ScoreTimeline, RejectsUnsortedTimesAndSizeMismatch) {
  std::vector<Reading> readings = {R(0, kT0 + 1, Parameter::kPulse, 70),
                                   R(0, kT0, Parameter::kPulse, 70)};
  std::vector<News2Point> points(2);
  EXPECT_FALSE(ScoreTimeline(readings, points).ok());
  std::vector<News2Point> short_points(1);
  EXPECT_FALSE(ScoreTimeline(readings, short_points).ok());
}

}  // namespace
}  // namespace medlake::scores
