// Internal to the HL7 v2 → FHIR mapping: shared state of one message and the datatype
// helpers (CX, XPN, XAD, XTN, CWE, DTM, PL) that the per-message-type mappers use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ingest/hl7v2/fhir_mapper.h"
#include "ingest/hl7v2/json_builder.h"
#include "ingest/hl7v2/message.h"

namespace medlake::hl7v2 {

struct MappingContext {
  const Message& message;
  const MapOptions& options;
  TextEncoding encoding = TextEncoding::kUtf8;
  std::string scope;         // MSH-3|MSH-4|MSH-10: identity of the message itself
  std::string sender;        // MSH-3|MSH-4: who assigned an entity id without a namespace
  std::string facility;      // MSH-4, the sending facility
  std::string patient_id;    // empty when the message has no PID
  std::string encounter_id;  // empty when the message has no PV1
  // Offset of the message's times that have none: MSH-7's (the sender's zone), else
  // options.default_offset.
  std::string default_offset;
  // MSH-7 as an instant (nullopt when it has no time of day): meta.lastUpdated of the
  // resources the message authors.
  std::optional<std::string> last_updated;
  MappedMessage out;

  // "control id X: segment 4 (OBX) field 5" for error messages.
  std::string Where(size_t segment_index, size_t field = 0) const;
  void Add(std::string_view type, std::string id, std::string json);
  // Identity text of an EI the sender assigned (a result's filler number) for MakeId keys, ""
  // when EI.1 is empty. An EI is unique within the application that assigned it (EI.2-4);
  // when they are empty, that is the sender, whose MSH-3|MSH-4 then joins the key: two labs
  // may both send filler number 1001.
  std::string EntityKeyOf(const Value& ei) const;
  JsonBuilder NewResource(std::string_view type, std::string_view id) const;
};

// HL7 DTM/TS (first component) → FHIR dateTime / date / instant; nullopt when absent or
// malformed. Times without an offset get `default_offset`.
std::optional<std::string> ToFhirDateTime(const Value& v, std::string_view default_offset);
std::optional<std::string> ToFhirDate(const Value& v);
// The offset of a valid HL7 time as FHIR writes it ("+01:00"); nullopt when it has none.
std::optional<std::string> FhirOffsetOf(const Value& v);
std::optional<std::string> ToFhirInstant(const Value& v, std::string_view default_offset);

// FHIR decimal text for an HL7 NM ("+5" → "5", ".5" → "0.5"); nullopt when not a number or
// when its integer part has more than 18 digits.
std::optional<std::string> ToFhirDecimal(std::string_view nm);

// Code system URI for an HL7 coding-system name (CWE.3: "LN", "SCT", "HL70078", ...).
std::string CodeSystemUri(std::string_view name);
// System URI for an assigning authority (HD: namespace^universal id^type).
std::string AuthoritySystem(const Value& hd);

// UCUM code for a unit as HL7 senders write it ("mg/dl" → "mg/dL"); empty when unknown.
std::string_view UcumCode(std::string_view unit);

// Members written into the currently open object of `json`.
void WriteCodeableConcept(JsonBuilder& json, std::string_view key, const Value& cwe);
void WriteCoding(JsonBuilder& json, std::string_view code, std::string_view system,
                 std::string_view display);
void WriteIdentifier(JsonBuilder& json, const Value& cx, std::string_view type_code = {});
// EI (entity id^namespace^universal id^type) as an Identifier typed `type_code` (v2-0203).
void WriteEntityIdentifier(JsonBuilder& json, const Value& ei, std::string_view type_code);
// System URI of an EI's assigning authority: urn:oid for an ISO universal id, else a
// urn:medlake:hl7v2:authority: of the namespace (characters a URI cannot hold replaced); "".
std::string EntitySystem(const Value& ei);
// Identity text of an EI for MakeId keys ("" when EI.1 is empty).
std::string EntityKey(const Value& ei);
void WriteHumanName(JsonBuilder& json, const Value& xpn);
void WriteAddress(JsonBuilder& json, const Value& xad);
void WriteContactPoint(JsonBuilder& json, const Value& xtn, std::string_view default_use);
void WriteReference(JsonBuilder& json, std::string_view key, std::string_view type,
                    std::string_view id);
// {"key": {"start": ..., "end": ...}} from two HL7 times (nothing when both are absent).
void WritePeriod(JsonBuilder& json, std::string_view key, const Value& start, const Value& end,
                 std::string_view default_offset);

// Per message family; each appends to ctx.out or returns the reason it cannot.
Status MapPatient(MappingContext& ctx);  // PID → Patient (sets ctx.patient_id)
Status MapEncounter(MappingContext& ctx, std::string_view trigger_event);  // PV1 → Encounter
Status MapResults(MappingContext& ctx);        // ORU: OBR → DiagnosticReport, OBX → Observation
Status MapOrders(MappingContext& ctx);         // ORM/OML: ORC/OBR → ServiceRequest
Status MapImmunizations(MappingContext& ctx);  // VXU: RXA → Immunization
Status MapDocument(MappingContext& ctx, std::string_view trigger_event);  // MDM: TXA/OBX

}  // namespace medlake::hl7v2
