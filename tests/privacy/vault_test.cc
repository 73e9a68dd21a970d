#include "privacy/vault.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "privacy/encoding.h"
#include "privacy/pseudonymizer.h"
#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::TempDir;

const char* kIdentity =
    R"({"name":[{"family":"Quixotewright","given":["Aurelia"]}],"birthDate":"1961-03-14",)"
    R"("address":[{"line":["17 Larkspur Lane"],"postalCode":"SW1A 2AA"}],)"
    R"("telecom":[{"value":"+44 20 7946 0321"}],"identifier":[{"value":"MRN-99881"}]})";

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kKeyEnvironmentVariable);
    auto keys = KeyStore::Create(dir_.path());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::make_unique<KeyStore>(std::move(*keys));
    pseudonym_ = Pseudonymizer(*keys_).ForIdentifier("http://hospital.example/mrn", "MRN-99881");
  }

  // Runs an SQL statement directly on the vault file, as an attacker with file access would.
  void RawSql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Vault::PathFor(dir_.path()).c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::string RawFile() { return testing::ReadText(Vault::PathFor(dir_.path())); }

  TempDir dir_;
  std::unique_ptr<KeyStore> keys_;
  std::string pseudonym_;
};

// The vault's nonces come from a per-thread buffer (NonceBytes): none repeats, across the
// buffer's refills, and a forked child does not take the nonces its copy of the parent's buffer
// holds.
TEST(NonceBytesTest, NeverRepeatNotEvenAfterAFork) {
  std::set<std::string> seen;
  for (size_t i = 0; i < 3 * kNonceBufferBytes / 24; ++i) {
    ASSERT_TRUE(seen.insert(NonceBytes(24)).second) << "nonce " << i << " repeated";
  }
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string nonce = NonceBytes(24);
    const bool written = ::write(pipe_fds[1], nonce.data(), nonce.size()) == 24;
    ::_exit(written ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  const std::string parent = NonceBytes(24);
  std::string from_child(24, '\0');
  const bool read = ::read(pipe_fds[0], from_child.data(), 24) == 24;
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(read && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(parent, from_child);
  EXPECT_FALSE(seen.contains(from_child));
}

TEST_F(VaultTest, RoundTrip) {
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok()) << vault.status().ToString();
  ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
  auto got = (*vault)->Get(pseudonym_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, kIdentity);
  auto missing = (*vault)->Get("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*(*vault)->Count(), 1);
  // Neither the identity nor the pseudonym is stored in clear.
  std::string raw = RawFile();
  EXPECT_EQ(raw.find("Quixotewright"), std::string::npos);
  EXPECT_EQ(raw.find(pseudonym_), std::string::npos);
}

TEST_F(VaultTest, ReplaceKeepsOneRecord) {
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  ASSERT_TRUE((*vault)->Put(pseudonym_, "{}").ok());
  ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
  EXPECT_EQ(*(*vault)->Count(), 1);
  EXPECT_EQ(*(*vault)->Get(pseudonym_), kIdentity);
}

// Stage inserts in the table's key order, not the records' order: of one pseudonym's records
// in a batch the last one still wins, and every other record is kept.
TEST_F(VaultTest, StageKeepsTheLastRecordOfAPseudonym) {
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  Pseudonymizer pseudonymizer(*keys_);
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < 200; ++i) {
    std::string p = pseudonymizer.ForSourceId("synthea", "p-" + std::to_string(i % 50));
    batch.emplace_back(p, R"({"n":)" + std::to_string(i) + "}");
  }
  ASSERT_TRUE((*vault)->Stage(1, batch).ok());
  ASSERT_TRUE((*vault)->Settle(1).ok());
  EXPECT_EQ(*(*vault)->Count(), 50);
  for (int i = 150; i < 200; ++i) {
    EXPECT_EQ(*(*vault)->Get(batch[i].first), batch[i].second) << i;
  }
}

// Rows of a table, read directly from the file.
int64_t CountRows(const std::string& path, const std::string& table) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, ("SELECT count(*) FROM " + table).c_str(), -1, &st, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    n = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// A record written for a catalog commit is the identity only once that commit is made: before,
// a reader that knows the catalog's commit reads the record it replaced; a writer that opens
// after a crash puts that record back when the catalog did not commit, and keeps the new one
// when it did.
TEST_F(VaultTest, StagedRecordsCountOnceTheirCommitIsMade) {
  std::string other = Pseudonymizer(*keys_).ForSourceId("synthea", "p-other");
  const std::string path = Vault::PathFor(dir_.path());
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  ASSERT_TRUE((*vault)->Put(pseudonym_, R"({"v":1})").ok());
  ASSERT_TRUE((*vault)->Stage(4, {{pseudonym_, R"({"v":2})"}, {other, R"({"o":1})"}}).ok());
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":2})") << "no commit given: all that is written";
  (*vault)->SetCommitted(3);
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":1})") << "commit 4 not made yet";
  EXPECT_EQ((*vault)->Get(other).status().code(), ErrorCode::kNotFound);
  (*vault)->SetCommitted(4);
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":2})");
  EXPECT_EQ(*(*vault)->Get(other), R"({"o":1})");
  EXPECT_EQ(*(*vault)->Count(), 2);
  vault->reset();

  // The catalog stopped at commit 3: the next writer puts commit 4's records back.
  auto writer = Vault::Open(*keys_);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Recover(3).ok());
  writer->reset();
  auto reader = Vault::Open(*keys_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*(*reader)->Get(pseudonym_), R"({"v":1})");
  EXPECT_EQ((*reader)->Get(other).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*(*reader)->Count(), 1);
  EXPECT_EQ(CountRows(path, "undo"), 0);
  EXPECT_EQ(CountRows(path, "pending"), 0);
  reader->reset();

  // It made commit 4: the records stay, their undo goes.
  writer = Vault::Open(*keys_);
  ASSERT_TRUE((*writer)->Stage(4, {{pseudonym_, R"({"v":3})"}, {other, R"({"o":2})"}}).ok());
  EXPECT_EQ(CountRows(path, "undo"), 1);
  ASSERT_TRUE((*writer)->Recover(4).ok());
  writer->reset();
  reader = Vault::Open(*keys_);
  (*reader)->SetCommitted(4);
  EXPECT_EQ(*(*reader)->Get(pseudonym_), R"({"v":3})");
  EXPECT_EQ(*(*reader)->Get(other), R"({"o":2})");
  EXPECT_EQ(CountRows(path, "undo"), 0);
  EXPECT_EQ(CountRows(path, "pending"), 0);
}

