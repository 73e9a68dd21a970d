// The population model in memory: determinism, prevalences and outcome rates on 10,000
// patients against the tolerances documented in docs/synth.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "common/fhir_time.h"
#include "synth/fhir_writer.h"
#include "synth/pgx.h"
#include "synth/population.h"
#include "synth/rng.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

SynthConfig TestConfig(uint64_t patients, uint64_t seed = 42) {
  SynthConfig c;
  c.patients = patients;
  c.seed = seed;
  c.out_dir = "/unused";
  c.start_day = DaysFromCivil(2022, 1, 1);
  c.years = 3;
  return c;
}

TEST(SynthRngTest, StreamsAreDeterministicAndIndependent) {
  Rng a(1, Stream::kStory, 5), b(1, Stream::kStory, 5), c(1, Stream::kStory, 6);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    EXPECT_NE(x, c.Next());
  }
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = a.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    const int64_t k = a.UniformInt(3, 7);
    ASSERT_GE(k, 3);
    ASSERT_LE(k, 7);
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

TEST(SynthTimeTest, FormatsMatchCommonParser) {
  for (int64_t day : {-1000LL, 0LL, 11016LL, 19000LL, 20000LL, 60000LL}) {
    const CivilDate c = CivilFromDays(day);
    EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), day);
    const int64_t ms = day * kMsPerDay + 12 * kMsPerHour + 34 * 60'000 + 56'000;
    std::string text;
    AppendFhirDateTime(ms, text);
    auto parsed = ParseFhirTime(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(parsed->start, ms) << text;
  }
  std::string hl7;
  AppendHl7Time(DaysFromCivil(2024, 2, 29) * kMsPerDay + kMsPerHour, hl7);
  EXPECT_EQ(hl7, "20240229010000");
}

TEST(SynthConfigTest, ParsesAndValidates) {
  auto f = ParseFormats("vcf,fhir");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->fhir && f->vcf && !f->hl7v2 && !f->device);
  EXPECT_FALSE(ParseFormats("fhir,csv").ok());
  EXPECT_FALSE(ParseFormats("").ok());
  auto d = ParseStartDate("2022-01-01");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, DaysFromCivil(2022, 1, 1));
  EXPECT_FALSE(ParseStartDate("2022-13-01").ok());
  EXPECT_FALSE(ParseStartDate("2022-02-30").ok());
  EXPECT_TRUE(ParseStartDate("2024-02-29").ok());
  EXPECT_FALSE(ParseStartDate("22-01-01").ok());
  SynthConfig c = TestConfig(10);
  EXPECT_TRUE(Validate(c).ok());
  c.years = 0;
  EXPECT_EQ(Validate(c).code(), ErrorCode::kInvalidArgument);
  c = TestConfig(10);
  c.alt_unit_share = 1.5;
  EXPECT_FALSE(Validate(c).ok());
}

