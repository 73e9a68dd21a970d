#include "privacy/vault.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "common/file_util.h"
#include "common/string_util.h"
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
  nonce = NonceBytes(kNonceBytes);
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
  // The records are kept in the order they are written (a rowid table), found by their lookup
  // through an index: a commit's records then fill new pages at the end of the table, and
  // change only index pages (about a sixth of the bytes) elsewhere. Keyed by lookup (WITHOUT
  // ROWID, vaults made before 2026-12-01, which keep that layout), the records of each commit
  // fell on every page of the table: with the rollback journal, each commit of a first ingest
  // wrote the whole vault twice, a serial step that grew with the vault (0.29, 0.48, 0.63 and
  // 0.77 s at the four checkpoints of 10x Synthea).
  MEDLAKE_RETURN_IF_ERROR(v->db_->Exec(
      "CREATE TABLE IF NOT EXISTS identity(id INTEGER PRIMARY KEY, lookup BLOB NOT NULL UNIQUE, "
      "nonce BLOB NOT NULL, sealed BLOB NOT NULL, tag INTEGER NOT NULL DEFAULT 0);"
      "CREATE TABLE IF NOT EXISTS undo(lookup BLOB PRIMARY KEY, tag INTEGER NOT NULL, "
      "nonce BLOB NOT NULL, sealed BLOB NOT NULL, old_tag INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS pending(tag INTEGER NOT NULL)"));
  // A vault written before records were tagged with their commit: theirs are all committed.
  auto tagged = [&]() -> Result<bool> {
    MEDLAKE_ASSIGN_OR_RETURN(
        SqliteStmt q,
        v->db_->Prepare("SELECT count(*) FROM pragma_table_info('identity') WHERE name = 'tag'"));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, q.Step());
    return row && q.Int(0) > 0;
  };
  MEDLAKE_ASSIGN_OR_RETURN(bool has_tags, tagged());
  if (!has_tags) {
    MEDLAKE_RETURN_IF_ERROR(v->db_->Transaction([&]() -> Status {
      MEDLAKE_ASSIGN_OR_RETURN(bool upgraded, tagged());  // another process may have done it
      if (upgraded) return Status::Ok();
      return v->db_->Exec("ALTER TABLE identity ADD COLUMN tag INTEGER NOT NULL DEFAULT 0");
    }));
  }
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

Vault::Row Vault::SealRow(std::string_view pseudonym, std::string_view identity_json) const {
  Row row;
  row.lookup = Lookup(pseudonym);
  row.sealed = Seal(vault_key_, row.lookup, pseudonym, identity_json, row.nonce);
  return row;
}

Status Vault::Put(std::string_view pseudonym, std::string_view identity_json) {
  Row row = SealRow(pseudonym, identity_json);
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt,
      db_->Prepare("INSERT OR REPLACE INTO identity(lookup, nonce, sealed) VALUES (?, ?, ?)"));
  return stmt.BindBlob(1, row.lookup).BindBlob(2, row.nonce).BindBlob(3, row.sealed).Run();
}

Status Vault::Stage(uint64_t commit,
                    const std::vector<std::pair<std::string, std::string>>& records) {
  std::vector<StagedRecord> staged;
  staged.reserve(records.size());
  for (const auto& [pseudonym, identity] : records) staged.push_back({pseudonym, identity, {}});
  return Stage(commit, staged);
}

