// The story of one synthetic patient: everything that happens to them in the observation
// window, in a format-neutral form. The writers (FHIR, HL7 v2, VCF, device, truth) render the
// same story, so every view of a patient agrees. Times are milliseconds since the epoch (UTC).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace medlake::synth {

inline constexpr int64_t kMsPerHour = 3'600'000;
inline constexpr int64_t kMsPerDay = 24 * kMsPerHour;
inline constexpr int64_t kNever = INT64_MIN;

enum class Sex : uint8_t { kFemale, kMale };
enum class EncounterClass : uint8_t { kAmbulatory, kEmergency, kInpatient };
enum class Disposition : uint8_t { kHome, kExpired, kOtherFacility, kAdmitted };

struct ConditionRec {
  uint8_t condition;  // ConditionId
  int64_t onset = 0;
  int64_t abatement = kNever;  // kNever: still active
  int encounter = -1;          // diagnosing encounter (index into encounters), -1: none
};

struct MedicationRec {
  uint8_t medication;  // MedicationId
  int64_t start = 0;
  int64_t stop = kNever;  // kNever: ongoing
  int condition = -1;     // index into conditions
  int encounter = -1;
  uint8_t dose_band = 0;  // DoseBand (terminology.h) at the start
};

struct LabRec {
  uint8_t lab;  // LabId
  bool alt_unit = false;
  int64_t time = 0;
  double value = 0;  // in the primary unit
  int encounter = -1;
};

// One round of bedside observations.
struct VitalSet {
  int64_t time = 0;
  int encounter = -1;
  int bed = -1;       // global bed number (see PopulationModel::BedId)
  int bed_stay = -1;  // index into the encounter's beds
  double heart_rate = 0;
  double respiratory_rate = 0;
  double spo2 = 0;
  double temperature = 0;
  double systolic = 0;
  double diastolic = 0;
  double fio2 = 21;   // inspired oxygen, %; 21 = room air
  uint8_t acvpu = 0;  // index into kAcvpu
};

// A period in one bed. The story generator draws a bed of the right ward at random; the run
// replaces it with the bed its allocation gives (bed_allocation.h).
struct BedStay {
  int bed = -1;
  int64_t start = 0;
  int64_t end = 0;
};

struct EncounterRec {
  EncounterClass cls = EncounterClass::kAmbulatory;
  int64_t start = 0;
  int64_t end = 0;
  int reason = -1;  // index into conditions
  Disposition disposition = Disposition::kHome;
  std::vector<BedStay> beds;  // ward/bed history (emergency and inpatient)
  // Latent model and outcomes of an inpatient stay (see docs/synth.md).
  bool deteriorated = false;
  bool icu = false;
  bool died = false;
  bool readmitted_30d = false;
  double p_deterioration = 0;
  double p_death = 0;
  double p_readmission = 0;
  int64_t deterioration_start = kNever;
};

struct ImagingRec {
  int64_t time = 0;
  int encounter = -1;
  uint8_t modality = 0;   // index into the modality table of the FHIR writer
  uint8_t body_site = 0;  // index into the body-site table
  int instances = 1;
};

// A procedure: imaging (one per ImagingRec), PCI, haemodialysis session, colonoscopy.
struct ProcedureRec {
  uint8_t procedure;  // ProcedureId
  int64_t start = 0;
  int64_t end = 0;
  int encounter = -1;  // index into encounters
  int condition = -1;  // reason, index into conditions; -1: none (screening)
  int imaging = -1;    // index into imaging for imaging procedures
};

// Pharmacogene haplotypes: for each gene, two star-allele indices (see pgx.h).
inline constexpr int kNumPgxGenes = 7;

struct PatientStory {
  uint64_t index = 0;
  Sex sex = Sex::kFemale;
  int64_t birth_day = 0;  // days since epoch
  double age_at_start = 0;
  int64_t death = kNever;
  bool died_in_hospital = false;
  double latent = 0;  // frailty z ~ N(0, 1)
  uint8_t given = 0, family = 0, city = 0, street = 0;
  int house_number = 1;
  int postal_offset = 0;
  uint64_t phone = 0;
  uint64_t national_id = 0;
  bool research_opt_out = false;
  int chronic_count = 0;
  bool on_dialysis = false;   // CKD stage 5 on maintenance haemodialysis
  double admission_rate = 0;  // expected emergency visits per year
  std::vector<ConditionRec> conditions;
  std::vector<MedicationRec> medications;
  std::vector<EncounterRec> encounters;
  std::vector<LabRec> labs;
  std::vector<VitalSet> vitals;
  std::vector<ImagingRec> imaging;
  std::vector<ProcedureRec> procedures;
  std::array<std::array<uint8_t, 2>, kNumPgxGenes> haplotypes{};

  void Clear() {
    conditions.clear();
    medications.clear();
    encounters.clear();
    labs.clear();
    vitals.clear();
    imaging.clear();
    procedures.clear();
    on_dialysis = false;
    death = kNever;
    died_in_hospital = false;
  }
};

}  // namespace medlake::synth
