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
  if (loinc == "3150-0") {  // FiO2: room air is 21 %
    if (unit.empty() || unit == "%") {
      return VitalValue{Parameter::kSupplementalOxygen, value > 21.0 ? 1.0 : 0.0};
    }
    if (unit == "1") return VitalValue{Parameter::kSupplementalOxygen, value > 0.21 ? 1.0 : 0.0};
    return std::nullopt;
  }
  if (loinc == "3151-8") {
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
