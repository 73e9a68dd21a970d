#include "privacy/key_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/file_util.h"
#include "privacy/rekey.h"

namespace medlake::privacy {
namespace {

constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "medlake1";
constexpr std::string_view kCheckLabel = "medlake lake key check v1";
constexpr std::string_view kDataKeysLabel = "medlake data keys v1";

uint64_t KdfId(KeyPurpose purpose) {
  switch (purpose) {
    case KeyPurpose::kVault:
      return 1;
    case KeyPurpose::kVaultIndex:
      return 2;
    case KeyPurpose::kAudit:
      return 3;
    case KeyPurpose::kPrincipals:
      return 4;
    case KeyPurpose::kPseudonym:  // wrapped in data.keys, never derived
    case KeyPurpose::kSegment:
      break;
  }
  return 0;
}

constexpr uint64_t kWrapKeyId = 5;

SecretKey WrapKey(const SecretKey& lake_key) {
  SecretKey wrap;
  crypto_kdf_derive_from_key(wrap.data(), wrap.size(), kWrapKeyId, kKdfContext, lake_key.data());
  return wrap;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

Status Errno(std::string_view what, const std::string& path) {
  return IoError(std::string(what) + " " + path + ": " + std::strerror(errno));
}

Result<SecretKey> ReadKeyFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Unauthenticated("no lake key (" + path + " or " + kKeyEnvironmentVariable + ")");
  }
  if ((st.st_mode & 077) != 0) {
    return PermissionDenied(path + " is readable by group or others; run chmod 600 on it");
  }
  MEDLAKE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto key = KeyFiles::ParseKey(Trim(text));
  sodium_memzero(text.data(), text.size());
  if (!key.ok()) return Corruption(path + ": not a 32-byte key in hex or base64");
  return key;
}

Result<KeyStore> CreateImpl(const std::string& lake_dir, SecretKey key, KeySource source) {
  if (!SodiumReady()) return Internal("libsodium cannot be initialised");
  if (KeyStore::IsInitialised(lake_dir)) {
    return AlreadyExists("lake " + lake_dir + " is already initialised (keys/key.check exists)");
  }
  std::string dir = KeyFiles::KeysDir(lake_dir);
  MEDLAKE_RETURN_IF_ERROR(MakeDirs(dir));
  if (::chmod(dir.c_str(), 0700) != 0) return Errno("cannot chmod", dir);
  if (source == KeySource::kFile) {
    std::string hex = ToHex(AsChars(key.data(), key.size())) + "\n";
    Status s = KeyFiles::WriteSecretFile(KeyFiles::KeyPath(lake_dir), hex);
    sodium_memzero(hex.data(), hex.size());
    MEDLAKE_RETURN_IF_ERROR(s);
  }
  SecretKey pseudonym = SecretKey::Random();
  SecretKey segment = SecretKey::Random();
  MEDLAKE_RETURN_IF_ERROR(KeyFiles::WriteSecretFile(
      KeyFiles::DataKeysPath(lake_dir), KeyFiles::SealDataKeys(key, pseudonym, segment)));
  // key.check last: its presence marks the lake as initialised.
  MEDLAKE_RETURN_IF_ERROR(
      KeyFiles::WriteSecretFile(KeyFiles::CheckPath(lake_dir), KeyFiles::CheckValue(key)));
  return KeyFiles::Load(lake_dir, std::move(key), source);
}

}  // namespace

