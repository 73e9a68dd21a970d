// NEWS2 readings in a stored FHIR R4 Observation: the bridge from what ingest stores (device
// readings, HL7 v2 ORU results, FHIR resources) to LiveNews2. Uses scores/vital_codes.h: a
// LOINC-coded quantity, the systolic component (8480-6) of a blood-pressure panel (85354-9),
// or a coded level of responsiveness (ACVPU). Observations entered in error or cancelled, and
// those without a patient or an effective time, give nothing. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "fhir/resource_facts.h"
#include "json/json.h"
#include "scores/vital_codes.h"

namespace medlake::watch {

// Appends the readings of `observation` (whose extracted facts are `facts`) to `out`.
void VitalsFromObservation(const fhir::ResourceFacts& facts, json::Node observation,
                           std::vector<scores::VitalValue>& out);

}  // namespace medlake::watch
