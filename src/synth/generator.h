// `medlake synth`: writes a synthetic population in every requested format.
//
// Layout under config.out_dir (docs/synth.md):
//   fhir/<Type>.ndjson          FHIR R4 bulk-export NDJSON (Patient, Encounter, Condition,
//                               Observation, MedicationRequest, ImagingStudy, Consent,
//                               Location, Organization)
//   fhir-bundles/Bundle.ndjson  one transaction Bundle per patient (config.bundles)
//   hl7v2/YYYY-MM-DD.hl7        HL7 v2.5 messages of that day, in time order, CR-terminated
//                               (config.hl7v2_stream: one time-ordered hl7v2/messages.hl7)
//   vcf/genotypes.vcf           VCF 4.2, one sample column per patient
//   vcf/patients/<id>.vcf       one single-sample VCF per patient (config.vcf_per_patient)
//   device/readings.ndjson      bedside-monitor readings in time order
//   truth.json                  parameters, latent model, per-patient risks and outcomes
//
// Output is a pure function of the configuration (same seed, same bytes, whatever the thread
// count). Memory is bounded by the chunks in flight plus one group of days of HL7/device
// records while those files are finalised (docs/synth.md, "Streaming"). Existing files of this
// layout in out_dir are replaced; the hl7v2/ folder is emptied first. Uses TBB for parallelism;
// config.threads > 0 caps TBB's parallelism for the whole process while the call runs.
#pragma once

#include <array>
#include <cstdint>

#include "medlake/status.h"
#include "synth/config.h"
#include "synth/fhir_writer.h"

namespace medlake::synth {

struct SynthStats {
  uint64_t patients = 0;
  std::array<uint64_t, kNumFhirTypes> fhir_resources{};  // per FhirType
  uint64_t shared_resources = 0;                         // Location and Organization
  uint64_t hl7_messages = 0;
  uint64_t device_readings = 0;
  uint64_t vcf_variants = 0;
  uint64_t hospital_beds = 0;  // after allocation, surge beds included
  uint64_t surge_beds = 0;     // beds added to full wards (docs/synth.md, "Beds")
  uint64_t bytes_written = 0;
  double seconds = 0;

  uint64_t TotalFhirResources() const {
    uint64_t n = shared_resources;
    for (uint64_t c : fhir_resources) n += c;
    return n;
  }
};

// Generates the population. Errors: kInvalidArgument (bad configuration), kIoError.
Result<SynthStats> Generate(const SynthConfig& config);

// Process-wide, for programs about to call Generate: makes glibc map allocations of 1 MiB and
// more directly and unmap them when freed (mallopt M_MMAP_THRESHOLD). With glibc's sliding
// default (up to 32 MiB) the run's large, short-lived chunk buffers stay in fragmented arenas
// and peak RSS creeps up with the number of patients (docs/synth.md, "Streaming"). A no-op
// on other C libraries.
void MapLargeBuffersDirectly();

}  // namespace medlake::synth
