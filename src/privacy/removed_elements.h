// The elements de-identification removes from a stored resource (ingest/deidentify.cc) and
// export-patient puts back (query/patient_export.cc): one list for both, so that what one
// removes the other knows how to restore.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace medlake::privacy {

// Top-level elements of compartment resources (and of contained ones) that hold identifiers
// or free text.
inline constexpr std::array<std::string_view, 11> kRemovedTopLevel = {
    "text",        "identifier", "name", "telecom",          "address",
    "photo",       "contact",    "note", "masterIdentifier", "accessionIdentifier",
    "subscriberId"};

// A Device's identifiers besides `identifier` (an implant's serial number names its patient).
inline constexpr std::array<std::string_view, 4> kDeviceIdentifiers = {
    "serialNumber", "lotNumber", "udiCarrier", "distinctIdentifier"};

// Free text removed at any depth when it is a string (a coded description stays).
inline constexpr std::array<std::string_view, 2> kFreeText = {"description", "comment"};

// Choice-type values of the data types that identify a person, or hold free text about them,
// removed at any depth: an extension's or a Parameters' valueHumanName, valueAddress,
// valueContactPoint, valueIdentifier, valueAnnotation (R4 Extension.value[x],
// Parameters.parameter.value[x], Task.input.value[x]).
inline constexpr std::array<std::string_view, 5> kIdentifyingValues = {
    "valueHumanName", "valueAddress", "valueContactPoint", "valueIdentifier", "valueAnnotation"};

// Other elements that hold an identifier, an address or a person's name under another name,
// removed at any depth: Encounter.hospitalization.preAdmissionIdentifier, Claim (and
// ExplanationOfBenefit) insurance.preAuthRef, Claim.accident.locationAddress, AuditEvent's
// agent.altId and entity.query (the query as sent, base64: its parameters name the patient).
inline constexpr std::array<std::string_view, 5> kIdentifyingElements = {
    "preAdmissionIdentifier", "preAuthRef", "locationAddress", "altId", "query"};

// What an array item that de-identification emptied is stored as: the data-absent-reason
// extension with code masked (R4), since FHIR's JSON has no empty objects. export-patient
// takes the extension out when it puts back what was removed.
inline constexpr std::string_view kMaskedElement =
    R"({"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason",)"
    R"("valueCode":"masked"}]})";

template <size_t N>
constexpr bool Contains(const std::array<std::string_view, N>& set, std::string_view s) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

// Whether de-identification may remove an element of this name at a resource's top level (a
// person's birthDate is one: its year stays in place).
constexpr bool RemovedAtTopLevel(std::string_view name) {
  return Contains(kRemovedTopLevel, name) || Contains(kDeviceIdentifiers, name) ||
         Contains(kFreeText, name) || Contains(kIdentifyingValues, name) ||
         Contains(kIdentifyingElements, name) || name == "birthDate" || name == "_birthDate";
}

}  // namespace medlake::privacy
