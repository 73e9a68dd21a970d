#include "privacy/vault.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/file_util.h"
#include "privacy/sqlite_file.h"

namespace medlake::privacy {
namespace {

constexpr std::string_view kAdLabel = "medlake vault v1";
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;

std::string AssociatedData(std::string_view lookup) {
  std::string ad(kAdLabel);
  ad.append(lookup);
  return ad;
}

std::string Seal(const SecretKey& key, std::string_view lookup, std::string_view pseudonym,
                 std::string_view identity, std::string& nonce) {
  std::string plain;
  AppendField(plain, pseudonym);
  plain.append(identity);
  nonce = RandomBytes(kNonceBytes);
  std::string sealed(plain.size() + kTagBytes, '\0');
  unsigned long long sealed_len = 0;
  std::string ad = AssociatedData(lookup);
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(sealed.data()),
                                             &sealed_len, AsBytes(plain), plain.size(), AsBytes(ad),
                                             ad.size(), nullptr, AsBytes(nonce), key.data());
  sodium_memzero(plain.data(), plain.size());
  return sealed;
}

Status SyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return IoError("cannot sync " + path);
  return SyncDir(std::filesystem::path(path).parent_path().string());
}

}  // namespace

Result<std::unique_ptr<Vault>> Vault::Open(const KeyStore& keys) {
  return OpenFile(PathFor(keys.lake_dir()), keys.SubKey(KeyPurpose::kVault),
                  keys.SubKey(KeyPurpose::kVaultIndex));
}

Result<std::unique_ptr<Vault>> Vault::OpenFile(const std::string& path, SecretKey vault_key,
                                               SecretKey index_key) {
  if (!SodiumReady()) return Internal("libsodium cannot be initialised");
  std::unique_ptr<Vault> v(new Vault());
  MEDLAKE_ASSIGN_OR_RETURN(v->db_, OpenSqliteFile(path, true, "identity vault"));
  MEDLAKE_RETURN_IF_ERROR(v->db_->Exec(
      "CREATE TABLE IF NOT EXISTS identity(lookup BLOB PRIMARY KEY, nonce BLOB NOT NULL, "
      "sealed BLOB NOT NULL) WITHOUT ROWID"));
  ::chmod(path.c_str(), 0600);
  v->vault_key_ = std::move(vault_key);
  v->index_key_ = std::move(index_key);
  return v;
}

Vault::~Vault() = default;

std::string Vault::Lookup(std::string_view pseudonym) const {
  return KeyedBlake2b(index_key_, pseudonym, 32);
}

Result<std::string> Vault::Unseal(std::string_view lookup, std::string_view nonce,
                                  std::string_view sealed, std::string& pseudonym) const {
  if (nonce.size() != kNonceBytes || sealed.size() < kTagBytes + 4) {
    return Corruption("identity vault: a record is damaged");
  }
  std::string plain(sealed.size() - kTagBytes, '\0');
  unsigned long long plain_len = 0;
  std::string ad = AssociatedData(lookup);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plain_len, nullptr, AsBytes(sealed),
          sealed.size(), AsBytes(ad), ad.size(), AsBytes(nonce), vault_key_.data()) != 0) {
    return Corruption("identity vault: a record fails authentication (tampered or wrong key)");
  }
  uint32_t n = 0;
  for (int i = 3; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(plain[i]);
  if (n > plain.size() - 4) return Corruption("identity vault: a record is damaged");
  pseudonym.assign(plain.data() + 4, n);
  std::string identity = plain.substr(4 + n);
  sodium_memzero(plain.data(), plain.size());
  return identity;
}

namespace {
constexpr std::string_view kPutSql =
    "INSERT OR REPLACE INTO identity(lookup, nonce, sealed) VALUES (?, ?, ?)";
}  // namespace

Vault::Row Vault::SealRow(std::string_view pseudonym, std::string_view identity_json) const {
  Row row;
  row.lookup = Lookup(pseudonym);
  row.sealed = Seal(vault_key_, row.lookup, pseudonym, identity_json, row.nonce);
  return row;
}

Status Vault::Put(std::string_view pseudonym, std::string_view identity_json) {
  Row row = SealRow(pseudonym, identity_json);
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt, db_->Prepare(kPutSql));
  return stmt.BindBlob(1, row.lookup).BindBlob(2, row.nonce).BindBlob(3, row.sealed).Run();
}

