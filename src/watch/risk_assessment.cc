#include "watch/risk_assessment.h"

#include <xxhash.h>

#include <cstdio>

#include "common/fhir_time.h"
#include "json/json.h"
#include "scores/news2_json.h"

namespace medlake::watch {
namespace {

// HL7 terminology risk-probability codes for the NEWS2 bands of RCP 2017 chart 2.
std::string_view RiskProbability(scores::RiskBand band) {
  switch (band) {
    case scores::RiskBand::kLow:
      return "low";
    case scores::RiskBand::kLowMedium:
    case scores::RiskBand::kMedium:
      return "moderate";
    case scores::RiskBand::kHigh:
      return "high";
  }
  return "low";
}

}  // namespace

std::string RiskAssessmentJson(const Alert& a) {
  const scores::News2Result& n = a.news2;
  std::string band(scores::BandName(n.band));
  std::string time = FormatUtc(n.at_ms);
  std::string key = a.patient_id + "|" + time + "|" + band;
  char id[40];
  std::snprintf(id, sizeof id, "news2-%016llx",
                static_cast<unsigned long long>(XXH3_64bits(key.data(), key.size())));
  std::string j = R"({"resourceType":"RiskAssessment","id":")";
  j += id;
  j += R"j(","status":"final","method":{"text":"NEWS2 (Royal College of Physicians, 2017)"})j";
  j += R"(,"code":{"text":"National Early Warning Score 2"},"subject":{"reference":)";
  json::AppendQuoted("Patient/" + a.patient_id, j);
  j += "}";
  if (!a.encounter_id.empty()) {
    j += R"(,"encounter":{"reference":)";
    json::AppendQuoted("Encounter/" + a.encounter_id, j);
    j += "}";
  }
  j += R"(,"occurrenceDateTime":)";
  json::AppendQuoted(time, j);
  if (!a.basis.empty()) {
    j += R"(,"basis":[)";
    for (size_t i = 0; i < a.basis.size(); ++i) {
      if (i) j += ",";
      j += R"({"reference":)";
      json::AppendQuoted("Observation/" + a.basis[i], j);
      j += "}";
    }
    j += "]";
  }
  std::string rationale = "NEWS2 aggregate score " + std::to_string(n.aggregate) + ", " + band +
                          " risk band" +
                          (n.single_parameter_red ? ", a single parameter scoring 3" : "");
  if (!n.complete()) {
    rationale += "; partial score (a lower bound): ";
    auto absent = scores::ParameterNames(n.missing_mask | n.stale_mask);
    for (size_t i = 0; i < absent.size(); ++i) rationale += (i ? ", " : "") + absent[i];
    rationale += " missing or stale";
  }
  j +=
      R"(,"prediction":[{"outcome":{"text":"Clinical deterioration"},"qualitativeRisk":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/risk-probability","code":")";
  j += RiskProbability(n.band);
  j += R"("}],"text":)";
  json::AppendQuoted(band, j);
  j += R"(},"rationale":)";
  json::AppendQuoted(rationale, j);
  j += R"(}],"mitigation":)";
  json::AppendQuoted(
      scores::ResponseFor(n.aggregate, n.single_parameter_red, n.complete()).response, j);
  j += "}";
  return j;
}

}  // namespace medlake::watch
