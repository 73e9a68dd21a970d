// --token and --purpose, shared by every command that reads a lake, and the access context
// they open (query/access_context.h): the role check and the audit live there, not here.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "cli/output.h"
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

// Fails the command with `error` after an audit entry `command`.failed whose object names the
// error's code only (its message names files and ids, which the audit log does not keep): a
// write (ingest, listen, watch) that failed after it began. An audit failure is told on
// stderr; the command's own error is the one returned.
inline int FailAudited(query::AccessContext& access, const std::string& command,
                       const Status& error) {
  Status a = access.Audit(command + ".failed",
                          command + ": " + std::string(InfoFor(error.code()).name), -1);
  if (!a.ok()) std::fprintf(stderr, "medlake: the audit entry failed: %s\n", a.ToString().c_str());
  return Fail(error);
}

}  // namespace medlake::cli
