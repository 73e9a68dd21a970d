#include "privacy/pseudonymizer.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <set>

namespace medlake::privacy {
namespace {

SecretKey KeyOf(uint8_t fill) {
  std::array<uint8_t, kKeyBytes> b;
  b.fill(fill);
  return SecretKey(b);
}

TEST(PseudonymizerTest, DeterministicAndKeyDependent) {
  Pseudonymizer a(KeyOf(1)), a2(KeyOf(1)), b(KeyOf(2));
  std::string p = a.ForIdentifier("http://hospital.example/mrn", "12345");
  EXPECT_EQ(p, a.ForIdentifier("http://hospital.example/mrn", "12345"));
  EXPECT_EQ(p, a2.ForIdentifier("http://hospital.example/mrn", "12345"));
  EXPECT_NE(p, b.ForIdentifier("http://hospital.example/mrn", "12345"));
  EXPECT_NE(p, a.ForIdentifier("http://hospital.example/mrn", "12346"));
  EXPECT_NE(p, a.ForIdentifier("http://other.example/mrn", "12345"));
  EXPECT_NE(p, a.ForSourceId("http://hospital.example/mrn", "12345"));
}

TEST(PseudonymizerTest, ShapeIsFhirIdSafe) {
  Pseudonymizer a(KeyOf(3));
  for (int i = 0; i < 200; ++i) {
    std::string p = a.ForSourceId("synthea", "patient-" + std::to_string(i));
    EXPECT_EQ(p.size(), kPseudonymLength);
    EXPECT_TRUE(Pseudonymizer::LooksLikePseudonym(p)) << p;
  }
  EXPECT_FALSE(Pseudonymizer::LooksLikePseudonym("ABC"));
}

TEST(PseudonymizerTest, SplitBetweenSystemAndValueIsUnambiguous) {
  Pseudonymizer a(KeyOf(4));
  EXPECT_NE(a.ForIdentifier("a|b", "c"), a.ForIdentifier("a", "b|c"));
}

TEST(PseudonymizerTest, KnownVectorIsStable) {
  // Pseudonyms are persisted in lakes: their derivation must never change silently.
  // Expected value computed independently (Python hmac, base64.b32encode) of
  // HMAC-SHA256(32 zero bytes, "identifier|13|urn:oid:1.2.3|42")[:20].
  Pseudonymizer a(KeyOf(0));
  EXPECT_EQ(a.ForIdentifier("urn:oid:1.2.3", "42"), "usa54f5iuklomooydocmllhe5x6q7dly");
}

// The MAC is computed from a state keyed once and fed in pieces; it must equal the one-shot
// HMAC-SHA256 of the whole message, for messages of 10 to 267 bytes (across SHA-256's 64-byte
// blocks), and twice in a row (the working state is wiped and reused).
TEST(PseudonymizerTest, EqualsOneShotHmacAcrossBlockLengths) {
  std::array<uint8_t, kKeyBytes> key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  Pseudonymizer a((SecretKey(key)));
  for (size_t n = 0; n < 200; n += 3) {
    std::string source(n % 70, 's');
    std::string id(n, 'x');
    std::string message = "source|" + std::to_string(source.size()) + "|" + source + "|" + id;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size(), key.data());
    EXPECT_EQ(a.ForSourceId(source, id), ToBase32Lower(AsChars(mac, 20))) << n;
    EXPECT_EQ(a.ForSourceId(source, id), ToBase32Lower(AsChars(mac, 20))) << n;
  }
}

TEST(PseudonymizerTest, DateShiftIsNonZeroBoundedAndKeyed) {
  Pseudonymizer a(KeyOf(5)), b(KeyOf(6));
  std::set<int> seen;
  int differs = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string p = a.ForSourceId("s", std::to_string(i));
    int d = a.DateShiftDays(p);
    EXPECT_NE(d, 0);
    EXPECT_GE(d, -kMaxDateShiftDays);
    EXPECT_LE(d, kMaxDateShiftDays);
    EXPECT_EQ(d, a.DateShiftDays(p));
    differs += d != b.DateShiftDays(p);
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 300u);  // spread over the range
  EXPECT_GT(differs, 1900);
  // Intervals are preserved.
  std::string p = a.ForSourceId("s", "x");
  int64_t t1 = 1'600'000'000'000, t2 = t1 + 86'400'000 * 17;
  EXPECT_EQ(a.ShiftEpochMs(p, t2) - a.ShiftEpochMs(p, t1), t2 - t1);
}

}  // namespace
}  // namespace medlake::privacy
