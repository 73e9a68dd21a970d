// The lake key and the keys derived from it.
//
// Files under DIR/keys/ (directory mode 0700):
//   lake.key   the 32-byte lake key, hex, mode 0600 (absent when the key comes from MEDLAKE_KEY)
//   key.check  keyed BLAKE2b of a fixed label under the lake key: detects a wrong key
//   data.keys  the pseudonym secret and the segment key, sealed (XChaCha20-Poly1305) under a
//              wrap key derived from the lake key. They are wrapped, not derived, so that a
//              rekey keeps pseudonyms and existing segments valid while every other key changes.
// The vault, audit and principal keys are derived from the lake key with crypto_kdf, so a
// rekey re-encrypts the vault and re-MACs the audit chain and principal records (rekey.h).
//
// Thread safety: a KeyStore is immutable after Open/Create and safe to share between threads.
// Error messages name files, never key material.
#pragma once

#include <string>

#include "medlake/status.h"
#include "privacy/encoding.h"

namespace medlake::privacy {

enum class KeyPurpose {
  kPseudonym,   // HMAC-SHA256 key of Pseudonymizer (wrapped, survives rekey)
  kSegment,     // encryption of segments at rest (wrapped, survives rekey)
  kVault,       // AEAD key of the identity vault
  kVaultIndex,  // keyed lookup ids of vault records
  kAudit,       // keyed BLAKE2b of the audit hash chain
  kPrincipals,  // MAC of principal records
};

enum class KeySource { kFile, kEnvironment, kExplicit };

inline constexpr const char* kKeyEnvironmentVariable = "MEDLAKE_KEY";

class KeyStore {
 public:
  // Initialises DIR for privacy: takes the key from MEDLAKE_KEY when set (and writes no key
  // file), else creates a random lake key in DIR/keys/lake.key (0600, atomic, fsynced). Writes
  // key.check and data.keys. kAlreadyExists when DIR/keys/key.check exists.
  static Result<KeyStore> Create(const std::string& lake_dir);
  // As Create, with the key given as text (hex or base64).
  static Result<KeyStore> CreateWithKey(const std::string& lake_dir, const std::string& key_text);

  // Opens the keys of an initialised lake. The key comes from MEDLAKE_KEY when set, else from
  // DIR/keys/lake.key. A pending rekey (rekey.h) is completed first.
  // Errors: kUnauthenticated "no lake key (...)" when there is none, kUnauthenticated when the
  // key does not match key.check, kPermissionDenied when lake.key is readable by group/others,
  // kNotFound when the lake has no key.check (not initialised), kCorruption for damaged files.
  static Result<KeyStore> Open(const std::string& lake_dir);
  static Result<KeyStore> OpenWithKey(const std::string& lake_dir, const std::string& key_text);

  static bool IsInitialised(const std::string& lake_dir);

  // A copy of the key for `purpose`; the caller owns it (wiped on destruction).
  SecretKey SubKey(KeyPurpose purpose) const;
  KeySource source() const { return source_; }
  const std::string& lake_dir() const { return lake_dir_; }

 private:
  friend class KeyFiles;
  KeyStore() = default;
  std::string lake_dir_;
  KeySource source_ = KeySource::kFile;
  SecretKey lake_key_;
  SecretKey pseudonym_key_;
  SecretKey segment_key_;
};

// File-level helpers shared with Rekey. Not for other modules.
class KeyFiles {
 public:
  static std::string KeysDir(const std::string& lake_dir) { return lake_dir + "/keys"; }
  static std::string KeyPath(const std::string& lake_dir) {
    return KeysDir(lake_dir) + "/lake.key";
  }
  static std::string CheckPath(const std::string& lake_dir) {
    return KeysDir(lake_dir) + "/key.check";
  }
  static std::string DataKeysPath(const std::string& lake_dir) {
    return KeysDir(lake_dir) + "/data.keys";
  }

  // Parses 64 hex digits or base64 of 32 bytes.
  static Result<SecretKey> ParseKey(std::string_view text);
  static std::string CheckValue(const SecretKey& lake_key);
  static std::string SealDataKeys(const SecretKey& lake_key, const SecretKey& pseudonym,
                                  const SecretKey& segment);
  // The derived key for kVault, kVaultIndex, kAudit or kPrincipals (the others are wrapped).
  static SecretKey Derive(const SecretKey& lake_key, KeyPurpose purpose);
  // Writes `data` to `path` with mode 0600 through `path`.tmp, fsync and rename.
  static Status WriteSecretFile(const std::string& path, std::string_view data);
  // Builds a KeyStore from a lake key already checked against key.check.
  static Result<KeyStore> Load(const std::string& lake_dir, SecretKey lake_key, KeySource source);
};

}  // namespace medlake::privacy
