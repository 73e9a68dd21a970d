#include "privacy/audit_log.h"

#include <sodium.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "common/file_util.h"
#include "privacy/sqlite_file.h"

namespace medlake::privacy {
namespace {

constexpr size_t kHashBytes = 32;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool SameBytes(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

constexpr std::string_view kColumns =
    "idx, time_ms, principal, role, action, object, purpose, patients, hash";

AuditEntry ReadEntry(const SqliteStmt& s, std::string& hash) {
  AuditEntry e;
  e.index = s.Int(0);
  e.time_ms = s.Int(1);
  e.principal = s.Text(2);
  e.role = s.Text(3);
  e.action = s.Text(4);
  e.object = s.Text(5);
  e.purpose = s.Text(6);
  e.patients = s.Int(7);
  hash = s.Blob(8);
  e.hash_hex = ToHex(hash);
  return e;
}

}  // namespace

std::string ObjectHash(std::string_view text) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, AsBytes(text), text.size());
  return "sha256:" + ToHex(AsChars(h, sizeof h));
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const KeyStore& keys) {
  return OpenFile(PathFor(keys.lake_dir()), keys.SubKey(KeyPurpose::kAudit));
}

Result<std::unique_ptr<AuditLog>> AuditLog::OpenFile(const std::string& path, SecretKey key) {
  if (!SodiumReady()) return Internal("libsodium cannot be initialised");
  std::unique_ptr<AuditLog> log(new AuditLog());
  MEDLAKE_ASSIGN_OR_RETURN(log->db_, OpenSqliteFile(path, true, "audit log"));
  MEDLAKE_RETURN_IF_ERROR(log->db_->Exec(
      "CREATE TABLE IF NOT EXISTS entry(idx INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, "
      "principal TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, "
      "purpose TEXT NOT NULL, patients INTEGER NOT NULL, hash BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS head(id INTEGER PRIMARY KEY CHECK (id = 1), "
      "count INTEGER NOT NULL, last BLOB NOT NULL, mac BLOB NOT NULL);"));
  ::chmod(path.c_str(), 0600);
  log->path_ = path;
  log->key_ = std::move(key);
  return log;
}

AuditLog::~AuditLog() = default;

std::string AuditLog::EntryHash(const std::string& prev, const AuditEntry& e) const {
  std::string m = "medlake audit v1";
  m.append(prev);
  AppendU64(m, static_cast<uint64_t>(e.index));
  AppendU64(m, static_cast<uint64_t>(e.time_ms));
  AppendField(m, e.principal);
  AppendField(m, e.role);
  AppendField(m, e.action);
  AppendField(m, e.object);
  AppendField(m, e.purpose);
  AppendU64(m, static_cast<uint64_t>(e.patients));
  return KeyedBlake2b(key_, m, kHashBytes);
}

std::string AuditLog::HeadMac(int64_t count, const std::string& last) const {
  std::string m = "medlake audit head v1";
  AppendU64(m, static_cast<uint64_t>(count));
  m.append(last);
  return KeyedBlake2b(key_, m, kHashBytes);
}

std::string AuditLog::PatientRef(std::string_view pseudonym) const {
  std::string m = "medlake patient ref v1|";
  m.append(pseudonym);
  return "patient-ref:" + ToHex(KeyedBlake2b(key_, m, 16));
}

Status AuditLog::Insert(const AuditEntry& e, const std::string& hash) {
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt,
      db_->Prepare("INSERT INTO entry(idx, time_ms, principal, role, action, object, purpose, "
                   "patients, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  stmt.Bind(1, e.index).Bind(2, e.time_ms).Bind(3, e.principal).Bind(4, e.role);
  stmt.Bind(5, e.action).Bind(6, e.object).Bind(7, e.purpose);
  stmt.Bind(8, e.patients).BindBlob(9, hash);
  return stmt.Run();
}

Status AuditLog::WriteHead(int64_t count, const std::string& last) {
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt,
      db_->Prepare("INSERT OR REPLACE INTO head(id, count, last, mac) VALUES (1, ?, ?, ?)"));
  stmt.Bind(1, count).BindBlob(2, last).BindBlob(3, HeadMac(count, last));
  return stmt.Run();
}

