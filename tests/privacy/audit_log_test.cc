#include "privacy/audit_log.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/file_util.h"
#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::TempDir;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kKeyEnvironmentVariable);
    auto keys = KeyStore::Create(dir_.path());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::make_unique<KeyStore>(std::move(*keys));
    auto log = AuditLog::Open(*keys_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 6; ++i) {
      AuditEntry e;
      e.principal = i % 2 ? "carl" : "rita";
      e.role = i % 2 ? "clinician" : "researcher";
      e.action = i == 0 ? "init" : i % 2 ? "reidentify" : "query";
      e.object = ObjectHash("view " + std::to_string(i));
      e.purpose = i == 4 ? "study 17" : "";
      e.patients = i * 10;
      auto idx = (*log)->Append(e);
      ASSERT_TRUE(idx.ok()) << idx.status().ToString();
      EXPECT_EQ(*idx, i);
    }
  }

  void RawSql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(AuditLog::PathFor(dir_.path()).c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  AuditVerification Verify() {
    auto log = AuditLog::Open(*keys_);
    EXPECT_TRUE(log.ok());
    auto v = (*log)->Verify();
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return *v;
  }

  TempDir dir_;
  std::unique_ptr<KeyStore> keys_;
};

// A log without entries refuses every entry but the init's: as corruption, except while the
// lake's writer lock is held, when an init is still writing them (a review saw an ingest that
// raced an init told to restore a backup).
TEST_F(AuditLogTest, AnEmptyLogWhileInitHoldsTheLockSaysSo) {
  RawSql("DELETE FROM entry; DELETE FROM head;");
  auto log = AuditLog::Open(*keys_);
  ASSERT_TRUE(log.ok());
  AuditEntry e;
  e.principal = "rita";
  e.role = "admin";
  e.action = "ingest.start";
  e.object = "ingest";
  auto orphan = (*log)->Append(e);
  EXPECT_EQ(orphan.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(orphan.status().message().find("medlake init was stopped"), std::string::npos);
  auto lock = FolderLock::Acquire(dir_.path());
  ASSERT_TRUE(lock.ok());
  auto busy = (*log)->Append(e);
  EXPECT_EQ(busy.status().code(), ErrorCode::kBusy);
  EXPECT_NE(busy.status().message().find("is being initialised"), std::string::npos);
}

TEST_F(AuditLogTest, IntactChainVerifies) {
  AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.entries, 6);
  auto log = AuditLog::Open(*keys_);
  auto entries = (*log)->List();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 6u);
  EXPECT_EQ((*entries)[4].purpose, "study 17");
  EXPECT_EQ((*entries)[3].patients, 30);
  EXPECT_EQ((*entries)[1].object.rfind("sha256:", 0), 0u);
  EXPECT_EQ((*log)->List(2, 2)->size(), 2u);
}

TEST_F(AuditLogTest, EditedEntryIsFound) {
  RawSql("UPDATE entry SET patients = 1 WHERE idx = 3");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 3);
  EXPECT_NE(v.reason.find("edited"), std::string::npos);
}

TEST_F(AuditLogTest, EditedPrincipalIsFound) {
  RawSql("UPDATE entry SET principal = 'someone else' WHERE idx = 0");
  EXPECT_EQ(Verify().first_bad_index, 0);
}

TEST_F(AuditLogTest, RemovedEntryIsFound) {
  RawSql("DELETE FROM entry WHERE idx = 2");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 2);
}

TEST_F(AuditLogTest, RemovedAndRenumberedEntryIsFound) {
  RawSql(
      "DELETE FROM entry WHERE idx = 2; UPDATE entry SET idx = -idx WHERE idx > 2;"
      "UPDATE entry SET idx = -idx - 1 WHERE idx < 0;"
      "UPDATE head SET count = count - 1");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 2);
}

TEST_F(AuditLogTest, RemovedLastEntryIsFound) {
  RawSql("DELETE FROM entry WHERE idx = 5");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 5);
  EXPECT_NE(v.reason.find("removed"), std::string::npos);
}

