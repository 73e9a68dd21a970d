#include "scores/news2.h"

#include <cmath>

#include "scores/thresholds.h"

namespace medlake::scores {

int RespirationRateScore(double v) {
  return kRespirationTable.Score(RoundToInt(v));
}
int SpO2Scale1Score(double v) {
  return kSpO2Scale1Table.Score(RoundToInt(v));
}
int SpO2Scale2Score(double v, bool on_oxygen) {
  return (on_oxygen ? kSpO2Scale2OxygenTable : kSpO2Scale2AirTable).Score(RoundToInt(v));
}
int SupplementalOxygenScore(bool on_oxygen) {
  return on_oxygen ? 2 : 0;
}
int SystolicBpScore(double v) {
  return kSystolicTable.Score(RoundToInt(v));
}
int PulseScore(double v) {
  return kPulseTable.Score(RoundToInt(v));
}
int ConsciousnessScore(Acvpu level) {
  return level == Acvpu::kAlert ? 0 : 3;
}
int TemperatureScore(double v) {
  return kTemperatureTable.Score(RoundToInt(v * 10.0));
}

RiskBand BandFor(int aggregate, bool red) {
  if (aggregate >= 7) return RiskBand::kHigh;
  if (aggregate >= 5) return RiskBand::kMedium;
  if (red) return RiskBand::kLowMedium;
  return RiskBand::kLow;
}

ClinicalResponse ResponseFor(int aggregate, bool red, bool complete) {
  // RCP NEWS2 (2017) chart 4, "Clinical response to the NEWS trigger thresholds".
  if (aggregate >= 7) {
    return {"Continuous monitoring of vital signs",
            "Emergency response: registered nurse to immediately inform the medical team "
            "caring for the patient (at least at specialist registrar level); emergency "
            "assessment by a team with critical care competencies, including practitioner(s) "
            "with advanced airway management skills; consider transfer of care to a level 2 or "
            "3 clinical care facility, ie higher-dependency unit or ICU; clinical care in an "
            "environment with monitoring facilities"};
  }
  if (aggregate >= 5) {
    return {"Minimum 1 hourly",
            "Urgent response: registered nurse to immediately inform the medical team caring "
            "for the patient; registered nurse to request urgent assessment by a clinician or "
            "team with core competencies in the care of acutely ill patients; provide clinical "
            "care in an environment with monitoring facilities"};
  }
  if (!complete && !red) {
    // Not in chart 4, which scores a full set: a partial score of 0-4 does not show that the
    // patient is at low risk.
    return {"Complete the observation set now",
            "Incomplete observation set: record the missing or stale parameters now and "
            "re-score; the partial score is a lower bound"};
  }
  if (red) {
    return {"Minimum 1 hourly",
            "Registered nurse to inform medical team caring for the patient, who will review "
            "and decide whether escalation of care is necessary"};
  }
  if (aggregate >= 1) {
    return {"Minimum 4-6 hourly",
            "Inform registered nurse, who must assess the patient; registered nurse decides "
            "whether increased frequency of monitoring and/or escalation of care is required"};
  }
  return {"Minimum 12 hourly", "Continue routine NEWS monitoring"};
}

std::string_view BandName(RiskBand band) {
  switch (band) {
    case RiskBand::kLow:
      return "low";
    case RiskBand::kLowMedium:
      return "low-medium";
    case RiskBand::kMedium:
      return "medium";
    case RiskBand::kHigh:
      return "high";
  }
  return "low";
}

std::string_view ParameterName(Parameter parameter) {
  switch (parameter) {
    case Parameter::kRespirationRate:
      return "respiration_rate";
    case Parameter::kSpO2:
      return "spo2";
    case Parameter::kSupplementalOxygen:
      return "supplemental_oxygen";
    case Parameter::kSystolicBp:
      return "systolic_bp";
    case Parameter::kPulse:
      return "pulse";
    case Parameter::kConsciousness:
      return "consciousness";
    case Parameter::kTemperature:
      return "temperature";
  }
  return "unknown";
}

bool IsValidReading(Parameter parameter, double value) {
  if (static_cast<size_t>(parameter) >= kParameterCount) return false;
  if (!std::isfinite(value) || value < 0) return false;
  switch (parameter) {
    case Parameter::kConsciousness:
      return value == std::floor(value) && value <= static_cast<double>(Acvpu::kUnresponsive);
    case Parameter::kRespirationRate:
    case Parameter::kSpO2:
    case Parameter::kSupplementalOxygen:
      return value <= 100;
    case Parameter::kSystolicBp:
    case Parameter::kPulse:
      return value <= 350;
    case Parameter::kTemperature:
      return value >= 10 && value <= 50;
  }
  return false;
}

}  // namespace medlake::scores
