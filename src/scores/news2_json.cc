#include "scores/news2_json.h"

#include <nlohmann/json.hpp>

#include "common/fhir_time.h"

namespace medlake::scores {

std::vector<std::string> ParameterNames(uint8_t mask) {
  std::vector<std::string> out;
  for (size_t p = 0; p < kParameterCount; ++p) {
    if (mask & (1u << p)) out.emplace_back(ParameterName(static_cast<Parameter>(p)));
  }
  return out;
}

std::string News2Json(const News2JsonFields& f, std::string_view extra_members) {
  const News2Result& n = f.news2;
  nlohmann::ordered_json j;
  j["patient"] = f.patient_id;
  j["encounter"] = f.encounter_id.empty() ? nlohmann::ordered_json() : f.encounter_id;
  j["time"] = FormatUtc(n.at_ms);
  j["score"] = n.aggregate;
  j["band"] = std::string(BandName(n.band));
  j["complete"] = n.complete();
  j["scale"] = n.scale == SpO2Scale::kScale2 ? 2 : 1;
  j["subscores"] = nlohmann::ordered_json::object();
  for (size_t p = 0; p < kParameterCount; ++p) {
    if (n.subscores[p] >= 0)
      j["subscores"][std::string(ParameterName(static_cast<Parameter>(p)))] = n.subscores[p];
  }
  j["missing"] = ParameterNames(n.missing_mask);
  j["stale"] = ParameterNames(n.stale_mask);
  j["single_parameter_red"] = n.single_parameter_red;
  auto response = ResponseFor(n.aggregate, n.single_parameter_red, n.complete());
  j["monitoring"] = std::string(response.monitoring);
  j["response"] = std::string(response.response);
  j["qsofa"] = f.qsofa.score;
  j["location"] = f.location.empty() ? nlohmann::ordered_json() : f.location;
  std::string out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!extra_members.empty()) {
    out.pop_back();
    out += ',';
    out += extra_members;
    out += '}';
  }
  return out;
}

}  // namespace medlake::scores