// Staging commit T drops the undo of T-1 (made, since the writer commits in order) in the same
// transaction; a commit staged twice (after a catalog transaction that failed) keeps the undo
// of the first time.
TEST_F(VaultTest, StagingDropsTheUndoOfTheCommitBefore) {
  const std::string path = Vault::PathFor(dir_.path());
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  ASSERT_TRUE((*vault)->Stage(1, {{pseudonym_, R"({"v":1})"}}).ok());
  EXPECT_EQ(CountRows(path, "undo"), 0) << "a new record replaces none";
  ASSERT_TRUE((*vault)->Stage(2, {{pseudonym_, R"({"v":2})"}}).ok());
  EXPECT_EQ(CountRows(path, "undo"), 1);
  (*vault)->SetCommitted(1);
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":1})");
  (*vault)->SetCommitted(2);
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":2})");
  ASSERT_TRUE((*vault)->Stage(3, {{pseudonym_, R"({"v":3})"}}).ok());
  ASSERT_TRUE((*vault)->Stage(3, {{pseudonym_, R"({"v":4})"}}).ok());
  EXPECT_EQ(CountRows(path, "undo"), 1);
  EXPECT_EQ(CountRows(path, "identity"), 1);
  ASSERT_TRUE((*vault)->Recover(2).ok());
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":2})") << "commit 2's record, not commit 3's";
  ASSERT_TRUE((*vault)->Stage(3, {{pseudonym_, R"({"v":5})"}}).ok());
  ASSERT_TRUE((*vault)->Settle(3).ok());
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":5})");
  EXPECT_EQ(CountRows(path, "undo"), 0);
  EXPECT_EQ(CountRows(path, "pending"), 0);
}

