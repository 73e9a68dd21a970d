#include "privacy/principals.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>

#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::TempDir;

class PrincipalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kKeyEnvironmentVariable);
    auto keys = KeyStore::Create(dir_.path());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::make_unique<KeyStore>(std::move(*keys));
    auto p = Principals::Open(*keys_);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    principals_ = std::move(*p);
  }
  TempDir dir_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<Principals> principals_;
};

TEST_F(PrincipalsTest, ValidTokenAuthenticates) {
  auto token = principals_->AddUser("rita", Role::kResearcher);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->rfind("mlk_", 0), 0u);
  auto who = principals_->Authenticate(*token);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->name, "rita");
  EXPECT_EQ(who->role, Role::kResearcher);
  // The secret is not stored.
  std::string secret = token->substr(token->find('.') + 1);
  EXPECT_EQ(testing::ReadText(Principals::PathFor(dir_.path())).find(secret), std::string::npos);
}

TEST_F(PrincipalsTest, WrongSecretUnknownIdAndGarbageAreUnauthenticated) {
  auto token = principals_->AddUser("carl", Role::kClinician);
  ASSERT_TRUE(token.ok());
  std::string wrong = *token;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  std::string unknown = "mlk_AAAAAAAAAAAA" + token->substr(token->find('.'));
  for (const std::string& t : {wrong, unknown, std::string("garbage"), std::string("mlk_"),
                               std::string("mlk_.x"), std::string()}) {
    auto who = principals_->Authenticate(t);
    ASSERT_FALSE(who.ok()) << t;
    EXPECT_EQ(who.status().code(), ErrorCode::kUnauthenticated) << t;
  }
}

TEST_F(PrincipalsTest, DuplicateNameAndBadRole) {
  ASSERT_TRUE(principals_->AddUser("ann", Role::kOps).ok());
  EXPECT_EQ(principals_->AddUser("ann", Role::kAdmin).status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(principals_->AddUser("", Role::kAdmin).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_EQ(ParseRole("auditor"), Role::kAuditor);
}

TEST_F(PrincipalsTest, RoleEditedInTheFileIsRejected) {
  auto token = principals_->AddUser("eve", Role::kResearcher);
  ASSERT_TRUE(token.ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Principals::PathFor(dir_.path()).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE principal SET role = 'admin'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto who = principals_->Authenticate(*token);
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.status().code(), ErrorCode::kCorruption);
}

TEST_F(PrincipalsTest, SettingsAreMacedAndSurviveACopy) {
  auto none = principals_->Setting(kSmallCountThreshold);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(principals_->SetSetting(kSmallCountThreshold, "20").ok());
  auto set = principals_->Setting(kSmallCountThreshold);
  ASSERT_TRUE(set.ok() && set->has_value());
  EXPECT_EQ(**set, "20");
  // A rekey copies settings under the new MAC key.
  std::string copy = dir_ / "copy.sqlite";
  ASSERT_TRUE(principals_->CopyTo(copy, SecretKey::Random()).ok());
  // Lowered in the file without the key: rejected.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Principals::PathFor(dir_.path()).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE setting SET value = '2'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto tampered = principals_->Setting(kSmallCountThreshold);
  ASSERT_FALSE(tampered.ok());
  EXPECT_EQ(tampered.status().code(), ErrorCode::kCorruption);
}

TEST(RolesTest, WhatEachRoleMayDo) {
  EXPECT_TRUE(Allows(Role::kClinician, Permission::kReidentify));
  EXPECT_FALSE(Allows(Role::kResearcher, Permission::kReidentify));
  EXPECT_TRUE(Allows(Role::kResearcher, Permission::kPatientLevel));
  EXPECT_FALSE(Allows(Role::kOps, Permission::kPatientLevel));
  EXPECT_TRUE(Allows(Role::kOps, Permission::kAggregates));
  EXPECT_FALSE(Allows(Role::kAuditor, Permission::kAggregates));
  EXPECT_TRUE(Allows(Role::kAuditor, Permission::kReadAudit));
  EXPECT_FALSE(Allows(Role::kClinician, Permission::kReadAudit));
  EXPECT_TRUE(Allows(Role::kAdmin, Permission::kManageKeys));
  EXPECT_FALSE(Allows(Role::kClinician, Permission::kManageUsers));
  EXPECT_TRUE(NeedsDisclosureControl(Role::kResearcher));
  EXPECT_FALSE(NeedsDisclosureControl(Role::kClinician));
}

TEST_F(PrincipalsTest, LocalOwnerIsAdmin) {
  auto local = Principals::LocalOwner(*keys_);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(local->role, Role::kAdmin);
  EXPECT_TRUE(local->local);
}

}  // namespace
}  // namespace medlake::privacy
