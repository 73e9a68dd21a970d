// Converts a FHIR R4 XML resource to FHIR JSON using the R4 type model (arrays, primitive
// value types, choice elements, contained resources, "_name" companions for primitive
// extensions, xhtml as text). Test-only: the conformance suite ships XML inputs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace medlake::fhirpath::testing {

// JSON text of the resource in `xml`; nullopt when the XML cannot be read.
std::optional<std::string> FhirXmlToJson(std::string_view xml);

}  // namespace medlake::fhirpath::testing
