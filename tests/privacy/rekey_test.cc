#include "privacy/rekey.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>

#include "common/file_util.h"
#include "privacy/audit_log.h"
#include "privacy/principals.h"
#include "privacy/pseudonymizer.h"
#include "privacy/vault.h"
#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::TempDir;

class RekeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kKeyEnvironmentVariable);
    auto keys = KeyStore::Create(dir_.path());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    Pseudonymizer pz(*keys);
    pseudonym_ = pz.ForIdentifier("urn:mrn", "A-1");
    auto vault = Vault::Open(*keys);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Put(pseudonym_, R"({"name":"Zebedee Omnibus"})").ok());
    auto principals = Principals::Open(*keys);
    ASSERT_TRUE(principals.ok());
    auto token = (*principals)->AddUser("ann", Role::kAuditor);
    ASSERT_TRUE(token.ok());
    token_ = *token;
    auto log = AuditLog::Open(*keys);
    ASSERT_TRUE(log.ok());
    AuditEntry e;
    e.principal = "local";
    e.role = "admin";
    e.action = "init";
    ASSERT_TRUE((*log)->Append(e).ok());
    old_key_ = testing::ReadText(KeyFiles::KeyPath(dir_.path()));
  }

  void ExpectUsable(const KeyStore& keys) {
    EXPECT_EQ(Pseudonymizer(keys).ForIdentifier("urn:mrn", "A-1"), pseudonym_);
    auto vault = Vault::Open(keys);
    ASSERT_TRUE(vault.ok());
    auto got = (*vault)->Get(pseudonym_);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, R"({"name":"Zebedee Omnibus"})");
    auto principals = Principals::Open(keys);
    ASSERT_TRUE(principals.ok());
    auto who = (*principals)->Authenticate(token_);
    ASSERT_TRUE(who.ok()) << who.status().ToString();
    auto log = AuditLog::Open(keys);
    ASSERT_TRUE(log.ok());
    auto v = (*log)->Verify();
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->ok) << v->reason;
    EXPECT_EQ(v->entries, 1);
  }

  TempDir dir_;
  std::string pseudonym_, token_, old_key_;
};

TEST_F(RekeyTest, RotatesKeyAndKeepsEverythingReadable) {
  {
    auto keys = KeyStore::Open(dir_.path());
    ASSERT_TRUE(keys.ok());
    auto report = Rekey(*keys);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->key_file_written);
    EXPECT_EQ(report->vault_records, 1);
    EXPECT_EQ(report->principals, 1);
    EXPECT_EQ(report->audit_entries, 1);
  }
  std::string new_key = testing::ReadText(KeyFiles::KeyPath(dir_.path()));
  EXPECT_NE(new_key, old_key_);
  auto old_open = KeyStore::OpenWithKey(dir_.path(), old_key_);
  ASSERT_FALSE(old_open.ok());
  EXPECT_EQ(old_open.status().code(), ErrorCode::kUnauthenticated);
  auto keys = KeyStore::Open(dir_.path());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ExpectUsable(*keys);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    std::string name = entry.path().filename().string();
    EXPECT_FALSE(name.ends_with(".new") || name == "rekey.pending") << name;
  }
}

TEST_F(RekeyTest, CrashAfterCommitPointIsCompletedOnOpen) {
  {
    auto keys = KeyStore::Open(dir_.path());
    ASSERT_TRUE(keys.ok());
    ASSERT_TRUE(Rekey(*keys).ok());
  }
  // Recreate the state of a crash in phase 2: the journal is written and some files are
  // still waiting under their .new names.
  std::string d = dir_.path();
  std::filesystem::rename(d + "/vault.sqlite", d + "/vault.sqlite.new");
  std::filesystem::rename(d + "/keys/key.check", d + "/keys/key.check.new");
  testing::WriteText(d + "/keys/rekey.pending", "vault.sqlite\nkeys/key.check\n");
  auto keys = KeyStore::Open(d);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ExpectUsable(*keys);
  EXPECT_FALSE(std::filesystem::exists(d + "/keys/rekey.pending"));
}

TEST_F(RekeyTest, CrashBeforeCommitPointKeepsOldKey) {
  std::string d = dir_.path();
  // Stale phase-1 output without a journal: ignored by Open, removed by the next rekey.
  testing::WriteText(d + "/vault.sqlite.new", "partial");
  testing::WriteText(d + "/keys/key.check.new", "partial");
  auto keys = KeyStore::Open(d);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ExpectUsable(*keys);
  ASSERT_TRUE(Rekey(*keys).ok());
  auto rekeyed = KeyStore::Open(d);
  ASSERT_TRUE(rekeyed.ok()) << rekeyed.status().ToString();
  ExpectUsable(*rekeyed);
}

TEST_F(RekeyTest, RefusesWhileAWriterHoldsTheLake) {
  {
    auto writer_lock = FolderLock::Acquire(dir_.path());  // what an ingest holds
    ASSERT_TRUE(writer_lock.ok());
    auto keys = KeyStore::Open(dir_.path());
    ASSERT_TRUE(keys.ok());
    EXPECT_EQ(Rekey(*keys).status().code(), ErrorCode::kBusy);
  }
  auto keys = KeyStore::Open(dir_.path());
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(Rekey(*keys).ok());
}

TEST_F(RekeyTest, EnvironmentKeyNeedsTheNewKeyGiven) {
  std::string key = old_key_;
  key.pop_back();
  ::setenv(kKeyEnvironmentVariable, key.c_str(), 1);
  auto keys = KeyStore::Open(dir_.path());
  ::unsetenv(kKeyEnvironmentVariable);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(Rekey(*keys).status().code(), ErrorCode::kInvalidArgument);
  RekeyOptions options;
  options.new_key_text = NewKeyText();
  auto report = Rekey(*keys, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->key_file_written);
  auto reopened = KeyStore::OpenWithKey(dir_.path(), *options.new_key_text);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  ExpectUsable(*reopened);
}

}  // namespace
}  // namespace medlake::privacy