TEST(SynthCalendarTest, WindowMustKeepEveryDateWithinYears1To9999) {
  SynthConfig c = TestConfig(10);
  c.start_day = DaysFromCivil(9990, 6, 1);
  c.years = 20;
  EXPECT_EQ(Validate(c).code(), ErrorCode::kInvalidArgument);
  c.start_day = DaysFromCivil(5, 6, 1);
  c.years = 3;
  EXPECT_EQ(Validate(c).code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(Validate(c).message().find("0001-9999"), std::string::npos);
  c.start_day = DaysFromCivil(kMinStartYear - 1, 12, 31);
  EXPECT_FALSE(Validate(c).ok());
  // At both limits every date of every story lies in 0001-9999.
  for (const auto& [start, years] : {std::pair<int64_t, int>{DaysFromCivil(kMinStartYear, 1, 1), 3},
                                     {DaysFromCivil(kMaxWindowEndYear - 50, 12, 31), 50}}) {
    c.start_day = start;
    c.years = years;
    ASSERT_TRUE(Validate(c).ok());
    SynthConfig config = TestConfig(3000);
    config.start_day = start;
    config.years = years;
    PopulationModel model(config);
    PatientStory s;
    for (uint64_t i = 0; i < 3000; ++i) {
      model.Generate(i, s);
      EXPECT_GE(CivilFromDays(s.birth_day).year, 1) << i;
      int64_t last = 0;
      for (const EncounterRec& e : s.encounters) last = std::max(last, e.end);
      for (const ConditionRec& k : s.conditions) last = std::max(last, k.abatement);
      for (const MedicationRec& m : s.medications) last = std::max(last, m.stop);
      for (const LabRec& l : s.labs) last = std::max(last, l.time + kMsPerHour);
      for (const ProcedureRec& p : s.procedures) last = std::max(last, p.end);
      EXPECT_LE(CivilFromDays(DayOf(last)).year, 9999) << i;
      FhirChunk chunk;
      RenderFhir(model, s, false, chunk);
      EXPECT_EQ(chunk.ndjson[kFhirPatient].find("\"birthDate\":\"0000-"), std::string::npos);
    }
  }
}

TEST(SynthModelTest, PatientDependsOnlyOnSeedAndIndex) {
  PopulationModel model(TestConfig(1000));
  PatientStory a, b, other;
  model.Generate(123, a);
  model.Generate(7, other);  // reuse of the story object must not leak state
  model.Generate(123, b);
  FhirChunk ca, cb;
  RenderFhir(model, a, true, ca);
  RenderFhir(model, b, true, cb);
  EXPECT_EQ(ca.ndjson, cb.ndjson);
  EXPECT_EQ(ca.bundles, cb.bundles);
  PopulationModel other_seed(TestConfig(1000, 43));
  PatientStory c;
  other_seed.Generate(123, c);
  FhirChunk cc;
  RenderFhir(other_seed, c, false, cc);
  EXPECT_NE(ca.ndjson[kFhirPatient], cc.ndjson[kFhirPatient]);
}

TEST(SynthModelTest, TimelinesAreCoherent) {
  PopulationModel model(TestConfig(2000));
  PatientStory s;
  for (uint64_t i = 0; i < 2000; ++i) {
    model.Generate(i, s);
    for (size_t k = 0; k < s.encounters.size(); ++k) {
      const EncounterRec& e = s.encounters[k];
      ASSERT_LT(e.start, e.end) << i;
      if (k > 0) {
        ASSERT_GE(e.start, s.encounters[k - 1].end) << "overlap, patient " << i;
      }
      if (e.cls != EncounterClass::kAmbulatory) {
        ASSERT_FALSE(e.beds.empty());
        ASSERT_EQ(e.beds.front().start, e.start);
        ASSERT_EQ(e.beds.back().end, e.end);
        for (size_t b = 1; b < e.beds.size(); ++b) {
          ASSERT_EQ(e.beds[b].start, e.beds[b - 1].end);
        }
      }
      if (e.died) {
        ASSERT_EQ(s.death, e.end);
      }
    }
    for (const LabRec& l : s.labs) {
      const EncounterRec& e = s.encounters[l.encounter];
      ASSERT_GE(l.time, e.start);
      ASSERT_LE(l.time, e.end);
    }
    for (const VitalSet& v : s.vitals) {
      const EncounterRec& e = s.encounters[v.encounter];
      ASSERT_EQ(e.cls, EncounterClass::kInpatient);
      ASSERT_GE(v.time, e.start);
      ASSERT_LT(v.time, e.end);
    }
    if (s.death != kNever && !s.encounters.empty()) {
      ASSERT_GE(s.death, s.encounters.back().end);
    }
    ASSERT_GE(s.birth_day * kMsPerDay, model.window_start() - 110 * 366 * kMsPerDay);
  }
}

// Aggregates of 10,000 generated patients, shared by the rate tests.
struct Population {
  static const Population& Get() {
    static const Population p;
    return p;
  }
  static constexpr int kPatients = 10000;
  std::array<double, kNumChronic> observed{};
  std::array<double, kNumChronic> expected{};
  std::array<double, kNumChronic> variance{};
  int adults = 0;
  int adult_hypertension = 0;
  int stays = 0;
  double stay_deaths = 0, p_death_sum = 0, p_death_var = 0;
  double readmissions = 0, p_readmission_sum = 0;
  double person_years = 0;
  int opt_out = 0;
  int cyp2c19_star2 = 0;
  int tpmt_nonref = 0;
  // Mean respiratory rate of vital sets in deterioration windows and in stable stays.
  double rr_deteriorating = 0, rr_stable = 0;
  int n_deteriorating = 0, n_stable = 0;
  int alt_unit = 0, alt_capable = 0;
  int male = 0;
  // Procedures.
  int mi_stays = 0, pci_in_mi_stays = 0, misplaced_pci = 0;
  int ckd_patients = 0, dialysis_patients = 0, dialysis_without_ckd = 0;
  double dialysis_sessions = 0, dialysis_weeks = 0;
  int screening_colonoscopies = 0;
  double screening_person_years = 0;  // ages 50-74, no colorectal cancer
  int imaging_procedures = 0, procedures_outside_encounter = 0;

 private:
  Population() {
    PopulationModel model(TestConfig(kPatients));
    PatientStory s;
    for (int i = 0; i < kPatients; ++i) {
      model.Generate(static_cast<uint64_t>(i), s);
      male += s.sex == Sex::kMale;
      for (int c = 0; c < kNumChronic; ++c) {
        const double p = ChronicPrevalence(c, s.age_at_start, s.sex);
        expected[c] += p;
        variance[c] += p * (1 - p);
      }
      for (const ConditionRec& c : s.conditions) {
        if (c.condition < kNumChronic) observed[c.condition] += 1;
      }
      if (s.age_at_start >= 18) {
        ++adults;
        for (const ConditionRec& c : s.conditions)
          adult_hypertension += c.condition == kHypertension;
      }
      const int64_t end =
          s.death != kNever ? std::min(s.death, model.window_end()) : model.window_end();
      person_years += static_cast<double>(end - model.window_start()) / (365.2425 * kMsPerDay);
      opt_out += s.research_opt_out;
      for (int h = 0; h < 2; ++h) {
        cyp2c19_star2 += s.haplotypes[0][h] == 1;
        tpmt_nonref += s.haplotypes[4][h] != 0;
      }
      for (const EncounterRec& e : s.encounters) {
        if (e.cls != EncounterClass::kInpatient) continue;
        ++stays;
        stay_deaths += e.died;
        p_death_sum += e.p_death;
        p_death_var += e.p_death * (1 - e.p_death);
        if (!e.died) {
          readmissions += e.readmitted_30d;
          p_readmission_sum += e.p_readmission;
        }
      }
      for (const VitalSet& v : s.vitals) {
        const EncounterRec& e = s.encounters[v.encounter];
        if (e.deteriorated && e.deterioration_start != kNever && v.time > e.deterioration_start &&
            v.time < e.deterioration_start + 6 * kMsPerHour) {
          rr_deteriorating += v.respiratory_rate;
          ++n_deteriorating;
        } else if (!e.deteriorated && v.time > e.start + 48 * kMsPerHour) {
          rr_stable += v.respiratory_rate;
          ++n_stable;
        }
      }
      CountProcedures(model, s, end);
      for (const LabRec& l : s.labs) {
        if (kLabs[l.lab].alt_loinc.empty()) continue;
        ++alt_capable;
        alt_unit += l.alt_unit;
      }
    }
  }

  void CountProcedures(const PopulationModel& model, const PatientStory& s, int64_t end) {
    bool ckd = false, crc = false;
    for (const ConditionRec& c : s.conditions) {
      ckd |= c.condition == kChronicKidneyDisease;
      crc |= c.condition == kColorectalCancer;
    }
    ckd_patients += ckd;
    dialysis_patients += s.on_dialysis;
    dialysis_without_ckd += s.on_dialysis && !ckd;
    if (s.on_dialysis)
      dialysis_weeks += static_cast<double>(end - model.window_start()) / (7 * kMsPerDay);
    for (const EncounterRec& e : s.encounters) {
      mi_stays += e.cls == EncounterClass::kInpatient && e.reason >= 0 &&
                  s.conditions[e.reason].condition == kMyocardialInfarction;
    }
    for (const ProcedureRec& p : s.procedures) {
      const EncounterRec& e = s.encounters[p.encounter];
      procedures_outside_encounter += p.start < e.start || p.end > e.end || p.end <= p.start;
      imaging_procedures += p.imaging >= 0;
      if (p.procedure == kPercutaneousCoronaryIntervention) {
        const bool in_mi_stay = e.cls == EncounterClass::kInpatient && e.reason >= 0 &&
                                s.conditions[e.reason].condition == kMyocardialInfarction;
        pci_in_mi_stays += in_mi_stay;
        misplaced_pci += !in_mi_stay;
      }
      dialysis_sessions += p.procedure == kHaemodialysis;
      screening_colonoscopies += p.procedure == kColonoscopy && p.condition < 0;
    }
    if (!crc) {
      // Years of the window lived at ages 50-74.
      const double w0 = static_cast<double>(model.window_start());
      const double birth = static_cast<double>(s.birth_day) * kMsPerDay;
      const double from = std::max(w0, birth + 50 * 365.2425 * kMsPerDay);
      const double to = std::min(static_cast<double>(end), birth + 75 * 365.2425 * kMsPerDay);
      if (to > from) screening_person_years += (to - from) / (365.2425 * kMsPerDay);
    }
  }
};

TEST(SynthRatesTest, ChronicPrevalenceMatchesTableWithinFourSigma) {
  const Population& p = Population::Get();
  for (int c = 0; c < kNumChronic; ++c) {
    const double tolerance = 4 * std::sqrt(p.variance[c]) + 2;
    EXPECT_NEAR(p.observed[c], p.expected[c], tolerance) << kConditions[c].key;
  }
  // Adult hypertension in Europe: roughly a quarter to a third of adults are diagnosed.
  const double htn = static_cast<double>(p.adult_hypertension) / p.adults;
  EXPECT_GT(htn, 0.20);
  EXPECT_LT(htn, 0.40);
  EXPECT_NEAR(static_cast<double>(p.male) / Population::kPatients, 0.49, 0.03);
}

TEST(SynthRatesTest, HospitalOutcomesWithinDocumentedRanges) {
  const Population& p = Population::Get();
  const double admissions_per_1000 = 1000.0 * p.stays / p.person_years;
  EXPECT_GT(admissions_per_1000, 60);
  EXPECT_LT(admissions_per_1000, 250);
  const double mortality = p.stay_deaths / p.stays;
  EXPECT_GT(mortality, 0.02);
  EXPECT_LT(mortality, 0.10);
  // Deaths follow the latent probabilities they were drawn from.
  EXPECT_NEAR(p.stay_deaths, p.p_death_sum, 4 * std::sqrt(p.p_death_var) + 2);
  const double survivors = p.stays - p.stay_deaths;
  const double readmission = p.readmissions / survivors;
  EXPECT_GT(readmission, 0.05);
  EXPECT_LT(readmission, 0.25);
  // Observed readmissions include spontaneous ones on top of the latent draw.
  EXPECT_GE(p.readmissions, p.p_readmission_sum - 4 * std::sqrt(p.p_readmission_sum));
}

TEST(SynthRatesTest, DeterioratingStaysShowWorseVitals) {
  const Population& p = Population::Get();
  ASSERT_GT(p.n_deteriorating, 100);
  ASSERT_GT(p.n_stable, 1000);
  EXPECT_GT(p.rr_deteriorating / p.n_deteriorating, p.rr_stable / p.n_stable + 3);
}

TEST(SynthRatesTest, SharesAndAlleleFrequencies) {
  const Population& p = Population::Get();
  const double n = Population::kPatients;
  EXPECT_NEAR(p.opt_out / n, 0.05, 4 * std::sqrt(0.05 * 0.95 / n));
  EXPECT_NEAR(p.cyp2c19_star2 / (2 * n), 0.15, 4 * std::sqrt(0.15 * 0.85 / (2 * n)));
  EXPECT_NEAR(p.tpmt_nonref / (2 * n), 0.04, 4 * std::sqrt(0.04 * 0.96 / (2 * n)));
  const double alt = static_cast<double>(p.alt_unit) / p.alt_capable;
  EXPECT_NEAR(alt, 0.25, 0.02);
}

TEST(SynthRatesTest, ProceduresFollowConditionsAndEncounters) {
  const Population& p = Population::Get();
  EXPECT_EQ(p.procedures_outside_encounter, 0);
  EXPECT_GT(p.imaging_procedures, 100);
  // PCI: only in myocardial-infarction stays, in 65 % of them.
  EXPECT_EQ(p.misplaced_pci, 0);
  ASSERT_GT(p.mi_stays, 30);
  EXPECT_NEAR(static_cast<double>(p.pci_in_mi_stays) / p.mi_stays, 0.65,
              4 * std::sqrt(0.65 * 0.35 / p.mi_stays));
  // Haemodialysis: CKD stage 5 patients only, 1.2 % of CKD, about three sessions a week.
  EXPECT_EQ(p.dialysis_without_ckd, 0);
  EXPECT_NEAR(p.dialysis_patients, 0.012 * p.ckd_patients,
              4 * std::sqrt(0.012 * p.ckd_patients) + 1);
  if (p.dialysis_patients > 0) {
    EXPECT_GT(p.dialysis_sessions / p.dialysis_weeks, 2.5);
    EXPECT_LE(p.dialysis_sessions / p.dialysis_weeks, 3.01);
  }
  // Screening colonoscopy: 1.5 per 100 person-years at ages 50-74; the model steps over the
  // fiftieth birthday by whole years, so the observed rate may fall a little short.
  const double expected = 0.015 * p.screening_person_years;
  EXPECT_GT(p.screening_colonoscopies, 0.75 * expected - 4 * std::sqrt(expected));
  EXPECT_LT(p.screening_colonoscopies, expected + 4 * std::sqrt(expected));
}

}  // namespace
}  // namespace medlake::synth
