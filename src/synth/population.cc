// Age/sex structure, prevalences, hospital layout and demographics of the population model.
#include "synth/population.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/fhir_time.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

// EU-27 population by five-year age group, 1 January 2023, percent (rounded from Eurostat
// demo_pjangroup); the last group is 85+.
constexpr std::array<double, 18> kAgeGroupShare = {4.6, 5.1, 5.3, 5.2, 5.3, 5.6, 6.0, 6.4, 6.8,
                                                   7.0, 7.2, 7.3, 6.7, 5.8, 5.1, 4.4, 3.0, 3.2};

// Share of women by age group (same source, rounded).
double FemaleShare(int group) {
  if (group < 10) return 0.49;
  if (group < 13) return 0.505;
  if (group < 16) return 0.54;
  return 0.62;
}

// Prevalence [condition][age band][female, male]; see docs/synth.md for sources.
constexpr double kPrevalence[kNumChronic][kNumAgeBands][2] = {
    // hypertension (diagnosed)
    {{0.005, 0.005}, {0.05, 0.08}, {0.22, 0.28}, {0.50, 0.55}, {0.65, 0.62}},
    // type 2 diabetes
    {{0.0005, 0.0005}, {0.010, 0.012}, {0.05, 0.08}, {0.13, 0.17}, {0.17, 0.19}},
    // chronic kidney disease stage 3-5
    {{0.001, 0.001}, {0.005, 0.005}, {0.03, 0.03}, {0.13, 0.12}, {0.33, 0.30}},
    // COPD
    {{0.0, 0.0}, {0.005, 0.005}, {0.03, 0.04}, {0.08, 0.11}, {0.10, 0.14}},
    // asthma
    {{0.07, 0.09}, {0.07, 0.05}, {0.07, 0.05}, {0.07, 0.05}, {0.06, 0.04}},
    // heart failure
    {{0.0, 0.0}, {0.001, 0.001}, {0.006, 0.010}, {0.035, 0.05}, {0.10, 0.12}},
    // atrial fibrillation
    {{0.0, 0.0}, {0.001, 0.002}, {0.008, 0.015}, {0.05, 0.07}, {0.13, 0.15}},
    // depression
    {{0.02, 0.01}, {0.07, 0.04}, {0.09, 0.05}, {0.09, 0.05}, {0.10, 0.06}},
    // breast cancer (history, women)
    {{0.0, 0.0}, {0.002, 0.0}, {0.015, 0.0}, {0.04, 0.0}, {0.05, 0.0}},
    // prostate cancer (history, men)
    {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.005}, {0.0, 0.04}, {0.0, 0.08}},
    // colorectal cancer (history)
    {{0.0, 0.0}, {0.0005, 0.0005}, {0.003, 0.003}, {0.010, 0.013}, {0.015, 0.020}},
    // lung cancer (history)
    {{0.0, 0.0}, {0.0, 0.0}, {0.001, 0.0015}, {0.003, 0.005}, {0.003, 0.005}},
};

// Youngest onset age of each chronic condition in the model: a patient younger than this has
// not got the condition (ChronicPrevalence is 0 below it), and an onset is never drawn before
// it. Asthma is not diagnosed before 2 (GINA 2023, children 5 years and younger: wheeze in
// infancy is mostly transient and is not labelled asthma); depression from 12, hypertension,
// type 2 diabetes and CKD from 15, the rest in adulthood.
constexpr double kMinOnsetAge[kNumChronic] = {15, 15, 15, 35, 2, 30, 30, 12, 25, 40, 30, 35};
// An onset is drawn at least this far (in years) after the minimum onset age, so that its
// clamp to the day before the window cannot take it below that age.
constexpr double kOnsetMargin = 2.0 / 365.2425;

// Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
double InverseNormalCdf(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  if (p <= 0) return -1e9;
  if (p >= 1) return 1e9;
  constexpr double kLow = 0.02425;
  if (p < kLow) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - kLow) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

}  // namespace

int AgeBand(double age) {
  if (age < 18) return 0;
  if (age < 40) return 1;
  if (age < 60) return 2;
  if (age < 80) return 3;
  return 4;
}

double MinOnsetAge(int c) {
  return kMinOnsetAge[c];
}

double BandPrevalence(int c, int band, Sex sex) {
  return kPrevalence[c][band][sex == Sex::kMale ? 1 : 0];
}

namespace {

// Too young for condition `c`: the band's prevalence applies from its minimum onset age.
bool BelowMinOnset(int c, double age) {
  return age < kMinOnsetAge[c] + kOnsetMargin;
}

}  // namespace

double ChronicPrevalence(int c, double age, Sex sex) {
  if (BelowMinOnset(c, age)) return 0;
  return BandPrevalence(c, AgeBand(age), sex);
}

