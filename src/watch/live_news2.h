// LiveNews2: each patient's latest value per NEWS2 parameter, kept in memory so that a new
// reading is scored in O(1), and the decision to alert.
//
// A patient's score is taken at the time of its latest reading (for a patient loaded from the
// lake, its latest stored one until a newer arrives), from each parameter's most
// recent value within its window (News2Options, as `medlake score news2`); missing and stale
// parameters are reported and never scored as normal (the score is then a partial one, a lower
// bound). An alert is raised when a patient enters a higher risk band than the band of its
// previous score (RCP NEWS2 2017, chart 2: low < low-medium < medium < high; a single parameter
// scoring 3 makes a low aggregate low-medium). A patient scored for the first time is compared
// with "low". No alert when the band stays or drops; the band then becomes the new reference.
//
// Not thread-safe: one caller at a time (the Watcher calls it under the ingestor's lock).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/string_util.h"
#include "scores/news2.h"
#include "scores/news2_batch.h"

namespace medlake::watch {

struct Alert {
  std::string patient_id;
  std::string encounter_id;  // "" when unknown (a patient not seeded from the lake)
  std::string location;      // "Ward / Bed", "" when unknown
  scores::News2Result news2;
  scores::QSofaResult qsofa;
  std::optional<scores::RiskBand> previous_band;  // nullopt: the patient's first score
  int64_t reading_ms = 0;                         // time of the (last) reading that raised the band
  std::vector<std::string> basis;  // Observation ids of the values scored (live ones only)
};

class LiveNews2 {
 public:
  explicit LiveNews2(const scores::News2Options& options = {}) : options_(options) {}

  // Starts a patient from stored state (a current inpatient scored from the lake at `at_ms`).
  void Seed(std::string_view patient_id, const scores::PatientVitals& vitals,
            scores::SpO2Scale scale, int64_t at_ms, std::string encounter_id, std::string location);

  // Patients on SpO2 scale 2 (a confirmed hypercapnic respiratory failure, stored in the lake):
  // a patient first seen in the stream starts on their scale instead of scale 1.
  void SetScaleTwo(std::vector<std::string> patient_ids);
  // The patient's current stay, from an Encounter that arrived in the stream (an admission,
  // a transfer, a discharge): what later alerts name. An ended stay clears both.
  void UpdateStay(std::string_view patient_id, std::string encounter_id, std::string location);
  // The end of stay `encounter_id` (a discharge, a cancellation): clears the patient's stay if
  // it is that one (an update of an earlier stay leaves the current one as it is).
  void EndStay(std::string_view patient_id, std::string_view encounter_id);

  // Takes one reading into the patient's state. False for an unusable value (kept nowhere).
  // Scoring waits for Evaluate, so that the readings of one message are scored together.
  bool Add(std::string_view patient_id, scores::Parameter parameter, int64_t time_ms, double value,
           std::string_view observation_id);

  // Takes back the values of Observation `observation_id` (entered in error): each one held
  // gives way to the value it had replaced, or to none; the patient is scored again at the
  // next Evaluate. False when no value of that Observation is held.
  bool Retract(std::string_view patient_id, std::string_view observation_id);

  // Scores every patient that received readings since the last call, appending an Alert to
  // `alerts` for each one that entered a higher band. Returns the number of patients scored.
  size_t Evaluate(std::vector<Alert>& alerts);

  size_t patients() const { return patients_.size(); }
  // The current band of a patient (nullopt when never scored).
  std::optional<scores::RiskBand> band(std::string_view patient_id) const;

 private:
  struct Patient {
    scores::PatientVitals vitals;
    // Observation ids of the values held ("" for a value loaded from the lake).
    std::array<std::string, scores::kParameterCount> observation;
    // The value each held one replaced, restored if the held one is entered in error.
    struct Replaced {
      int64_t time = INT64_MIN;  // INT64_MIN: none
      double value = 0;
      std::string observation;
    };
    std::array<Replaced, scores::kParameterCount> replaced;
    scores::SpO2Scale scale = scores::SpO2Scale::kScale1;
    std::optional<scores::RiskBand> band;
    int64_t latest_ms = INT64_MIN;        // the latest reading time: the scoring time
    int64_t last_reading_ms = INT64_MIN;  // the time of the last reading added
    bool dirty = false;
    std::string encounter_id, location;
  };
  // The patient's entry, created (on their SpO2 scale) when first seen.
  StringMap<Patient>::iterator Find(std::string_view patient_id);
  void MarkDirty(const std::string* id, Patient& p);

  scores::News2Options options_;
  StringMap<Patient> patients_;
  StringMap<bool> scale_two_;
  std::vector<std::pair<const std::string*, Patient*>> dirty_;
};

}  // namespace medlake::watch
