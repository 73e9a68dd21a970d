#include "privacy/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::TempDir;

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv(kKeyEnvironmentVariable); }
  void TearDown() override { ::unsetenv(kKeyEnvironmentVariable); }
  TempDir dir_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST_F(KeyStoreTest, CreatesKeyFileWithOwnerOnlyMode) {
  auto keys = KeyStore::Create(dir_.path());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->source(), KeySource::kFile);
  EXPECT_EQ(ModeOf(KeyFiles::KeyPath(dir_.path())), 0600u);
  EXPECT_EQ(ModeOf(KeyFiles::CheckPath(dir_.path())), 0600u);
  EXPECT_EQ(ModeOf(KeyFiles::KeysDir(dir_.path())), 0700u);
  std::string text = testing::ReadText(KeyFiles::KeyPath(dir_.path()));
  EXPECT_EQ(text.size(), 65u);  // 64 hex digits and a newline
  EXPECT_FALSE(std::filesystem::exists(KeyFiles::KeyPath(dir_.path()) + ".tmp"));

  auto reopened = KeyStore::Open(dir_.path());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_TRUE(reopened->SubKey(KeyPurpose::kVault).Equals(keys->SubKey(KeyPurpose::kVault)));
  EXPECT_TRUE(
      reopened->SubKey(KeyPurpose::kPseudonym).Equals(keys->SubKey(KeyPurpose::kPseudonym)));
}

TEST_F(KeyStoreTest, SubKeysDiffer) {
  auto keys = KeyStore::Create(dir_.path());
  ASSERT_TRUE(keys.ok());
  KeyPurpose all[] = {KeyPurpose::kPseudonym,  KeyPurpose::kSegment, KeyPurpose::kVault,
                      KeyPurpose::kVaultIndex, KeyPurpose::kAudit,   KeyPurpose::kPrincipals};
  for (KeyPurpose a : all) {
    for (KeyPurpose b : all) {
      if (a != b) {
        EXPECT_FALSE(keys->SubKey(a).Equals(keys->SubKey(b)));
      }
    }
  }
}

TEST_F(KeyStoreTest, RefusesSecondInit) {
  ASSERT_TRUE(KeyStore::Create(dir_.path()).ok());
  auto again = KeyStore::Create(dir_.path());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kAlreadyExists);
}

TEST_F(KeyStoreTest, WrongKeyIsUnauthenticated) {
  ASSERT_TRUE(KeyStore::Create(dir_.path()).ok());
  auto wrong = KeyStore::OpenWithKey(dir_.path(), std::string(64, 'a'));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(wrong.status().message().find("does not match"), std::string::npos);

  ::setenv(kKeyEnvironmentVariable, std::string(64, 'b').c_str(), 1);
  auto env_wrong = KeyStore::Open(dir_.path());
  ASSERT_FALSE(env_wrong.ok());
  EXPECT_EQ(env_wrong.status().code(), ErrorCode::kUnauthenticated);
}

TEST_F(KeyStoreTest, MissingKeyIsUnauthenticated) {
  ASSERT_TRUE(KeyStore::Create(dir_.path()).ok());
  std::filesystem::remove(KeyFiles::KeyPath(dir_.path()));
  auto missing = KeyStore::Open(dir_.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(missing.status().message().find("no lake key ("), std::string::npos);
  EXPECT_NE(missing.status().message().find("MEDLAKE_KEY"), std::string::npos);
}

TEST_F(KeyStoreTest, KeyFileReadableByOthersIsRefused) {
  ASSERT_TRUE(KeyStore::Create(dir_.path()).ok());
  ::chmod(KeyFiles::KeyPath(dir_.path()).c_str(), 0644);
  auto open = KeyStore::Open(dir_.path());
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), ErrorCode::kPermissionDenied);
}

TEST_F(KeyStoreTest, UninitialisedLakeIsNotFound) {
  auto open = KeyStore::OpenWithKey(dir_.path(), std::string(64, 'c'));
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), ErrorCode::kNotFound);
}

TEST_F(KeyStoreTest, KeyFromEnvironmentInHexOrBase64) {
  // 32 bytes 0x00..0x1f in hex and in base64.
  std::string hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  std::string b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  ::setenv(kKeyEnvironmentVariable, hex.c_str(), 1);
  auto created = KeyStore::Create(dir_.path());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->source(), KeySource::kEnvironment);
  EXPECT_FALSE(std::filesystem::exists(KeyFiles::KeyPath(dir_.path())));
  ::setenv(kKeyEnvironmentVariable, b64.c_str(), 1);
  auto opened = KeyStore::Open(dir_.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened->SubKey(KeyPurpose::kAudit).Equals(created->SubKey(KeyPurpose::kAudit)));
  ::setenv(kKeyEnvironmentVariable, "not-a-key", 1);
  auto bad = KeyStore::Open(dir_.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kUnauthenticated);
}

TEST_F(KeyStoreTest, TamperedDataKeysAreCorruption) {
  ASSERT_TRUE(KeyStore::Create(dir_.path()).ok());
  std::string path = KeyFiles::DataKeysPath(dir_.path());
  std::string text = testing::ReadText(path);
  text[60] = text[60] == '0' ? '1' : '0';
  testing::WriteText(path, text);
  auto open = KeyStore::Open(dir_.path());
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace medlake::privacy
