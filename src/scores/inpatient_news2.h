// NEWS2 of every current inpatient of a lake, from the stored encounters and vital signs.
//
// A current inpatient at time T has an Encounter of class IMP (or ACUTE / NONAC) whose period
// contains T and whose status is not cancelled or entered-in-error. Each NEWS2 parameter uses
// the patient's most recent reading at or before T within its window (News2Options); a
// missing or stale parameter is reported, never scored as normal. SpO2 scale 2 applies to
// patients with a recorded hypercapnic respiratory failure (ICD-10 J96.02, J96.12, J96.22,
// J96.92). Reads the lake's hot columns; only vital-sign panels (blood pressure components)
// are parsed from JSON.
#pragma once

#include <string>
#include <vector>

#include "medlake/lake.h"
#include "medlake/status.h"
#include "scores/news2.h"
#include "scores/news2_batch.h"

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

Result<std::vector<InpatientScore>> ScoreInpatients(Lake& lake, int64_t at_ms,
                                                    const News2Options& options = {});

}  // namespace medlake::scores