// An erasure removes the undo too, and a rekey carries records and undo with their commits.
TEST_F(VaultTest, EraseAndRekeyTakeStagedRecords) {
  Pseudonymizer pseudonymizer(*keys_);
  std::string other = pseudonymizer.ForSourceId("synthea", "p-other");
  std::string third = pseudonymizer.ForSourceId("synthea", "p-third");
  const std::string path = Vault::PathFor(dir_.path());
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
  ASSERT_TRUE((*vault)->Put(third, R"({"t":1})").ok());
  ASSERT_TRUE(
      (*vault)
          ->Stage(7, {{pseudonym_, R"({"v":2})"}, {other, R"({"o":1})"}, {third, R"({"t":2})"}})
          .ok());
  EXPECT_EQ(*(*vault)->EraseAll({pseudonym_}), 1);
  EXPECT_EQ(CountRows(path, "identity"), 2);
  EXPECT_EQ(CountRows(path, "undo"), 1);
  EXPECT_EQ(RawFile().find("Quixotewright"), std::string::npos) << "the undo is erased too";

  // Other keys (any two will do).
  auto new_keys = [&] {
    return std::make_pair(keys_->SubKey(KeyPurpose::kAudit),
                          keys_->SubKey(KeyPurpose::kPrincipals));
  };
  const std::string copy = dir_.path() + "/vault.copy";
  auto [vault_key, index_key] = new_keys();
  ASSERT_TRUE((*vault)->ReencryptTo(copy, std::move(vault_key), std::move(index_key)).ok());
  auto [vault_key2, index_key2] = new_keys();
  auto rekeyed = Vault::OpenFile(copy, std::move(vault_key2), std::move(index_key2));
  ASSERT_TRUE(rekeyed.ok());
  EXPECT_EQ(*(*rekeyed)->Get(other), R"({"o":1})");
  EXPECT_EQ(*(*rekeyed)->Get(third), R"({"t":2})");
  (*rekeyed)->SetCommitted(6);
  EXPECT_EQ((*rekeyed)->Get(other).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*(*rekeyed)->Get(third), R"({"t":1})");
  ASSERT_TRUE((*rekeyed)->Recover(6).ok());
  (*rekeyed)->SetCommitted(UINT64_MAX);
  EXPECT_EQ((*rekeyed)->Get(other).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*(*rekeyed)->Get(third), R"({"t":1})");
}

// A reader whose catalog snapshot is older than the writer's last commits: a record of a commit
// since made reads as the record it replaced while the undo keeps it, and as itself once the
// undo is gone (the commit is made); a new record of the commit still pending is not found.
TEST_F(VaultTest, ReaderBehindTheWriterReadsWhatItsSnapshotHolds) {
  std::string other = Pseudonymizer(*keys_).ForSourceId("synthea", "p-other");
  auto writer = Vault::Open(*keys_);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Put(pseudonym_, R"({"v":1})").ok());
  ASSERT_TRUE((*writer)->Stage(1, {{pseudonym_, R"({"v":2})"}}).ok());
  auto reader = Vault::Open(*keys_);
  ASSERT_TRUE(reader.ok());
  (*reader)->SetCommitted(0);
  EXPECT_EQ(*(*reader)->Get(pseudonym_), R"({"v":1})");
  ASSERT_TRUE((*writer)->Stage(2, {{other, R"({"o":1})"}}).ok());  // commit 1 was made
  auto got = (*reader)->Get(pseudonym_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, R"({"v":2})");
  EXPECT_EQ((*reader)->Get(other).status().code(), ErrorCode::kNotFound);
}

// A record written again, after a crash, by a medlake that knows no commits (tag 0) is not
// rolled back over by the next writer's Recover.
TEST_F(VaultTest, RecoverKeepsARecordWrittenAgainWithoutCommit) {
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  ASSERT_TRUE((*vault)->Put(pseudonym_, R"({"v":1})").ok());
  ASSERT_TRUE((*vault)->Stage(5, {{pseudonym_, R"({"v":2})"}}).ok());
  RawSql("UPDATE identity SET tag = 0");  // as the older medlake's INSERT OR REPLACE leaves it
  ASSERT_TRUE((*vault)->Recover(4).ok());
  EXPECT_EQ(*(*vault)->Get(pseudonym_), R"({"v":2})");
}

