#include "scores/news2_batch.h"

#include <climits>
#include <string>

#include "scores/thresholds.h"

namespace medlake::scores {
namespace {

constexpr int64_t kNever = INT64_MIN;
constexpr size_t kRr = static_cast<size_t>(Parameter::kRespirationRate);
constexpr size_t kSpo2 = static_cast<size_t>(Parameter::kSpO2);
constexpr size_t kO2 = static_cast<size_t>(Parameter::kSupplementalOxygen);
constexpr size_t kSbp = static_cast<size_t>(Parameter::kSystolicBp);
constexpr size_t kPulse = static_cast<size_t>(Parameter::kPulse);
constexpr size_t kAcvpu = static_cast<size_t>(Parameter::kConsciousness);
constexpr size_t kTemp = static_cast<size_t>(Parameter::kTemperature);

// Sub-score of parameter p from its value (the oxygen flag matters for SpO2 scale 2 only).
inline int SubScore(size_t p, double v, SpO2Scale scale, bool on_oxygen) {
  switch (p) {
    case kRr:
      return kRespirationTable.Score(RoundToInt(v));
    case kSpo2:
      if (scale == SpO2Scale::kScale1) return kSpO2Scale1Table.Score(RoundToInt(v));
      return (on_oxygen ? kSpO2Scale2OxygenTable : kSpO2Scale2AirTable).Score(RoundToInt(v));
    case kO2:
      return v > 0 ? 2 : 0;
    case kSbp:
      return kSystolicTable.Score(RoundToInt(v));
    case kPulse:
      return kPulseTable.Score(RoundToInt(v));
    case kAcvpu:
      return v > 0 ? 3 : 0;
    default:
      return kTemperatureTable.Score(RoundToInt(v * 10.0));
  }
}

// Shared by PatientVitals and ScoreAt: scores the held readings at `at`.
News2Result ScoreHeld(const std::array<int64_t, kParameterCount>& time,
                      const std::array<double, kParameterCount>& value, int64_t at, SpO2Scale scale,
                      const News2Options& options) {
  News2Result r;
  r.at_ms = at;
  r.scale = scale;
  uint8_t present = 0;
  for (size_t p = 0; p < kParameterCount; ++p) {
    bool held = time[p] != kNever && time[p] <= at;
    bool fresh = held && at - time[p] <= options.window_ms[p];
    r.missing_mask |= static_cast<uint8_t>(!held) << p;
    r.stale_mask |= static_cast<uint8_t>(held && !fresh) << p;
    present |= static_cast<uint8_t>(fresh) << p;
  }
  // With oxygen status unknown, scale 2 SpO2 is scored as on air: a lower bound, and the
  // result is partial because oxygen is absent.
  bool on_oxygen = (present >> kO2 & 1) && value[kO2] > 0;
  int aggregate = 0;
  bool red = false;
  for (size_t p = 0; p < kParameterCount; ++p) {
    if (!(present >> p & 1)) continue;
    int s = SubScore(p, value[p], scale, on_oxygen);
    r.subscores[p] = static_cast<int8_t>(s);
    aggregate += s;
    red |= s == 3;
  }
  r.aggregate = static_cast<uint8_t>(aggregate);
  r.single_parameter_red = red;
  r.band = BandFor(aggregate, red);
  return r;
}

QSofaResult QSofaHeld(const std::array<int64_t, kParameterCount>& time,
                      const std::array<double, kParameterCount>& value, int64_t at,
                      const News2Options& options) {
  QSofaResult q;
  auto fresh = [&](size_t p) {
    return time[p] != kNever && time[p] <= at && at - time[p] <= options.window_ms[p];
  };
  for (size_t p : {kRr, kAcvpu, kSbp}) {
    if (!fresh(p)) {
      q.missing_mask |= static_cast<uint8_t>(1u << p);
      continue;
    }
    double v = value[p];
    bool point = p == kRr ? RoundToInt(v) >= 22 : p == kSbp ? RoundToInt(v) <= 100 : v > 0;
    q.score += point;
  }
  return q;
}

SpO2Scale ScaleOf(std::span<const SpO2Scale> scales, uint32_t patient) {
  return patient < scales.size() ? scales[patient] : SpO2Scale::kScale1;
}

}  // namespace

bool PatientVitals::Add(Parameter parameter, int64_t time_ms, double value) {
  if (!IsValidReading(parameter, value)) return false;
  size_t p = static_cast<size_t>(parameter);
  if (time_ms >= time_[p]) {
    time_[p] = time_ms;
    value_[p] = value;
  }
  return true;
}

void PatientVitals::Clear() {
  time_.fill(kNever);
  value_.fill(0);
}

News2Result PatientVitals::News2(int64_t at_ms, SpO2Scale scale,
                                 const News2Options& options) const {
  return ScoreHeld(time_, value_, at_ms, scale, options);
}

QSofaResult PatientVitals::QSofa(int64_t at_ms, const News2Options& options) const {
  return QSofaHeld(time_, value_, at_ms, options);
}

Result<BatchScores> ScoreAt(std::span<const Reading> readings, int64_t at_ms,
                            std::span<const SpO2Scale> scales, const News2Options& options) {
  BatchScores out;
  if (readings.empty()) return out;
  std::array<int64_t, kParameterCount> time;
  std::array<double, kParameterCount> value;
  time.fill(kNever);
  value.fill(0);
  uint32_t patient = readings[0].patient;
  auto flush = [&]() {
    PatientScore score;
    score.patient = patient;
    score.news2 = ScoreHeld(time, value, at_ms, ScaleOf(scales, patient), options);
    score.qsofa = QSofaHeld(time, value, at_ms, options);
    out.patients.push_back(score);
  };
  for (size_t i = 0; i < readings.size(); ++i) {
    const Reading& r = readings[i];
    if (r.patient != patient) {
      if (r.patient < patient) {
        return InvalidArgument("readings not grouped by patient: reading " + std::to_string(i) +
                               " has a lower patient ordinal than the one before");
      }
      flush();
      time.fill(kNever);
      patient = r.patient;
    }
    if (!IsValidReading(r.parameter, r.value)) {
      ++out.skipped_readings;
      continue;
    }
    size_t p = static_cast<size_t>(r.parameter);
    bool newer = (r.time_ms <= at_ms) & (r.time_ms >= time[p]);
    time[p] = newer ? r.time_ms : time[p];
    value[p] = newer ? r.value : value[p];
  }
  flush();
  return out;
}

Result<size_t> ScoreTimeline(std::span<const Reading> readings, std::span<News2Point> out,
                             std::span<const SpO2Scale> scales, const News2Options& options) {
  if (out.size() != readings.size()) {
    return InvalidArgument("ScoreTimeline: output span size differs from the readings");
  }
  size_t skipped = 0;
  std::array<int64_t, kParameterCount> time;
  std::array<double, kParameterCount> value;
  std::array<int8_t, kParameterCount> sub;
  time.fill(kNever);
  value.fill(0);
  sub.fill(0);
  uint32_t patient = readings.empty() ? 0 : readings[0].patient;
  int64_t last_time = kNever;
  SpO2Scale scale = ScaleOf(scales, patient);
  News2Point point;
  point.absent_mask = 0x7F;
  for (size_t i = 0; i < readings.size(); ++i) {
    const Reading& r = readings[i];
    if (r.patient != patient) {
      if (r.patient < patient) {
        return InvalidArgument("readings not sorted by patient at reading " + std::to_string(i));
      }
      patient = r.patient;
      scale = ScaleOf(scales, patient);
      time.fill(kNever);
      last_time = kNever;
      point = News2Point();
      point.absent_mask = 0x7F;
    } else if (r.time_ms < last_time) {
      return InvalidArgument("readings not sorted by time at reading " + std::to_string(i));
    }
    last_time = r.time_ms;
    if (!IsValidReading(r.parameter, r.value)) {
      ++skipped;
      out[i] = point;
      continue;
    }
    size_t p = static_cast<size_t>(r.parameter);
    time[p] = r.time_ms;
    value[p] = r.value;
    const int64_t at = r.time_ms;
    // Freshness of every parameter at this reading's time (time[] <= at by sort order).
    uint8_t present = 0;
    for (size_t q = 0; q < kParameterCount; ++q) {
      present |= static_cast<uint8_t>(time[q] != kNever && at - time[q] <= options.window_ms[q])
                 << q;
    }
    bool on_oxygen = (present >> kO2 & 1) && value[kO2] > 0;
    sub[p] = static_cast<int8_t>(SubScore(p, r.value, scale, on_oxygen));
    if (scale == SpO2Scale::kScale2 &&
        time[kSpo2] != kNever) {  // oxygen may have changed or gone stale
      sub[kSpo2] = static_cast<int8_t>(SubScore(kSpo2, value[kSpo2], scale, on_oxygen));
    }
    int aggregate = 0;
    bool red = false;
    for (size_t q = 0; q < kParameterCount; ++q) {
      int s = (present >> q & 1) ? sub[q] : 0;
      aggregate += s;
      red |= s == 3;
    }
    point.aggregate = static_cast<uint8_t>(aggregate);
    point.single_parameter_red = red;
    point.band = BandFor(aggregate, red);
    point.absent_mask = static_cast<uint8_t>(~present & 0x7F);
    out[i] = point;
  }
  return skipped;
}

}  // namespace medlake::scores
