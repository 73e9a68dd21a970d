// Medications, encounters, labs and vital signs of one patient: the timeline half of the
// population model (docs/synth.md, "Latent model").
#include <algorithm>
#include <cmath>

#include "synth/pgx.h"
#include "synth/population.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

constexpr double kMsPerYear = 365.2425 * kMsPerDay;
constexpr size_t kMaxEncounters = 300;
// Share of CKD stage 3-5 patients in stage 5 on maintenance haemodialysis (docs/synth.md).
constexpr double kDialysisShareOfCkd = 0.012;

int64_t Hours(double h) {
  return static_cast<int64_t>(h * kMsPerHour);
}
int64_t Days(double d) {
  return static_cast<int64_t>(d * kMsPerDay);
}

// What happens during one inpatient stay, used to shape vital signs and labs.
struct StayPlan {
  int64_t admit = 0;
  int64_t discharge = 0;
  int64_t det_start = kNever;
  int64_t event = kNever;
  int64_t icu_start = kNever;
  int64_t icu_end = kNever;
  bool died = false;
  bool infection = false;
  double acute_amplitude = 0.2;
};

// Acuity in [0, 1.1] at time t: the acute illness fading, plus the deterioration ramp.
double Severity(const StayPlan& p, int64_t t) {
  double s = p.acute_amplitude * std::exp(-static_cast<double>(t - p.admit) / Hours(36));
  if (p.det_start != kNever && t >= p.det_start) {
    if (t <= p.event) {
      s += 0.95 * static_cast<double>(t - p.det_start) / static_cast<double>(p.event - p.det_start);
    } else if (p.died) {
      s += 0.95;
    } else if (p.icu_start != kNever) {
      if (t < p.icu_end) {
        s +=
            0.9 - 0.6 * static_cast<double>(t - p.event) / static_cast<double>(p.icu_end - p.event);
      } else {
        s += 0.3 * std::exp(-static_cast<double>(t - p.icu_end) / Hours(24));
      }
    } else {
      s += 0.9 * std::exp(-static_cast<double>(t - p.event) / Hours(12));
    }
  }
  return std::min(s, 1.1);
}

// Normal resting vital signs by age: mean and standard deviation of the patient's heart rate
// and systolic pressure, mean respiratory rate. Children: the normal ranges of Advanced
// Paediatric Life Support (Advanced Life Support Group, APLS, 6th ed., 2016), taken as mean
// +- 2 SD: under 1 year RR 30-40, HR 110-160, SBP 70-90; 1-2 years 25-35, 100-150, 80-95;
// 2-5 years 25-30, 95-140, 80-100; 5-12 years 20-25, 80-120, 90-110; over 12 years 15-20,
// 60-100, 100-120. Adults (18 and over): the model's own calibration.
struct VitalNorms {
  double hr_mean, hr_sd, rr_mean, sbp_mean, sbp_sd;
};

VitalNorms VitalNormsAt(double age) {
  if (age < 1) return {135, 12.5, 35, 80, 5};
  if (age < 2) return {125, 12.5, 30, 87.5, 3.75};
  if (age < 5) return {117.5, 11.25, 27.5, 90, 5};
  if (age < 12) return {100, 10, 22.5, 100, 5};
  if (age < 18) return {80, 10, 17.5, 110, 5};
  return {74, 7, 15, 124, 10};
}

struct AcuteProfile {
  double los_median_days;
  double severity;   // added to the deterioration log-odds
  double amplitude;  // initial acuity
  bool infection;
  uint8_t ward;
};

AcuteProfile ProfileOf(int condition) {
  switch (condition) {
    case kPneumonia:
      return {5, 0.5, 0.35, true, kWardRespiratory};
    case kSepsis:
      return {8, 1.3, 0.5, true, kWardMedicine};
    case kMyocardialInfarction:
      return {4, 0.4, 0.3, false, kWardCardiology};
    case kStroke:
      return {8, 0.3, 0.25, false, kWardNeurology};
    case kHipFracture:
      return {9, 0.1, 0.15, false, kWardSurgery};
    case kUrinaryTractInfection:
      return {4, 0.0, 0.25, true, kWardMedicine};
    case kCopdExacerbation:
      return {5, 0.3, 0.4, true, kWardRespiratory};
    case kHeartFailure:
      return {6, 0.4, 0.35, false, kWardCardiology};
    default:
      return {4, 0.0, 0.2, false, kWardMedicine};
  }
}

