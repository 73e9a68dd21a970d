#include "privacy/pseudonymizer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <charconv>
#include <cstring>
#include <memory>

namespace medlake::privacy {
namespace {

constexpr size_t kPseudonymBytes = 20;  // 160 bits; base32 gives 32 characters

constexpr size_t kBlockBytes = 64;  // SHA-256's block
constexpr size_t kMacBytes = 32;    // HMAC-SHA256's

// SHA-256 fetched once from OpenSSL's default provider (null if it cannot be).
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// Calls `feed` with the pieces of "<tag>|<len(a)>|<a>|<b>" in order.
template <typename Feed>
void ForEachPiece(std::string_view tag, std::string_view a, std::string_view b, Feed feed) {
  char length[24];
  auto [end, ec] = std::to_chars(length, length + sizeof length, a.size());
  (void)ec;  // a size_t always fits in 24 digits
  feed(tag);
  feed("|");
  feed(std::string_view(length, size_t(end - length)));
  feed("|");
  feed(a);
  feed("|");
  feed(b);
}

std::string Pseudonym(const unsigned char* mac) {
  return ToBase32Lower(AsChars(mac, kPseudonymBytes));
}

}  // namespace

// The HMAC's two hash states after the key's inner and outer blocks (RFC 2104:
// H((K ^ opad) || H((K ^ ipad) || m)), K padded with zeros to SHA-256's 64-byte block; a
// 32-byte key is never hashed first), so that the key is hashed once, not twice per pseudonym.
// OpenSSL's SHA-256 uses the CPU's SHA extensions where it has them (about 2.5 times
// libsodium's portable code on a short message); libsodium's HMAC, which gives the same bytes,
// is the fallback when OpenSSL's cannot be set up or fails.
struct Pseudonymizer::KeyedHash {
  EVP_MD_CTX* inner = nullptr;
  EVP_MD_CTX* outer = nullptr;
  crypto_auth_hmacsha256_state sodium;

  explicit KeyedHash(const SecretKey& key) {
    static_assert(crypto_auth_hmacsha256_KEYBYTES == kKeyBytes);
    static_assert(crypto_auth_hmacsha256_BYTES == kMacBytes);
    static_assert(kKeyBytes <= kBlockBytes);
    crypto_auth_hmacsha256_init(&sodium, key.data(), key.size());
    unsigned char pad[kBlockBytes];
    auto keyed_hash = [&](unsigned char fill) -> EVP_MD_CTX* {
      std::memset(pad, fill, sizeof pad);
      for (size_t i = 0; i < kKeyBytes; ++i) pad[i] ^= key.data()[i];
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      if (ctx != nullptr && (EVP_DigestInit_ex(ctx, Sha256(), nullptr) != 1 ||
                             EVP_DigestUpdate(ctx, pad, sizeof pad) != 1)) {
        EVP_MD_CTX_free(ctx);
        ctx = nullptr;
      }
      return ctx;
    };
    inner = Sha256() != nullptr ? keyed_hash(0x36) : nullptr;
    outer = inner != nullptr ? keyed_hash(0x5c) : nullptr;
    OPENSSL_cleanse(pad, sizeof pad);
    if (outer == nullptr) {
      EVP_MD_CTX_free(inner);  // libsodium computes every MAC
      inner = nullptr;
    }
  }
  KeyedHash(const KeyedHash&) = delete;
  KeyedHash& operator=(const KeyedHash&) = delete;

  ~KeyedHash() {
    // Freeing a context wipes its state.
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
    sodium_memzero(&sodium, sizeof sodium);
  }

  void Mac(std::string_view tag, std::string_view a, std::string_view b,
           unsigned char (&mac)[kMacBytes]) const {
    if (MacOpenSsl(tag, a, b, mac)) return;
    crypto_auth_hmacsha256_state state = sodium;
    ForEachPiece(tag, a, b, [&state](std::string_view piece) {
      crypto_auth_hmacsha256_update(&state, AsBytes(piece), piece.size());
    });
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_memzero(&state, sizeof state);
  }

  bool MacOpenSsl(std::string_view tag, std::string_view a, std::string_view b,
                  unsigned char (&mac)[kMacBytes]) const {
    if (inner == nullptr) return false;
    // One working context per thread, into which the keyed states are copied.
    thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> work(EVP_MD_CTX_new(),
                                                                              &EVP_MD_CTX_free);
    if (work == nullptr) return false;
    EVP_MD_CTX* ctx = work.get();
    bool ok = EVP_MD_CTX_copy_ex(ctx, inner) == 1;
    ForEachPiece(tag, a, b, [&](std::string_view piece) {
      ok = ok && EVP_DigestUpdate(ctx, piece.data(), piece.size()) == 1;
    });
    unsigned char inner_hash[kMacBytes];
    unsigned int n = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, inner_hash, &n) == 1 && n == sizeof inner_hash &&
         EVP_MD_CTX_copy_ex(ctx, outer) == 1 &&
         EVP_DigestUpdate(ctx, inner_hash, sizeof inner_hash) == 1 &&
         EVP_DigestFinal_ex(ctx, mac, &n) == 1 && n == sizeof mac;
    OPENSSL_cleanse(inner_hash, sizeof inner_hash);
    // The context kept its last state, the MAC itself: starting a new hash wipes it (without
    // freeing what the next copy reuses).
    if (EVP_DigestInit_ex(ctx, Sha256(), nullptr) != 1) work.reset(EVP_MD_CTX_new());
    return ok;
  }
};

Pseudonymizer::Pseudonymizer(const SecretKey& key) : keyed_(std::make_unique<KeyedHash>(key)) {}

Pseudonymizer::~Pseudonymizer() = default;

std::string Pseudonymizer::PseudonymOf(std::string_view tag, std::string_view a,
                                       std::string_view b) const {
  unsigned char mac[kMacBytes];
  keyed_->Mac(tag, a, b, mac);
  std::string out = Pseudonym(mac);
  sodium_memzero(mac, sizeof mac);
  return out;
}

std::string Pseudonymizer::ForIdentifier(std::string_view system, std::string_view value) const {
  return PseudonymOf("identifier", system, value);
}

std::string Pseudonymizer::ForSourceId(std::string_view source, std::string_view id) const {
  return PseudonymOf("source", source, id);
}

int Pseudonymizer::DateShiftDays(std::string_view pseudonym) const {
  unsigned char mac[kMacBytes];
  keyed_->Mac("dateshift", pseudonym, "", mac);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | mac[i];
  sodium_memzero(mac, sizeof mac);
  int r = static_cast<int>(v % (2 * kMaxDateShiftDays));  // 0..359
  return r < kMaxDateShiftDays ? r - kMaxDateShiftDays : r - kMaxDateShiftDays + 1;
}

bool Pseudonymizer::LooksLikePseudonym(std::string_view s) {
  if (s.size() != kPseudonymLength) return false;
  // In any letter case (base32 reads the same; a query's upper() must not hide one).
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

}  // namespace medlake::privacy
