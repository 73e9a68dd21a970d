#include "watch/live_news2.h"

#include <algorithm>

namespace medlake::watch {

using scores::Parameter;

StringMap<LiveNews2::Patient>::iterator LiveNews2::Find(std::string_view patient_id) {
  auto it = patients_.find(patient_id);
  if (it == patients_.end()) {
    it = patients_.emplace(std::string(patient_id), Patient()).first;
    if (scale_two_.count(patient_id)) it->second.scale = scores::SpO2Scale::kScale2;
  }
  return it;
}

void LiveNews2::SetScaleTwo(std::vector<std::string> patient_ids) {
  for (auto& id : patient_ids) scale_two_.emplace(std::move(id), true);
}

void LiveNews2::UpdateStay(std::string_view patient_id, std::string encounter_id,
                           std::string location) {
  Patient& p = Find(patient_id)->second;
  p.encounter_id = std::move(encounter_id);
  p.location = std::move(location);
}

void LiveNews2::EndStay(std::string_view patient_id, std::string_view encounter_id) {
  auto it = patients_.find(patient_id);
  if (it == patients_.end() || it->second.encounter_id != encounter_id) return;
  it->second.encounter_id.clear();
  it->second.location.clear();
}

void LiveNews2::Seed(std::string_view patient_id, const scores::PatientVitals& vitals,
                     scores::SpO2Scale scale, int64_t at_ms, std::string encounter_id,
                     std::string location) {
  Patient& p = Find(patient_id)->second;
  p.vitals = vitals;
  p.scale = scale;
  // Scored later at its latest reading's time, like any patient (the band is the one at
  // `at_ms`): a reading replayed from the past is not scored at the time watch started.
  p.latest_ms = INT64_MIN;
  for (size_t i = 0; i < scores::kParameterCount; ++i) {
    p.latest_ms = std::max(p.latest_ms, vitals.time_of(static_cast<Parameter>(i)));
  }
  p.band = vitals.News2(at_ms, scale, options_).band;
  p.encounter_id = std::move(encounter_id);
  p.location = std::move(location);
}

bool LiveNews2::Add(std::string_view patient_id, Parameter parameter, int64_t time_ms, double value,
                    std::string_view observation_id) {
  if (!scores::IsValidReading(parameter, value)) return false;
  auto it = Find(patient_id);
  Patient& p = it->second;
  // An older reading than the one held changes nothing (PatientVitals keeps the latest), and
  // the basis follows the value held; the value it replaces is kept for a retraction.
  const size_t i = static_cast<size_t>(parameter);
  const int64_t held = p.vitals.time_of(parameter);
  if (time_ms >= held && held != INT64_MIN && p.observation[i] != observation_id) {
    p.replaced[i] = {held, p.vitals.value_of(parameter), p.observation[i]};
  }
  p.vitals.Add(parameter, time_ms, value);
  if (p.vitals.time_of(parameter) == time_ms) p.observation[i].assign(observation_id);
  if (time_ms > p.latest_ms) p.latest_ms = time_ms;
  p.last_reading_ms = time_ms;
  MarkDirty(&it->first, p);
  return true;
}

void LiveNews2::MarkDirty(const std::string* id, Patient& p) {
  if (!p.dirty) {
    p.dirty = true;
    dirty_.emplace_back(id, &p);
  }
}

bool LiveNews2::Retract(std::string_view patient_id, std::string_view observation_id) {
  auto it = patients_.find(patient_id);
  if (it == patients_.end() || observation_id.empty()) return false;
  Patient& p = it->second;
  bool found = false;
  for (size_t i = 0; i < scores::kParameterCount; ++i) {
    auto parameter = static_cast<Parameter>(i);
    if (p.observation[i] == observation_id) {
      Patient::Replaced& r = p.replaced[i];
      p.vitals.Reset(parameter, r.time, r.value);
      p.observation[i] = std::move(r.observation);
      r = Patient::Replaced();
      found = true;
    } else if (p.replaced[i].observation == observation_id) {
      p.replaced[i] = Patient::Replaced();
    }
  }
  if (found) MarkDirty(&it->first, p);
  return found;
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
