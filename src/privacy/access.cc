#include "privacy/access.h"

#include <cstdlib>

namespace medlake::privacy {
namespace {

Status Log(AuditLog& audit, const Principal& who, std::string action, std::string object,
           std::string_view purpose, int64_t patients) {
  AuditEntry e;
  e.principal = who.name;
  e.role = std::string(RoleName(who.role));
  e.action = std::move(action);
  e.object = std::move(object);
  e.purpose = std::string(purpose);
  e.patients = patients;
  return audit.Append(std::move(e)).status();
}

Status LogTo(const KeyStore& keys, const Principal& who, std::string action, std::string object) {
  MEDLAKE_ASSIGN_OR_RETURN(auto audit, AuditLog::Open(keys));
  return Log(*audit, who, std::move(action), std::move(object), "", -1);
}

}  // namespace

Result<Principal> ResolvePrincipal(const KeyStore& keys, std::string token) {
  if (token.empty()) {
    if (const char* env = std::getenv(kTokenEnvironmentVariable)) token = env;
  }
  if (token.empty()) return Principals::LocalOwner(keys);
  MEDLAKE_ASSIGN_OR_RETURN(auto principals, Principals::Open(keys));
  auto who = principals->Authenticate(token);
  if (!who.ok() && who.status().code() == ErrorCode::kUnauthenticated) {
    MEDLAKE_ASSIGN_OR_RETURN(auto audit, AuditLog::Open(keys));
    AuditEntry e;
    e.principal = "unknown";
    e.role = "none";
    e.action = "auth.failed";
    e.object = "token";
    MEDLAKE_RETURN_IF_ERROR(audit->Append(std::move(e)).status());
  }
  return who;
}

Status Require(const KeyStore& keys, const Principal& who, Permission permission,
               std::string_view what) {
  if (Allows(who.role, permission)) return Status::Ok();
  MEDLAKE_RETURN_IF_ERROR(LogTo(keys, who, "denied", std::string(what)));
  return PermissionDenied("role " + std::string(RoleName(who.role)) + " may not " +
                          std::string(what));
}

Result<std::string> Reidentify(const Principal& who, Vault& vault, AuditLog& audit,
                               std::string_view pseudonym, std::string_view purpose) {
  if (!Allows(who.role, Permission::kReidentify)) {
    MEDLAKE_RETURN_IF_ERROR(Log(audit, who, "denied", "reidentify", purpose, 1));
    return PermissionDenied("role " + std::string(RoleName(who.role)) + " may not re-identify");
  }
  MEDLAKE_RETURN_IF_ERROR(Log(audit, who, "reidentify", audit.PatientRef(pseudonym), purpose, 1));
  return vault.Get(pseudonym);
}

Status EraseIdentity(const Principal& who, Vault& vault, AuditLog& audit,
                     std::string_view pseudonym, std::string_view purpose) {
  if (!Allows(who.role, Permission::kErase)) {
    MEDLAKE_RETURN_IF_ERROR(Log(audit, who, "denied", "erase", purpose, 1));
    return PermissionDenied("role " + std::string(RoleName(who.role)) + " may not erase");
  }
  MEDLAKE_RETURN_IF_ERROR(vault.Erase(pseudonym));
  return Log(audit, who, "erase", "patient", purpose, 1);
}

}  // namespace medlake::privacy