class TimelineBuilder {
 public:
  TimelineBuilder(const PopulationModel& model, Rng& rng, PatientStory& story)
      : m_(model), rng_(rng), s_(story) {
    for (const ConditionRec& c : s_.conditions) mask_ |= 1u << c.condition;
    const bool male = s_.sex == Sex::kMale;
    creatinine_base_ = (male ? 84.0 : 68.0) * std::exp(0.12 * rng_.Normal()) *
                       (Has(kChronicKidneyDisease) ? (s_.on_dialysis ? 5.5 : 2.3) : 1.0);
    // The patient's place within the normal range of their age (VitalNormsAt).
    hr_z_ = rng_.Normal();
    spo2_base_ = Has(kCopd) ? rng_.Normal(93, 1) : rng_.Normal(97.5, 0.8);
    sbp_z_ = rng_.Normal();
  }

  void Run();

 private:
  bool Has(int c) const { return (mask_ >> c) & 1u; }
  double AgeAt(int64_t t) const { return static_cast<double>(DayOf(t) - s_.birth_day) / 365.2425; }
  void AmbulatoryVisit(int64_t t);
  // Returns the discharge time of an admission it caused, or kNever.
  int64_t EmergencyVisit(int64_t t, bool force_admit);
  int64_t InpatientStay(int64_t admit, int reason_index);
  int DrawAcuteReason(double age);
  int RandomBed(int ward) {
    return m_.FirstBed(ward) + static_cast<int>(rng_.UniformInt(0, m_.BedsInWard(ward) - 1));
  }
  void AddLab(int lab, int64_t t, int encounter, double severity, int reason);
  void AddLabs(std::initializer_list<int> labs, int64_t t, int encounter, double severity,
               int reason) {
    for (int lab : labs) AddLab(lab, t, encounter, severity, reason);
  }
  void AddVitals(const StayPlan& plan, int encounter);
  void AddImaging(int64_t t, int encounter, int reason);
  // Nothing when `med` is not prescribed at the patient's age (terminology.h, PrescribedAt).
  void AddMedication(int med, int64_t start, int64_t stop, int condition, int encounter) {
    const double age = AgeAt(start);
    if (!PrescribedAt(static_cast<uint8_t>(med), age)) return;
    MedicationRec r;
    r.dose_band = static_cast<uint8_t>(DoseBandAt(age));
    r.medication = static_cast<uint8_t>(med);
    r.start = start;
    r.stop = stop;
    r.condition = condition;
    r.encounter = encounter;
    s_.medications.push_back(r);
  }

  const PopulationModel& m_;
  Rng& rng_;
  PatientStory& s_;
  uint32_t mask_ = 0;
  double creatinine_base_;
  double hr_z_;
  double spo2_base_;
  double sbp_z_;
  double last_creatinine_ = 0;
  int64_t forced_readmission_ = kNever;
};

void TimelineBuilder::Run() {
  const int64_t w0 = m_.window_start();
  const int64_t w1 = m_.window_end();
  const double age0 = s_.age_at_start;
  const double z = s_.latent;
  const int n = s_.chronic_count;
  // Out-of-hospital death: Gompertz hazard per year.
  double hazard = std::exp(-11.55 + 0.092 * age0 + 0.35 * z + 0.12 * n);
  if (Has(kLungCancer)) hazard *= 3;
  const int64_t natural_death = w0 + static_cast<int64_t>(rng_.Exponential(hazard) * kMsPerYear);
  const double amb_rate = (0.6 + 0.8 * n) / kMsPerYear;
  s_.admission_rate = 0.08 + 0.12 * std::exp(0.025 * (age0 - 50) + 0.18 * n + 0.35 * z);
  const double ed_rate = s_.admission_rate / kMsPerYear;
  int64_t next_amb = w0 + static_cast<int64_t>(rng_.Exponential(amb_rate));
  int64_t next_ed = w0 + static_cast<int64_t>(rng_.Exponential(ed_rate));
  while (s_.encounters.size() < kMaxEncounters) {
    const bool forced = forced_readmission_ != kNever && forced_readmission_ <= next_ed &&
                        forced_readmission_ <= next_amb;
    const int64_t t = forced ? forced_readmission_ : std::min(next_amb, next_ed);
    if (t >= w1 || t >= natural_death) break;
    if (forced) {
      forced_readmission_ = kNever;
      const int64_t discharge = EmergencyVisit(t, true);
      if (s_.death != kNever) return;
      next_ed = discharge + static_cast<int64_t>(rng_.Exponential(ed_rate));
      next_amb = std::max(next_amb, discharge + kMsPerDay);
    } else if (next_amb <= next_ed) {
      AmbulatoryVisit(t);
      // The visit's clock time may be later than t: nothing else starts before it ends.
      next_ed = std::max(next_ed, s_.encounters.back().end + Hours(1));
      next_amb = s_.encounters.back().end + static_cast<int64_t>(rng_.Exponential(amb_rate));
    } else {
      const int64_t discharge = EmergencyVisit(t, false);
      if (s_.death != kNever) return;
      const int64_t after = discharge == kNever ? t + Hours(8) : discharge;
      next_ed = after + static_cast<int64_t>(rng_.Exponential(ed_rate));
      next_amb = std::max(next_amb, after + kMsPerDay);
    }
  }
  if (natural_death < w1) {
    // A death drawn during a stay the patient survived moves to after the discharge; moved past
    // the window's end, the patient is alive at the end of the window (no death).
    int64_t last_end = 0;
    for (const EncounterRec& e : s_.encounters) last_end = std::max(last_end, e.end);
    const int64_t death = std::max(natural_death, last_end + kMsPerDay);
    if (death < w1) s_.death = death;
  }
}

