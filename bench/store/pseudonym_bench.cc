// Cost of a pseudonym (privacy/pseudonymizer.h), which a keyed ingest computes for every
// resource id and reference it has not met, against its baseline: libsodium's one-shot
// crypto_auth_hmacsha256 of the same message, the way pseudonyms were computed until
// 2026-11-30 (the key's two blocks hashed again for every message).
//
//   medlake_bench_pseudonym [N]
//
// Prints the median of five rounds of N ids (default 1,000,000) for each, in ns per pseudonym,
// and the ratio baseline / Pseudonymizer. Both include writing the base32 pseudonym.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "privacy/encoding.h"
#include "privacy/pseudonymizer.h"

namespace {

using medlake::privacy::AsChars;
using medlake::privacy::kKeyBytes;
using medlake::privacy::Pseudonymizer;
using medlake::privacy::SecretKey;
using medlake::privacy::ToBase32Lower;

// A UUID-shaped id, as Synthea and most FHIR servers write them.
std::string IdOf(size_t i) {
  char id[40];
  std::snprintf(id, sizeof id, "%08zx-1f2e-4d3c-8b7a-%012zx", i * 2654435761u, i);
  return id;
}

template <typename Fn>
double MedianNsPer(size_t n, Fn fn) {
  std::vector<double> rounds;
  for (int r = 0; r < 5; ++r) {
    auto start = std::chrono::steady_clock::now();
    size_t sink = 0;
    for (size_t i = 0; i < n; ++i) sink += fn(i).size();
    double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    if (sink == 0) std::abort();
    rounds.push_back(ns / static_cast<double>(n));
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  if (sodium_init() < 0 || n == 0) return 1;
  std::array<uint8_t, kKeyBytes> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  const SecretKey key(bytes);
  const Pseudonymizer pseudonymizer(key);
  std::vector<std::string> ids(1024);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = IdOf(i);
  const std::string type = "Observation";

  const double baseline = MedianNsPer(n, [&](size_t i) {
    const std::string& id = ids[i % ids.size()];
    std::string message = "source|" + std::to_string(type.size()) + "|" + type + "|" + id;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size(), key.data());
    return ToBase32Lower(AsChars(mac, 20));
  });
  const double ours = MedianNsPer(
      n, [&](size_t i) { return pseudonymizer.ForSourceId(type, ids[i % ids.size()]); });
  // The two must agree, or the comparison means nothing.
  {
    std::string message = "source|" + std::to_string(type.size()) + "|" + type + "|" + ids[7];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(message.data()),
                           message.size(), key.data());
    if (ToBase32Lower(AsChars(mac, 20)) != pseudonymizer.ForSourceId(type, ids[7])) {
      std::fprintf(stderr, "pseudonyms differ from the baseline's\n");
      return 1;
    }
  }
  std::printf(
      "pseudonym of a UUID id, %zu ids x 5 rounds (median): baseline (libsodium one-shot "
      "HMAC) %.0f ns, Pseudonymizer %.0f ns, baseline / Pseudonymizer %.2f\n",
      n, baseline, ours, baseline / ours);
  return 0;
}
