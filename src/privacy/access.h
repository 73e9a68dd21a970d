// Access decisions shared by every command and the future server: who is calling, whether
// the role allows the action, and audited re-identification and erasure. Callers do not
// touch the vault or check roles themselves.
//
// Thread safety: as the Vault and AuditLog passed in (one per thread).
#pragma once

#include <string>
#include <string_view>

#include "medlake/status.h"
#include "privacy/audit_log.h"
#include "privacy/key_store.h"
#include "privacy/principals.h"
#include "privacy/vault.h"

namespace medlake::privacy {

inline constexpr const char* kTokenEnvironmentVariable = "MEDLAKE_TOKEN";

// The caller of a local command: the principal of `token` (or of MEDLAKE_TOKEN when `token` is
// empty), else the owner of the key file as admin. A failed authentication is audited.
Result<Principal> ResolvePrincipal(const KeyStore& keys, std::string token);

// kPermissionDenied (and an audit entry "denied" naming `what`) unless the role allows it.
Status Require(const KeyStore& keys, const Principal& who, Permission permission,
               std::string_view what);

// Re-identification: the identity of `pseudonym` for a role that may re-identify, written to
// the audit log (with a keyed patient reference, never the pseudonym) before it is returned.
Result<std::string> Reidentify(const Principal& who, Vault& vault, AuditLog& audit,
                               std::string_view pseudonym, std::string_view purpose);

// Erasure of a patient's identity (GDPR art. 17): removes the vault record; the audit log
// records that an erasure happened, not whom it concerned. Admin only. Segments, indexes and
// derived outputs are erased by the store (integration pending, docs/privacy.md).
Status EraseIdentity(const Principal& who, Vault& vault, AuditLog& audit,
                     std::string_view pseudonym, std::string_view purpose);

}  // namespace medlake::privacy
