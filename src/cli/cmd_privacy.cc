// init, user add, audit verify|list, rekey: the lake key, principals and the audit log.
//
// Local use by the owner of the key file acts as admin; with --token or MEDLAKE_TOKEN the
// token's principal and role apply. Every command is written to the audit log.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/fhir_time.h"
#include "common/file_util.h"
#include "privacy/access.h"
#include "privacy/audit_log.h"
#include "privacy/key_store.h"
#include "privacy/principals.h"
#include "privacy/rekey.h"
#include "privacy/sqlite_file.h"
#include "store/catalog.h"
#include "store/lake_writer.h"
#include "store/sqlite.h"

namespace medlake::cli {
namespace {

using privacy::AuditEntry;
using privacy::AuditLog;
using privacy::KeyStore;
using privacy::Permission;
using privacy::Principal;
using privacy::Principals;

Status Audit(const KeyStore& keys, const Principal& who, std::string action, std::string object,
             int64_t patients = -1) {
  MEDLAKE_ASSIGN_OR_RETURN(auto log, AuditLog::Open(keys));
  AuditEntry e;
  e.principal = who.name;
  e.role = std::string(privacy::RoleName(who.role));
  e.action = std::move(action);
  e.object = std::move(object);
  e.patients = patients;
  return log->Append(std::move(e)).status();
}

// The caller (token, MEDLAKE_TOKEN or the local owner of the key file), if allowed.
Result<Principal> Authorize(const KeyStore& keys, const std::string& token, Permission permission,
                            const std::string& command) {
  MEDLAKE_ASSIGN_OR_RETURN(Principal who, privacy::ResolvePrincipal(keys, token));
  MEDLAKE_RETURN_IF_ERROR(privacy::Require(keys, who, permission, "run " + command));
  return who;
}

constexpr const char* kInitFiles[] = {"keys", "principals.sqlite", "audit.sqlite"};

void RemoveInitFiles(const std::vector<std::string>& paths) {
  std::error_code ec;
  for (const std::string& path : paths) {
    std::filesystem::remove_all(path, ec);
    for (const char* tail : {"-journal", "-wal", "-shm"}) std::filesystem::remove(path + tail, ec);
  }
}

// The rows of `table` in the privacy SQLite file at `path`: 0 when the file or the table does
// not exist yet, nullopt when it cannot be read. Opened for writing (under the writer lock),
// so that a transaction a kill cut short is rolled back first (read-only, its journal made
// the read fail).
std::optional<int64_t> RowsIn(const std::string& path, const char* table) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return ec ? std::nullopt : std::optional<int64_t>(0);
  auto db = privacy::OpenSqliteFile(path, false, "file of an earlier init");
  if (!db.ok()) return std::nullopt;
  auto rows = (*db)->Prepare(std::string("SELECT count(*) FROM ") + table);
  if (!rows.ok()) {
    if (rows.status().message().find("no such table") != std::string::npos) return 0;
    return std::nullopt;
  }
  auto row = rows->Step();
  if (!row.ok() || !*row) return std::nullopt;
  return rows->Int(0);
}

// Whether an earlier init was stopped (killed) before its audit log took its first entry: its
// undo never ran, and the keys it left made the folder a keyed lake that every command refused
// (a log without its first entry takes no other). Nothing was stored, no user but the first
// admin exists, and that admin's token was never shown: init may begin again. Not when
// anything of that cannot be read.
bool InitDidNotFinish(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir + "/" + store::kCatalogFile, ec) || ec) return false;
  const std::optional<int64_t> entries = RowsIn(dir + "/audit.sqlite", "entry");
  const std::optional<int64_t> users = RowsIn(dir + "/principals.sqlite", "principal");
  return entries == 0 && users.has_value() && *users <= 1;
}

