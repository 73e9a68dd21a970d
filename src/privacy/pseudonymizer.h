// Keyed pseudonyms for patients and per-patient date shifts.
//
// A pseudonym is HMAC-SHA256 (RFC 2104; computed with OpenSSL, or libsodium's
// crypto_auth_hmacsha256, which give the same bytes) under the lake's pseudonym key of an
// unambiguous encoding of the input, truncated to 20 bytes and written in lower-case base32:
// 32 characters of [a-z2-7], valid as a FHIR id and in URLs. The same input under the same key
// always gives the same pseudonym, so a patient seen in FHIR, HL7 v2 and VCF sources with a
// shared identifier gets one pseudonym. Without the key a pseudonym cannot be computed or
// reversed. Callers normalise identifiers (trim, case of the system URI) before calling.
//
// Thread safety: const methods are safe to call from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "privacy/encoding.h"
#include "privacy/key_store.h"

namespace medlake::privacy {

inline constexpr size_t kPseudonymLength = 32;
inline constexpr int kMaxDateShiftDays = 180;

class Pseudonymizer {
 public:
  explicit Pseudonymizer(const KeyStore& keys)
      : Pseudonymizer(keys.SubKey(KeyPurpose::kPseudonym)) {}
  explicit Pseudonymizer(const SecretKey& key);
  // Holds keyed hash state: neither copied nor moved, and wiped on destruction.
  Pseudonymizer(const Pseudonymizer&) = delete;
  Pseudonymizer& operator=(const Pseudonymizer&) = delete;
  ~Pseudonymizer();

  // Pseudonym of a business identifier (Identifier.system, Identifier.value; HL7 v2 CX-4/CX-1
  // mapped to a system URI first).
  std::string ForIdentifier(std::string_view system, std::string_view value) const;
  // Pseudonym of a record that has no shared identifier: its source name and source-local id.
  std::string ForSourceId(std::string_view source, std::string_view id) const;

  // Link values (ingest/deidentify.h): keyed hashes under which the lake's catalog maps a
  // source Patient id, or an identifier, to the pseudonym it was given.
  std::string SourceLink(std::string_view patient_id) const {
    return ForSourceId("link:Patient", patient_id);
  }
  std::string IdentifierLink(std::string_view system, std::string_view value) const {
    return ForSourceId("link:identifier", std::string(system) + "|" + std::string(value));
  }
  // Per-patient date shift for research outputs: a keyed function of the pseudonym in
  // [-180, -1] ∪ [1, 180] days, never 0. The same for every date of a patient, so intervals
  // are preserved; not computable from the pseudonym without the key.
  int DateShiftDays(std::string_view pseudonym) const;

  // Shifts a time in milliseconds since the epoch by DateShiftDays(pseudonym).
  int64_t ShiftEpochMs(std::string_view pseudonym, int64_t epoch_ms) const {
    return epoch_ms + int64_t{DateShiftDays(pseudonym)} * 86'400'000;
  }

  // True for strings shaped like a pseudonym (32 characters of [a-z2-7]), in any letter case.
  static bool LooksLikePseudonym(std::string_view s);

 private:
  // HMAC-SHA256 keyed once (pseudonymizer.cc).
  struct KeyedHash;
  // The pseudonym of "<tag>|<len(a)>|<a>|<b>": its HMAC, truncated and in base32.
  std::string PseudonymOf(std::string_view tag, std::string_view a, std::string_view b) const;
  std::unique_ptr<KeyedHash> keyed_;
};

}  // namespace medlake::privacy