void TimelineBuilder::AmbulatoryVisit(int64_t t) {
  const int64_t day_start = DayOf(t) * kMsPerDay;
  int64_t start = day_start + Hours(8) + rng_.UniformInt(0, 36) * Hours(0.25);
  if (!s_.encounters.empty()) start = std::max(start, s_.encounters.back().end + Hours(0.25));
  EncounterRec e;
  e.cls = EncounterClass::kAmbulatory;
  e.start = start;
  e.end = start + Hours(1.0 / 3);
  if (s_.chronic_count > 0) {
    e.reason = static_cast<int>(rng_.UniformInt(0, s_.chronic_count - 1));
  }
  const int idx = static_cast<int>(s_.encounters.size());
  s_.encounters.push_back(std::move(e));
  const int64_t lab_time = start + Hours(0.25);
  bool any = false;
  if (Has(kType2Diabetes)) {
    AddLabs({kHbA1c, kGlucose}, lab_time, idx, 0, -1);
    any = true;
  }
  if (Has(kChronicKidneyDisease) || Has(kHeartFailure)) {
    AddLabs({kCreatinine, kEgfr, kPotassium, kSodium}, lab_time, idx, 0, -1);
    any = true;
  }
  if (!any && rng_.Bernoulli(0.3)) {
    AddLabs({kHaemoglobin, kCreatinine, kEgfr, kSodium, kPotassium}, lab_time, idx, 0, -1);
  }
  if (rng_.Bernoulli(0.03)) AddImaging(start + Hours(0.5), idx, -1);
}

int TimelineBuilder::DrawAcuteReason(double age) {
  const bool old = age >= 75;
  const bool adult = age >= 18;
  const bool female = s_.sex == Sex::kFemale;
  // Myocardial infarction and stroke are adult reasons: children's arterial ischaemic stroke
  // is about 1.6 per 100,000 a year (Mallick et al., Lancet Neurol 2014;13:35-43) and their
  // MI rarer still. Femoral-neck fractures are rare in children (under 1 % of their
  // fractures, high-energy trauma; Boardman et al., J Am Acad Orthop Surg 2009;17:162-73) and
  // in adults under 50, and rise steeply with age.
  const double hip = age < 18 ? 0 : age < 50 ? 0.05 : age <= 70 ? 0.3 : 2.5;
  const double w[] = {
      3.0 + (Has(kCopd) ? 2 : 0) + (old ? 2 : 0),             // pneumonia
      1.2 + (old ? 1 : 0) + (Has(kType2Diabetes) ? 0.8 : 0),  // sepsis
      adult ? (age > 40 ? 1.0 : 0.05) + (age > 50 && !female ? 1.5 : 0) +
                  (Has(kHypertension) ? 0.8 : 0)
            : 0.0,  // myocardial infarction
      adult ? (age > 40 ? 0.8 : 0.05) + (Has(kAtrialFibrillation) ? 2 : 0) +
                  (Has(kHypertension) ? 0.7 : 0)
            : 0.0,                               // stroke
      hip * (female ? 1.5 : 1.0),                // hip fracture
      2.0 + (female ? 1 : 0) + (old ? 1.5 : 0),  // UTI
      Has(kCopd) ? 5.0 : 0.0,                    // COPD exac.
      Has(kHeartFailure) ? 4.0 : 0.0,            // HF decomp.
  };
  double cum[8];
  double total = 0;
  for (int i = 0; i < 8; ++i) cum[i] = total += w[i];
  const int pick = static_cast<int>(rng_.Weighted(cum, 8));
  if (pick == 7) {
    for (size_t i = 0; i < s_.conditions.size(); ++i) {
      if (s_.conditions[i].condition == kHeartFailure) return static_cast<int>(i);
    }
  }
  ConditionRec c;
  c.condition = static_cast<uint8_t>(kPneumonia + std::min(pick, 6));
  s_.conditions.push_back(c);
  return static_cast<int>(s_.conditions.size() - 1);
}

