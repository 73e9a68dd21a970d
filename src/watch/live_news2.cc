#include "watch/live_news2.h"

namespace medlake::watch {

using scores::Parameter;

LiveNews2::Patient& LiveNews2::Find(std::string_view patient_id, bool* created) {
  auto it = patients_.find(patient_id);
  *created = it == patients_.end();
  if (*created) it = patients_.emplace(std::string(patient_id), Patient()).first;
  return it->second;
}

void LiveNews2::Seed(std::string_view patient_id, const scores::PatientVitals& vitals,
                     scores::SpO2Scale scale, int64_t at_ms, std::string encounter_id,
                     std::string location) {
  bool created;
  Patient& p = Find(patient_id, &created);
  (void)created;
  p.vitals = vitals;
  p.scale = scale;
  p.latest_ms = at_ms;
  p.band = vitals.News2(at_ms, scale, options_).band;
  p.encounter_id = std::move(encounter_id);
  p.location = std::move(location);
}

bool LiveNews2::Add(std::string_view patient_id, Parameter parameter, int64_t time_ms, double value,
                    std::string_view observation_id) {
  if (!scores::IsValidReading(parameter, value)) return false;
  auto it = patients_.find(patient_id);
  if (it == patients_.end()) it = patients_.emplace(std::string(patient_id), Patient()).first;
  Patient& p = it->second;
  // An older reading than the one held changes nothing (PatientVitals keeps the latest), and
  // the basis follows the value held.
  p.vitals.Add(parameter, time_ms, value);
  if (p.vitals.time_of(parameter) == time_ms)
    p.observation[static_cast<size_t>(parameter)].assign(observation_id);
  if (time_ms > p.latest_ms) p.latest_ms = time_ms;
  p.last_reading_ms = time_ms;
  if (!p.dirty) {
    p.dirty = true;
    dirty_.emplace_back(&it->first, &p);
  }
  return true;
}

size_t LiveNews2::Evaluate(std::vector<Alert>& alerts) {
  size_t scored = dirty_.size();
  for (auto [id, p] : dirty_) {
    p->dirty = false;
    scores::News2Result n = p->vitals.News2(p->latest_ms, p->scale, options_);
    auto previous = p->band;
    p->band = n.band;
    auto rank = [](scores::RiskBand b) { return static_cast<int>(b); };
    int before = previous ? rank(*previous) : rank(scores::RiskBand::kLow);
    if (rank(n.band) <= before) continue;
    Alert a;
    a.patient_id = *id;
    a.encounter_id = p->encounter_id;
    a.location = p->location;
    a.news2 = n;
    a.qsofa = p->vitals.QSofa(p->latest_ms, options_);
    a.previous_band = previous;
    a.reading_ms = p->last_reading_ms;
    for (size_t i = 0; i < scores::kParameterCount; ++i) {
      // Only the values that were scored: present and within their window.
      if (n.subscores[i] >= 0 && !p->observation[i].empty()) {
        a.basis.push_back(p->observation[i]);
      }
    }
    alerts.push_back(std::move(a));
  }
  dirty_.clear();
  return scored;
}

std::optional<scores::RiskBand> LiveNews2::band(std::string_view patient_id) const {
  auto it = patients_.find(patient_id);
  if (it == patients_.end()) return std::nullopt;
  return it->second.band;
}

}  // namespace medlake::watch
