// Clinical plausibility of the stories: what a child can have, be given and measure; nothing
// dated after death; deaths in the window and their rate (docs/synth.md). Stories of 100,000
// patients are generated in memory (no rendering).
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>

#include "common/fhir_time.h"
#include "synth/fhir_writer.h"
#include "synth/population.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

SynthConfig Config(uint64_t patients, int64_t start_day, int years, uint64_t seed = 42) {
  SynthConfig c;
  c.patients = patients;
  c.seed = seed;
  c.out_dir = "/unused";
  c.start_day = start_day;
  c.years = years;
  return c;
}

double AgeAt(const PatientStory& s, int64_t ms) {
  return static_cast<double>(DayOf(ms) - s.birth_day) / 365.2425;
}

// Aggregates of 100,000 stories (seed 42, 2022-2024), shared by the tests below.
struct Stories {
  static const Stories& Get() {
    static const Stories s;
    return s;
  }
  static constexpr uint64_t kPatients = 100000;
  // Chronic conditions and prescriptions.
  int conditions_below_min_age = 0, onsets_below_min_age = 0, child_conditions = 0;
  int adult_drugs_to_children = 0, child_prescriptions = 0, child_adult_dose_text = 0;
  int neonatal_antibiotics = 0;
  // Acute reasons of children's emergency visits.
  int child_visits = 0, child_mi_stroke_hip = 0;
  // Laboratory: eGFR of children.
  int child_egfr = 0, child_creatinine = 0;
  // Vital signs of stable rounds (acuity low: 48 h after admission, no deterioration) of
  // infants and toddlers (under 2 at admission) and of adults aged 30-59.
  double hr_infant = 0, rr_infant = 0, sbp_infant = 0;
  int n_infant = 0;
  double hr_adult = 0, rr_adult = 0, sbp_adult = 0;
  int n_adult = 0;
  // Deaths.
  int deaths_in_window = 0, deaths_after_window = 0, deaths_after_window_not_in_stay = 0;
  int abatements_after_death = 0, events_after_death = 0;
  double person_years = 0;

 private:
  Stories() {
    PopulationModel model(Config(kPatients, DaysFromCivil(2022, 1, 1), 3));
    PatientStory s;
    for (uint64_t i = 0; i < kPatients; ++i) {
      model.Generate(i, s);
      Add(model, s);
    }
  }

  void Add(const PopulationModel& model, const PatientStory& s) {
    for (const ConditionRec& c : s.conditions) {
      if (c.condition >= kNumChronic) continue;
      conditions_below_min_age += s.age_at_start < MinOnsetAge(c.condition);
      onsets_below_min_age += AgeAt(s, c.onset) < MinOnsetAge(c.condition) - 1e-9;
      child_conditions += s.age_at_start < 18;
    }
    for (const MedicationRec& m : s.medications) {
      const double age = AgeAt(s, m.start);
      if (age >= 18) continue;
      ++child_prescriptions;
      adult_drugs_to_children += m.medication != kSalbutamol && m.medication != kAmoxicillin &&
                                 m.medication != kCeftriaxone;
      neonatal_antibiotics += age < 28 / 365.2425;
      const DoseBand band = static_cast<DoseBand>(m.dose_band);
      child_adult_dose_text += band == DoseBand::kAdult || (m.medication != kSalbutamol &&
                                                            DosageText(m.medication, band) ==
                                                                kMedications[m.medication].dosage);
    }
    for (const EncounterRec& e : s.encounters) {
      if (e.cls != EncounterClass::kEmergency || AgeAt(s, e.start) >= 18) continue;
      ++child_visits;
      const int reason = s.conditions[e.reason].condition;
      child_mi_stroke_hip +=
          reason == kMyocardialInfarction || reason == kStroke || reason == kHipFracture;
    }
    for (const LabRec& l : s.labs) {
      if (AgeAt(s, l.time) >= 18) continue;
      child_egfr += l.lab == kEgfr;
      child_creatinine += l.lab == kCreatinine;
    }
    for (const VitalSet& v : s.vitals) {
      const EncounterRec& e = s.encounters[v.encounter];
      if (e.deteriorated || e.died || v.time < e.start + 48 * kMsPerHour) continue;
      const double age = AgeAt(s, e.start);
      if (age < 2) {
        hr_infant += v.heart_rate, rr_infant += v.respiratory_rate, sbp_infant += v.systolic;
        ++n_infant;
      } else if (age >= 30 && age < 60) {
        hr_adult += v.heart_rate, rr_adult += v.respiratory_rate, sbp_adult += v.systolic;
        ++n_adult;
      }
    }
    const int64_t w1 = model.window_end();
    const int64_t end = s.death != kNever ? std::min(s.death, w1) : w1;
    person_years += static_cast<double>(end - model.window_start()) / (365.2425 * kMsPerDay);
    if (s.death == kNever) return;
    deaths_in_window += s.death < w1;
    if (s.death >= w1) {
      ++deaths_after_window;
      // Allowed only during a stay that started in the window (docs/synth.md).
      bool in_stay = false;
      for (const EncounterRec& e : s.encounters) in_stay |= e.died && e.start < w1;
      deaths_after_window_not_in_stay += !in_stay || !s.died_in_hospital;
    }
    for (const ConditionRec& c : s.conditions) {
      abatements_after_death += c.abatement != kNever && c.abatement > s.death;
      events_after_death += c.onset > s.death;
    }
    for (const EncounterRec& e : s.encounters) events_after_death += e.end > s.death;
    for (const LabRec& l : s.labs) events_after_death += l.time > s.death;
    for (const MedicationRec& m : s.medications) events_after_death += m.start > s.death;
    for (const ProcedureRec& p : s.procedures) events_after_death += p.end > s.death;
  }
};

