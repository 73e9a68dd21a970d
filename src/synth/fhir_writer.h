// Renders a PatientStory as FHIR R4 resources (NDJSON lines), plus the shared Organization
// and Location resources of the synthetic hospital. Output is built with plain string
// appends; a FhirWriter is cheap and not thread-safe (one per thread).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "synth/population.h"
#include "synth/story.h"
#include "synth/text_util.h"

namespace medlake::synth {

enum FhirType : uint8_t {
  kFhirPatient,
  kFhirEncounter,
  kFhirCondition,
  kFhirObservation,
  kFhirMedicationRequest,
  kFhirImagingStudy,
  kFhirConsent,
  kFhirProcedure,
  kNumFhirTypes,
};

inline constexpr std::array<std::string_view, kNumFhirTypes> kFhirTypeNames = {
    "Patient",           "Encounter",    "Condition", "Observation",
    "MedicationRequest", "ImagingStudy", "Consent",   "Procedure"};

inline constexpr std::string_view kHospitalOrganizationId = "org-hospital";
inline constexpr std::string_view kMrnSystem = "urn:oid:2.999.1.1";
inline constexpr std::string_view kNationalIdSystem = "urn:oid:2.999.1.2";
inline constexpr std::string_view kVisitNumberSystem = "urn:oid:2.999.1.3";
// Base of the Bundle entries' fullUrl ("https://medlake.example/fhir/Patient/p0000042"): a
// RESTful URL (R4 Bundle.entry.fullUrl, consistent with the resource's id) under the domain
// reserved for examples (RFC 2606), against which the entries' relative references resolve.
inline constexpr std::string_view kBundleBaseUrl = "https://medlake.example/fhir/";

// Per-chunk output: one NDJSON text per resource type, optionally one Bundle line per patient.
struct FhirChunk {
  std::array<std::string, kNumFhirTypes> ndjson;
  std::array<uint64_t, kNumFhirTypes> counts{};
  std::string bundles;

  // Empties the buffers (text_util.h, ClearBuffer: unusually large ones are released).
  void Clear() {
    for (int t = 0; t < kNumFhirTypes; ++t) ClearBuffer(ndjson[t], typical[t]);
    counts.fill(0);
    ClearBuffer(bundles, typical_bundles);
  }
  std::array<double, kNumFhirTypes> typical{};
  double typical_bundles = 0;
};

// MRN of a patient ("M" + 8 digits), shared by FHIR Patient.identifier and HL7 PID-3.
void AppendMrn(uint64_t index, std::string& out);
// Visit number of encounter `k` of a patient, shared by Encounter.identifier and PV1-19.
void AppendVisitNumber(uint64_t index, size_t k, std::string& out);

// Appends all resources of `story` to `out`.
void RenderFhir(const PopulationModel& model, const PatientStory& story, bool bundles,
                FhirChunk& out);

// NDJSON of the shared resources, written once per run.
std::string RenderOrganizations();
std::string RenderLocations(const PopulationModel& model);
// One shared resource's JSON (no newline): the hospital, a ward, a bed.
void AppendOrganization(std::string& out);
void AppendWardLocation(int ward, std::string& out);
void AppendBedLocation(const PopulationModel& model, int bed, std::string& out);

}  // namespace medlake::synth