TEST_F(AuditLogTest, TruncationWithForgedHeadIsFound) {
  RawSql(
      "DELETE FROM entry WHERE idx = 5;"
      "UPDATE head SET count = 5, last = (SELECT hash FROM entry WHERE idx = 4)");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 5);
}

TEST_F(AuditLogTest, ReorderedEntriesAreFound) {
  // Swap the contents of entries 1 and 2, hashes included.
  RawSql(
      "UPDATE entry SET idx = 100 WHERE idx = 1; UPDATE entry SET idx = 1 WHERE idx = 2;"
      "UPDATE entry SET idx = 2 WHERE idx = 100");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 1);
}

TEST_F(AuditLogTest, InsertedEntryIsFound) {
  RawSql(
      "UPDATE entry SET idx = -idx WHERE idx >= 3; UPDATE entry SET idx = -idx + 1 WHERE idx <= -3;"
      "INSERT INTO entry SELECT 3, time_ms, 'mallory', 'admin', 'query', object, purpose, "
      "patients, hash FROM entry WHERE idx = 2;"
      "UPDATE head SET count = count + 1");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 3);
}

TEST_F(AuditLogTest, AppendedForgedEntryIsFound) {
  RawSql(
      "INSERT INTO entry SELECT 6, time_ms, 'mallory', role, action, object, purpose, "
      "patients, hash FROM entry WHERE idx = 5");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 6);
}

TEST_F(AuditLogTest, WrongKeyFailsAtFirstEntry) {
  auto log = AuditLog::OpenFile(AuditLog::PathFor(dir_.path()), SecretKey::Random());
  ASSERT_TRUE(log.ok());
  auto v = (*log)->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_index, 0);
}

TEST_F(AuditLogTest, ConcurrentWritersKeepOneChain) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      auto log = AuditLog::Open(*keys_);
      ASSERT_TRUE(log.ok());
      for (int i = 0; i < 10; ++i) {
        AuditEntry e;
        e.principal = "writer" + std::to_string(t);
        e.action = "query";
        ASSERT_TRUE((*log)->Append(e).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.entries, 46);
}

// A removed or emptied log is not started again by the next command (it was: verify then
// found one entry and an intact chain), and one that does not begin with init is reported.
TEST_F(AuditLogTest, ARemovedOrEmptiedLogIsNotStartedAgain) {
  for (const char* wipe : {"", "DELETE FROM entry; DELETE FROM head"}) {
    SCOPED_TRACE(*wipe ? wipe : "file removed");
    if (*wipe) {
      RawSql(wipe);
    } else {
      std::filesystem::remove(AuditLog::PathFor(dir_.path()));
    }
    auto log = AuditLog::Open(*keys_);
    ASSERT_TRUE(log.ok());
    AuditEntry e;
    e.action = "query";
    auto appended = (*log)->Append(e);
    EXPECT_EQ(appended.status().code(), ErrorCode::kCorruption);
    EXPECT_NE(appended.status().message().find("removed or emptied"), std::string::npos)
        << appended.status().ToString();
    AuditVerification v = Verify();
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.entries, 0);
  }
  // A log forged from scratch under the key still lacks the init the lake began with.
  std::filesystem::remove(AuditLog::PathFor(dir_.path()));
  RawSql(
      "CREATE TABLE entry(idx INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, principal TEXT NOT "
      "NULL, role TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, purpose TEXT NOT "
      "NULL, patients INTEGER NOT NULL, hash BLOB NOT NULL)");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
}

TEST_F(AuditLogTest, AFirstEntryOtherThanInitIsFound) {
  RawSql("UPDATE entry SET action = 'query' WHERE idx = 0");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_index, 0);
  EXPECT_NE(v.reason.find("not the lake's init"), std::string::npos) << v.reason;
}

TEST_F(AuditLogTest, AppendRefusesAForgedHead) {
  RawSql("UPDATE head SET count = 3");
  auto log = AuditLog::Open(*keys_);
  AuditEntry e;
  e.action = "query";
  EXPECT_EQ((*log)->Append(e).status().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace medlake::privacy