TEST(SynthChildrenTest, NoChronicConditionBeforeItsMinimumOnsetAge) {
  const Stories& s = Stories::Get();
  EXPECT_EQ(s.conditions_below_min_age, 0);
  EXPECT_EQ(s.onsets_below_min_age, 0);
  EXPECT_GT(s.child_conditions, 500);  // asthma, depression, ... from their onset ages
  // The prevalence the model draws from is 0 below the onset age.
  EXPECT_EQ(ChronicPrevalence(kAsthma, 1.5, Sex::kMale), 0);
  EXPECT_EQ(ChronicPrevalence(kHypertension, 10, Sex::kFemale), 0);
  EXPECT_GT(ChronicPrevalence(kAsthma, 10, Sex::kMale), 0.05);
}

TEST(SynthChildrenTest, ChildrenGetNoAdultDoses) {
  const Stories& s = Stories::Get();
  EXPECT_GT(s.child_prescriptions, 100);
  EXPECT_EQ(s.adult_drugs_to_children, 0);
  EXPECT_EQ(s.child_adult_dose_text, 0);
  EXPECT_EQ(s.neonatal_antibiotics, 0);
  EXPECT_EQ(DosageText(kAmoxicillin, DoseBandAt(0.5)), "125 mg orally three times daily");
  EXPECT_EQ(DosageText(kAmoxicillin, DoseBandAt(3)), "250 mg orally three times daily");
  EXPECT_EQ(DosageText(kAmoxicillin, DoseBandAt(12)), "500 mg orally three times daily");
  EXPECT_EQ(DosageText(kAmoxicillin, DoseBandAt(40)), "1 g orally three times daily");
  EXPECT_FALSE(PrescribedAt(kSertraline, 16));
  EXPECT_TRUE(PrescribedAt(kSertraline, 18));
}

TEST(SynthChildrenTest, NoMyocardialInfarctionStrokeOrHipFractureInChildren) {
  const Stories& s = Stories::Get();
  EXPECT_GT(s.child_visits, 3000);
  EXPECT_EQ(s.child_mi_stroke_hip, 0);
}

TEST(SynthChildrenTest, NoAdultEgfrEquationForChildren) {
  const Stories& s = Stories::Get();
  EXPECT_GT(s.child_creatinine, 1000);
  EXPECT_EQ(s.child_egfr, 0);
  EXPECT_EQ(kLabs[kEgfr].loinc, "98979-8");  // eGFRcr CKD-EPI 2021
}

TEST(SynthChildrenTest, InfantAndToddlerVitalSignsFollowPaediatricNormalRanges) {
  const Stories& s = Stories::Get();
  ASSERT_GT(s.n_infant, 30);
  ASSERT_GT(s.n_adult, 1000);
  // APLS, under 1 year: HR 110-160, RR 30-40, SBP 70-90; 1-2 years: HR 100-150, RR 25-35,
  // SBP 80-95 (stable rounds, acuity near 0). Adult baselines: HR 74, RR 15.
  EXPECT_GT(s.hr_infant / s.n_infant, 100);
  EXPECT_LT(s.hr_infant / s.n_infant, 160);
  EXPECT_GT(s.rr_infant / s.n_infant, 25);
  EXPECT_LT(s.rr_infant / s.n_infant, 42);
  EXPECT_GT(s.sbp_infant / s.n_infant, 70);
  EXPECT_LT(s.sbp_infant / s.n_infant, 95);
  EXPECT_NEAR(s.hr_adult / s.n_adult, 76, 6);
  EXPECT_NEAR(s.rr_adult / s.n_adult, 16, 2);
}

TEST(SynthDeathTest, NothingHappensAfterDeathAndDeathsAreInTheWindow) {
  const Stories& s = Stories::Get();
  EXPECT_EQ(s.abatements_after_death, 0);
  EXPECT_EQ(s.events_after_death, 0);
  EXPECT_EQ(s.deaths_after_window_not_in_stay, 0);
}

// docs/synth.md: the crude death rate is near Eurostat's ~11 per 1,000 per year (EU-27, 2022:
// 10.8 to 11.5 by year); 100,000 patients, seed 42, give the figure documented there.
TEST(SynthDeathTest, CrudeDeathRateNearEleven) {
  const Stories& s = Stories::Get();
  const double rate = 1000.0 * s.deaths_in_window / s.person_years;
  std::cout << "crude death rate " << rate << " per 1,000 person-years\n";
  EXPECT_GT(rate, 10.0);
  EXPECT_LT(rate, 12.0);
}

TEST(SynthDeathTest, ConsentIsNotDatedAfterDeath) {
  PopulationModel model(Config(20000, DaysFromCivil(2022, 1, 1), 1, 3));
  PatientStory s;
  int early_deaths = 0;
  for (uint64_t i = 0; i < 20000; ++i) {
    model.Generate(i, s);
    if (s.death == kNever) continue;
    FhirChunk chunk;
    RenderFhir(model, s, false, chunk);
    const std::string& consent = chunk.ndjson[kFhirConsent];
    const size_t at = consent.find("\"dateTime\":\"") + 12;
    const std::string recorded = consent.substr(at, 20);
    std::string death;
    AppendFhirDateTime(s.death, death);
    EXPECT_LT(recorded, death) << "patient " << i;
    early_deaths += s.death < model.window_start() + 28 * kMsPerDay;
  }
  EXPECT_GT(early_deaths, 5);  // deaths before the consent day of the window's first weeks
}

}  // namespace
}  // namespace medlake::synth
