// Principals (users with a role), their API tokens, and what each role may do.
//
// A token is "mlk_<id>.<secret>": id is 9 random bytes and secret 32 random bytes, both
// base64url. Only the id and an Argon2id hash of the secret (crypto_pwhash_str, INTERACTIVE
// limits) are stored, in DIR/principals.sqlite; a lookup by id then one Argon2id verification
// keeps authentication at one slow hash per request whatever the number of users. Each row
// carries a keyed MAC (principals key) so that a row written without the lake key (a forged
// admin) is rejected.
//
// Thread safety: one Principals per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"
#include "privacy/key_store.h"
#include "privacy/sqlite_file.h"

namespace medlake::privacy {

enum class Role { kAdmin, kClinician, kResearcher, kOps, kAuditor };

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// What a caller asks to do; the query and output layers check Allows() before acting.
enum class Permission {
  kReidentify,     // read the identity vault (clinician, admin), audited
  kPatientLevel,   // patient-level rows under pseudonyms (clinician, admin, researcher)
  kAggregates,     // counts and statistics (all but auditor; suppressed for researcher, ops)
  kReadAudit,      // the audit log (auditor, admin)
  kManageUsers,    // add principals (admin)
  kManageKeys,     // rekey (admin)
  kErase,          // erasure (admin)
  kExportPatient,  // right-of-access export, re-identified (clinician, admin)
  kWrite,          // store records: ingest, listen, watch (admin)
};

bool Allows(Role role, Permission permission);

// The setting holding the small-count threshold of aggregate outputs (default 10, at least 2):
// `medlake policy set small-count-threshold N`.
inline constexpr std::string_view kSmallCountThreshold = "small-count-threshold";
inline constexpr int64_t kDefaultSmallCountThreshold = 10;
// True when the role's outputs need small-count suppression, shifted dates and ages in place
// of birth dates (researcher, ops).
bool NeedsDisclosureControl(Role role);

struct Principal {
  std::string id;    // token id, or "local" for the owner of the key file
  std::string name;  // staff user name (not patient data)
  Role role = Role::kAuditor;
  bool local = false;
};

class Principals {
 public:
  static std::string PathFor(const std::string& lake_dir) {
    return lake_dir + "/principals.sqlite";
  }
  // Opens (creating when absent) DIR/principals.sqlite.
  static Result<std::unique_ptr<Principals>> Open(const KeyStore& keys);
  static Result<std::unique_ptr<Principals>> OpenFile(const std::string& path, SecretKey mac_key);
  ~Principals();

  // Adds a principal and returns its token, which is not stored and cannot be shown again.
  // kAlreadyExists when the name is taken; kInvalidArgument for an empty or odd name.
  Result<std::string> AddUser(std::string_view name, Role role);
  // The principal of `token`. kUnauthenticated for a malformed, unknown or wrong token (one
  // message for all three); kCorruption when the stored row fails its MAC.
  Result<Principal> Authenticate(std::string_view token);
  Result<std::vector<Principal>> List();
  Result<int64_t> Count();
  // Lake-wide privacy settings (kSmallCountThreshold), MACed like principal rows so that a
  // value written without the lake key is rejected (kCorruption).
  Status SetSetting(std::string_view name, std::string_view value);
  Result<std::optional<std::string>> Setting(std::string_view name);
  // Copies every row and setting, re-MACed under `mac_key`, to a new file at `path`. Used by
  // Rekey.
  Status CopyTo(const std::string& path, SecretKey mac_key);

  // The principal for local CLI use without a token: admin, when the key comes from the
  // environment or the key file is owned by the effective user; else kPermissionDenied.
  static Result<Principal> LocalOwner(const KeyStore& keys);

 private:
  Principals() = default;
  std::string Mac(std::string_view id, std::string_view name, std::string_view role,
                  std::string_view hash, int64_t created_ms) const;
  Status Insert(std::string_view id, std::string_view name, std::string_view role,
                std::string_view hash, int64_t created_ms);
  std::string SettingMac(std::string_view name, std::string_view value) const;

  std::unique_ptr<SqliteFile> db_;
  SecretKey mac_key_;
};

}  // namespace medlake::privacy
