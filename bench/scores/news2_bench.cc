// NEWS2 batch throughput (observations/s, one thread) against a naive scorer in the same run.
//
// Usage: medlake_news2_bench [MILLION_READINGS] [PATIENTS]   (defaults 10 and 100000)
// The naive baseline is what a direct implementation looks like: per-patient state in a
// std::map keyed by parameter, and if/else chains per chart row.
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "scores/news2_batch.h"

namespace {

using Clock = std::chrono::steady_clock;
using medlake::scores::Parameter;
using medlake::scores::Reading;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<Reading> Generate(size_t count, uint32_t patients) {
  std::mt19937_64 rng(42);
  std::vector<Reading> out;
  out.reserve(count);
  size_t per_patient = count / patients;
  for (uint32_t p = 0; p < patients; ++p) {
    int64_t t = 1'700'000'000'000;
    for (size_t i = 0; i < per_patient; ++i) {
      t += 60'000 * static_cast<int64_t>(1 + rng() % 30);
      auto par = static_cast<Parameter>(rng() % 7);
      double v = 0;
      switch (par) {
        case Parameter::kRespirationRate:
          v = 6 + rng() % 25;
          break;
        case Parameter::kSpO2:
          v = 82 + rng() % 19;
          break;
        case Parameter::kSupplementalOxygen:
          v = static_cast<double>(rng() % 2);
          break;
        case Parameter::kSystolicBp:
          v = 80 + rng() % 150;
          break;
        case Parameter::kPulse:
          v = 35 + rng() % 110;
          break;
        case Parameter::kConsciousness:
          v = (rng() % 10 == 0) ? 1 : 0;
          break;
        case Parameter::kTemperature:
          v = (340 + rng() % 65) / 10.0;
          break;
      }
      out.push_back({p, t, par, v});
    }
  }
  return out;
}

// ---- naive baseline ----
int NaiveScore(Parameter p, double v, bool on_oxygen) {
  (void)on_oxygen;
  if (p == Parameter::kRespirationRate) {
    if (v <= 8) return 3;
    if (v <= 11) return 1;
    if (v <= 20) return 0;
    if (v <= 24) return 2;
    return 3;
  }
  if (p == Parameter::kSpO2) {
    if (v <= 91) return 3;
    if (v <= 93) return 2;
    if (v <= 95) return 1;
    return 0;
  }
  if (p == Parameter::kSupplementalOxygen) return v > 0 ? 2 : 0;
  if (p == Parameter::kSystolicBp) {
    if (v <= 90) return 3;
    if (v <= 100) return 2;
    if (v <= 110) return 1;
    if (v <= 219) return 0;
    return 3;
  }
  if (p == Parameter::kPulse) {
    if (v <= 40) return 3;
    if (v <= 50) return 1;
    if (v <= 90) return 0;
    if (v <= 110) return 1;
    if (v <= 130) return 2;
    return 3;
  }
  if (p == Parameter::kConsciousness) return v > 0 ? 3 : 0;
  if (v <= 35.0) return 3;
  if (v <= 36.0) return 1;
  if (v <= 38.0) return 0;
  if (v <= 39.0) return 1;
  return 2;
}

struct NaiveLatest {
  int64_t time;
  double value;
};

// Score after every reading, with per-patient std::map state.
uint64_t NaiveTimeline(const std::vector<Reading>& readings, int64_t window) {
  std::unordered_map<uint32_t, std::map<Parameter, NaiveLatest>> state;
  uint64_t checksum = 0;
  for (const Reading& r : readings) {
    auto& latest = state[r.patient];
    latest[r.parameter] = {r.time_ms, r.value};
    int aggregate = 0;
    bool on_oxygen = latest.count(Parameter::kSupplementalOxygen) &&
                     latest[Parameter::kSupplementalOxygen].value > 0;
    for (const auto& [p, l] : latest) {
      if (r.time_ms - l.time > window) continue;
      aggregate += NaiveScore(p, l.value, on_oxygen);
    }
    checksum += aggregate;
  }
  return checksum;
}

}  // namespace

int main(int argc, char** argv) {
  size_t millions = argc > 1 ? std::stoul(argv[1]) : 10;
  uint32_t patients = argc > 2 ? static_cast<uint32_t>(std::stoul(argv[2])) : 100000;
  std::vector<Reading> readings = Generate(millions * 1'000'000, patients);
  double n = static_cast<double>(readings.size());
  medlake::scores::News2Options options;
  int64_t at = readings.back().time_ms;
  std::printf("readings: %zu, patients: %u (one thread)\n", readings.size(), patients);

  auto t0 = Clock::now();
  auto snapshot = medlake::scores::ScoreAt(readings, at, {}, options);
  auto t1 = Clock::now();
  double at_s = Seconds(t0, t1);
  if (!snapshot.ok()) {
    std::fprintf(stderr, "%s\n", snapshot.status().ToString().c_str());
    return 1;
  }

  std::vector<medlake::scores::News2Point> points(readings.size());
  t0 = Clock::now();
  auto skipped = medlake::scores::ScoreTimeline(readings, points, {}, options);
  t1 = Clock::now();
  double timeline_s = Seconds(t0, t1);
  if (!skipped.ok()) {
    std::fprintf(stderr, "%s\n", skipped.status().ToString().c_str());
    return 1;
  }
  uint64_t checksum = 0;
  for (const auto& p : points) checksum += p.aggregate;

  medlake::scores::PatientVitals vitals;
  t0 = Clock::now();
  uint64_t incremental_sum = 0;
  uint32_t current = UINT32_MAX;
  for (const Reading& r : readings) {
    if (r.patient != current) {
      vitals.Clear();
      current = r.patient;
    }
    vitals.Add(r);
    incremental_sum +=
        vitals.News2(r.time_ms, medlake::scores::SpO2Scale::kScale1, options).aggregate;
  }
  t1 = Clock::now();
  double incremental_s = Seconds(t0, t1);

  t0 = Clock::now();
  uint64_t naive_sum = NaiveTimeline(readings, options.window_ms[0]);
  t1 = Clock::now();
  double naive_s = Seconds(t0, t1);

  std::printf("%-40s %8.2f M observations/s\n", "ScoreAt (snapshot of every patient)",
              n / at_s / 1e6);
  std::printf("%-40s %8.2f M observations/s\n", "ScoreTimeline (score after each reading)",
              n / timeline_s / 1e6);
  std::printf("%-40s %8.2f M observations/s\n", "PatientVitals Add+News2 per reading",
              n / incremental_s / 1e6);
  std::printf("%-40s %8.2f M observations/s\n", "baseline naive timeline (std::map)",
              n / naive_s / 1e6);
  std::printf("ratio ScoreTimeline/baseline: %.1fx   checksums %llu %llu %llu\n",
              naive_s / timeline_s, static_cast<unsigned long long>(checksum),
              static_cast<unsigned long long>(incremental_sum),
              static_cast<unsigned long long>(naive_sum));
  return 0;
}