Status Vault::Stage(uint64_t commit, std::span<const StagedRecord> records) {
  // Written in the order of their lookups: the lookup index (the table itself, in a vault of
  // the old layout) then fills page after page. In the records' order every write lands on a
  // random page (the lookup is a keyed hash), and a vault larger than SQLite's page cache read
  // and spilled pages for most of them. Of one pseudonym's records, the last wins: the order
  // is the records' where lookups tie. What is sorted is each lookup's OrderedHead and its
  // row's index (16 bytes, not three strings: a commit of 389,700 records spent 0.19 s sorting
  // rows); the whole lookup decides where heads tie.
  const size_t n = records.size();
  std::vector<Row> rows(n);
  struct Place {
    uint64_t head;
    size_t row;
  };
  std::vector<Place> order(n);
  tbb::parallel_for(size_t{0}, n, [&](size_t i) {
    const StagedRecord& r = records[i];
    rows[i].lookup = r.lookup.empty() ? Lookup(r.pseudonym) : std::string(r.lookup);
    order[i] = {OrderedHead(rows[i].lookup), i};
  });
  std::sort(order.begin(), order.end(), [&rows](const Place& a, const Place& b) {
    if (a.head != b.head) return a.head < b.head;
    const int c = rows[a.row].lookup.compare(rows[b.row].lookup);
    return c != 0 ? c < 0 : a.row < b.row;
  });
  // Sealing is most of the CPU, and SQLite writes on one thread (ingest's workers wait
  // meanwhile): the other threads seal ahead of the inserts, a block of rows in lookup order at
  // a time, and the inserting thread seals a block itself rather than wait for one.
  constexpr size_t kSealBlock = 256;
  const size_t blocks = (n + kSealBlock - 1) / kSealBlock;
  std::atomic<size_t> next_block{0};
  std::vector<std::atomic<bool>> sealed(blocks);
  // A block whose sealing threw (out of memory) is marked done all the same, so that nothing
  // waits for it, and fails the transaction.
  std::atomic<bool> seal_failed{false};
  auto seal_next = [&]() -> bool {
    const size_t b = next_block.fetch_add(1, std::memory_order_relaxed);
    if (b >= blocks) return false;
    try {
      for (size_t k = b * kSealBlock; k < std::min(n, (b + 1) * kSealBlock); ++k) {
        const StagedRecord& r = records[order[k].row];
        Row& row = rows[order[k].row];
        row.sealed = Seal(vault_key_, row.lookup, r.pseudonym, r.identity, row.nonce);
      }
    } catch (...) {
      seal_failed.store(true, std::memory_order_relaxed);
    }
    sealed[b].store(true, std::memory_order_release);
    return true;
  };
  tbb::task_group sealers;
  const int helpers = std::max(1, tbb::this_task_arena::max_concurrency() - 1);
  for (int h = 0; h < helpers; ++h) {
    sealers.run([&] {
      while (seal_next()) {
      }
    });
  }
  // However the transaction ends, the sealers stop and are waited for before the rows go.
  struct StopSealers {
    std::atomic<size_t>& next;
    size_t blocks;
    tbb::task_group& group;
    ~StopSealers() {
      next.store(blocks, std::memory_order_relaxed);
      group.wait();
    }
  } stop_sealers{next_block, blocks, sealers};
  auto wait_sealed = [&](size_t b) {
    while (!sealed[b].load(std::memory_order_acquire)) {
      if (!seal_next()) std::this_thread::yield();
    }
  };
  const auto tag = static_cast<int64_t>(commit);
  return db_->Transaction([&]() -> Status {
    // The commits before this one are made (the writer commits in order): their undo goes.
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt settle, db_->Prepare("DELETE FROM undo WHERE tag < ?"));
    MEDLAKE_RETURN_IF_ERROR(settle.Bind(1, tag).Run());
    MEDLAKE_RETURN_IF_ERROR(db_->Exec("DELETE FROM pending"));
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt pending, db_->Prepare("INSERT INTO pending VALUES(?)"));
    MEDLAKE_RETURN_IF_ERROR(pending.Bind(1, tag).Run());
    // The committed record a record replaces is kept until its commit is made (the first
    // one: a commit staged twice, after a catalog transaction that failed, keeps it).
    MEDLAKE_ASSIGN_OR_RETURN(
        SqliteStmt keep,
        db_->Prepare(
            "INSERT OR IGNORE INTO undo(lookup, tag, nonce, sealed, old_tag) SELECT "
            "lookup, ?2, nonce, sealed, tag FROM identity WHERE lookup = ?1 AND tag < ?2"));
    MEDLAKE_ASSIGN_OR_RETURN(
        SqliteStmt put, db_->Prepare("INSERT OR REPLACE INTO identity(lookup, nonce, sealed, tag) "
                                     "VALUES (?, ?, ?, ?)"));
    // A record new to the vault (every one of a first ingest) is one insert; one that replaces
    // a record is kept in the undo first.
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt add,
                             db_->Prepare("INSERT INTO identity(lookup, nonce, sealed, tag) VALUES "
                                          "(?, ?, ?, ?) ON CONFLICT(lookup) DO NOTHING"));
    // The rows outlive the statements: their bytes are bound, not copied.
    auto bind = [&](SqliteStmt& stmt, const Row& row) -> SqliteStmt& {
      return stmt.BindBlobView(1, row.lookup)
          .BindBlobView(2, row.nonce)
          .BindBlobView(3, row.sealed)
          .Bind(4, tag);
    };
    for (size_t k = 0; k < n; ++k) {
      if (k % kSealBlock == 0) {
        wait_sealed(k / kSealBlock);
        if (seal_failed.load(std::memory_order_relaxed)) {
          return Internal("identity vault: records could not be sealed (out of memory)");
        }
      }
      const Row& row = rows[order[k].row];
      MEDLAKE_RETURN_IF_ERROR(bind(add, row).Run());
      if (db_->Changes() > 0) continue;
      MEDLAKE_RETURN_IF_ERROR(keep.BindBlobView(1, row.lookup).Bind(2, tag).Run());
      MEDLAKE_RETURN_IF_ERROR(bind(put, row).Run());
    }
    return Status::Ok();
  });
}

