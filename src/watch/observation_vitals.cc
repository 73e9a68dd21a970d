#include "watch/observation_vitals.h"

#include <cmath>

#include "scores/inpatient_news2.h"

namespace medlake::watch {
namespace {

constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kBpPanel = "85354-9";
constexpr std::string_view kSystolic = "8480-6";

bool HasCode(json::Node concept_node, std::string_view code) {
  bool found = false;
  if (auto list = concept_node.Find("coding")) {
    list->ForEachItem([&](json::Node coding) {
      if (auto c = coding.Find("code")) found |= c->GetString() == code;
      return !found;
    });
  }
  return found;
}

}  // namespace

void VitalsFromObservation(const fhir::ResourceFacts& facts, json::Node observation,
                           std::vector<scores::VitalValue>& out) {
  if (facts.type != "Observation" || facts.patient_id.empty() || facts.effective.start == kNoTime ||
      facts.status == "entered-in-error" || facts.status == "cancelled") {
    return;
  }
  // The same order of precedence as scoring over the lake (scores/inpatient_news2.cc).
  if (auto acvpu = scores::AcvpuOf(facts.codings)) {
    out.push_back({scores::Parameter::kConsciousness, static_cast<double>(*acvpu)});
    return;
  }
  for (const fhir::Coding& c : facts.codings) {
    if (c.system != kLoinc) continue;
    if (c.code == kBpPanel) {
      if (auto components = observation.Find("component")) {
        components->ForEachItem([&](json::Node comp) {
          auto code = comp.Find("code");
          if (!code || !HasCode(*code, kSystolic)) return true;
          if (auto q = comp.Find("valueQuantity")) {
            // A bound ("<91") is no reading: NEWS2 scores exact values only.
            if (auto v = scores::SystolicOfComponent(*q)) {
              out.push_back({scores::Parameter::kSystolicBp, *v});
            }
          }
          return false;
        });
      }
      return;
    }
    // Only a top-level value is a reading: a statistic over an interval keeps its value in a
    // component (as scores/inpatient_news2.cc says).
    if (std::isnan(facts.value)) continue;
    if (auto v = scores::VitalFromQuantity(c.code, facts.value, facts.unit)) {
      out.push_back(*v);
      return;
    }
  }
}

}  // namespace medlake::watch