int RunInit(const std::string& dir, const std::string& admin_name) {
  // Where ingest would make no lake, init makes none either (a folder of other files, a file).
  if (Status s = store::LakeWriter::CheckFolder(dir); !s.ok()) return Fail(s);
  if (Status s = MakeDirs(dir); !s.ok()) return Fail(s);
  // The lake's writer lock, as ingest takes it: an ingest that began without a key must not
  // find one half made (nor one made meanwhile: it checks again under this lock).
  auto lock = FolderLock::Acquire(dir);
  if (!lock.ok()) return Fail(lock.status());
  // Data ingested before the key exists is neither pseudonymized nor encrypted: a key is for
  // a new lake only.
  if (privacy::KeyStore::IsInitialised(dir)) {
    if (!InitDidNotFinish(dir)) {
      return Fail(AlreadyExists("lake " + dir + " is already initialised (keys/key.check exists)"));
    }
    std::fprintf(stderr, "an earlier medlake init of %s did not finish: it begins again\n",
                 dir.c_str());
    std::vector<std::string> left;
    for (const char* rel : kInitFiles) left.push_back(dir + "/" + rel);
    RemoveInitFiles(left);
  }
  if (std::filesystem::exists(dir + "/" + store::kCatalogFile)) {
    return Fail(AlreadyExists("lake " + dir +
                              " already holds data stored without a key; run medlake init "
                              "on a new lake directory, before the first ingest"));
  }
  // What init creates goes again when a later step fails (a log without its first entry
  // takes no other: the lake would be keyed, and unusable): init can then run again. A kill
  // leaves them; the next init finds it did not finish (InitDidNotFinish).
  std::vector<std::string> created;
  for (const char* rel : kInitFiles) {
    if (!std::filesystem::exists(dir + "/" + rel)) created.push_back(dir + "/" + rel);
  }
  auto undo = [&](const Status& s) {
    RemoveInitFiles(created);
    return Fail(s);
  };
  auto keys = KeyStore::Create(dir);
  if (!keys.ok()) return undo(keys.status());
  auto principals = Principals::Open(*keys);
  if (!principals.ok()) return undo(principals.status());
  auto token = (*principals)->AddUser(admin_name, privacy::Role::kAdmin);
  if (!token.ok()) return undo(token.status());
  Principal local{"local", "local", privacy::Role::kAdmin, true};
  if (auto owner = Principals::LocalOwner(*keys); owner.ok()) local = *owner;
  if (Status s = Audit(*keys, local, "init", "medlake init"); !s.ok()) return undo(s);
  if (Status s = Audit(*keys, local, "user.add", admin_name + " (admin)"); !s.ok()) return undo(s);
  if (keys->source() == privacy::KeySource::kFile) {
    std::printf(
        "lake key: %s (mode 0600). Back it up offline: without it the identity vault "
        "cannot be read.\n",
        privacy::KeyFiles::KeyPath(dir).c_str());
  } else {
    std::printf("lake key: taken from %s (no key file written)\n",
                privacy::kKeyEnvironmentVariable);
  }
  std::printf("admin user: %s\n", admin_name.c_str());
  std::printf("admin token (shown once, store it now): %s\n", token->c_str());
  return 0;
}

// The principals store, for a caller allowed to manage it (admin).
struct AdminSession {
  Principal who;
  std::unique_ptr<Principals> principals;
};
Result<AdminSession> OpenAsAdmin(const KeyStore& keys, const std::string& token,
                                 const std::string& command) {
  MEDLAKE_ASSIGN_OR_RETURN(Principal who,
                           Authorize(keys, token, Permission::kManageUsers, command));
  MEDLAKE_ASSIGN_OR_RETURN(auto principals, Principals::Open(keys));
  return AdminSession{std::move(who), std::move(principals)};
}

int RunUserAdd(const std::string& dir, const std::string& name, const std::string& role_name,
               const std::string& token) {
  auto role = privacy::ParseRole(role_name);
  if (!role) {
    return Fail(InvalidArgument("--role: one of admin, clinician, researcher, ops, auditor"));
  }
  auto keys = KeyStore::Open(dir);
  if (!keys.ok()) return Fail(keys.status());
  auto admin = OpenAsAdmin(*keys, token, "user add");
  if (!admin.ok()) return Fail(admin.status());
  auto new_token = admin->principals->AddUser(name, *role);
  if (!new_token.ok()) return Fail(new_token.status());
  if (Status s = Audit(*keys, admin->who, "user.add", name + " (" + role_name + ")"); !s.ok())
    return Fail(s);
  std::printf("user %s (%s) added\n", name.c_str(), role_name.c_str());
  std::printf("token (shown once, store it now): %s\n", new_token->c_str());
  return 0;
}

