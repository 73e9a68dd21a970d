// NEWS2, the National Early Warning Score 2 of the Royal College of Physicians, and qSOFA.
//
// Source of every threshold and text here: Royal College of Physicians, National Early
// Warning Score (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS,
// updated report of a working party, December 2017 — chart 1 (the NEWS2 scoring system),
// chart 2 (thresholds and triggers) and chart 4 (clinical response to the trigger
// thresholds). docs/news2.md reproduces the table with the boundaries the tests check.
//
// Values: respiration rate, SpO2, systolic BP and pulse are scored as integers (a real value
// is rounded half up first), temperature to one decimal in °C. Everything here is a pure
// function of its arguments: thread-safe, allocation-free, never fails.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace medlake::scores {

// The physiological parameters of chart 1. Reading values use these units.
enum class Parameter : uint8_t {
  kRespirationRate = 0,     // breaths/min
  kSpO2 = 1,                // %
  kSupplementalOxygen = 2,  // 0 = air; any value > 0 = on oxygen (a flag of 1 or L/min)
  kSystolicBp = 3,          // mmHg
  kPulse = 4,               // beats/min
  kConsciousness = 5,       // an Acvpu value
  kTemperature = 6,         // °C
};
inline constexpr size_t kParameterCount = 7;

// ACVPU: Alert, new Confusion, responds to Voice, responds to Pain, Unresponsive.
enum class Acvpu : uint8_t { kAlert = 0, kConfusion = 1, kVoice = 2, kPain = 3, kUnresponsive = 4 };

// SpO2 scale 2 is for patients with hypercapnic respiratory failure (a clinical decision,
// recorded per patient); everyone else is scored on scale 1.
enum class SpO2Scale : uint8_t { kScale1 = 0, kScale2 = 1 };

enum class RiskBand : uint8_t { kLow = 0, kLowMedium = 1, kMedium = 2, kHigh = 3 };

// One observation of one patient.
struct Reading {
  uint32_t patient = 0;  // patient ordinal
  int64_t time_ms = 0;   // milliseconds since the epoch
  Parameter parameter = Parameter::kRespirationRate;
  double value = 0;
};

// Chart 1 sub-scores, one per parameter.
int RespirationRateScore(double breaths_per_min);
int SpO2Scale1Score(double percent);
// Scale 2: 88-92 % scores 0, and so does >= 93 % on air; on oxygen 93-94 scores 1, 95-96
// scores 2 and >= 97 scores 3.
int SpO2Scale2Score(double percent, bool on_oxygen);
int SupplementalOxygenScore(bool on_oxygen);
int SystolicBpScore(double mmhg);
int PulseScore(double beats_per_min);
int ConsciousnessScore(Acvpu level);
int TemperatureScore(double celsius);

// Chart 2: high >= 7, medium 5-6, low-medium when any single parameter scores 3 (and the
// aggregate is below 5), low otherwise.
RiskBand BandFor(int aggregate, bool single_parameter_red);

// Chart 4: minimum frequency of monitoring and clinical response for a score.
struct ClinicalResponse {
  std::string_view monitoring;
  std::string_view response;
};
// An incomplete set (`complete` false: a parameter missing or stale) scores a lower bound:
// below the urgent thresholds it asks for the missing readings instead of the routine
// response, which chart 4 gives only to a patient who scored 0 on every parameter.
ClinicalResponse ResponseFor(int aggregate, bool single_parameter_red, bool complete = true);

std::string_view BandName(RiskBand band);             // "low", "low-medium", "medium", "high"
std::string_view ParameterName(Parameter parameter);  // "respiration_rate", "spo2", ...

// A score taken at one instant from each parameter's most recent reading.
struct News2Result {
  int64_t at_ms = 0;
  // Sub-score per Parameter; -1 when the parameter is missing or stale.
  std::array<int8_t, kParameterCount> subscores = {-1, -1, -1, -1, -1, -1, -1};
  uint8_t aggregate = 0;     // sum of the sub-scores present
  uint8_t missing_mask = 0;  // bit (1 << Parameter): no reading at or before at_ms
  uint8_t stale_mask = 0;    // bit (1 << Parameter): latest reading older than its window
  bool single_parameter_red = false;
  SpO2Scale scale = SpO2Scale::kScale1;
  RiskBand band = RiskBand::kLow;

  // False when any parameter is missing or stale: the aggregate and band are then a partial
  // score (a lower bound), never to be read as the patient's NEWS2.
  bool complete() const { return (missing_mask | stale_mask) == 0; }
};

// qSOFA (Singer et al., JAMA 2016): one point each for respiration rate >= 22/min, altered
// mentation (anything but Alert on ACVPU) and systolic BP <= 100 mmHg.
struct QSofaResult {
  uint8_t score = 0;
  uint8_t missing_mask = 0;  // Parameter bits of the three inputs missing or stale
  bool complete() const { return missing_mask == 0; }
  bool positive() const { return score >= 2; }
};

// How old a reading may be and still count, per Parameter. The default, 12 hours, is the
// longest monitoring interval chart 4 allows (score 0: minimum 12 hourly).
struct News2Options {
  std::array<int64_t, kParameterCount> window_ms = {43'200'000, 43'200'000, 43'200'000, 43'200'000,
                                                    43'200'000, 43'200'000, 43'200'000};
};

// True when `value` is a usable value of `parameter`: finite, and within what a living patient
// can show (a monitor's artefact, a unit mix-up or a typo is not a reading): respiration
// 0-100 /min, SpO2 0-100 %, systolic BP 0-350 mm[Hg], pulse 0-350 /min, temperature
// 10-50 Cel, supplemental oxygen 0 (air) or a flag/flow 0-100 (L/min), ACVPU 0-4.
bool IsValidReading(Parameter parameter, double value);

}  // namespace medlake::scores
