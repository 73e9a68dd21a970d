// ResourceFacts: the hot fields of one FHIR R4 resource, extracted once at ingest and stored as
// typed columns beside the raw resource (see docs/format.md).
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fhir_time.h"
#include "json/json.h"
#include "medlake/status.h"

namespace medlake::fhir {

struct Coding {
  std::string system;
  std::string code;
  bool operator==(const Coding&) const = default;
};

struct Identifier {
  std::string system;
  std::string value;
};

struct ResourceFacts {
  std::string type;
  int type_index = -1;  // ResourceTypeIndex(type)
  std::string id;
  // Id of the Patient whose compartment holds the resource ("" = shared area). For a Patient,
  // its own id.
  std::string patient_id;
  TimeRange effective;
  std::vector<Coding> codings;
  double value = NAN;        // valueQuantity.value
  std::string unit;          // valueQuantity.code, else .unit
  std::string status;        // status, or clinicalStatus code for Condition/AllergyIntolerance
  std::string encounter_id;  // the Encounter it belongs to (its own id for an Encounter)
  int64_t last_updated = kNoTime;  // meta.lastUpdated
  std::vector<Identifier> identifiers;

  void Clear();
};

// Maps a reference as written ("Patient/1", "urn:uuid:...", "Patient?identifier=s|v") to its
// resolved "Type/id" form, or returns it unchanged when it cannot be resolved. The result is a
// view of `reference`, of storage that outlives the call, or of `scratch` (which the resolver
// may fill): no allocation for the references that need none, which is nearly all.
using ReferenceResolver =
    std::function<std::string_view(std::string_view reference, std::string& scratch)>;
// The resolver that takes every reference as written.
inline std::string_view ReferenceAsWritten(std::string_view reference, std::string&) {
  return reference;
}

// Fills `out` from `resource`. Errors (kParseError) for what makes a resource unstorable: no
// resourceType, an unknown type, a missing or malformed id, a repeated resourceType or id.
// `resolver` may be null (references are taken as written).
Status ExtractFacts(json::Node resource, const ReferenceResolver* resolver, ResourceFacts& out);
// ExtractFacts in two steps, for a caller that acts on the identity before the rest is read
// (ingest starts fetching the resource's identity state): ExtractIdentity clears `out` and
// fills type, type_index and id; ExtractFields, called after it succeeded, fills the rest and
// rejects a resource that repeats "resourceType" or "id".
Status ExtractIdentity(json::Node resource, ResourceFacts& out);
// kParseError when the object repeats "resourceType" or "id" (what ExtractFields rejects too,
// for a caller that reads no other field).
Status IdentityNotRepeated(json::Node resource);
// kParseError when an object anywhere in `resource` repeats a name (what ExtractFields rejects
// too), naming it when it is one FHIR's grammar allows for an element.
Status NoRepeatedName(json::Node resource);

// The value of a Quantity when it is exact: a number, and no `comparator` ("<5", ">=100" are
// bounds, not values). nullopt otherwise.
std::optional<double> ExactQuantityValue(json::Node quantity);
// The unit of a Quantity as the hot column holds it: its UCUM `code`, else its `unit` text;
// empty when it has neither.
std::string_view QuantityUnit(json::Node quantity);
Status ExtractFields(json::Node resource, const ReferenceResolver* resolver, ResourceFacts& out);
// kParseError, naming `path`, when `element` is no FHIR date, dateTime, instant or Period of
// them: what ExtractFields rejects in a resource's effective element (a caller that rewrites
// the element before the facts are read checks the value it was given).
Status CheckTime(json::Node element, std::string_view path);
// Whether `reference` is a conditional one to a Patient: "Patient?..." (also after a base URL),
// whatever its query holds ("identifier=http://h.org/Patient/123" names no Patient 123).
bool ConditionalPatientReference(std::string_view reference);
// Whether `reference`, which is not Type/id, names a Patient all the same: a segment "Patient"
// (in any case, spaces before it aside) ends at a '/' ("Patient/p1/", "patient/p1",
// " Patient/p1", "Patient/p 1", "Patient/"). R4 allows none of them (references.html: [type]/[id],
// a type of the specification, an id of its form): the patient meant cannot be read. Not a
// contained resource ("#p1").
bool MalformedPatientReference(std::string_view reference);
// What de-identification (a lake with a key) writes for a conditional reference to a Patient
// that it cannot resolve, followed by a keyed hash: ExtractFields still tells that it names a
// Patient that could not be found.
inline constexpr std::string_view kRedactedConditionalPatient = "urn:medlake:redacted:patient:";

// True for a valid FHIR id: [A-Za-z0-9\-\.]{1,64}.
bool IsValidId(std::string_view id);

// Splits "Type/id" (also the tail of absolute URLs, ".../Type/id/_history/n") into its parts.
bool SplitReference(std::string_view reference, std::string_view& type, std::string_view& id);

}  // namespace medlake::fhir
