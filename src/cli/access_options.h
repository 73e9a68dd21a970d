// --token and --purpose, shared by every command that reads a lake, and the access context
// they open (query/access_context.h): the role check and the audit live there, not here.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "query/access_context.h"

namespace medlake::cli {

struct AccessOptions {
  std::string token;
  std::string purpose;
};

inline void AddAccessOptions(CLI::App* command, AccessOptions& options) {
  command->add_option("--token", options.token,
                      "API token (default: MEDLAKE_TOKEN, else the owner of the key file)");
  command->add_option("--purpose", options.purpose, "Purpose of this access, for the audit log");
}

// The caller's access context for `lake`, after checking that the role may produce `kind`
// (a refusal is audited). `research`: the output serves research (AccessRequest::research).
inline Result<std::unique_ptr<query::AccessContext>> OpenAccess(const std::string& lake,
                                                                const AccessOptions& options,
                                                                query::OutputKind kind,
                                                                std::string_view command,
                                                                bool research = false) {
  MEDLAKE_ASSIGN_OR_RETURN(
      auto access, query::AccessContext::Open(lake, {options.token, options.purpose, research}));
  MEDLAKE_RETURN_IF_ERROR(access->Require(kind, command));
  return access;
}

}  // namespace medlake::cli
