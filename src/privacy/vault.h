// The identity vault: direct identifiers of each patient, encrypted, keyed by pseudonym.
//
// File DIR/vault.sqlite, table identity(lookup, nonce, sealed):
//   lookup  keyed BLAKE2b-256 of the pseudonym (vault index key): the file alone does not list
//           the lake's pseudonyms
//   sealed  XChaCha20-Poly1305 (random 24-byte nonce per write) of the pseudonym and the
//           identity JSON, with "medlake vault v1" + lookup as associated data, so a record
//           moved to another pseudonym's row fails authentication.
// SQLite runs with secure_delete=ON and the rollback journal; Erase deletes the row and
// VACUUMs, so no byte of an erased record remains in the file.
//
// The identity JSON is opaque here: the ingest layer decides its shape (names, addresses,
// telecom, identifiers, birth date, free text). Thread safety: one Vault per thread.
#pragma once

#include <functional>
#include <memory>
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
  // Stores (or replaces) many records in one transaction. Durable on return; on error none of
  // them is stored.
  Status PutAll(const std::vector<std::pair<std::string, std::string>>& records);
  // Re-identification: the identity of `pseudonym`. kNotFound when absent, kCorruption when
  // the record fails authentication (tampered, or moved between rows). The caller audits it.
  Result<std::string> Get(std::string_view pseudonym);
  // Removes the record and compacts the file so its bytes are gone. kNotFound when absent.
  Status Erase(std::string_view pseudonym);
  // Removes every record of `pseudonyms` that exists (absent ones are skipped) in one
  // transaction, then compacts the file once. Returns how many were removed.
  Result<int64_t> EraseAll(const std::vector<std::string>& pseudonyms);
  Result<int64_t> Count();
  // Calls `fn(pseudonym, identity_json)` for every record (decrypting each).
  Status ForEach(const std::function<Status(std::string_view, std::string_view)>& fn);
  // Writes every record, re-encrypted under new keys, to a new vault file at `path` (which
  // must not exist) and fsyncs it. Used by Rekey.
  Status ReencryptTo(const std::string& path, SecretKey vault_key, SecretKey index_key);

 private:
  Vault() = default;
  std::string Lookup(std::string_view pseudonym) const;
  // A record as the identity table holds it: its lookup key and its sealed identity.
  struct Row {
    std::string lookup, nonce, sealed;
  };
  Row SealRow(std::string_view pseudonym, std::string_view identity_json) const;
  Result<std::string> Unseal(std::string_view lookup, std::string_view nonce,
                             std::string_view sealed, std::string& pseudonym) const;

  std::unique_ptr<SqliteFile> db_;
  SecretKey vault_key_;
  SecretKey index_key_;
};

}  // namespace medlake::privacy