Result<SecretKey> KeyFiles::ParseKey(std::string_view text) {
  std::optional<std::string> raw;
  if (text.size() == 2 * kKeyBytes) raw = FromHex(text);
  if (!raw) raw = FromBase64(text);
  if (!raw || raw->size() != kKeyBytes) {
    if (raw) sodium_memzero(raw->data(), raw->size());
    return InvalidArgument("a lake key is 32 bytes in hex (64 digits) or base64");
  }
  std::array<uint8_t, kKeyBytes> bytes;
  std::memcpy(bytes.data(), raw->data(), kKeyBytes);
  sodium_memzero(raw->data(), raw->size());
  SecretKey key(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

std::string KeyFiles::CheckValue(const SecretKey& lake_key) {
  return ToHex(KeyedBlake2b(lake_key, kCheckLabel)) + "\n";
}

SecretKey KeyFiles::Derive(const SecretKey& lake_key, KeyPurpose purpose) {
  SecretKey sub;
  crypto_kdf_derive_from_key(sub.data(), sub.size(), KdfId(purpose), kKdfContext, lake_key.data());
  return sub;
}

std::string KeyFiles::SealDataKeys(const SecretKey& lake_key, const SecretKey& pseudonym,
                                   const SecretKey& segment) {
  SecretKey wrap = WrapKey(lake_key);
  std::string plain(AsChars(pseudonym.data(), kKeyBytes));
  plain.append(AsChars(segment.data(), kKeyBytes));
  std::string nonce = RandomBytes(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  std::string sealed(plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long sealed_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(sealed.data()), &sealed_len, AsBytes(plain), plain.size(),
      AsBytes(kDataKeysLabel), kDataKeysLabel.size(), nullptr, AsBytes(nonce), wrap.data());
  sodium_memzero(plain.data(), plain.size());
  return ToHex(nonce + sealed) + "\n";
}

Status KeyFiles::WriteSecretFile(const std::string& path, std::string_view data) {
  return WriteFileAtomic(path, data);  // mode 0600, fsynced, renamed into place, folder synced
}

Result<KeyStore> KeyFiles::Load(const std::string& lake_dir, SecretKey lake_key, KeySource source) {
  std::string check_path = CheckPath(lake_dir);
  auto check = ReadFile(check_path);
  if (!check.ok()) {
    if (check.status().code() == ErrorCode::kNotFound) {
      return NotFound("lake " + lake_dir + " is not initialised (run medlake init)");
    }
    return check.status();
  }
  std::string expected = CheckValue(lake_key);
  std::string actual = Trim(*check) + "\n";
  if (actual.size() != expected.size() ||
      sodium_memcmp(actual.data(), expected.data(), expected.size()) != 0) {
    return Unauthenticated("the lake key does not match this lake (" + check_path + ")");
  }
  std::string data_path = DataKeysPath(lake_dir);
  MEDLAKE_ASSIGN_OR_RETURN(std::string data_hex, ReadFile(data_path));
  auto data = FromHex(Trim(data_hex));
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr size_t kSealed = 2 * kKeyBytes + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (!data || data->size() != kNonce + kSealed) return Corruption(data_path + ": damaged");
  SecretKey wrap = WrapKey(lake_key);
  std::array<uint8_t, 2 * kKeyBytes> plain;
  unsigned long long plain_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          plain.data(), &plain_len, nullptr, AsBytes(*data) + kNonce, kSealed,
          AsBytes(kDataKeysLabel), kDataKeysLabel.size(), AsBytes(*data), wrap.data()) != 0) {
    return Corruption(data_path + ": fails authentication");
  }
  KeyStore ks;
  ks.lake_dir_ = lake_dir;
  ks.source_ = source;
  ks.lake_key_ = std::move(lake_key);
  std::memcpy(ks.pseudonym_key_.data(), plain.data(), kKeyBytes);
  std::memcpy(ks.segment_key_.data(), plain.data() + kKeyBytes, kKeyBytes);
  sodium_memzero(plain.data(), plain.size());
  return ks;
}

bool KeyStore::IsInitialised(const std::string& lake_dir) {
  std::error_code ec;  // unreadable: not known to be initialised (opening the lake says why)
  return std::filesystem::exists(KeyFiles::CheckPath(lake_dir), ec);
}

Result<KeyStore> KeyStore::Create(const std::string& lake_dir) {
  if (const char* env = std::getenv(kKeyEnvironmentVariable); env && *env) {
    MEDLAKE_ASSIGN_OR_RETURN(SecretKey key, KeyFiles::ParseKey(Trim(env)));
    return CreateImpl(lake_dir, std::move(key), KeySource::kEnvironment);
  }
  if (!SodiumReady()) return Internal("libsodium cannot be initialised");
  return CreateImpl(lake_dir, SecretKey::Random(), KeySource::kFile);
}

Result<KeyStore> KeyStore::CreateWithKey(const std::string& lake_dir, const std::string& key_text) {
  MEDLAKE_ASSIGN_OR_RETURN(SecretKey key, KeyFiles::ParseKey(Trim(key_text)));
  return CreateImpl(lake_dir, std::move(key), KeySource::kExplicit);
}

Result<KeyStore> KeyStore::Open(const std::string& lake_dir) {
  if (!SodiumReady()) return Internal("libsodium cannot be initialised");
  MEDLAKE_RETURN_IF_ERROR(CompletePendingRekey(lake_dir));
  if (const char* env = std::getenv(kKeyEnvironmentVariable); env && *env) {
    auto key = KeyFiles::ParseKey(Trim(env));
    if (!key.ok())
      return Unauthenticated(std::string(kKeyEnvironmentVariable) + ": " + key.status().message());
    return KeyFiles::Load(lake_dir, std::move(*key), KeySource::kEnvironment);
  }
  MEDLAKE_ASSIGN_OR_RETURN(SecretKey key, ReadKeyFile(KeyFiles::KeyPath(lake_dir)));
  return KeyFiles::Load(lake_dir, std::move(key), KeySource::kFile);
}

Result<KeyStore> KeyStore::OpenWithKey(const std::string& lake_dir, const std::string& key_text) {
  if (!SodiumReady()) return Internal("libsodium cannot be initialised");
  MEDLAKE_RETURN_IF_ERROR(CompletePendingRekey(lake_dir));
  auto key = KeyFiles::ParseKey(Trim(key_text));
  if (!key.ok()) return Unauthenticated(key.status().message());
  return KeyFiles::Load(lake_dir, std::move(*key), KeySource::kExplicit);
}

SecretKey KeyStore::SubKey(KeyPurpose purpose) const {
  switch (purpose) {
    case KeyPurpose::kPseudonym:
      return pseudonym_key_.Clone();
    case KeyPurpose::kSegment:
      return segment_key_.Clone();
    default:
      return KeyFiles::Derive(lake_key_, purpose);
  }
}

}  // namespace medlake::privacy
