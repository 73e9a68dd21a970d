// The FHIR R4 RiskAssessment stored for a NEWS2 alert.
//
// status final; subject the patient; encounter when known; occurrenceDateTime the scoring
// time; method "NEWS2" (Royal College of Physicians, National Early Warning Score (NEWS) 2,
// December 2017); code the band's text; basis the Observations whose values were scored;
// prediction[0].outcome clinical deterioration, qualitativeRisk coded in the HL7
// risk-probability code system (low band → low, low-medium and medium → moderate, high →
// high; the band's name as text) and the aggregate in rationale (with the parameters missing
// or stale when the score is partial); mitigation the chart 4 clinical response. The id is
// derived from patient, time and band, so a replayed alert replaces, not duplicates, its
// RiskAssessment. Pure function; thread-safe.
#pragma once

#include <string>

#include "watch/live_news2.h"

namespace medlake::watch {

// {"resourceType":"RiskAssessment",...} on one line.
std::string RiskAssessmentJson(const Alert& alert);

}  // namespace medlake::watch
