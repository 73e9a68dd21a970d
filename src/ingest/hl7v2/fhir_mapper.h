// HL7 v2 → FHIR R4: one message becomes a list of resources as minified JSON text.
//
//   ADT^A01/A02/A03/A04/A08/A11/A13  Patient, Encounter, Location (ward, room, bed)
//   ORU^R01                          Patient, Encounter, DiagnosticReport per OBR,
//                                    Observation per OBX
//   ORM^O01, OML^*                   Patient, Encounter, ServiceRequest per ORC/OBR
//   VXU^V04                          Patient, Immunization per RXA
//   MDM^T01..T11                     Patient, Encounter, DocumentReference
//
// Any other message type is an error of code kUnsupported ("unsupported message type SIU^S12
// (control id X)") for the caller to quarantine; a supported message missing what FHIR
// requires is a kParseError naming the segment and field. Error messages name the control id
// and locations, never field contents. docs/hl7v2.md lists the mapping field by field.
//
// Resource ids are deterministic functions of the source identifiers (see MakeId), so
// mapping the same message twice yields the same resources. MapToFhir is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ingest/hl7v2/message.h"
#include "medlake/status.h"

namespace medlake::hl7v2 {

struct MappedResource {
  std::string resource_type;  // "Patient", "Observation", ...
  std::string id;             // FHIR id, [A-Za-z0-9-]{1,64}
  std::string json;           // minified FHIR R4 JSON of the resource
  // Top-level elements the message explicitly deletes (fields holding HL7's null value ""),
  // for the merge with the version stored before (resource_history.h). Patient only.
  std::vector<std::string> cleared;
};

struct MappedMessage {
  std::string message_type;  // "ORU^R01"
  std::string trigger;       // "R01"
  std::string control_id;    // MSH-10
  std::vector<MappedResource> resources;
};

struct MapOptions {
  // Offset written for HL7 times that have a time of day but no offset (FHIR requires one
  // when a time is present), in a message whose MSH-7 has none either. HL7 leaves such times
  // in the sender's local zone, which MSH-7's offset gives when the sender writes one.
  std::string default_offset = "Z";
};

// True when MapToFhir handles `code`^`trigger` (e.g. "ADT", "A01").
bool IsSupported(std::string_view message_code, std::string_view trigger_event);

Result<MappedMessage> MapToFhir(const Message& message, const MapOptions& options = {});

}  // namespace medlake::hl7v2
