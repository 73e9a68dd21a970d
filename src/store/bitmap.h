// Portable roaring bitmaps read from bytes (catalog blobs, index files).
#pragma once

#include <roaring/roaring.h>
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace medlake::store {

// The bitmap serialized in `bytes`, or null when they are not one (the caller owns the result:
// roaring_bitmap_free). CRoaring's deserializer writes to stderr when it meets bad bytes; the
// size check before it is silent, so a damaged bitmap is reported by medlake only.
inline roaring_bitmap_t* ReadBitmap(std::string_view bytes) {
  if (roaring_bitmap_portable_deserialize_size(bytes.data(), bytes.size()) == 0) return nullptr;
  return roaring_bitmap_portable_deserialize_safe(bytes.data(), bytes.size());
}

// A delete bitmap of the catalog (segment_deletes.deleted): the portable bitmap, then the XXH3
// 64-bit hash of it, little-endian (docs/format.md, "Catalog tables"). Without the hash a flipped
// bit could read as another valid bitmap: a live version taken for deleted, or a replaced one back.
inline std::string CatalogBitmapBytes(const roaring_bitmap_t* bitmap) {
  const size_t size = roaring_bitmap_portable_size_in_bytes(bitmap);
  std::string bytes(size + sizeof(uint64_t), '\0');
  roaring_bitmap_portable_serialize(bitmap, bytes.data());
  const uint64_t hash = XXH3_64bits(bytes.data(), size);
  std::memcpy(bytes.data() + size, &hash, sizeof hash);
  return bytes;
}

// The delete bitmap in `blob`, or null when it is damaged (the caller owns the result). A blob
// written before the hash (catalogs of 2026-11-30 and earlier: the bitmap alone) is read as it
// is.
inline roaring_bitmap_t* ReadCatalogBitmap(std::string_view blob) {
  const size_t size = roaring_bitmap_portable_deserialize_size(blob.data(), blob.size());
  if (size == 0) return nullptr;
  if (blob.size() != size) {
    uint64_t hash = 0;
    if (blob.size() != size + sizeof hash) return nullptr;
    std::memcpy(&hash, blob.data() + size, sizeof hash);
    if (hash != XXH3_64bits(blob.data(), size)) return nullptr;
  }
  return roaring_bitmap_portable_deserialize_safe(blob.data(), size);
}

}  // namespace medlake::store