// A vault written before records had commits: its records read, and are tagged as made.
TEST_F(VaultTest, VaultWithoutTagsIsUpgraded) {
  RawSql(
      "CREATE TABLE identity(lookup BLOB PRIMARY KEY, nonce BLOB NOT NULL, sealed BLOB NOT "
      "NULL) WITHOUT ROWID");
  {
    auto vault = Vault::Open(*keys_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
  }
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  ASSERT_TRUE((*vault)->Recover(0).ok());
  EXPECT_EQ(*(*vault)->Get(pseudonym_), kIdentity);
}

// The SQL that made a table of the vault at `path`.
std::string TableSql(const std::string& path, const std::string& table) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string sql;
  if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = ?", -1, &st, nullptr) ==
      SQLITE_OK) {
    sqlite3_bind_text(st, 1, table.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
      sql = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return sql;
}

// A new vault keeps its records in the order written (a rowid table, found by lookup through
// its unique index); one made before 2026-12-01 keeps its records keyed by lookup. Both stage,
// undo, read and erase alike.
TEST_F(VaultTest, BothLayoutsStageUndoReadAndEraseAlike) {
  TempDir former_dir;
  auto former_keys = KeyStore::Create(former_dir.path());
  ASSERT_TRUE(former_keys.ok());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Vault::PathFor(former_dir.path()).c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE identity(lookup BLOB PRIMARY KEY, nonce BLOB NOT NULL, "
                           "sealed BLOB NOT NULL, tag INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  for (const KeyStore* keys : {keys_.get(), &*former_keys}) {
    const std::string path = Vault::PathFor(keys->lake_dir());
    Pseudonymizer pseudonymizer(*keys);
    std::vector<std::string> p;
    for (int i = 0; i < 300; ++i)
      p.push_back(pseudonymizer.ForSourceId("synthea", std::to_string(i)));
    {
      auto vault = Vault::Open(*keys);
      ASSERT_TRUE(vault.ok());
      std::vector<std::pair<std::string, std::string>> first, second;
      for (int i = 0; i < 200; ++i) first.emplace_back(p[i], "{\"a\":" + std::to_string(i) + "}");
      for (int i = 100; i < 300; ++i)
        second.emplace_back(p[i], "{\"b\":" + std::to_string(i) + "}");
      ASSERT_TRUE((*vault)->Stage(1, first).ok());
      (*vault)->SetCommitted(1);
      ASSERT_TRUE((*vault)->Stage(2, second).ok());
      EXPECT_EQ(CountRows(path, "undo"), 100);  // the records of commit 1 that commit 2 replaced
    }
    // The catalog did not make commit 2: its records go, those it replaced come back.
    auto vault = Vault::Open(*keys);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Recover(1).ok());
    EXPECT_EQ(*(*vault)->Count(), 200);
    EXPECT_EQ(*(*vault)->Get(p[150]), R"({"a":150})");
    EXPECT_EQ((*vault)->Get(p[250]).status().code(), ErrorCode::kNotFound);
    ASSERT_TRUE((*vault)->Stage(2, {{p[150], R"({"c":1})"}, {p[250], R"({"c":2})"}}).ok());
    ASSERT_TRUE((*vault)->Settle(2).ok());
    EXPECT_EQ(*(*vault)->Get(p[150]), R"({"c":1})");
    EXPECT_EQ(*(*vault)->Get(p[250]), R"({"c":2})");
    EXPECT_EQ(*(*vault)->Count(), 201);
    const std::string lookup = KeyedBlake2b(keys->SubKey(KeyPurpose::kVaultIndex), p[150], 32);
    EXPECT_NE(testing::ReadText(path).find(lookup), std::string::npos);
    ASSERT_TRUE((*vault)->Erase(p[150]).ok());
    EXPECT_EQ((*vault)->Get(p[150]).status().code(), ErrorCode::kNotFound);
    EXPECT_EQ(*(*vault)->Get(p[151]), R"({"a":151})");
    vault->reset();
    EXPECT_EQ(testing::ReadText(path).find(lookup), std::string::npos)
        << "its lookup, table or index";
  }
  EXPECT_EQ(TableSql(Vault::PathFor(dir_.path()), "identity").find("WITHOUT ROWID"),
            std::string::npos);
  EXPECT_NE(TableSql(Vault::PathFor(former_dir.path()), "identity").find("WITHOUT ROWID"),
            std::string::npos);
}

TEST_F(VaultTest, FlippedByteIsCorruption) {
  {
    auto vault = Vault::Open(*keys_);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Vault::PathFor(dir_.path()).c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT lookup, sealed FROM identity", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  std::string lookup(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                     static_cast<size_t>(sqlite3_column_bytes(st, 0)));
  std::string sealed(static_cast<const char*>(sqlite3_column_blob(st, 1)),
                     static_cast<size_t>(sqlite3_column_bytes(st, 1)));
  sqlite3_finalize(st);
  sealed[10] = static_cast<char>(sealed[10] ^ 0x01);
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "UPDATE identity SET sealed = ? WHERE lookup = ?", -1, &st, nullptr),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, sealed.data(), static_cast<int>(sealed.size()), SQLITE_TRANSIENT);
  sqlite3_bind_blob(st, 2, lookup.data(), static_cast<int>(lookup.size()), SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  auto got = (*vault)->Get(pseudonym_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), ErrorCode::kCorruption);
  EXPECT_EQ(got.status().message().find("Quixotewright"), std::string::npos);
}