// `medlake policy set NAME VALUE`: lake-wide privacy settings (admin), audited.
int RunPolicySet(const std::string& dir, const std::string& name, const std::string& value,
                 const std::string& token) {
  if (name != privacy::kSmallCountThreshold) {
    return Fail(InvalidArgument("unknown policy setting " + name +
                                " (known: " + std::string(privacy::kSmallCountThreshold) + ")"));
  }
  int64_t threshold = 0;
  try {
    size_t used = 0;
    threshold = std::stoll(value, &used);
    if (used != value.size()) threshold = 0;
  } catch (const std::exception&) {
  }
  if (threshold < 2 || threshold > 1000) {
    return Fail(InvalidArgument(name + " is a whole number from 2 to 1000"));
  }
  auto keys = KeyStore::Open(dir);
  if (!keys.ok()) return Fail(keys.status());
  auto admin = OpenAsAdmin(*keys, token, "policy set");
  if (!admin.ok()) return Fail(admin.status());
  if (Status s = admin->principals->SetSetting(name, std::to_string(threshold)); !s.ok())
    return Fail(s);
  if (Status s = Audit(*keys, admin->who, "policy.set", name + "=" + std::to_string(threshold));
      !s.ok())
    return Fail(s);
  std::printf("%s = %lld\n", name.c_str(), static_cast<long long>(threshold));
  return 0;
}

int RunAuditVerify(const std::string& dir, const std::string& token) {
  auto keys = KeyStore::Open(dir);
  if (!keys.ok()) return Fail(keys.status());
  auto who = Authorize(*keys, token, Permission::kReadAudit, "audit verify");
  if (!who.ok()) return Fail(who.status());
  auto log = AuditLog::Open(*keys);
  if (!log.ok()) return Fail(log.status());
  auto v = (*log)->Verify();
  if (!v.ok()) return Fail(v.status());
  if (!v->ok) {
    std::printf("audit log: chain broken at entry %lld: %s\n",
                static_cast<long long>(v->first_bad_index), v->reason.c_str());
    return InfoFor(ErrorCode::kCorruption).exit_code;
  }
  std::printf("audit log: %lld entries, chain intact\n", static_cast<long long>(v->entries));
  if (Status s = Audit(*keys, *who, "audit.verify", "audit log"); !s.ok()) return Fail(s);
  return 0;
}

int RunAuditList(const std::string& dir, const std::string& token, bool as_json, int64_t from,
                 int64_t limit) {
  auto keys = KeyStore::Open(dir);
  if (!keys.ok()) return Fail(keys.status());
  auto who = Authorize(*keys, token, Permission::kReadAudit, "audit list");
  if (!who.ok()) return Fail(who.status());
  auto log = AuditLog::Open(*keys);
  if (!log.ok()) return Fail(log.status());
  auto entries = (*log)->List(from, limit);
  if (!entries.ok()) return Fail(entries.status());
  for (const auto& e : *entries) {
    if (as_json) {
      nlohmann::ordered_json j;
      j["index"] = e.index;
      j["time"] = FormatUtc(e.time_ms);
      j["principal"] = e.principal;
      j["role"] = e.role;
      j["action"] = e.action;
      j["object"] = e.object;
      if (!e.purpose.empty()) j["purpose"] = e.purpose;
      if (e.patients >= 0) j["patients"] = e.patients;
      j["hash"] = e.hash_hex;
      std::printf("%s\n", JsonText(j).c_str());
    } else {
      // Texts a caller chose (purpose, user name) are printed with their control characters
      // escaped: a newline in a purpose forged a line of its own in the listing.
      auto shown = [](const std::string& text) {
        std::string out;
        for (unsigned char c : text) {
          if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
        }
        return out;
      };
      std::printf("%6lld  %s  %-16s %-10s %-14s %s%s%s\n", static_cast<long long>(e.index),
                  FormatUtc(e.time_ms).c_str(), shown(e.principal).c_str(), e.role.c_str(),
                  e.action.c_str(), shown(e.object).c_str(),
                  e.purpose.empty() ? "" : ("  purpose=" + shown(e.purpose)).c_str(),
                  e.patients < 0 ? "" : ("  patients=" + std::to_string(e.patients)).c_str());
    }
  }
  if (Status s = Audit(*keys, *who, "audit.list", "audit log"); !s.ok()) return Fail(s);
  return 0;
}