Result<int64_t> AuditLog::Append(AuditEntry entry) {
  MEDLAKE_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Result<int64_t> {
    int64_t count = 0;
    std::string last(kHashBytes, '\0');
    {
      MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt head,
                               db_->Prepare("SELECT count, last, mac FROM head WHERE id = 1"));
      MEDLAKE_ASSIGN_OR_RETURN(bool row, head.Step());
      if (row) {
        count = head.Int(0);
        last = head.Blob(1);
        if (!SameBytes(head.Blob(2), HeadMac(count, last))) {
          return Corruption("audit log: the head record fails its MAC; run medlake audit verify");
        }
      } else if (entry.action != kFirstAction) {
        // An init holds the lake's writer lock until its first entries are in.
        const std::string lake = std::filesystem::path(path_).parent_path().string();
        if (FolderLock::IsHeld(lake.empty() ? "." : lake)) {
          return Busy("the lake at " + lake +
                      " is being initialised (medlake init runs): run the command again when "
                      "it is done");
        }
        return Corruption(
            "audit log: it has no entries, not even the lake's init: it was removed or "
            "emptied, or medlake init was stopped before it finished (run it again then). "
            "Otherwise restore audit.sqlite from a backup; medlake audit verify reports what "
            "is missing");
      }
    }
    entry.index = count;
    if (entry.time_ms == 0) entry.time_ms = NowMs();
    std::string hash = EntryHash(last, entry);
    MEDLAKE_RETURN_IF_ERROR(Insert(entry, hash));
    MEDLAKE_RETURN_IF_ERROR(WriteHead(count + 1, hash));
    return count;
  };
  auto r = body();
  if (!r.ok()) {
    (void)db_->Exec("ROLLBACK");
    return r;
  }
  MEDLAKE_RETURN_IF_ERROR(db_->Exec("COMMIT"));
  return r;
}

Result<std::vector<AuditEntry>> AuditLog::List(int64_t from, int64_t limit) {
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                           db_->Prepare("SELECT " + std::string(kColumns) +
                                        " FROM entry WHERE idx >= ? ORDER BY idx LIMIT ?"));
  stmt.Bind(1, from).Bind(2, limit > 0 ? limit : -1);
  std::vector<AuditEntry> out;
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::string hash;
    out.push_back(ReadEntry(stmt, hash));
  }
  return out;
}

Result<AuditVerification> AuditLog::Verify() {
  AuditVerification v;
  auto fail = [&](int64_t index, std::string reason) {
    v.ok = false;
    v.first_bad_index = index;
    v.reason = std::move(reason);
    return v;
  };
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt, db_->Prepare("SELECT " + std::string(kColumns) +
                                                         " FROM entry ORDER BY idx"));
  std::string prev(kHashBytes, '\0');
  int64_t expected = 0;
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::string stored;
    AuditEntry e = ReadEntry(stmt, stored);
    v.entries++;
    if (expected == 0 && e.action != kFirstAction) {
      return fail(0,
                  "entry 0 is not the lake's init: the log was replaced, or its first "
                  "entries removed");
    }
    if (e.index != expected) {
      return fail(expected, "entry " + std::to_string(expected) +
                                " is missing (next stored index is " + std::to_string(e.index) +
                                "): removed or inserted entries");
    }
    if (!SameBytes(EntryHash(prev, e), stored)) {
      return fail(expected, "entry " + std::to_string(expected) +
                                " does not match the chain: edited, inserted or reordered");
    }
    prev = stored;
    ++expected;
  }
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt head,
                           db_->Prepare("SELECT count, last, mac FROM head WHERE id = 1"));
  MEDLAKE_ASSIGN_OR_RETURN(bool has_head, head.Step());
  if (!has_head) {
    // A lake's log holds at least the entries of its `init`: an empty one was wiped.
    if (expected == 0) return fail(0, "the log is empty (its entries and head were removed)");
    return fail(expected, "the head record is missing");
  }
  int64_t count = head.Int(0);
  std::string last(head.Blob(1));
  if (!SameBytes(head.Blob(2), HeadMac(count, last))) {
    return fail(expected, "the head record fails its MAC (wrong key or tampered)");
  }
  if (count > expected) {
    return fail(expected, "entries " + std::to_string(expected) + " to " +
                              std::to_string(count - 1) + " were removed from the end");
  }
  if (count < expected || !SameBytes(last, prev)) {
    return fail(count, "entries after the head (index " + std::to_string(count) +
                           " on) were not written by medlake");
  }
  return v;
}

Status AuditLog::RechainTo(const std::string& path, SecretKey new_key) {
  MEDLAKE_ASSIGN_OR_RETURN(AuditVerification v, Verify());
  if (!v.ok)
    return Corruption("audit log: chain broken at entry " + std::to_string(v.first_bad_index) +
                      ": " + v.reason);
  if (std::filesystem::exists(path)) return AlreadyExists(path + " exists");
  MEDLAKE_ASSIGN_OR_RETURN(auto target, OpenFile(path, std::move(new_key)));
  MEDLAKE_ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, List());
  MEDLAKE_RETURN_IF_ERROR(target->db_->Exec("BEGIN IMMEDIATE"));
  std::string prev(kHashBytes, '\0');
  for (const AuditEntry& e : entries) {
    std::string hash = target->EntryHash(prev, e);
    Status s = target->Insert(e, hash);
    if (!s.ok()) {
      (void)target->db_->Exec("ROLLBACK");
      return s;
    }
    prev = hash;
  }
  Status s = target->WriteHead(static_cast<int64_t>(entries.size()), prev);
  if (!s.ok()) {
    (void)target->db_->Exec("ROLLBACK");
    return s;
  }
  return target->db_->Exec("COMMIT");
}

}  // namespace medlake::privacy
