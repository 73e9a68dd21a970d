// Procedures of one patient: imaging procedures, PCI for myocardial infarction, maintenance
// haemodialysis for CKD stage 5, screening and surveillance colonoscopy (docs/synth.md,
// "Procedures"). Drawn from the patient's own kProcedures random stream after the timeline,
// so adding them changed no other draw.
#include <algorithm>

#include "synth/population.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

constexpr double kMsPerYear = 365.2425 * kMsPerDay;
// Share of myocardial-infarction admissions treated by PCI.
constexpr double kPciShare = 0.65;
// Screening colonoscopies per person-year at ages 50-74, surveillance colonoscopies per
// person-year after colorectal cancer.
constexpr double kScreeningColonoscopyRate = 0.015;
constexpr double kSurveillanceColonoscopyRate = 0.33;

// Minutes an imaging procedure takes, by modality (CR, CT, MR, US).
constexpr int kImagingMinutes[] = {10, 15, 40, 20};

bool Overlaps(const PatientStory& s, int64_t start, int64_t end) {
  for (const EncounterRec& e : s.encounters) {
    if (e.start < end && start < e.end) return true;
  }
  return false;
}

// Puts every imaging study inside an encounter: a study drawn after its emergency visit ended
// (the MRI of a stroke, 20 h later) moves to the stay the visit led to; otherwise it moves
// into its encounter, which is lengthened when the study does not fit (clinic visits last
// 20 minutes).
void AlignImaging(PatientStory& s) {
  for (ImagingRec& r : s.imaging) {
    const int64_t duration = kImagingMinutes[r.modality] * 60'000;
    EncounterRec& e = s.encounters[r.encounter];
    if (r.time >= e.start && r.time + duration <= e.end) continue;
    bool moved = false;
    for (size_t k = 0; k < s.encounters.size() && !moved; ++k) {
      const EncounterRec& other = s.encounters[k];
      if (other.cls != EncounterClass::kAmbulatory && r.time >= other.start &&
          r.time + duration <= other.end) {
        r.encounter = static_cast<int>(k);
        moved = true;
      }
    }
    if (moved) continue;
    r.time = std::max(e.start, std::min(r.time, e.end - duration));
    int64_t next_start = INT64_MAX;
    for (const EncounterRec& other : s.encounters) {
      if (other.start >= e.end) next_start = std::min(next_start, other.start);
    }
    e.end = std::max(e.end, std::min(r.time + duration, next_start));
  }
}

// Restores the chronological order of the encounters after planned ones were appended, and
// renumbers every reference to them.
void SortEncounters(PatientStory& s) {
  std::vector<int> order(s.encounters.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&s](int a, int b) { return s.encounters[a].start < s.encounters[b].start; });
  std::vector<int> renumber(order.size());
  std::vector<EncounterRec> sorted;
  sorted.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    renumber[order[i]] = static_cast<int>(i);
    sorted.push_back(std::move(s.encounters[order[i]]));
  }
  s.encounters = std::move(sorted);
  auto fix = [&renumber](int& encounter) {
    if (encounter >= 0) encounter = renumber[encounter];
  };
  for (ConditionRec& r : s.conditions) fix(r.encounter);
  for (MedicationRec& r : s.medications) fix(r.encounter);
  for (LabRec& r : s.labs) fix(r.encounter);
  for (VitalSet& r : s.vitals) fix(r.encounter);
  for (ImagingRec& r : s.imaging) fix(r.encounter);
  for (ProcedureRec& r : s.procedures) fix(r.encounter);
}

int ConditionIndex(const PatientStory& s, int condition) {
  for (size_t i = 0; i < s.conditions.size(); ++i) {
    if (s.conditions[i].condition == condition) return static_cast<int>(i);
  }
  return -1;
}

// Adds an ambulatory encounter [start, end) for a planned procedure; returns its index.
int AddAmbulatoryEncounter(PatientStory& s, int64_t start, int64_t end, int reason) {
  EncounterRec e;
  e.cls = EncounterClass::kAmbulatory;
  e.start = start;
  e.end = end;
  e.reason = reason;
  s.encounters.push_back(std::move(e));
  return static_cast<int>(s.encounters.size()) - 1;
}

}  // namespace

