// Facts of the FHIR R4 (4.0.1) specification that storage and ingest depend on: the resource
// types, the Patient compartment, and which element holds each type's clinically relevant
// time and codes. The compartment table is generated (tools/gen_fhir_r4_model.py); the time
// and code tables are medlake's choice, documented in docs/format.md. Immutable; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace medlake::fhir {

// Number of concrete R4 resource types.
size_t ResourceTypeCount();
// Index of a resource type in [0, ResourceTypeCount()), or -1 if not an R4 resource type.
int ResourceTypeIndex(std::string_view type);
std::string_view ResourceTypeName(int index);

// The three tables below are also asked by type index (ResourceTypeIndex), without a name
// lookup; an index out of range gives an empty span.

// Element paths (dot-separated, from the resource root) whose references place a resource of
// `type` in the Patient compartment, most specific first ("subject" before "performer").
// Empty for Patient itself and for types outside the compartment (Organization, ...).
std::span<const std::string_view> PatientCompartmentPaths(std::string_view type);
std::span<const std::string_view> PatientCompartmentPaths(int type_index);

// Elements tried in order for a resource's effective time (choice elements spelled out:
// "effectiveDateTime", "effectivePeriod"). Empty when the type has none.
std::span<const std::string_view> EffectiveTimeElements(std::string_view type);
std::span<const std::string_view> EffectiveTimeElements(int type_index);

// CodeableConcept or Coding elements indexed as the resource's codes ("code",
// "medicationCodeableConcept", "vaccineCode", "class", ...).
std::span<const std::string_view> CodeElements(std::string_view type);
std::span<const std::string_view> CodeElements(int type_index);

}  // namespace medlake::fhir
