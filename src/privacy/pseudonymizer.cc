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

Pseudonymizer::Pseudonymizer(const SecretKey& key) {
  static_assert(crypto_auth_hmacsha256_KEYBYTES == kKeyBytes);
  crypto_auth_hmacsha256_init(&keyed_, key.data(), key.size());
  // RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), K padded with zeros to SHA-256's 64-byte
  // block (a 32-byte key is never hashed first).
  static_assert(kKeyBytes <= kBlockBytes);
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
  inner_ = Sha256() != nullptr ? keyed_hash(0x36) : nullptr;
  outer_ = inner_ != nullptr ? keyed_hash(0x5c) : nullptr;
  OPENSSL_cleanse(pad, sizeof pad);
  if (outer_ == nullptr) {
    EVP_MD_CTX_free(inner_);  // libsodium computes every MAC
    inner_ = nullptr;
  }
}

Pseudonymizer::~Pseudonymizer() {
  // Freeing a context wipes its state.
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
  sodium_memzero(&keyed_, sizeof keyed_);
}

// The message is "<tag>|<len(a)>|<a>|<b>": the length makes the split between a and b
// unambiguous. It is fed in pieces, which gives the MAC of the whole.
void Pseudonymizer::Mac(std::string_view tag, std::string_view a, std::string_view b,
                        unsigned char (&mac)[crypto_auth_hmacsha256_BYTES]) const {
  if (MacOpenSsl(tag, a, b, mac)) return;
  crypto_auth_hmacsha256_state state = keyed_;
  ForEachPiece(tag, a, b, [&state](std::string_view piece) {
    crypto_auth_hmacsha256_update(&state, AsBytes(piece), piece.size());
  });
  crypto_auth_hmacsha256_final(&state, mac);
  sodium_memzero(&state, sizeof state);
}

bool Pseudonymizer::MacOpenSsl(std::string_view tag, std::string_view a, std::string_view b,
                               unsigned char (&mac)[crypto_auth_hmacsha256_BYTES]) const {
  if (inner_ == nullptr) return false;
  // One working context per thread, into which the keyed states are copied.
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> work(EVP_MD_CTX_new(),
                                                                            &EVP_MD_CTX_free);
  if (work == nullptr) return false;
  EVP_MD_CTX* ctx = work.get();
  bool ok = EVP_MD_CTX_copy_ex(ctx, inner_) == 1;
  ForEachPiece(tag, a, b, [&](std::string_view piece) {
    ok = ok && EVP_DigestUpdate(ctx, piece.data(), piece.size()) == 1;
  });
  unsigned char inner[crypto_auth_hmacsha256_BYTES];
  unsigned int n = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, inner, &n) == 1 && n == sizeof inner &&
       EVP_MD_CTX_copy_ex(ctx, outer_) == 1 && EVP_DigestUpdate(ctx, inner, sizeof inner) == 1 &&
       EVP_DigestFinal_ex(ctx, mac, &n) == 1 && n == sizeof mac;
  OPENSSL_cleanse(inner, sizeof inner);
  return ok;
}

std::string Pseudonymizer::ForIdentifier(std::string_view system, std::string_view value) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  Mac("identifier", system, value, mac);
  std::string out = Pseudonym(mac);
  sodium_memzero(mac, sizeof mac);
  return out;
}

std::string Pseudonymizer::ForSourceId(std::string_view source, std::string_view id) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  Mac("source", source, id, mac);
  std::string out = Pseudonym(mac);
  sodium_memzero(mac, sizeof mac);
  return out;
}

int Pseudonymizer::DateShiftDays(std::string_view pseudonym) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  Mac("dateshift", pseudonym, "", mac);
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