void PopulationModel::DrawProcedures(Rng& rng, PatientStory& s) const {
  AlignImaging(s);
  for (size_t i = 0; i < s.imaging.size(); ++i) {
    const ImagingRec& r = s.imaging[i];
    ProcedureRec p;
    p.procedure = r.modality;  // kRadiography + modality
    p.start = r.time;
    p.encounter = r.encounter;
    p.end = std::min(r.time + kImagingMinutes[r.modality] * 60'000, s.encounters[p.encounter].end);
    p.condition = p.encounter >= 0 ? s.encounters[p.encounter].reason : -1;
    p.imaging = static_cast<int>(i);
    s.procedures.push_back(p);
  }
  // Encounters added below for planned procedures come after the hospital ones.
  const size_t hospital_encounters = s.encounters.size();
  for (size_t k = 0; k < hospital_encounters; ++k) {
    const EncounterRec& e = s.encounters[k];
    if (e.cls != EncounterClass::kInpatient || e.reason < 0 ||
        s.conditions[e.reason].condition != kMyocardialInfarction || !rng.Bernoulli(kPciShare)) {
      continue;
    }
    ProcedureRec p;
    p.procedure = kPercutaneousCoronaryIntervention;
    p.start = e.start + static_cast<int64_t>(rng.Uniform(0.25, 1.5) * kMsPerHour);
    p.end = std::min(e.end, p.start + static_cast<int64_t>(rng.Uniform(0.5, 1.5) * kMsPerHour));
    p.encounter = static_cast<int>(k);
    p.condition = e.reason;
    s.procedures.push_back(p);
  }
  const int64_t last = s.death == kNever ? window_end_ : std::min(window_end_, s.death);
  if (s.on_dialysis) {
    // Thrice weekly, on Monday, Wednesday and Friday (or Tuesday, Thursday, Saturday) from
    // 07:30 or 13:00, four hours; sessions fall away during hospital stays.
    const int64_t shift = rng.Bernoulli(0.5) ? 0 : 1;
    const int64_t clock = rng.Bernoulli(0.5) ? 7 * kMsPerHour + kMsPerHour / 2 : 13 * kMsPerHour;
    const int ckd = ConditionIndex(s, kChronicKidneyDisease);
    for (int64_t day = DayOf(window_start_); day * kMsPerDay < last; ++day) {
      const int64_t weekday = (day + 3) % 7;  // 1970-01-01 was a Thursday; 0 = Monday
      if (weekday != shift && weekday != shift + 2 && weekday != shift + 4) continue;
      const int64_t start = day * kMsPerDay + clock;
      const int64_t end = start + 4 * kMsPerHour;
      if (start < window_start_ || end > last || Overlaps(s, start, end)) continue;
      ProcedureRec p;
      p.procedure = kHaemodialysis;
      p.start = start;
      p.end = end;
      p.condition = ckd;
      p.encounter = AddAmbulatoryEncounter(s, start, end, ckd);
      s.procedures.push_back(p);
    }
  }
  const int crc = ConditionIndex(s, kColorectalCancer);
  for (int64_t t = window_start_;;) {
    const double age = static_cast<double>(DayOf(t) - s.birth_day) / 365.2425;
    const double rate = crc >= 0                ? kSurveillanceColonoscopyRate
                        : age >= 50 && age < 75 ? kScreeningColonoscopyRate
                                                : 0;
    if (rate == 0 && age >= 75) break;
    // Ages below 50 step forward a year at a time until screening age.
    t += rate > 0 ? static_cast<int64_t>(rng.Exponential(rate) * kMsPerYear)
                  : static_cast<int64_t>(kMsPerYear);
    if (t >= last) break;
    if (rate == 0) continue;
    const int64_t start = DayOf(t) * kMsPerDay + 9 * kMsPerHour;
    const int64_t end = start + static_cast<int64_t>(rng.Uniform(0.5, 1) * kMsPerHour);
    if (start < window_start_ || end > last || Overlaps(s, start, end)) continue;
    ProcedureRec p;
    p.procedure = kColonoscopy;
    p.start = start;
    p.end = end;
    p.condition = crc;
    p.encounter = AddAmbulatoryEncounter(s, start, end, crc);
    s.procedures.push_back(p);
  }
  if (s.encounters.size() > hospital_encounters) SortEncounters(s);
}

}  // namespace medlake::synth
