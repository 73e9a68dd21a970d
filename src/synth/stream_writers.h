// Renders a PatientStory as HL7 v2.5 messages and as bedside-monitor device readings, both
// into record buffers keyed by time (external_sort.h). Not thread-safe: one writer state per
// thread.
#pragma once

#include "synth/external_sort.h"
#include "synth/population.h"
#include "synth/story.h"

namespace medlake::synth {

// HL7 v2.5 ADT (A01 admit, A02 transfer, A03 discharge, A04 emergency registration, A08
// update) and ORU^R01 (labs, vital signs) messages for the patient's encounters. Segments end
// with a carriage return; PID-3 carries the MRN and PV1-19 the visit number of the FHIR
// Encounter, OBR-3 the id of the matching FHIR Observation(s).
void RenderHl7v2(const PopulationModel& model, const PatientStory& story, RecordBuffer& out);

// One NDJSON line per monitored vital sign and vital-sign round:
// {"time","device","patient","vital","value","unit"}.
void RenderDeviceReadings(const PopulationModel& model, const PatientStory& story,
                          RecordBuffer& out);

}  // namespace medlake::synth
