// NEWS2 and qSOFA over many readings: a per-patient incremental state for live scoring and
// batch scorers over readings sorted by patient.
//
// Each parameter contributes its most recent reading at or before the scoring time, provided
// that reading is no older than the parameter's window (News2Options). A parameter with no
// such reading is reported in missing_mask or stale_mask and contributes nothing: the result
// is then partial (News2Result::complete() is false), never scored as normal.
//
// Readings whose value is unusable (IsValidReading false: NaN, negative, ACVPU outside 0-4,
// unknown parameter) are skipped and counted. Nothing here allocates per reading.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "medlake/status.h"
#include "scores/news2.h"

namespace medlake::scores {

// Latest reading per parameter of one patient. Not thread-safe; one per patient.
class PatientVitals {
 public:
  PatientVitals() { Clear(); }

  // Keeps the reading when it is at least as recent as the one held for its parameter.
  // Returns false (and keeps nothing) for an unusable value.
  bool Add(Parameter parameter, int64_t time_ms, double value);
  bool Add(const Reading& r) { return Add(r.parameter, r.time_ms, r.value); }
  void Clear();

  // Scores at `at_ms`. Readings held that are later than at_ms count as missing, so score at
  // or after the latest reading (live scoring does).
  News2Result News2(int64_t at_ms, SpO2Scale scale, const News2Options& options = {}) const;
  QSofaResult QSofa(int64_t at_ms, const News2Options& options = {}) const;
  // Time of the reading held for `parameter` (INT64_MIN when none), and its value.
  int64_t time_of(Parameter parameter) const { return time_[static_cast<size_t>(parameter)]; }
  double value_of(Parameter parameter) const { return value_[static_cast<size_t>(parameter)]; }
  // Holds `value` at `time_ms` for `parameter` whatever was held (INT64_MIN: nothing), for a
  // caller that takes a reading back (an Observation entered in error).
  void Reset(Parameter parameter, int64_t time_ms, double value) {
    time_[static_cast<size_t>(parameter)] = time_ms;
    value_[static_cast<size_t>(parameter)] = value;
  }

 private:
  std::array<int64_t, kParameterCount> time_;
  std::array<double, kParameterCount> value_;
};

struct PatientScore {
  uint32_t patient = 0;
  News2Result news2;
  QSofaResult qsofa;
};

struct BatchScores {
  std::vector<PatientScore> patients;  // one per distinct patient, in input order
  size_t skipped_readings = 0;         // unusable values
};

// Scores every patient at `at_ms`. `readings` must be grouped by patient with non-decreasing
// patient ordinals (any time order within a patient); otherwise kInvalidArgument. `scales`
// gives the SpO2 scale by patient ordinal; patients beyond its end use scale 1.
Result<BatchScores> ScoreAt(std::span<const Reading> readings, int64_t at_ms,
                            std::span<const SpO2Scale> scales = {},
                            const News2Options& options = {});

// The NEWS2 after each reading, taken at that reading's time: a patient's score history.
struct News2Point {
  uint8_t aggregate = 0;
  RiskBand band = RiskBand::kLow;
  uint8_t absent_mask = 0;  // missing | stale parameters (0 = complete score)
  bool single_parameter_red = false;
};

// `readings` sorted by (patient, time); `out` must have readings.size() entries. A skipped
// reading repeats the patient's previous point. kInvalidArgument on unsorted input or a size
// mismatch. Returns the number of skipped readings.
Result<size_t> ScoreTimeline(std::span<const Reading> readings, std::span<News2Point> out,
                             std::span<const SpO2Scale> scales = {},
                             const News2Options& options = {});

}  // namespace medlake::scores