Status Vault::Settle(uint64_t committed) {
  SetCommitted(committed);
  return db_->Transaction([&] { return DropUndo(committed); });
}

Status Vault::DropUndo(uint64_t committed) {
  for (const char* sql :
       {"DELETE FROM undo WHERE tag <= ?", "DELETE FROM pending WHERE tag <= ?"}) {
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt drop, db_->Prepare(sql));
    MEDLAKE_RETURN_IF_ERROR(drop.Bind(1, static_cast<int64_t>(committed)).Run());
  }
  return Status::Ok();
}

Status Vault::Recover(uint64_t committed) {
  SetCommitted(committed);
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt last, db_->Prepare("SELECT max(tag), EXISTS(SELECT 1 FROM undo) FROM pending"));
  MEDLAKE_ASSIGN_OR_RETURN(bool row, last.Step());
  if (!row || (last.IsNull(0) && last.Int(1) == 0)) return Status::Ok();  // nothing pending
  const bool made = last.IsNull(0) || static_cast<uint64_t>(last.Int(0)) <= committed;
  return db_->Transaction([&]() -> Status {
    if (made) return DropUndo(committed);
    // The records of a commit that was not made: back to the committed record they replaced,
    // or gone when they replaced none (the only scan of the table, after such a crash).
    const auto after = static_cast<int64_t>(committed);
    // (Only over the record written then: an older medlake, which knows no tags, may have
    // written the record again since, as tag 0.)
    MEDLAKE_ASSIGN_OR_RETURN(
        SqliteStmt restore,
        db_->Prepare("INSERT OR REPLACE INTO identity(lookup, nonce, sealed, tag) SELECT u.lookup, "
                     "u.nonce, u.sealed, u.old_tag FROM undo u JOIN identity i ON i.lookup = "
                     "u.lookup AND i.tag = u.tag WHERE u.tag > ?"));
    MEDLAKE_RETURN_IF_ERROR(restore.Bind(1, after).Run());
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt drop, db_->Prepare("DELETE FROM identity WHERE tag > ?"));
    MEDLAKE_RETURN_IF_ERROR(drop.Bind(1, after).Run());
    return db_->Exec("DELETE FROM undo; DELETE FROM pending");
  });
}

void Vault::SetCommitted(uint64_t committed) {
  committed_ = committed;
}

Result<std::string> Vault::Get(std::string_view pseudonym) {
  std::string lookup = Lookup(pseudonym);
  MEDLAKE_ASSIGN_OR_RETURN(
      SqliteStmt stmt, db_->Prepare("SELECT nonce, sealed, tag FROM identity WHERE lookup = ?"));
  stmt.BindBlob(1, lookup);
  MEDLAKE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (row && static_cast<uint64_t>(stmt.Int(2)) > committed_) {
    // Written for a later commit than the reader's: the record it replaced, while the undo
    // keeps it. Without an undo row the record replaced none, if its commit is the one still
    // pending (not made, or made after the reader's snapshot: either way not the reader's).
    // Of an earlier commit, its undo is gone because the commit was made: the record stands.
    const int64_t tag = stmt.Int(2);
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt undo,
                             db_->Prepare("SELECT nonce, sealed FROM undo WHERE lookup = ?"));
    undo.BindBlob(1, lookup);
    MEDLAKE_ASSIGN_OR_RETURN(bool kept, undo.Step());
    if (kept) {
      stmt = std::move(undo);
    } else {
      MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt pending,
                               db_->Prepare("SELECT EXISTS(SELECT 1 FROM pending WHERE tag <= ?)"));
      pending.Bind(1, tag);
      MEDLAKE_ASSIGN_OR_RETURN(bool answered, pending.Step());
      if (answered && pending.Int(0) != 0) {
        return NotFound("identity vault: no record for this pseudonym");
      }
    }
  }
  if (!row) return NotFound("identity vault: no record for this pseudonym");
  std::string stored;
  MEDLAKE_ASSIGN_OR_RETURN(std::string identity,
                           Unseal(lookup, stmt.Blob(0), stmt.Blob(1), stored));
  if (stored != pseudonym) return Corruption("identity vault: a record is bound to another row");
  return identity;
}

