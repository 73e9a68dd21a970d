#include "privacy/principals.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "privacy/sqlite_file.h"

namespace medlake::privacy {
namespace {

constexpr std::string_view kTokenPrefix = "mlk_";
constexpr size_t kIdBytes = 9;
constexpr size_t kSecretBytes = 32;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status BadToken() {
  return Unauthenticated("invalid token");
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kClinician:
      return "clinician";
    case Role::kResearcher:
      return "researcher";
    case Role::kOps:
      return "ops";
    case Role::kAuditor:
      return "auditor";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kAdmin, Role::kClinician, Role::kResearcher, Role::kOps, Role::kAuditor}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

bool Allows(Role role, Permission permission) {
  switch (permission) {
    case Permission::kReidentify:
    case Permission::kExportPatient:
      return role == Role::kAdmin || role == Role::kClinician;
    case Permission::kPatientLevel:
      return role == Role::kAdmin || role == Role::kClinician || role == Role::kResearcher;
    case Permission::kAggregates:
      return role != Role::kAuditor;
    case Permission::kReadAudit:
      return role == Role::kAdmin || role == Role::kAuditor;
    case Permission::kManageUsers:
    case Permission::kManageKeys:
    case Permission::kErase:
    case Permission::kWrite:
      return role == Role::kAdmin;
  }
  return false;
}

bool NeedsDisclosureControl(Role role) {
  return role == Role::kResearcher || role == Role::kOps;
}

Result<std::unique_ptr<Principals>> Principals::Open(const KeyStore& keys) {
  return OpenFile(PathFor(keys.lake_dir()), keys.SubKey(KeyPurpose::kPrincipals));
}

Result<std::unique_ptr<Principals>> Principals::OpenFile(const std::string& path,
                                                         SecretKey mac_key) {
  if (!SodiumReady()) return Internal("libsodium cannot be initialised");
  std::unique_ptr<Principals> p(new Principals());
  MEDLAKE_ASSIGN_OR_RETURN(p->db_, OpenSqliteFile(path, true, "principals"));
  MEDLAKE_RETURN_IF_ERROR(p->db_->Exec(
      "CREATE TABLE IF NOT EXISTS principal(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
      "role TEXT NOT NULL, hash TEXT NOT NULL, created_ms INTEGER NOT NULL, mac BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS setting(name TEXT PRIMARY KEY, value TEXT NOT NULL, "
      "mac BLOB NOT NULL)"));
  ::chmod(path.c_str(), 0600);
  p->mac_key_ = std::move(mac_key);
  return p;
}

Principals::~Principals() = default;

std::string Principals::Mac(std::string_view id, std::string_view name, std::string_view role,
                            std::string_view hash, int64_t created_ms) const {
  std::string m = "medlake principal v1";
  AppendField(m, id);
  AppendField(m, name);
  AppendField(m, role);
  AppendField(m, hash);
  AppendU64(m, static_cast<uint64_t>(created_ms));
  return KeyedBlake2b(mac_key_, m, 32);
}

std::string Principals::SettingMac(std::string_view name, std::string_view value) const {
  std::string m = "medlake setting v1";
  AppendField(m, name);
  AppendField(m, value);
  return KeyedBlake2b(mac_key_, m, 32);
}

Status Principals::SetSetting(std::string_view name, std::string_view value) {
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt,
      db_->Prepare("INSERT OR REPLACE INTO setting(name, value, mac) VALUES (?, ?, ?)"));
  stmt.Bind(1, name).Bind(2, value).BindBlob(3, SettingMac(name, value));
  return stmt.Run();
}

Result<std::optional<std::string>> Principals::Setting(std::string_view name) {
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                           db_->Prepare("SELECT value, mac FROM setting WHERE name = ?"));
  stmt.Bind(1, name);
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  std::string value = std::string(stmt.Text(0)), mac = std::string(stmt.Blob(1)),
              expected = SettingMac(name, value);
  if (mac.size() != expected.size() ||
      sodium_memcmp(mac.data(), expected.data(), expected.size()) != 0) {
    return Corruption("principals: the setting " + std::string(name) +
                      " fails its integrity check");
  }
  return std::optional<std::string>(std::move(value));
}

Status Principals::Insert(std::string_view id, std::string_view name, std::string_view role,
                          std::string_view hash, int64_t created_ms) {
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt, db_->Prepare("INSERT INTO principal(id, name, role, hash, created_ms, mac) "
                                    "VALUES (?, ?, ?, ?, ?, ?)"));
  stmt.Bind(1, id).Bind(2, name).Bind(3, role).Bind(4, hash);
  stmt.Bind(5, created_ms).BindBlob(6, Mac(id, name, role, hash, created_ms));
  return stmt.Run();
}

