// The latent model of the synthetic population: age/sex structure, chronic-condition
// prevalences, hospital layout, and the generation of one patient's story.
//
// A PopulationModel is built once per run from the configuration; Generate is const and
// thread-safe, and its output depends only on (seed, patient index), so patients can be
// generated in parallel in any order. The model is documented in docs/synth.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "synth/config.h"
#include "synth/rng.h"
#include "synth/story.h"
#include "synth/terminology.h"

namespace medlake::synth {

inline constexpr int kNumAgeBands = 5;  // 0-17, 18-39, 40-59, 60-79, 80+

// Band of an age in years.
int AgeBand(double age);

// Published-source-derived prevalence of chronic condition `c` (< kNumChronic) at the start
// of the observation window, by age and sex (docs/synth.md lists the sources); 0 below the
// condition's minimum onset age.
double ChronicPrevalence(int c, double age, Sex sex);
// The prevalence table's entry for age band `band` (< kNumAgeBands), before the minimum onset
// age is applied.
double BandPrevalence(int c, int band, Sex sex);
// Youngest age (years) at which chronic condition `c` is assigned or has its onset.
double MinOnsetAge(int c);

// Correlation of every chronic condition's liability with the latent frailty z.
inline constexpr double kLiabilityLoading = 0.45;

class PopulationModel {
 public:
  explicit PopulationModel(const SynthConfig& config);

  // Fills `story` (cleared first) with patient `index`'s complete story.
  void Generate(uint64_t index, PatientStory& story) const;

  const SynthConfig& config() const { return config_; }
  int64_t window_start() const { return window_start_; }  // ms
  int64_t window_end() const { return window_end_; }      // ms
  // Last millisecond any event can have (stays that start in the window may end after it).
  int64_t horizon_end() const { return window_end_ + 90 * kMsPerDay; }

  // Hospital layout: beds are numbered 0..total_beds()-1, ward by ward.
  int total_beds() const { return first_bed_[kNumWards]; }
  int FirstBed(int ward) const { return first_bed_[ward]; }
  int BedsInWard(int ward) const { return first_bed_[ward + 1] - first_bed_[ward]; }
  int WardOfBed(int bed) const;
  // Replaces the layout (beds per ward, each at least 1). Not thread-safe: call it between
  // passes, while no Generate runs.
  void SetWardBeds(const std::array<int, kNumWards>& beds);
  // "bed-car-012": the Location id of a bed; "ward-car" of a ward.
  std::string BedId(int bed) const;
  static std::string WardId(int ward);

 private:
  void DrawDemographics(Rng& rng, PatientStory& story) const;
  void DrawChronicConditions(Rng& rng, PatientStory& story) const;
  void DrawMedications(Rng& rng, PatientStory& story) const;
  void DrawTimeline(Rng& rng, PatientStory& story) const;
  // After the timeline: procedures, and the ambulatory encounters of planned ones.
  void DrawProcedures(Rng& rng, PatientStory& story) const;

  SynthConfig config_;
  int64_t window_start_;
  int64_t window_end_;
  std::array<int, kNumWards + 1> first_bed_{};
  // Liability thresholds Phi^-1(1 - p) per chronic condition, age band and sex.
  std::array<std::array<std::array<double, 2>, kNumAgeBands>, kNumChronic> thresholds_{};
};

// Patient id of index `index`: "p" + at least 7 digits.
std::string PatientId(uint64_t index);
void AppendPatientId(uint64_t index, std::string& out);

}  // namespace medlake::synth
