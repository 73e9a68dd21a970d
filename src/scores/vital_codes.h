// From coded observations (LOINC, SNOMED CT, UCUM) to NEWS2 readings: the bridge that lets
// Observations from HL7 v2, FHIR or device feeds drive the scorer.
//
// Recognised LOINC codes: 9279-1 respiratory rate; 59408-5, 2708-6, 20564-1 oxygen
// saturation; 8480-6 systolic BP (also as a component of the 85354-9 panel); 8867-4 heart
// rate; 8310-5, 8331-1, 8332-9, 8333-7, 8328-7 body temperature; 3150-0 inhaled oxygen
// concentration (FiO2 in % or as a fraction, an unlabelled value of at most 1 being a
// fraction; above 21 % means supplemental oxygen; outside 20-100 % not used); 3151-8 inhaled
// oxygen flow rate; 67775-7 level of responsiveness (coded, see AcvpuFromCode). Pure functions.
#pragma once

#include <optional>
#include <string_view>

#include "scores/news2.h"

namespace medlake::scores {

struct VitalValue {
  Parameter parameter;
  double value;  // in the unit news2.h expects for `parameter`
};

// A numeric observation: `loinc` code, value and UCUM unit ("/min", "%", "Cel", "[degF]",
// "mm[Hg]", "L/min", "1" for a FiO2 fraction; an empty unit is taken as the usual one).
// nullopt when the code is not a NEWS2 input or the unit cannot be converted.
std::optional<VitalValue> VitalFromQuantity(std::string_view loinc, double value,
                                            std::string_view ucum_unit);

// ACVPU from a coded level of responsiveness: SNOMED CT 248234008 (alert), 130987000 (acute
// confusion), 300202002 (responds to voice), 450847001 (responds to pain), 422768004
// (unresponsive), or the letters A, C, V, P, U.
std::optional<Acvpu> AcvpuFromCode(std::string_view code);

// The ACVPU level an Observation records, from all its codings (code and value), or nullopt:
// a SNOMED CT level of responsiveness (in the SNOMED CT system), or a letter A, C, V, P, U in
// an Observation coded LOINC 67775-7 (level of responsiveness) only. A letter elsewhere is
// some other result (a blood group A, a test Positive) and not the patient's consciousness.
// `Codings` is a range of objects with `system` and `code` (fhir::Coding, CodeView).
template <typename Codings>
std::optional<Acvpu> AcvpuOf(const Codings& codings) {
  constexpr std::string_view kLoinc = "http://loinc.org";
  constexpr std::string_view kSnomed = "http://snomed.info/sct";
  bool responsiveness = false;
  for (const auto& c : codings) {
    if (c.system == kSnomed && c.code.size() > 1) {
      if (auto level = AcvpuFromCode(c.code)) return level;
    }
    responsiveness |= c.system == kLoinc && c.code == "67775-7";
  }
  if (!responsiveness) return std::nullopt;
  for (const auto& c : codings) {
    if (c.code.size() == 1) {
      if (auto level = AcvpuFromCode(c.code)) return level;
    }
  }
  return std::nullopt;
}

}  // namespace medlake::scores