int64_t TimelineBuilder::EmergencyVisit(int64_t t, bool force_admit) {
  const double age = AgeAt(t);
  int64_t start = t - t % 60'000;
  if (!s_.encounters.empty()) start = std::max(start, s_.encounters.back().end + 60'000);
  const int64_t end = start + Hours(rng_.Uniform(2, 8));
  const int reason = DrawAcuteReason(age);
  const int condition = s_.conditions[reason].condition;
  const bool acute_record = condition >= kNumChronic;
  if (acute_record) s_.conditions[reason].onset = start;
  const double p_admit = Logistic(-1.2 + 0.03 * (age - 60) + 0.2 * s_.chronic_count +
                                  0.3 * s_.latent + (condition == kSepsis ? 2.5 : 0) +
                                  (condition == kHipFracture || condition == kStroke ? 3 : 0));
  const bool admit = force_admit || rng_.Bernoulli(p_admit);
  EncounterRec e;
  e.cls = EncounterClass::kEmergency;
  e.start = start;
  e.end = end;
  e.reason = reason;
  const int ed_bed = RandomBed(kWardEmergency);
  e.beds.push_back({ed_bed, start, end});
  e.disposition = Disposition::kHome;
  const int idx = static_cast<int>(s_.encounters.size());
  s_.encounters.push_back(std::move(e));
  if (acute_record) s_.conditions[reason].encounter = idx;
  const AcuteProfile profile = ProfileOf(condition);
  const int64_t lab_time = start + Hours(0.5);
  AddLabs({kHaemoglobin, kLeukocytes, kCrp, kCreatinine, kEgfr, kSodium, kPotassium, kGlucose},
          lab_time, idx, profile.amplitude, condition);
  if (profile.infection) AddLab(kLactate, lab_time, idx, profile.amplitude, condition);
  if (condition == kMyocardialInfarction || condition == kHeartFailure || rng_.Bernoulli(0.15)) {
    AddLab(kTroponin, lab_time, idx, profile.amplitude, condition);
  }
  AddImaging(start + Hours(1), idx, condition);
  if (!admit) {
    if (condition == kPneumonia || condition == kUrinaryTractInfection) {
      AddMedication(kAmoxicillin, end, end + Days(7), reason, idx);
    }
    if (acute_record) s_.conditions[reason].abatement = end + Days(14);
    return kNever;
  }
  s_.encounters[idx].disposition = Disposition::kAdmitted;
  return InpatientStay(end, reason);
}

int64_t TimelineBuilder::InpatientStay(int64_t admit, int reason) {
  const double age = AgeAt(admit);
  const double z = s_.latent;
  const int n = s_.chronic_count;
  const int condition = s_.conditions[reason].condition;
  const AcuteProfile profile = ProfileOf(condition);
  StayPlan p;
  p.admit = admit;
  p.infection = profile.infection;
  p.acute_amplitude = profile.amplitude;
  const double los = std::clamp(
      profile.los_median_days * std::exp(0.012 * (age - 65)) * std::exp(rng_.Normal(0, 0.45)), 0.8,
      45.0);
  p.discharge = admit + Days(los);
  EncounterRec e;
  e.cls = EncounterClass::kInpatient;
  e.start = admit;
  e.reason = reason;
  e.p_deterioration = Logistic(-3.1 + 0.035 * (age - 65) + 0.25 * n + 0.55 * z + profile.severity);
  const double p_death_det = Logistic(-1.5 + 0.045 * (age - 70) + 0.3 * z + 0.15 * n);
  const double p_death_base = Logistic(-6.2 + 0.06 * (age - 65) + 0.3 * n + 0.4 * z);
  e.p_death = e.p_deterioration * p_death_det + (1 - e.p_deterioration) * p_death_base;
  int64_t death = kNever;
  if (rng_.Bernoulli(e.p_deterioration)) {
    e.deteriorated = true;
    p.det_start = admit + Hours(rng_.Uniform(12, std::max(13.0, 0.6 * los * 24)));
    p.event = p.det_start + Hours(rng_.Uniform(6, 24));
    e.icu = rng_.Bernoulli(Logistic(0.3 - 0.06 * (age - 75)));
    p.died = rng_.Bernoulli(p_death_det);
    if (e.icu) {
      p.icu_start = p.event;
      p.icu_end = p.icu_start + Days(rng_.Uniform(1, 6));
      if (p.died) {
        death = p.icu_start + Hours(rng_.Uniform(6, 24.0 * (p.icu_end - p.icu_start) / kMsPerDay));
        p.icu_end = death;
        p.discharge = death;
      } else {
        p.discharge = p.icu_end + Days(rng_.Uniform(1, 4));
      }
    } else if (p.died) {
      death = p.event + Hours(rng_.Uniform(0, 6));
      p.discharge = death;
    } else {
      p.discharge = std::max(p.discharge, p.event + Days(rng_.Uniform(2, 5)));
    }
  } else if (rng_.Bernoulli(p_death_base)) {
    p.died = true;
    death = admit + Hours(rng_.Uniform(24, std::max(25.0, los * 24)));
    p.det_start = std::max(admit + Hours(1), death - Hours(rng_.Uniform(6, 24)));
    p.event = death;
    p.discharge = death;
  }
  e.end = p.discharge;
  e.deterioration_start = p.det_start;
  e.died = p.died;
  // Ward and bed history.
  const int bed0 = RandomBed(profile.ward);
  if (p.icu_start != kNever) {
    e.beds.push_back({bed0, admit, p.icu_start});
    e.beds.push_back({RandomBed(kWardIcu), p.icu_start, p.icu_end});
    if (!p.died) e.beds.push_back({RandomBed(profile.ward), p.icu_end, p.discharge});
  } else if (p.discharge - admit > Days(2) && rng_.Bernoulli(0.12)) {
    const int64_t move =
        admit + static_cast<int64_t>((p.discharge - admit) * rng_.Uniform(0.3, 0.7));
    e.beds.push_back({bed0, admit, move});
    e.beds.push_back({RandomBed(kWardMedicine), move, p.discharge});
  } else {
    e.beds.push_back({bed0, admit, p.discharge});
  }
  if (p.died) {
    e.disposition = Disposition::kExpired;
  } else if (rng_.Bernoulli(age > 75 ? 0.2 : 0.05)) {
    e.disposition = Disposition::kOtherFacility;
  }
  int prior = 0;
  for (const EncounterRec& other : s_.encounters) {
    if (other.cls == EncounterClass::kInpatient && other.end > admit - Days(365)) ++prior;
  }
  e.p_readmission = p.died ? 0
                           : Logistic(-2.9 + 0.25 * n + 0.4 * z + 0.01 * (age - 65) +
                                      0.35 * std::min(prior, 3) + (los > 7 ? 0.4 : 0) +
                                      (e.disposition == Disposition::kOtherFacility ? 0.2 : 0));
  const int idx = static_cast<int>(s_.encounters.size());
  s_.encounters.push_back(std::move(e));
  const EncounterRec& enc = s_.encounters.back();
  // Treatment.
  switch (condition) {
    case kPneumonia:
    case kUrinaryTractInfection:
      AddMedication(kAmoxicillin, admit + Hours(1), admit + Days(7), reason, idx);
      break;
    case kSepsis:
      AddMedication(kCeftriaxone, admit + Hours(1), admit + Days(7), reason, idx);
      break;
    case kMyocardialInfarction:
    case kStroke:
      AddMedication(kClopidogrel, admit + Hours(2), admit + Days(365), reason, idx);
      break;
    default:
      break;
  }
  // Daily labs at 06:00, lactate while deteriorating.
  for (int64_t day = DayOf(admit) + 1; day * kMsPerDay + Hours(6) < p.discharge; ++day) {
    const int64_t t = day * kMsPerDay + Hours(6) + rng_.UniformInt(0, 59) * 60'000;
    if (t >= p.discharge) break;
    if (!rng_.Bernoulli(0.6)) continue;
    AddLabs({kHaemoglobin, kLeukocytes, kCrp, kCreatinine, kEgfr, kSodium, kPotassium}, t, idx,
            Severity(p, t), condition);
  }
  if (p.event != kNever) {
    AddLab(kLactate, std::min(p.event, p.discharge - 60'000), idx, 1.0, condition);
  }
  AddVitals(p, idx);
  if (p.died) {
    s_.death = death;
    s_.died_in_hospital = true;
  } else if (rng_.Bernoulli(enc.p_readmission)) {
    forced_readmission_ = p.discharge + Days(rng_.Uniform(1, 29));
  }
  if (condition >= kNumChronic) {
    s_.conditions[reason].abatement = p.died ? kNever : p.discharge + Days(14);
  }
  return p.discharge;
}

void TimelineBuilder::AddVitals(const StayPlan& p, int encounter) {
  const EncounterRec& e = s_.encounters[encounter];
  const bool copd = Has(kCopd);
  // Baselines and the size of the acuity's effects follow the age's normal values (a child's
  // tachycardia and tachypnoea start from a higher rate).
  const VitalNorms norms = VitalNormsAt(AgeAt(p.admit));
  const double hr_base = norms.hr_mean + norms.hr_sd * hr_z_;
  const double sbp_base = norms.sbp_mean + (Has(kHypertension) ? 14 : 0) + norms.sbp_sd * sbp_z_;
  const double hr_scale = norms.hr_mean / 74;
  const double rr_scale = norms.rr_mean / 15;
  const double sbp_scale = norms.sbp_mean / 124;
  int64_t t = p.admit + rng_.UniformInt(5, 30) * 60'000;
  size_t bed_index = 0;
  while (t < p.discharge) {
    while (bed_index + 1 < e.beds.size() && t >= e.beds[bed_index].end) ++bed_index;
    const double s = Severity(p, t);
    VitalSet v;
    v.time = t;
    v.encounter = encounter;
    v.bed = e.beds[bed_index].bed;
    v.bed_stay = static_cast<int>(bed_index);
    v.heart_rate =
        std::round(std::clamp(hr_base + hr_scale * (45 * s + rng_.Normal(0, 4)), 35.0, 230.0));
    v.respiratory_rate = std::round(
        std::clamp(norms.rr_mean + rr_scale * (14 * s + rng_.Normal(0, 1.5)), 6.0, 90.0));
    v.bed_stay = static_cast<int>(bed_index);
    double spo2 = spo2_base_ - 9 * s + rng_.Normal(0, 1);
    if (spo2 < (copd ? 88 : 92)) {
      v.fio2 = s < 0.5 ? 28 : s < 0.8 ? 35 : s < 1.0 ? 40 : 60;
      spo2 += 3;
    }
    v.spo2 = std::round(std::clamp(spo2, 70.0, 100.0));
    v.temperature =
        std::round(10 * std::clamp(36.8 + (p.infection ? 1.9 : 0.4) * s + rng_.Normal(0, 0.2), 34.0,
                                   41.5)) /
        10;
    v.systolic = std::round(
        std::clamp(sbp_base - sbp_scale * (40 * s + rng_.Normal(0, 7)), 60 * sbp_scale, 220.0));
    v.diastolic = std::round(std::clamp(v.systolic * 0.6 + rng_.Normal(0, 4), 30.0, 130.0));
    if (s > 0.7 && rng_.Bernoulli((s - 0.7) * 1.5)) {
      v.acvpu = s > 1.0 ? static_cast<uint8_t>(rng_.UniformInt(2, 4)) : 1;
    }
    s_.vitals.push_back(v);
    const bool in_icu = p.icu_start != kNever && t >= p.icu_start && t < p.icu_end;
    const double hours = in_icu || s >= 0.6 ? 1 : s >= 0.3 ? 2 : 4;
    t += Hours(hours) + rng_.UniformInt(-10, 10) * 60'000;
  }
}

void TimelineBuilder::AddLab(int lab, int64_t t, int encounter, double sev, int reason) {
  // The CKD-EPI equations are for adults (18 and over; Inker et al., N Engl J Med 2021):
  // children get no eGFR (draws nothing, so the rest of the stream is unchanged).
  if (lab == kEgfr && AgeAt(t) < 18) return;
  const bool infection = reason == kPneumonia || reason == kSepsis ||
                         reason == kUrinaryTractInfection || reason == kCopdExacerbation;
  const double female = s_.sex == Sex::kFemale;
  double v = 0;
  switch (lab) {
    case kHbA1c:
      v = Has(kType2Diabetes) ? std::clamp(rng_.Normal(58, 10), 40.0, 110.0)
                              : std::clamp(rng_.Normal(36, 4), 25.0, 46.0);
      break;
    case kGlucose:
      v = (Has(kType2Diabetes) ? rng_.Normal(8.5, 2.0) : rng_.Normal(5.3, 0.6)) + 2.0 * sev;
      v = std::clamp(v, 2.5, 30.0);
      break;
    case kCreatinine:
      v = creatinine_base_ * (1 + 0.6 * sev * (infection ? 1.0 : 0.4)) *
          std::exp(rng_.Normal(0, 0.06));
      last_creatinine_ = v;
      break;
    case kEgfr: {
      // CKD-EPI 2021 (race-free) from the creatinine drawn just before.
      const double scr = (last_creatinine_ > 0 ? last_creatinine_ : creatinine_base_) / 88.42;
      const double kappa = female ? 0.7 : 0.9;
      const double alpha = female ? -0.241 : -0.302;
      const double ratio = scr / kappa;
      v = 142 * std::pow(std::min(ratio, 1.0), alpha) * std::pow(std::max(ratio, 1.0), -1.2) *
          std::pow(0.9938, AgeAt(t)) * (female ? 1.012 : 1.0);
      v = std::min(v, 130.0);
      break;
    }
    case kPotassium:
      v = std::clamp(rng_.Normal(Has(kChronicKidneyDisease) ? 4.7 : 4.3, 0.4), 2.8, 6.8);
      break;
    case kSodium:
      v = std::clamp(rng_.Normal(Has(kHeartFailure) ? 136 : 139, 3) - 3 * sev, 118.0, 155.0);
      break;
    case kHaemoglobin:
      v = rng_.Normal(female ? 132 : 148, 11) - (Has(kChronicKidneyDisease) ? 15 : 0) - 12 * sev;
      v = std::clamp(v, 60.0, 190.0);
      break;
    case kLeukocytes:
      v = std::clamp(rng_.Normal(7, 1.6) + (infection ? 12 * sev : 2 * sev), 1.0, 40.0);
      break;
    case kCrp:
      v = infection ? 20 + 250 * sev * std::exp(rng_.Normal(0, 0.3))
                    : 3 * std::exp(rng_.Normal(0, 0.7)) + 20 * sev;
      break;
    case kLactate:
      v = std::clamp(rng_.Normal(1.1, 0.3) + 4.0 * sev, 0.4, 15.0);
      break;
    case kTroponin:
      v = reason == kMyocardialInfarction ? std::exp(rng_.Normal(6.5, 1.0))
                                          : 5 * std::exp(rng_.Normal(0, 0.8));
      break;
    default:
      break;
  }
  LabRec r;
  r.lab = static_cast<uint8_t>(lab);
  r.time = t;
  r.encounter = encounter;
  const int decimals = kLabs[lab].decimals;
  const double scale = decimals == 0 ? 1 : decimals == 1 ? 10 : 100;
  r.value = std::round(v * scale) / scale;
  r.alt_unit = !kLabs[lab].alt_loinc.empty() && rng_.Bernoulli(m_.config().alt_unit_share);
  s_.labs.push_back(r);
}

void TimelineBuilder::AddImaging(int64_t t, int encounter, int reason) {
  // Modalities 0 CR, 1 CT, 2 MR, 3 US; body sites 0 chest, 1 head, 2 hip, 3 abdomen.
  auto add = [&](int modality, int site, int64_t at) {
    ImagingRec r;
    r.time = at;
    r.encounter = encounter;
    r.modality = static_cast<uint8_t>(modality);
    r.body_site = static_cast<uint8_t>(site);
    r.instances = modality == 0 ? static_cast<int>(rng_.UniformInt(1, 2))
                                : static_cast<int>(rng_.UniformInt(20, 300));
    s_.imaging.push_back(r);
  };
  switch (reason) {
    case kPneumonia:
    case kCopdExacerbation:
    case kHeartFailure:
      if (rng_.Bernoulli(0.8)) add(0, 0, t);
      break;
    case kStroke:
      add(1, 1, t);
      if (rng_.Bernoulli(0.5)) add(2, 1, t + Hours(20));
      break;
    case kHipFracture:
      add(0, 2, t);
      break;
    case kSepsis:
      if (rng_.Bernoulli(0.5)) add(0, 0, t);
      if (rng_.Bernoulli(0.3)) add(1, 3, t + Hours(2));
      break;
    case kUrinaryTractInfection:
      if (rng_.Bernoulli(0.2)) add(3, 3, t);
      break;
    case -1:
      add(static_cast<int>(rng_.UniformInt(0, 3)), static_cast<int>(rng_.UniformInt(0, 3)), t);
      break;
    default:
      if (rng_.Bernoulli(0.3)) add(0, 0, t);
      break;
  }
}

}  // namespace

void PopulationModel::DrawMedications(Rng& rng, PatientStory& story) const {
  uint32_t given = 0;
  const int64_t w0 = window_start_;
  const int64_t w1 = window_end_;
  const size_t n = story.conditions.size();
  for (size_t i = 0; i < n; ++i) {
    const ConditionRec& c = story.conditions[i];
    auto prescribe = [&](int med, double p) {
      if ((given >> med) & 1u) return;
      if (!rng.Bernoulli(p)) return;
      const int64_t start =
          std::min(c.onset + static_cast<int64_t>(rng.Uniform(0, 90) * kMsPerDay), w0 - kMsPerDay);
      // Adult-only drugs are not prescribed to children (terminology.h, PrescribedAt).
      const double age = static_cast<double>(DayOf(start) - story.birth_day) / 365.2425;
      if (!PrescribedAt(static_cast<uint8_t>(med), age)) return;
      given |= 1u << med;
      int64_t stop = kNever;
      if (med == kCapecitabine) {
        stop = start + 180 * kMsPerDay;
      } else if (rng.Bernoulli(0.08)) {
        stop = w0 + static_cast<int64_t>(rng.Uniform() * static_cast<double>(w1 - w0));
      }
      MedicationRec r;
      r.medication = static_cast<uint8_t>(med);
      r.start = start;
      r.stop = stop;
      r.condition = static_cast<int>(i);
      r.dose_band = static_cast<uint8_t>(DoseBandAt(age));
      story.medications.push_back(r);
    };
    switch (c.condition) {
      case kHypertension:
        prescribe(kRamipril, 0.55);
        prescribe(kAmlodipine, 0.5);
        break;
      case kType2Diabetes:
        prescribe(kMetformin, 0.85);
        prescribe(kSimvastatin, 0.6);
        break;
      case kChronicKidneyDisease:
        prescribe(kRamipril, 0.5);
        break;
      case kCopd:
        prescribe(kTiotropium, 0.8);
        prescribe(kSalbutamol, 0.6);
        break;
      case kAsthma:
        prescribe(kSalbutamol, 0.9);
        break;
      case kHeartFailure:
        prescribe(kBisoprolol, 0.8);
        prescribe(kFurosemide, 0.7);
        prescribe(kRamipril, 0.6);
        break;
      case kAtrialFibrillation:
        if (rng.Bernoulli(0.7)) {
          prescribe(kApixaban, 0.85);
        } else {
          prescribe(kWarfarin, 0.8);
        }
        prescribe(kBisoprolol, 0.5);
        break;
      case kDepression:
        if (rng.Bernoulli(0.6)) {
          prescribe(kSertraline, 0.75);
        } else {
          prescribe(kCitalopram, 0.75);
        }
        break;
      case kColorectalCancer:
        prescribe(kCapecitabine, 0.3);
        break;
      default:
        break;
    }
  }
}

void PopulationModel::DrawTimeline(Rng& rng, PatientStory& story) const {
  TimelineBuilder(*this, rng, story).Run();
}

void PopulationModel::Generate(uint64_t index, PatientStory& story) const {
  story.Clear();
  story.index = index;
  Rng rng(config_.seed, Stream::kStory, index);
  DrawDemographics(rng, story);
  DrawChronicConditions(rng, story);
  Rng procedure_rng(config_.seed, Stream::kProcedures, index);
  story.on_dialysis =
      std::any_of(story.conditions.begin(), story.conditions.end(),
                  [](const ConditionRec& c) { return c.condition == kChronicKidneyDisease; }) &&
      procedure_rng.Bernoulli(kDialysisShareOfCkd);
  DrawMedications(rng, story);
  DrawTimeline(rng, story);
  DrawProcedures(procedure_rng, story);
  Rng genotype_rng(config_.seed, Stream::kGenotype, index);
  DrawHaplotypes(genotype_rng, story);
  // Observed 30-day readmissions; prescriptions end at death.
  for (size_t i = 0; i < story.encounters.size(); ++i) {
    EncounterRec& e = story.encounters[i];
    if (e.cls != EncounterClass::kInpatient || e.died) continue;
    for (size_t j = i + 1; j < story.encounters.size(); ++j) {
      const EncounterRec& next = story.encounters[j];
      if (next.cls == EncounterClass::kInpatient && next.start > e.end &&
          next.start <= e.end + 30 * kMsPerDay) {
        e.readmitted_30d = true;
        break;
      }
    }
  }
  if (story.death != kNever) {
    for (MedicationRec& m : story.medications) {
      if (m.stop == kNever || m.stop > story.death) m.stop = std::max(m.start, story.death);
    }
    // An acute condition that would have resolved after the death did not resolve.
    for (ConditionRec& c : story.conditions) {
      if (c.abatement != kNever && c.abatement > story.death) c.abatement = kNever;
    }
  }
}

}  // namespace medlake::synth