int RunRekey(const std::string& dir, const std::string& token) {
  auto keys = KeyStore::Open(dir);
  if (!keys.ok()) return Fail(keys.status());
  auto who = Authorize(*keys, token, Permission::kManageKeys, "rekey");
  if (!who.ok()) return Fail(who.status());
  if (Status s = Audit(*keys, *who, "rekey.start", "lake key"); !s.ok()) return Fail(s);
  privacy::RekeyOptions options;
  if (keys->source() != privacy::KeySource::kFile) {
    options.new_key_text = privacy::NewKeyText();
    std::printf("new lake key (shown once; set %s to it before the next command): %s\n",
                privacy::kKeyEnvironmentVariable, options.new_key_text->c_str());
    std::fflush(stdout);
  }
  auto report = privacy::Rekey(*keys, options);
  if (!report.ok()) return Fail(report.status());
  auto new_keys = options.new_key_text ? KeyStore::OpenWithKey(dir, *options.new_key_text)
                                       : KeyStore::Open(dir);
  if (!new_keys.ok()) return Fail(new_keys.status());
  if (Status s = Audit(*new_keys, *who, "rekey", "lake key"); !s.ok()) return Fail(s);
  std::printf(
      "rekeyed: %lld vault records re-encrypted, %lld audit entries re-chained, "
      "%lld principals re-sealed%s\n",
      static_cast<long long>(report->vault_records), static_cast<long long>(report->audit_entries),
      static_cast<long long>(report->principals),
      report->key_file_written ? "; keys/lake.key holds the new key" : "");
  return 0;
}

}  // namespace

void RegisterPrivacyCommands(CLI::App& app, int& exit_code) {
  struct Options {
    std::string lake, token, name, role, admin = "admin";
    bool json = false;
    int64_t from = 0, limit = 0;
  };
  auto o = std::make_shared<Options>();
  auto add_common = [o](CLI::App* cmd) {
    cmd->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
    cmd->add_option("--token", o->token, "API token (default: MEDLAKE_TOKEN, else local owner)");
  };

  auto* init =
      app.add_subcommand("init", "Create the lake key and the first admin (token shown once)");
  init->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  init->add_option("--admin", o->admin, "Name of the first admin (default admin)");
  init->callback([o, &exit_code] { exit_code = RunInit(o->lake, o->admin); });

  auto* user = app.add_subcommand("user", "Principals and their tokens");
  user->require_subcommand(1);
  auto* add = user->add_subcommand("add", "Add a principal; prints its token once");
  add->add_option("name", o->name, "User name")->required();
  add->add_option("--role", o->role, "admin, clinician, researcher, ops or auditor")->required();
  add_common(add);
  add->callback([o, &exit_code] { exit_code = RunUserAdd(o->lake, o->name, o->role, o->token); });

  auto* policy = app.add_subcommand("policy", "Lake-wide privacy settings");
  policy->require_subcommand(1);
  auto* set = policy->add_subcommand(
      "set", "Set a setting (admin, audited): small-count-threshold N (default 10)");
  set->add_option("name", o->name, "Setting name")->required();
  set->add_option("value", o->role, "Value")->required();
  add_common(set);
  set->callback([o, &exit_code] { exit_code = RunPolicySet(o->lake, o->name, o->role, o->token); });

  auto* audit = app.add_subcommand("audit", "The hash-chained audit log");
  audit->require_subcommand(1);
  auto* verify = audit->add_subcommand("verify", "Check the chain; names the first bad entry");
  add_common(verify);
  verify->callback([o, &exit_code] { exit_code = RunAuditVerify(o->lake, o->token); });
  auto* list = audit->add_subcommand("list", "Print audit entries");
  add_common(list);
  list->add_flag("--json", o->json, "One JSON object per entry and line");
  list->add_option("--from", o->from, "First index")->check(CLI::Range(int64_t{0}, INT64_MAX));
  list->add_option("--limit", o->limit, "At most this many entries (default: all)")
      ->check(CLI::Range(int64_t{1}, INT64_MAX));
  list->callback(
      [o, &exit_code] { exit_code = RunAuditList(o->lake, o->token, o->json, o->from, o->limit); });

  auto* rekey = app.add_subcommand("rekey", "Rotate the lake key (re-encrypts the vault)");
  add_common(rekey);
  rekey->callback([o, &exit_code] { exit_code = RunRekey(o->lake, o->token); });
}

}  // namespace medlake::cli