TEST_F(VaultTest, RecordMovedToAnotherPseudonymIsCorruption) {
  std::string other = Pseudonymizer(*keys_).ForSourceId("synthea", "p-2");
  {
    auto vault = Vault::Open(*keys_);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
    ASSERT_TRUE((*vault)->Put(other, R"({"name":"other"})").ok());
  }
  // Give the other pseudonym's row this patient's sealed identity.
  SecretKey index = keys_->SubKey(KeyPurpose::kVaultIndex);
  std::string mine = ToHex(KeyedBlake2b(index, pseudonym_, 32));
  std::string theirs = ToHex(KeyedBlake2b(index, other, 32));
  RawSql(
      "UPDATE identity SET (nonce, sealed) = (SELECT nonce, sealed FROM identity WHERE lookup = "
      "x'" +
      mine + "') WHERE lookup = x'" + theirs + "'");
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  EXPECT_EQ(*(*vault)->Get(pseudonym_), kIdentity);
  EXPECT_EQ((*vault)->Get(other).status().code(), ErrorCode::kCorruption);
}

TEST_F(VaultTest, EraseLeavesNoTraceInTheFile) {
  std::string keep = Pseudonymizer(*keys_).ForSourceId("synthea", "p-keep");
  std::string lookup, sealed, nonce;
  {
    auto vault = Vault::Open(*keys_);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
    ASSERT_TRUE((*vault)->Put(keep, R"({"name":"kept"})").ok());
  }
  {
    // The erased record's stored bytes, as found in the file before erasure.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Vault::PathFor(dir_.path()).c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "SELECT lookup, nonce, sealed FROM identity", -1, &st, nullptr),
        SQLITE_OK);
    std::vector<std::array<std::string, 3>> rows;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::array<std::string, 3> r;
      for (int i = 0; i < 3; ++i) {
        r[i].assign(static_cast<const char*>(sqlite3_column_blob(st, i)),
                    static_cast<size_t>(sqlite3_column_bytes(st, i)));
      }
      rows.push_back(r);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    ASSERT_EQ(rows.size(), 2u);
    std::string raw = RawFile();
    for (const auto& r : rows) ASSERT_NE(raw.find(r[2]), std::string::npos);
    lookup = KeyedBlake2b(keys_->SubKey(KeyPurpose::kVaultIndex), pseudonym_, 32);
    for (const auto& r : rows) {
      if (r[0] == lookup) {
        nonce = r[1];
        sealed = r[2];
      }
    }
    ASSERT_FALSE(sealed.empty());
  }
  auto vault = Vault::Open(*keys_);
  ASSERT_TRUE(vault.ok());
  Status erased = (*vault)->Erase(pseudonym_);
  ASSERT_TRUE(erased.ok()) << erased.ToString();
  EXPECT_EQ((*vault)->Get(pseudonym_).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*(*vault)->Get(keep), R"({"name":"kept"})");
  EXPECT_EQ((*vault)->Erase(pseudonym_).code(), ErrorCode::kNotFound);
  vault->reset();
  std::string raw = RawFile();
  EXPECT_EQ(raw.find(pseudonym_), std::string::npos);
  EXPECT_EQ(raw.find("Quixotewright"), std::string::npos);
  EXPECT_EQ(raw.find("MRN-99881"), std::string::npos);
  EXPECT_EQ(raw.find(lookup), std::string::npos);
  EXPECT_EQ(raw.find(nonce), std::string::npos);
  EXPECT_EQ(raw.find(sealed.substr(0, 16)), std::string::npos);
  EXPECT_EQ(raw.find(sealed.substr(sealed.size() - 16)), std::string::npos);
  // No journal or WAL file holds a copy either.
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    std::string name = entry.path().filename().string();
    if (name.rfind("vault", 0) == 0) {
      EXPECT_EQ(name, "vault.sqlite");
    }
  }
}

TEST_F(VaultTest, WrongKeyCannotRead) {
  {
    auto vault = Vault::Open(*keys_);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Put(pseudonym_, kIdentity).ok());
  }
  auto vault = Vault::OpenFile(Vault::PathFor(dir_.path()), SecretKey::Random(),
                               keys_->SubKey(KeyPurpose::kVaultIndex));
  ASSERT_TRUE(vault.ok());
  EXPECT_EQ((*vault)->Get(pseudonym_).status().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace medlake::privacy
