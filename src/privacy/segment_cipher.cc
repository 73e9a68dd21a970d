#include "privacy/segment_cipher.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstring>
#include <filesystem>

#include "privacy/audit_log.h"
#include "privacy/key_store.h"
#include "privacy/principals.h"

namespace medlake::privacy {
namespace {

constexpr int kNonceBytes = 12;  // RFC 8439

std::array<uint8_t, kNonceBytes> SectionNonce(uint64_t section) {
  std::array<uint8_t, kNonceBytes> nonce{};
  for (size_t i = 0; i < sizeof section; ++i) nonce[i] = static_cast<uint8_t>(section >> (8 * i));
  return nonce;
}

// One OpenSSL context per thread, set up for ChaCha20-Poly1305 once (fetching the cipher on
// every Init costs more than sealing a block); each use sets the key, nonce and direction.
EVP_CIPHER_CTX* ThreadContext() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  thread_local std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx = [] {
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> c(EVP_CIPHER_CTX_new(),
                                                                      &EVP_CIPHER_CTX_free);
    EVP_CipherInit_ex(c.get(), cipher, nullptr, nullptr, nullptr, 1);
    return c;
  }();
  return ctx.get();
}

}  // namespace

Result<std::shared_ptr<const SegmentCipher>> SegmentCipher::ForLake(const std::string& lake_dir) {
  if (!KeyStore::IsInitialised(lake_dir)) {
    // A lake initialised with a key keeps its principals and audit log beside the catalog:
    // one whose keys/ folder is gone is not a lake without a key (a reader would take every
    // segment for damaged, a writer would store plain text in it), but one whose key is lost.
    std::error_code ec;
    if (std::filesystem::exists(Principals::PathFor(lake_dir), ec) ||
        std::filesystem::exists(AuditLog::PathFor(lake_dir), ec)) {
      return Unauthenticated("the lake at " + lake_dir +
                             " was initialised with a key, and its keys folder is missing: "
                             "restore keys/ (and the lake key) from their backup");
    }
    return std::shared_ptr<const SegmentCipher>();
  }
  MEDLAKE_ASSIGN_OR_RETURN(KeyStore keys, KeyStore::Open(lake_dir));
  return std::make_shared<const SegmentCipher>(keys.SubKey(KeyPurpose::kSegment));
}

SegmentCipher::SegmentCipher(SecretKey segment_key) : key_(std::move(segment_key)) {
  SodiumReady();
}

std::string SegmentCipher::NewSalt() {
  return RandomBytes(kSaltBytes);
}

SegmentCipher::SegmentKey SegmentCipher::ForSegment(std::string_view salt) const {
  SegmentKey k;
  crypto_generichash(k.key_.data(), k.key_.size(), AsBytes(salt), salt.size(), key_.data(),
                     key_.size());
  return k;
}

void SegmentCipher::SegmentKey::Seal(uint64_t section, std::string_view plain,
                                     std::string& out) const {
  auto nonce = SectionNonce(section);
  EVP_CIPHER_CTX* ctx = ThreadContext();
  out.resize(plain.size() + kTagBytes);
  auto* dst = reinterpret_cast<uint8_t*>(out.data());
  int n = 0, tail = 0;
  // With a valid key, nonce and sizes below 2^31 these calls cannot fail.
  EVP_CipherInit_ex(ctx, nullptr, nullptr, key_.data(), nonce.data(), 1);
  EVP_EncryptUpdate(ctx, dst, &n, AsBytes(plain), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, dst + n, &tail);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, dst + plain.size());
}

bool SegmentCipher::SegmentKey::Open(uint64_t section, std::string_view sealed,
                                     std::string& out) const {
  if (sealed.size() < kTagBytes || sealed.size() > (1u << 31)) return false;
  const size_t size = sealed.size() - kTagBytes;
  auto nonce = SectionNonce(section);
  EVP_CIPHER_CTX* ctx = ThreadContext();
  out.resize(size);
  auto* dst = reinterpret_cast<uint8_t*>(out.data());
  uint8_t tag[kTagBytes];
  std::memcpy(tag, sealed.data() + size, kTagBytes);
  int n = 0, tail = 0;
  return EVP_CipherInit_ex(ctx, nullptr, nullptr, key_.data(), nonce.data(), 0) == 1 &&
         EVP_DecryptUpdate(ctx, dst, &n, AsBytes(sealed), static_cast<int>(size)) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, tag) == 1 &&
         EVP_DecryptFinal_ex(ctx, dst + n, &tail) == 1 && static_cast<size_t>(n) == size;
}

}  // namespace medlake::privacy
