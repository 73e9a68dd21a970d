#include "privacy/access.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "keyed_lake.h"
#include "privacy/pseudonymizer.h"
#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::TempDir;

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kKeyEnvironmentVariable);
    ::unsetenv(kTokenEnvironmentVariable);
    keys_ = std::make_unique<KeyStore>(testing::CreateKeyedLake(dir_.path()));
    pseudonym_ = Pseudonymizer(*keys_).ForIdentifier("urn:mrn", "B-7");
    auto vault = Vault::Open(*keys_);
    auto audit = AuditLog::Open(*keys_);
    ASSERT_TRUE(vault.ok() && audit.ok());
    vault_ = std::move(*vault);
    audit_ = std::move(*audit);
    ASSERT_TRUE(vault_->Put(pseudonym_, R"({"name":"Philippa Marchbanks"})").ok());
  }
  TempDir dir_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<Vault> vault_;
  std::unique_ptr<AuditLog> audit_;
  std::string pseudonym_;
};

TEST_F(AccessTest, ClinicianReidentifiesAndIsAudited) {
  Principal carl{"id", "carl", Role::kClinician, false};
  auto id = Reidentify(carl, *vault_, *audit_, pseudonym_, "treatment");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, R"({"name":"Philippa Marchbanks"})");
  auto entries = audit_->List(1);  // after the init
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].action, "reidentify");
  EXPECT_EQ((*entries)[0].principal, "carl");
  EXPECT_EQ((*entries)[0].purpose, "treatment");
  EXPECT_EQ((*entries)[0].object, audit_->PatientRef(pseudonym_));
  EXPECT_EQ((*entries)[0].object.find(pseudonym_), std::string::npos);
}

TEST_F(AccessTest, ResearcherMayNotReidentify) {
  Principal rita{"id", "rita", Role::kResearcher, false};
  auto id = Reidentify(rita, *vault_, *audit_, pseudonym_, "");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ((*audit_->List(1))[0].action, "denied");
}

TEST_F(AccessTest, ErasureLeavesNoPseudonymInVaultOrAudit) {
  Principal admin{"local", "local", Role::kAdmin, true};
  Principal carl{"id", "carl", Role::kClinician, false};
  ASSERT_TRUE(Reidentify(carl, *vault_, *audit_, pseudonym_, "").ok());
  EXPECT_EQ(EraseIdentity(carl, *vault_, *audit_, pseudonym_, "").code(),
            ErrorCode::kPermissionDenied);
  ASSERT_TRUE(EraseIdentity(admin, *vault_, *audit_, pseudonym_, "art. 17 request").ok());
  EXPECT_EQ(vault_->Get(pseudonym_).status().code(), ErrorCode::kNotFound);
  for (const char* file : {"vault.sqlite", "audit.sqlite", "principals.sqlite"}) {
    if (!std::filesystem::exists(dir_ / file)) continue;
    std::string raw = testing::ReadText(dir_ / file);
    EXPECT_EQ(raw.find(pseudonym_), std::string::npos) << file;
    EXPECT_EQ(raw.find("Marchbanks"), std::string::npos) << file;
  }
  auto v = audit_->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok);
}

TEST_F(AccessTest, TokensResolveAndLocalOwnerIsAdmin) {
  auto principals = Principals::Open(*keys_);
  ASSERT_TRUE(principals.ok());
  auto token = (*principals)->AddUser("ann", Role::kAuditor);
  ASSERT_TRUE(token.ok());
  auto who = ResolvePrincipal(*keys_, *token);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->role, Role::kAuditor);
  EXPECT_EQ(Require(*keys_, *who, Permission::kManageKeys, "rekey").code(),
            ErrorCode::kPermissionDenied);
  ::setenv(kTokenEnvironmentVariable, token->c_str(), 1);
  EXPECT_EQ(ResolvePrincipal(*keys_, "")->name, "ann");
  ::unsetenv(kTokenEnvironmentVariable);
  auto local = ResolvePrincipal(*keys_, "");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->role, Role::kAdmin);
  EXPECT_EQ(ResolvePrincipal(*keys_, "mlk_x.y").status().code(), ErrorCode::kUnauthenticated);
  auto entries = AuditLog::Open(*keys_).value()->List();
  ASSERT_TRUE(entries.ok());
  ASSERT_FALSE(entries->empty());
  EXPECT_EQ(entries->back().action, "auth.failed");
  EXPECT_EQ(entries->back().role, "none");
}

}  // namespace
}  // namespace medlake::privacy
