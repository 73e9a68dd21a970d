// Parameters of one `medlake synth` run. Plain values; copy freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "medlake/status.h"

namespace medlake::synth {

struct Formats {
  bool fhir = true;
  bool hl7v2 = true;
  bool vcf = true;
  bool device = true;
};

struct SynthConfig {
  uint64_t patients = 1000;
  uint64_t seed = 1;
  std::string out_dir;
  Formats formats;
  int64_t start_day = 0;         // first day of the observation window, days since 1970-01-01
  int years = 3;                 // length of the observation window
  bool bundles = false;          // also write one transaction Bundle per patient
  bool hl7v2_stream = false;     // one time-ordered hl7v2/messages.hl7, not a file per day
  bool vcf_per_patient = false;  // also one single-sample VCF per patient (vcf/patients/)
  double alt_unit_share = 0.25;  // share of lab results reported in the alternative unit
  double opt_out_share = 0.05;   // share of patients who opt out of research use
  int threads = 0;               // 0: all hardware threads
  int chunk_size = 32;           // patients generated per parallel task
};

// Parses "fhir,hl7v2,vcf,device" (any subset, any order; "all" for every format).
Result<Formats> ParseFormats(std::string_view text);

// Parses "YYYY-MM-DD" into days since 1970-01-01.
Result<int64_t> ParseStartDate(std::string_view text);

// The window's limits that keep every generated date in years 0001..9999 (Validate).
inline constexpr int kMinStartYear = 107;
inline constexpr int kMaxWindowEndYear = 9997;

// Checks ranges (patients >= 1, years in 1..50, shares in [0, 1], the window within
// kMinStartYear..kMaxWindowEndYear, ...).
Status Validate(const SynthConfig& config);

}  // namespace medlake::synth
