// LAKE/identifier_systems.json: systems that name the same identifier register differently
// (an HL7 v2 assigning authority and the FHIR system of the same MRNs), mapped to one, so that
// a Patient known by both gets one pseudonym: {"aliases": {"<system>": "<canonical system>"}}.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "medlake/status.h"

namespace medlake::privacy {

inline constexpr std::string_view kIdentifierSystemsFile = "identifier_systems.json";

class IdentifierSystems {
 public:
  // The lake's aliases (none when it has no file); kInvalidArgument for a file that is not a
  // JSON object.
  static Result<IdentifierSystems> ForLake(const std::string& lake_dir);

  // The system `system` is an alias of, or itself.
  std::string Canonical(std::string_view system) const;

 private:
  std::unordered_map<std::string, std::string> aliases_;
};

}  // namespace medlake::privacy