Result<std::string> Principals::AddUser(std::string_view name, Role role) {
  if (name.empty() || name.size() > 128)
    return InvalidArgument("a user name is 1 to 128 characters");
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20)
      return InvalidArgument("a user name has no control characters");
  }
  {
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                             db_->Prepare("SELECT 1 FROM principal WHERE name = ?"));
    stmt.Bind(1, name);
    MEDLAKE_ASSIGN_OR_RETURN(bool exists, stmt.Step());
    if (exists) return AlreadyExists("a principal with this name exists");
  }
  std::string id = ToBase64Url(RandomBytes(kIdBytes));
  std::string secret = ToBase64Url(RandomBytes(kSecretBytes));
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, secret.data(), secret.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Internal("Argon2id hashing ran out of memory");
  }
  MEDLAKE_RETURN_IF_ERROR(Insert(id, name, RoleName(role), hash, NowMs()));
  std::string token = std::string(kTokenPrefix) + id + "." + secret;
  sodium_memzero(secret.data(), secret.size());
  return token;
}

Result<Principal> Principals::Authenticate(std::string_view token) {
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) return BadToken();
  token.remove_prefix(kTokenPrefix.size());
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= token.size() || token.size() > 200) {
    return BadToken();
  }
  std::string_view id = token.substr(0, dot);
  std::string secret(token.substr(dot + 1));
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt,
      db_->Prepare("SELECT name, role, hash, created_ms, mac FROM principal WHERE id = ?"));
  stmt.Bind(1, id);
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return BadToken();
  std::string name = std::string(stmt.Text(0)), role = std::string(stmt.Text(1)),
              hash = std::string(stmt.Text(2)), mac = std::string(stmt.Blob(4));
  std::string expected = Mac(id, name, role, hash, stmt.Int(3));
  if (mac.size() != expected.size() ||
      sodium_memcmp(mac.data(), expected.data(), expected.size()) != 0) {
    return Corruption("principals: a record fails its integrity check");
  }
  int rc = crypto_pwhash_str_verify(hash.c_str(), secret.data(), secret.size());
  sodium_memzero(secret.data(), secret.size());
  if (rc != 0) return BadToken();
  auto parsed = ParseRole(role);
  if (!parsed) return Corruption("principals: a record has an unknown role");
  return Principal{std::string(id), name, *parsed, false};
}

Result<std::vector<Principal>> Principals::List() {
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt, db_->Prepare("SELECT id, name, role FROM principal ORDER BY created_ms"));
  std::vector<Principal> out;
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    auto role = ParseRole(stmt.Text(2));
    if (!role) return Corruption("principals: a record has an unknown role");
    out.push_back({std::string(stmt.Text(0)), std::string(stmt.Text(1)), *role, false});
  }
  return out;
}

Result<int64_t> Principals::Count() {
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt, db_->Prepare("SELECT count(*) FROM principal"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Int(0) : 0;
}

Status Principals::CopyTo(const std::string& path, SecretKey mac_key) {
  if (std::filesystem::exists(path)) return AlreadyExists(path + " exists");
  MEDLAKE_ASSIGN_OR_RETURN(auto target, OpenFile(path, std::move(mac_key)));
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt, db_->Prepare("SELECT id, name, role, hash, created_ms, mac FROM principal"));
  MEDLAKE_RETURN_IF_ERROR(target->db_->Exec("BEGIN IMMEDIATE"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::string id = std::string(stmt.Text(0)), name = std::string(stmt.Text(1)),
                role = std::string(stmt.Text(2)), hash = std::string(stmt.Text(3));
    int64_t created = stmt.Int(4);
    std::string mac = std::string(stmt.Blob(5)), expected = Mac(id, name, role, hash, created);
    if (mac.size() != expected.size() ||
        sodium_memcmp(mac.data(), expected.data(), expected.size()) != 0) {
      (void)target->db_->Exec("ROLLBACK");
      return Corruption("principals: a record fails its integrity check");
    }
    Status s = target->Insert(id, name, role, hash, created);
    if (!s.ok()) {
      (void)target->db_->Exec("ROLLBACK");
      return s;
    }
  }
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt settings, db_->Prepare("SELECT name FROM setting"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, settings.Step());
    if (!row) break;
    std::string name = std::string(settings.Text(0));
    auto value = Setting(name);  // checks the MAC
    Status s = value.ok() ? target->SetSetting(name, **value) : value.status();
    if (!s.ok()) {
      (void)target->db_->Exec("ROLLBACK");
      return s;
    }
  }
  return target->db_->Exec("COMMIT");
}

Result<Principal> Principals::LocalOwner(const KeyStore& keys) {
  Principal local{"local", "local", Role::kAdmin, true};
  if (keys.source() != KeySource::kFile) return local;
  struct stat st {};
  std::string path = KeyFiles::KeyPath(keys.lake_dir());
  if (::stat(path.c_str(), &st) != 0 || st.st_uid != ::geteuid()) {
    return PermissionDenied("not the owner of " + path + "; give --token or MEDLAKE_TOKEN");
  }
  local.name = "local:uid=" + std::to_string(st.st_uid);
  return local;
}

}  // namespace medlake::privacy
