// Byte encodings and secret-key holders shared by the privacy module. Private to src/privacy.
//
// Thread safety: all functions are pure; SecretKey is a value type (not synchronised).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medlake::privacy {

inline constexpr size_t kKeyBytes = 32;

// A 32-byte secret key. Wiped (sodium_memzero) on destruction and on move-from; copies are
// explicit through Clone() so that keys are not duplicated by accident.
class SecretKey {
 public:
  SecretKey() { bytes_.fill(0); }
  explicit SecretKey(const std::array<uint8_t, kKeyBytes>& bytes) : bytes_(bytes) {}
  SecretKey(SecretKey&& o) noexcept;
  SecretKey& operator=(SecretKey&& o) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  // A new key from the operating system's CSPRNG (randombytes_buf).
  static SecretKey Random();
  SecretKey Clone() const { return SecretKey(bytes_); }

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  static constexpr size_t size() { return kKeyBytes; }
  // Constant-time comparison (sodium_memcmp).
  bool Equals(const SecretKey& o) const;

 private:
  std::array<uint8_t, kKeyBytes> bytes_;
};

std::string ToHex(std::string_view bytes);
std::optional<std::string> FromHex(std::string_view hex);
// base64url without padding (RFC 4648 §5).
std::string ToBase64Url(std::string_view bytes);
// Accepts standard or URL-safe base64, with or without padding.
std::optional<std::string> FromBase64(std::string_view text);
// RFC 4648 base32 alphabet in lower case, no padding: [a-z2-7].
std::string ToBase32Lower(std::string_view bytes);

// `n` random bytes from randombytes_buf.
std::string RandomBytes(size_t n);

// `n` (at most kNonceBufferBytes) random bytes for a nonce, from a per-thread buffer that
// randombytes_buf fills a page at a time: one system call per sealed record cost 2.6 % of the
// CPU of a keyed ingest (vault.cc). Nonces are public; keys and secrets use RandomBytes.
inline constexpr size_t kNonceBufferBytes = 4096;
std::string NonceBytes(size_t n);

inline std::string_view AsChars(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}
inline const uint8_t* AsBytes(std::string_view s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// Keyed BLAKE2b (crypto_generichash) of `message`, `out_len` bytes (16..64).
std::string KeyedBlake2b(const SecretKey& key, std::string_view message, size_t out_len = 32);

// Appends a little-endian u64 or a length-prefixed (u32 LE) string: the canonical byte forms
// used for MACs and hash chains, unambiguous whatever the strings contain.
void AppendU64(std::string& out, uint64_t v);
void AppendField(std::string& out, std::string_view s);

// Initialises libsodium once; false if the library cannot be used (no entropy source).
bool SodiumReady();

}  // namespace medlake::privacy
