// Encryption of segment files at rest (docs/format.md, "Encrypted segments").
//
// A lake initialised with a key (`medlake init`) encrypts every segment it writes: each data
// block and the column section are sealed with ChaCha20-Poly1305 (RFC 8439; OpenSSL, whose
// vectorised implementation runs 2-3x faster here than libsodium's) under a key derived for
// that one segment: BLAKE2b-256 (libsodium) keyed with the lake's segment key
// (KeyPurpose::kSegment, wrapped in keys/data.keys so that it survives a rekey) over a random
// 16-byte salt stored in the segment. The 96-bit nonce of a section is its number (the block
// number; the column section has its own), unique under a per-segment key: no nonce is reused
// under one key, and a block moved to another position or segment fails to open. ChaCha20 was
// chosen over AES-256-GCM because it is as fast here without depending on AES instructions,
// so a lake can move between machines.
//
// Thread safety: a SegmentCipher and its SectionKeys are immutable and safe to share.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "medlake/status.h"
#include "privacy/encoding.h"

namespace medlake::privacy {

class SegmentCipher {
 public:
  static constexpr size_t kSaltBytes = 16;
  static constexpr size_t kTagBytes = 16;  // added to every sealed section

  // The cipher of the lake at `lake_dir`: nullptr when the lake has no key (not initialised,
  // segments stay plain), the KeyStore's error when it has one that cannot be opened
  // (missing or wrong key).
  static Result<std::shared_ptr<const SegmentCipher>> ForLake(const std::string& lake_dir);
  explicit SegmentCipher(SecretKey segment_key);

  // The key of one segment.
  class SegmentKey {
   public:
    // Seals `plain` into `out` (plain size + kTagBytes); `section` numbers the block (the
    // column section uses a number no block has).
    void Seal(uint64_t section, std::string_view plain, std::string& out) const;
    // Opens a sealed section into `out`; false when it was not sealed by this key at this
    // position (tampered, damaged, or a different lake).
    bool Open(uint64_t section, std::string_view sealed, std::string& out) const;

   private:
    friend class SegmentCipher;
    SecretKey key_;
  };

  // A fresh random salt, for a new segment.
  static std::string NewSalt();
  // The key of the segment with `salt` (kSaltBytes).
  SegmentKey ForSegment(std::string_view salt) const;

 private:
  SecretKey key_;
};

}  // namespace medlake::privacy
