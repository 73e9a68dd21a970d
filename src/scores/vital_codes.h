// From coded observations (LOINC, SNOMED CT, UCUM) to NEWS2 readings: the bridge that lets
// Observations from HL7 v2, FHIR or device feeds drive the scorer.
//
// Recognised LOINC codes: 9279-1 respiratory rate; 59408-5, 2708-6, 20564-1 oxygen
// saturation; 8480-6 systolic BP (also as a component of the 85354-9 panel); 8867-4 heart
// rate; 8310-5, 8331-1, 8332-9, 8333-7, 8328-7 body temperature; 3150-0 inhaled oxygen
// concentration (FiO2; above 21 % means supplemental oxygen); 3151-8 inhaled oxygen flow
// rate; 67775-7 level of responsiveness (coded, see AcvpuFromCode). Pure functions.
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

}  // namespace medlake::scores
