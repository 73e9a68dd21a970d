#include "privacy/segment_cipher.h"

#include <sodium.h>

#include "privacy/key_store.h"

namespace medlake::privacy {
namespace {

using Nonce = std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES>;

Nonce SectionNonce(uint64_t section) {
  Nonce nonce{};
  for (size_t i = 0; i < sizeof section; ++i) nonce[i] = static_cast<uint8_t>(section >> (8 * i));
  return nonce;
}

}  // namespace

static_assert(SegmentCipher::kTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

Result<std::shared_ptr<const SegmentCipher>> SegmentCipher::ForLake(const std::string& lake_dir) {
  if (!KeyStore::IsInitialised(lake_dir)) return std::shared_ptr<const SegmentCipher>();
  MEDLAKE_ASSIGN_OR_RETURN(KeyStore keys, KeyStore::Open(lake_dir));
  return std::make_shared<const SegmentCipher>(keys.SubKey(KeyPurpose::kSegment));
}

SegmentCipher::SegmentCipher(SecretKey segment_key) : key_(std::move(segment_key)) {
  SodiumReady();  // selects libsodium's fastest implementation for this CPU
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
  Nonce nonce = SectionNonce(section);
  out.resize(plain.size() + kTagBytes);
  unsigned long long n = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(out.data()), &n,
                                             AsBytes(plain), plain.size(), nullptr, 0, nullptr,
                                             nonce.data(), key_.data());
  out.resize(static_cast<size_t>(n));
}

bool SegmentCipher::SegmentKey::Open(uint64_t section, std::string_view sealed,
                                     std::string& out) const {
  if (sealed.size() < kTagBytes) return false;
  Nonce nonce = SectionNonce(section);
  out.resize(sealed.size() - kTagBytes);
  unsigned long long n = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<uint8_t*>(out.data()), &n,
                                                    nullptr, AsBytes(sealed), sealed.size(),
                                                    nullptr, 0, nonce.data(), key_.data()) == 0 &&
         n == out.size();
}

}  // namespace medlake::privacy
