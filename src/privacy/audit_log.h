// The audit log: append-only, hash-chained record of every access.
//
// File DIR/audit.sqlite, table entry(idx, ...). Entry i stores
//   hash_i = BLAKE2b-256 keyed with the audit key of (hash_{i-1} || canonical bytes of entry i)
// with hash_{-1} = 32 zero bytes; the canonical bytes are the index, time and every field,
// length-prefixed. A head row holds the entry count and the last hash under a keyed MAC, so
// that dropping entries from the end is detected too. Without the audit key nobody can
// recompute the chain, so an edited, removed, inserted or reordered entry is found by Verify,
// which names the first bad index.
//
// Entries say who (principal name and role), when, what (action and an object such as a
// command name or a view/cohort hash from ObjectHash), the purpose if given and how many
// patients were touched. They never hold patient identifiers: an erasure logs that it
// happened, not whom it concerned.
//
// Thread and process safety: Append runs in an IMMEDIATE transaction, so concurrent writers
// (threads with their own AuditLog, or processes) serialise and the chain stays linear.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"
#include "privacy/key_store.h"
#include "privacy/sqlite_file.h"

namespace medlake::privacy {

struct AuditEntry {
  int64_t index = -1;   // set by Append: 0, 1, 2, ...
  int64_t time_ms = 0;  // ms since the epoch; Append fills it in when 0
  std::string principal;
  std::string role;
  std::string action;     // e.g. "init", "user.add", "query", "export", "reidentify", "erase"
  std::string object;     // e.g. a command name or ObjectHash(view JSON)
  std::string purpose;    // optional
  int64_t patients = -1;  // number of patients touched, -1 when not applicable
  std::string hash_hex;   // set by Append
};

struct AuditVerification {
  bool ok = true;
  int64_t entries = 0;
  int64_t first_bad_index = -1;  // -1 when ok
  std::string reason;            // empty when ok
};

// "sha256:<hex>" of `text` (a view definition, cohort JSON, command line).
std::string ObjectHash(std::string_view text);

class AuditLog {
 public:
  static std::string PathFor(const std::string& lake_dir) { return lake_dir + "/audit.sqlite"; }
  static Result<std::unique_ptr<AuditLog>> Open(const KeyStore& keys);
  static Result<std::unique_ptr<AuditLog>> OpenFile(const std::string& path, SecretKey key);
  ~AuditLog();

  // The action of a log's first entry: `medlake init` writes it when it creates the key.
  static constexpr std::string_view kFirstAction = "init";
  // Appends `entry` (index and hash are assigned) and returns its index. Durable on return.
  // A log without entries takes only the kFirstAction entry: one that was removed or emptied
  // is not started again by the next command (verify would then find a whole, short chain),
  // and every audited command fails until it is restored.
  Result<int64_t> Append(AuditEntry entry);
  // Entries in index order, starting at `from`, at most `limit` (0: all).
  Result<std::vector<AuditEntry>> List(int64_t from = 0, int64_t limit = 0);
  // "patient-ref:<hex>": a keyed hash of a pseudonym under the audit key, so that an entry can
  // say which patient a re-identification concerned without holding the pseudonym (which
  // must vanish from the lake on erasure). An auditor with the key recomputes it to answer
  // "who accessed this patient" (GDPR art. 15).
  std::string PatientRef(std::string_view pseudonym) const;
  // Recomputes the chain. A broken chain is a value (ok=false), not an error; errors are I/O.
  Result<AuditVerification> Verify();
  // Verifies, then writes the chain recomputed under `new_key` to a new file. Used by Rekey.
  Status RechainTo(const std::string& path, SecretKey new_key);

 private:
  AuditLog() = default;
  std::string EntryHash(const std::string& prev, const AuditEntry& e) const;
  std::string HeadMac(int64_t count, const std::string& last) const;
  Status Insert(const AuditEntry& e, const std::string& hash);
  Status WriteHead(int64_t count, const std::string& last);

  std::unique_ptr<SqliteFile> db_;
  std::string path_;  // of audit.sqlite
  SecretKey key_;
};

}  // namespace medlake::privacy
