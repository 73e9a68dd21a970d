#include "scores/vital_codes.h"

#include <array>
#include <utility>

namespace medlake::scores {
namespace {

bool OneOf(std::string_view code, std::initializer_list<std::string_view> codes) {
  for (std::string_view c : codes) {
    if (code == c) return true;
  }
  return false;
}

// Rates per minute as UCUM writes them: "/min", "1/min", with or without an annotation
// ("{breaths}/min", "{beat}/min"; UCUM annotations do not change the unit).
bool PerMinute(std::string_view unit) {
  if (unit.starts_with("{")) {
    size_t close = unit.find('}');
    if (close == std::string_view::npos) return false;
    unit.remove_prefix(close + 1);
  } else if (unit.starts_with("1")) {
    unit.remove_prefix(1);
  }
  return unit == "/min";
}

}  // namespace

std::optional<VitalValue> VitalFromQuantity(std::string_view loinc, double value,
                                            std::string_view unit) {
  if (loinc == "9279-1") {
    if (unit.empty() || PerMinute(unit)) return VitalValue{Parameter::kRespirationRate, value};
    return std::nullopt;
  }
  if (OneOf(loinc, {"59408-5", "2708-6", "20564-1"})) {
    if (unit.empty() || unit == "%") return VitalValue{Parameter::kSpO2, value};
    if (unit == "1") return VitalValue{Parameter::kSpO2, value * 100.0};  // a fraction
    return std::nullopt;
  }
  if (loinc == "8480-6") {
    if (unit.empty() || unit == "mm[Hg]") return VitalValue{Parameter::kSystolicBp, value};
    // UCUM: mm[Hg] = 133.322 Pa (0.133322 kPa).
    if (unit == "kPa") return VitalValue{Parameter::kSystolicBp, value / 0.133322};
    return std::nullopt;
  }
  if (loinc == "8867-4") {
    if (unit.empty() || PerMinute(unit)) return VitalValue{Parameter::kPulse, value};
    return std::nullopt;
  }
  if (OneOf(loinc, {"8310-5", "8331-1", "8332-9", "8333-7", "8328-7"})) {
    if (unit.empty() || unit == "Cel") return VitalValue{Parameter::kTemperature, value};
    if (unit == "[degF]") return VitalValue{Parameter::kTemperature, (value - 32.0) * 5.0 / 9.0};
    return std::nullopt;
  }
  if (loinc == "3150-0") {
    // LOINC 3150-0 Inhaled oxygen concentration (FiO2), a volume fraction: in % or as a
    // fraction (UCUM "1"). It lies between room air (20.9 %) and pure oxygen (100 %), so an
    // unlabelled value of at most 1 is a fraction (0.40, not 0.4 %), one above 1 a percentage.
    // A value outside that range (below 20 %: a flow in L/min sent as 3150-0, or a unit
    // mislabelled) says nothing sure about the oxygen and is not used. Above 21 % is
    // supplemental oxygen (RCP NEWS2 2017, chart 1: air or oxygen?).
    double percent;
    if (unit == "1" || (unit.empty() && value <= 1.0)) {
      percent = value * 100.0;
    } else if (unit.empty() || unit == "%") {
      percent = value;
    } else {
      return std::nullopt;
    }
    constexpr double kTolerance = 1e-9;  // 0.21 * 100 is not exactly 21 in binary
    if (!(percent >= 20.0 - kTolerance && percent <= 100.0 + kTolerance)) return std::nullopt;
    return VitalValue{Parameter::kSupplementalOxygen, percent > 21.0 + kTolerance ? 1.0 : 0.0};
  }
  if (loinc == "3151-8") {  // LOINC 3151-8 Inhaled oxygen flow rate, L/min: above 0 is oxygen
    if (unit.empty() || unit == "L/min") {
      return VitalValue{Parameter::kSupplementalOxygen, value > 0 ? value : 0.0};
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Acvpu> AcvpuFromCode(std::string_view code) {
  static constexpr std::array<std::pair<std::string_view, Acvpu>, 10> kCodes = {{
      {"248234008", Acvpu::kAlert},
      {"130987000", Acvpu::kConfusion},
      {"300202002", Acvpu::kVoice},
      {"450847001", Acvpu::kPain},
      {"422768004", Acvpu::kUnresponsive},
      {"A", Acvpu::kAlert},
      {"C", Acvpu::kConfusion},
      {"V", Acvpu::kVoice},
      {"P", Acvpu::kPain},
      {"U", Acvpu::kUnresponsive},
  }};
  for (const auto& [c, level] : kCodes) {
    if (code == c) return level;
  }
  return std::nullopt;
}

}  // namespace medlake::scores