PopulationModel::PopulationModel(const SynthConfig& config) : config_(config) {
  window_start_ = config.start_day * kMsPerDay;
  const CivilDate s = CivilFromDays(config.start_day);
  window_end_ = DaysFromCivil(s.year + config.years, s.month, std::min(s.day, 28u)) * kMsPerDay;
  for (int c = 0; c < kNumChronic; ++c) {
    for (int band = 0; band < kNumAgeBands; ++band) {
      for (int sex = 0; sex < 2; ++sex) {
        thresholds_[c][band][sex] = InverseNormalCdf(1.0 - kPrevalence[c][band][sex]);
      }
    }
  }
  // About four beds per 1,000 people (EU average, Eurostat hlth_rs_bds), at least 60.
  const int total = static_cast<int>(std::clamp<uint64_t>(config.patients * 4 / 1000, 60, 200'000));
  first_bed_[0] = 0;
  for (int w = 0; w < kNumWards; ++w) {
    const int n = std::max(4, static_cast<int>(std::lround(total * kWards[w].bed_share)));
    first_bed_[w + 1] = first_bed_[w] + n;
  }
}

void PopulationModel::SetWardBeds(const std::array<int, kNumWards>& beds) {
  for (int w = 0; w < kNumWards; ++w) first_bed_[w + 1] = first_bed_[w] + std::max(1, beds[w]);
}

int PopulationModel::WardOfBed(int bed) const {
  for (int w = 0; w < kNumWards; ++w) {
    if (bed < first_bed_[w + 1]) return w;
  }
  return kNumWards - 1;
}

std::string PopulationModel::BedId(int bed) const {
  const int w = WardOfBed(bed);
  return fmt::format("bed-{}-{:03d}", kWards[w].code, bed - first_bed_[w] + 1);
}

std::string PopulationModel::WardId(int ward) {
  return fmt::format("ward-{}", kWards[ward].code);
}

void AppendPatientId(uint64_t index, std::string& out) {
  fmt::format_to(std::back_inserter(out), "p{:07d}", index);
}

std::string PatientId(uint64_t index) {
  return fmt::format("p{:07d}", index);
}

void PopulationModel::DrawDemographics(Rng& rng, PatientStory& story) const {
  static const std::array<double, 18> kCum = [] {
    std::array<double, 18> cum{};
    double total = 0;
    for (size_t i = 0; i < cum.size(); ++i) cum[i] = total += kAgeGroupShare[i];
    return cum;
  }();
  const int group = static_cast<int>(rng.Weighted(kCum.data(), kCum.size()));
  double age = group * 5 + rng.Uniform(0, 5);
  if (group == 17) age = 85 + std::min(rng.Exponential(1.0 / 5.0), 20.0);
  story.sex = rng.Bernoulli(FemaleShare(group)) ? Sex::kFemale : Sex::kMale;
  story.age_at_start = age;
  story.birth_day = config_.start_day - static_cast<int64_t>(age * 365.2425);
  story.latent = rng.Normal();
  story.given = static_cast<uint8_t>(rng.UniformInt(0, 31));
  story.family = static_cast<uint8_t>(rng.UniformInt(0, kFamilyNames.size() - 1));
  story.city = static_cast<uint8_t>(rng.UniformInt(0, kCities.size() - 1));
  story.street = static_cast<uint8_t>(rng.UniformInt(0, kStreets.size() - 1));
  story.house_number = static_cast<int>(rng.UniformInt(1, 180));
  story.postal_offset = static_cast<int>(rng.UniformInt(0, 89));
  story.phone = static_cast<uint64_t>(rng.UniformInt(100'000'000, 999'999'999));
  story.national_id = static_cast<uint64_t>(rng.UniformInt(10'000'000'000, 99'999'999'999));
  story.research_opt_out = rng.Bernoulli(config_.opt_out_share);
}

void PopulationModel::DrawChronicConditions(Rng& rng, PatientStory& story) const {
  const int band = AgeBand(story.age_at_start);
  const int sex = story.sex == Sex::kMale ? 1 : 0;
  const double specific = std::sqrt(1.0 - kLiabilityLoading * kLiabilityLoading);
  story.chronic_count = 0;
  for (int c = 0; c < kNumChronic; ++c) {
    const double liability = kLiabilityLoading * story.latent + specific * rng.Normal();
    if (liability <= thresholds_[c][band][sex]) continue;
    if (BelowMinOnset(c, story.age_at_start)) continue;  // as ChronicPrevalence says
    const double span = std::min(story.age_at_start - kMinOnsetAge[c] - kOnsetMargin, 20.0);
    const double onset_age = story.age_at_start - rng.Uniform(0, span);
    ConditionRec rec;
    rec.condition = static_cast<uint8_t>(c);
    rec.onset = (story.birth_day + static_cast<int64_t>(onset_age * 365.2425)) * kMsPerDay +
                rng.UniformInt(8, 17) * kMsPerHour;
    rec.onset = std::min(rec.onset, window_start_ - kMsPerDay);
    story.conditions.push_back(rec);
    ++story.chronic_count;
  }
}

}  // namespace medlake::synth
