// The identity vault: direct identifiers of each patient, encrypted, keyed by pseudonym.
//
// File DIR/vault.sqlite, table identity(id, lookup, nonce, sealed, tag), its records in the order
// written (id, the rowid), found by lookup through a unique index (a vault made before
// 2026-12-01 has no id: its records are keyed by lookup, WITHOUT ROWID, and it keeps that layout):
//   lookup  keyed BLAKE2b-256 of the pseudonym (vault index key): the file alone does not list
//           the lake's pseudonyms
//   sealed  XChaCha20-Poly1305 (random 24-byte nonce per write) of the pseudonym and the
//           identity JSON, with "medlake vault v1" + lookup as associated data, so a record
//           moved to another pseudonym's row fails authentication.
// SQLite runs with secure_delete=ON and the rollback journal; Erase deletes the row and
// VACUUMs, so no byte of an erased record remains in the file.
//
// Each row also holds `tag`, the number of the catalog commit (store::LakeWriter, meta.commits)
// that made its record the lake's (0: written before tags, or by Put). The vault and the
// catalog are two files that cannot commit together: ingest writes a commit's records here
// first (Stage), and until the catalog has made that commit, table undo(lookup, tag, nonce,
// sealed, old_tag) keeps the committed record each one replaced, and table pending(tag) names
// that commit. A record of a commit that did
// not happen (a crash or kill in between) is therefore never taken for the identity of what the
// lake holds: readers that know the catalog's commit (SetCommitted) read the undo instead, and
// the next writer puts it back (Recover). docs/privacy.md, "The vault and commits".
//
// The identity JSON is opaque here: the ingest layer decides its shape (names, addresses,
// telecom, identifiers, birth date, free text). Thread safety: one Vault per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "medlake/status.h"
#include "privacy/key_store.h"
#include "privacy/sqlite_file.h"

namespace medlake::privacy {

class Vault {
 public:
  static std::string PathFor(const std::string& lake_dir) { return lake_dir + "/vault.sqlite"; }

  // Opens (creating when absent) DIR/vault.sqlite with the lake's vault keys.
  static Result<std::unique_ptr<Vault>> Open(const KeyStore& keys);
  // Opens (creating when absent) the vault file at `path` with explicit keys.
  static Result<std::unique_ptr<Vault>> OpenFile(const std::string& path, SecretKey vault_key,
                                                 SecretKey index_key);
  ~Vault();

  // Stores (or replaces) the identity of `pseudonym`. Durable on return.
  Status Put(std::string_view pseudonym, std::string_view identity_json);
  // Writes many records for catalog commit `commit`, in one durable transaction (on error
  // none of them is written), keeping the committed records they replace as undo. Of one
  // pseudonym's records the last wins. The writer stages commit T only once T-1 is made: the
  // same transaction drops the undo of earlier commits.
  Status Stage(uint64_t commit, const std::vector<std::pair<std::string, std::string>>& records);
  // A record to stage, as views of the caller's strings: `lookup` is Lookup(pseudonym), which
  // Stage computes when it is empty (ingest computes it on its workers, as records come).
  struct StagedRecord {
    std::string_view pseudonym, identity, lookup;
  };
  Status Stage(uint64_t commit, std::span<const StagedRecord> records);
  // The key a pseudonym's record is found by (keyed BLAKE2b-256, vault index key). Thread-safe.
  std::string Lookup(std::string_view pseudonym) const;
  // After the writer's last commit: drops the undo of commits up to `committed` (made), and
  // SetCommitted(committed).
  Status Settle(uint64_t committed);
  // For the lake's writer, when it opens (it holds the lake's lock), with the catalog's last
  // commit: records written for later commits (not made) go back to the records they replaced,
  // or go; the undo goes. SetCommitted(committed) too.
  Status Recover(uint64_t committed);
  // Get reads records as of catalog commit `committed`: one written for a later commit reads
  // as the record it replaced. Until this is called, every record written is read.
  void SetCommitted(uint64_t committed);

  // Re-identification: the identity of `pseudonym`. kNotFound when absent, kCorruption when
  // the record fails authentication (tampered, or moved between rows). The caller audits it.
  Result<std::string> Get(std::string_view pseudonym);
  // Removes the record (and its undo) and compacts the file so its bytes are gone. kNotFound
  // when absent.
  Status Erase(std::string_view pseudonym);
  // Removes every record of `pseudonyms` that exists (absent ones are skipped; undo too) in
  // one transaction, then compacts the file once. Returns how many were removed.
  Result<int64_t> EraseAll(const std::vector<std::string>& pseudonyms);
  Result<int64_t> Count();
  // Calls `fn(pseudonym, identity_json)` for every record (decrypting each).
  Status ForEach(const std::function<Status(std::string_view, std::string_view)>& fn);
  // Writes every record and undo (with their commits), re-encrypted under new keys, to a new
  // vault file at `path` (which must not exist) and fsyncs it. Used by Rekey.
  Status ReencryptTo(const std::string& path, SecretKey vault_key, SecretKey index_key);

 private:
  Vault() = default;
  // A record as the identity table holds it: its lookup key and its sealed identity.
  struct Row {
    std::string lookup, nonce, sealed;
  };
  Row SealRow(std::string_view pseudonym, std::string_view identity_json) const;
  Result<std::string> Unseal(std::string_view lookup, std::string_view nonce,
                             std::string_view sealed, std::string& pseudonym) const;
  // Calls `fn(pseudonym, identity_json, row)` for every row of `select` (lookup, nonce,
  // sealed, then any), checking that each is bound to its row.
  Status ForEachRow(
      std::string_view select,
      const std::function<Status(std::string_view, std::string_view, const SqliteStmt&)>& fn);
  // Inside a transaction: drops the undo of commits up to `committed` (made).
  Status DropUndo(uint64_t committed);
  // Deletes the records of `pseudonyms` and their undo in one transaction; how many.
  Result<int64_t> DeleteRecords(const std::vector<std::string>& pseudonyms);

  std::unique_ptr<SqliteFile> db_;
  uint64_t committed_ = UINT64_MAX;  // see SetCommitted
  SecretKey vault_key_;
  SecretKey index_key_;
};

}  // namespace medlake::privacy
