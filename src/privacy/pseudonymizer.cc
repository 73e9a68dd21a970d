#include "privacy/pseudonymizer.h"

#include <sodium.h>

namespace medlake::privacy {
namespace {

constexpr size_t kPseudonymBytes = 20;  // 160 bits; base32 gives 32 characters

// "<tag>|<len(a)>|<a>|<b>": the length makes the split between a and b unambiguous.
std::string Encode(std::string_view tag, std::string_view a, std::string_view b) {
  std::string m(tag);
  m += '|';
  m += std::to_string(a.size());
  m += '|';
  m.append(a);
  m += '|';
  m.append(b);
  return m;
}

}  // namespace

std::string Pseudonymizer::Mac(std::string_view message) const {
  static_assert(crypto_auth_hmacsha256_KEYBYTES == kKeyBytes);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, AsBytes(message), message.size(), key_.data());
  std::string out(AsChars(mac, sizeof mac));
  sodium_memzero(mac, sizeof mac);
  return out;
}

std::string Pseudonymizer::ForIdentifier(std::string_view system, std::string_view value) const {
  return ToBase32Lower(Mac(Encode("identifier", system, value)).substr(0, kPseudonymBytes));
}

std::string Pseudonymizer::ForSourceId(std::string_view source, std::string_view id) const {
  return ToBase32Lower(Mac(Encode("source", source, id)).substr(0, kPseudonymBytes));
}

int Pseudonymizer::DateShiftDays(std::string_view pseudonym) const {
  std::string mac = Mac(Encode("dateshift", pseudonym, ""));
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(mac[i]);
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
