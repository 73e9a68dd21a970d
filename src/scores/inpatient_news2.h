// NEWS2 of every current inpatient of a lake, from the stored encounters and vital signs.
//
// A current inpatient at time T has an Encounter of class IMP (or ACUTE / NONAC) whose period
// contains T and whose status is neither planned, cancelled nor entered-in-error (finished
// only with a period.end: the stay has ended, and without its end there is no telling when).
// A stay whose period is empty (no start, no end) but whose status says it goes on (arrived,
// triaged, in-progress, onleave) is current from its meta.lastUpdated on (at any time when it
// has none): it was known to go on then, and dropping it would leave an inpatient unscored.
// Each NEWS2 parameter uses the patient's most recent reading at or before T within its
// window (News2Options); a missing or stale parameter is reported, never scored as normal.
// SpO2 scale 2 applies to patients with a confirmed hypercapnic respiratory failure (RCP NEWS2
// 2017: "only in patients with confirmed hypercapnic respiratory failure") recorded at or
// before T and not resolved: ICD-10-CM J96.02, J96.12, J96.22, J96.92 and ICD-10-GM J96.01,
// J96.11, J96.91 (the 5th digit of hypercapnia in each), with no verificationStatus or a
// confirmed one. Reads the lake's hot columns; only vital-sign panels (blood pressure
// components) and candidate diagnoses are parsed from JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fhir/resource_facts.h"
#include "json/json.h"
#include "medlake/lake.h"
#include "medlake/status.h"
#include "scores/news2.h"
#include "scores/news2_batch.h"
#include "scores/vital_codes.h"

namespace medlake::scores {

struct InpatientScore {
  uint32_t patient = 0;  // lake patient ordinal
  std::string patient_id;
  std::string encounter_id;
  std::string location;  // "Ward / Bed", or "" when the encounter names none
  News2Result news2;
  QSofaResult qsofa;
  PatientVitals vitals;  // the readings scored (live scoring continues from them)
};

// The systolic pressure (mm[Hg]) of the 8480-6 component of a blood pressure panel, from its
// valueQuantity: exact values in a unit VitalFromQuantity knows; nullopt otherwise.
inline std::optional<double> SystolicOfComponent(json::Node quantity) {
  auto value = fhir::ExactQuantityValue(quantity);
  if (!value) return std::nullopt;
  auto vital = VitalFromQuantity("8480-6", *value, fhir::QuantityUnit(quantity));
  if (!vital) return std::nullopt;
  return vital->value;
}

// An Encounter.class code (v3 ActCode) of an inpatient stay: IMP, ACUTE, NONAC.
bool IsInpatientClass(std::string_view code);

// Every patient of the lake on SpO2 scale 2 at `at_ms` (the rule above), by patient id: for
// live scoring of patients admitted after it started.
Result<std::vector<std::string>> ScaleTwoPatients(Lake& lake, int64_t at_ms);

Result<std::vector<InpatientScore>> ScoreInpatients(Lake& lake, int64_t at_ms,
                                                    const News2Options& options = {});

}  // namespace medlake::scores