Status Vault::PutAll(const std::vector<std::pair<std::string, std::string>>& records) {
  // Sealed first, in parallel (ingest calls this at a commit, while its workers wait), then
  // inserted in the table's key order, through one statement: the B-tree then fills page after
  // page. In the records' order every insert lands on a random page (the key is a keyed hash),
  // and a vault larger than SQLite's page cache read and spilled pages for most of them. The
  // sort is stable: of one pseudonym's records, the last wins.
  std::vector<Row> rows(records.size());
  tbb::parallel_for(size_t{0}, records.size(),
                    [&](size_t i) { rows[i] = SealRow(records[i].first, records[i].second); });
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.lookup < b.lookup; });
  MEDLAKE_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  auto insert = db_->Prepare(kPutSql);
  Status s = insert.ok() ? Status::Ok() : insert.status();
  for (size_t i = 0; s.ok() && i < rows.size(); ++i) {
    s = insert->BindBlob(1, rows[i].lookup)
            .BindBlob(2, rows[i].nonce)
            .BindBlob(3, rows[i].sealed)
            .Run();
  }
  if (!s.ok()) {
    (void)db_->Exec("ROLLBACK");
    return s;
  }
  return db_->Exec("COMMIT");
}

Result<std::string> Vault::Get(std::string_view pseudonym) {
  std::string lookup = Lookup(pseudonym);
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                           db_->Prepare("SELECT nonce, sealed FROM identity WHERE lookup = ?"));
  stmt.BindBlob(1, lookup);
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound("identity vault: no record for this pseudonym");
  std::string stored;
  MEDLAKE_ASSIGN_OR_RETURN(std::string identity,
                           Unseal(lookup, stmt.Blob(0), stmt.Blob(1), stored));
  if (stored != pseudonym) return Corruption("identity vault: a record is bound to another row");
  return identity;
}

Status Vault::Erase(std::string_view pseudonym) {
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt, db_->Prepare("DELETE FROM identity WHERE lookup = ?"));
  stmt.BindBlob(1, Lookup(pseudonym));
  MEDLAKE_RETURN_IF_ERROR(stmt.Run());
  bool erased = false;
  {
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt changes, db_->Prepare("SELECT changes()"));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, changes.Step());
    erased = row && changes.Int(0) > 0;
  }
  MEDLAKE_RETURN_IF_ERROR(db_->Exec("VACUUM"));
  if (!erased) return NotFound("identity vault: no record for this pseudonym");
  return Status::Ok();
}

Result<int64_t> Vault::EraseAll(const std::vector<std::string>& pseudonyms) {
  MEDLAKE_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  int64_t erased = 0;
  auto body = [&]() -> Status {
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                             db_->Prepare("DELETE FROM identity WHERE lookup = ?"));
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt changes, db_->Prepare("SELECT changes()"));
    for (const auto& p : pseudonyms) {
      stmt.BindBlob(1, Lookup(p));
      MEDLAKE_RETURN_IF_ERROR(stmt.Run());
      MEDLAKE_ASSIGN_OR_RETURN(bool row, changes.Step());
      if (row) erased += changes.Int(0);
      MEDLAKE_RETURN_IF_ERROR(changes.Run());
    }
    return Status::Ok();
  };
  Status s = body();
  if (!s.ok()) {
    (void)db_->Exec("ROLLBACK");
    return s;
  }
  MEDLAKE_RETURN_IF_ERROR(db_->Exec("COMMIT"));
  // Compacts the file. The erasure does not depend on it: secure_delete zeroed the deleted
  // rows in the committed transaction. A failure here (a full disk) must not fail an erasure
  // that has happened, which the caller would then report as not done.
  (void)db_->Exec("VACUUM");
  return erased;
}

Result<int64_t> Vault::Count() {
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt, db_->Prepare("SELECT count(*) FROM identity"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Int(0) : 0;
}

Status Vault::ForEach(const std::function<Status(std::string_view, std::string_view)>& fn) {
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt,
                           db_->Prepare("SELECT lookup, nonce, sealed FROM identity"));
  for (;;) {
    MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::string lookup(stmt.Blob(0));
    std::string pseudonym;
    MEDLAKE_ASSIGN_OR_RETURN(std::string identity,
                             Unseal(lookup, stmt.Blob(1), stmt.Blob(2), pseudonym));
    if (Lookup(pseudonym) != lookup) {
      return Corruption("identity vault: a record is bound to another row");
    }
    Status s = fn(pseudonym, identity);
    sodium_memzero(identity.data(), identity.size());
    MEDLAKE_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status Vault::ReencryptTo(const std::string& path, SecretKey vault_key, SecretKey index_key) {
  if (std::filesystem::exists(path)) return AlreadyExists(path + " exists");
  MEDLAKE_ASSIGN_OR_RETURN(auto target, OpenFile(path, std::move(vault_key), std::move(index_key)));
  MEDLAKE_RETURN_IF_ERROR(target->db_->Exec("BEGIN IMMEDIATE"));
  Status s = ForEach([&](std::string_view pseudonym, std::string_view identity) {
    return target->Put(pseudonym, identity);
  });
  if (!s.ok()) {
    (void)target->db_->Exec("ROLLBACK");
    return s;
  }
  MEDLAKE_RETURN_IF_ERROR(target->db_->Exec("COMMIT"));
  target.reset();
  return SyncFile(path);
}

}  // namespace medlake::privacy