Result<int64_t> Vault::DeleteRecords(const std::vector<std::string>& pseudonyms) {
  int64_t erased = 0;
  MEDLAKE_RETURN_IF_ERROR(db_->Transaction([&]() -> Status {
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt settled,
                             db_->Prepare("DELETE FROM identity WHERE lookup = ?"));
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt undo, db_->Prepare("DELETE FROM undo WHERE lookup = ?"));
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt changes, db_->Prepare("SELECT changes()"));
    for (const auto& p : pseudonyms) {
      std::string lookup = Lookup(p);
      bool found = false;
      for (SqliteStmt* del : {&settled, &undo}) {
        MEDLAKE_RETURN_IF_ERROR(del->BindBlob(1, lookup).Run());
        MEDLAKE_ASSIGN_OR_RETURN(bool row, changes.Step());
        found = found || (row && changes.Int(0) > 0);
        MEDLAKE_RETURN_IF_ERROR(changes.Run());
      }
      erased += found ? 1 : 0;
    }
    return Status::Ok();
  }));
  return erased;
}

Status Vault::Erase(std::string_view pseudonym) {
  MEDLAKE_ASSIGN_OR_RETURN(int64_t erased, DeleteRecords({std::string(pseudonym)}));
  MEDLAKE_RETURN_IF_ERROR(db_->Exec("VACUUM"));
  if (erased == 0) return NotFound("identity vault: no record for this pseudonym");
  return Status::Ok();
}

Result<int64_t> Vault::EraseAll(const std::vector<std::string>& pseudonyms) {
  MEDLAKE_ASSIGN_OR_RETURN(int64_t erased, DeleteRecords(pseudonyms));
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

Status Vault::ForEachRow(
    std::string_view select,
    const std::function<Status(std::string_view, std::string_view, const SqliteStmt&)>& fn) {
  MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt stmt, db_->Prepare(select));
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
    Status s = fn(pseudonym, identity, stmt);
    sodium_memzero(identity.data(), identity.size());
    MEDLAKE_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status Vault::ForEach(const std::function<Status(std::string_view, std::string_view)>& fn) {
  return ForEachRow("SELECT lookup, nonce, sealed FROM identity",
                    [&](std::string_view pseudonym, std::string_view identity, const SqliteStmt&) {
                      return fn(pseudonym, identity);
                    });
}

Status Vault::ReencryptTo(const std::string& path, SecretKey vault_key, SecretKey index_key) {
  if (std::filesystem::exists(path)) return AlreadyExists(path + " exists");
  MEDLAKE_ASSIGN_OR_RETURN(auto target, OpenFile(path, std::move(vault_key), std::move(index_key)));
  // Records keep their commit, and the undo of a commit not known to be made is copied with
  // it: the next writer keeps or rolls back that commit as it would have under the old keys.
  MEDLAKE_RETURN_IF_ERROR(target->db_->Transaction([&]() -> Status {
    MEDLAKE_ASSIGN_OR_RETURN(
        SqliteStmt put,
        target->db_->Prepare(
            "INSERT INTO identity(lookup, nonce, sealed, tag) VALUES (?, ?, ?, ?)"));
    MEDLAKE_RETURN_IF_ERROR(ForEachRow(
        "SELECT lookup, nonce, sealed, tag FROM identity",
        [&](std::string_view pseudonym, std::string_view identity, const SqliteStmt& from) {
          Row row = target->SealRow(pseudonym, identity);
          return put.BindBlob(1, row.lookup)
              .BindBlob(2, row.nonce)
              .BindBlob(3, row.sealed)
              .Bind(4, from.Int(3))
              .Run();
        }));
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt last, db_->Prepare("SELECT tag FROM pending"));
    MEDLAKE_ASSIGN_OR_RETURN(SqliteStmt pending,
                             target->db_->Prepare("INSERT INTO pending VALUES(?)"));
    for (;;) {
      MEDLAKE_ASSIGN_OR_RETURN(bool row, last.Step());
      if (!row) break;
      MEDLAKE_RETURN_IF_ERROR(pending.Bind(1, last.Int(0)).Run());
    }
    MEDLAKE_ASSIGN_OR_RETURN(
        SqliteStmt undo,
        target->db_->Prepare(
            "INSERT INTO undo(lookup, tag, nonce, sealed, old_tag) VALUES (?, ?, ?, ?, ?)"));
    return ForEachRow(
        "SELECT lookup, nonce, sealed, tag, old_tag FROM undo",
        [&](std::string_view pseudonym, std::string_view identity, const SqliteStmt& from) {
          Row row = target->SealRow(pseudonym, identity);
          return undo.BindBlob(1, row.lookup)
              .Bind(2, from.Int(3))
              .BindBlob(3, row.nonce)
              .BindBlob(4, row.sealed)
              .Bind(5, from.Int(4))
              .Run();
        });
  }));
  target.reset();
  return SyncFile(path);
}

}  // namespace medlake::privacy
