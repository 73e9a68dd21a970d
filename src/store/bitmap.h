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

// What a reader or writer that meets a damaged delete bitmap reports.
inline std::string DamagedBitmapMessage(int64_t segment) {
  return "catalog: damaged delete bitmap of segment " + std::to_string(segment) +
         " (medlake verify --drop-damaged drops the segment)";
}

// A delete bitmap of the catalog (segment_deletes.deleted): the 4 bytes "mld1", the XXH3 64-bit
// hash of the bitmap (little-endian), then the portable bitmap (docs/format.md, "Catalog
// tables"). Without the hash a flipped bit could read as another valid bitmap: a live version
// taken for replaced, or a replaced one live again. The mark comes first, where a portable
// bitmap has its cookie (0x303A or 0x303B in its first two bytes, three or more bits away from
// "ml"), so that no flipped bit makes a hashed blob pass for one written before the hash.
inline constexpr std::string_view kCatalogBitmapMark = "mld1";

inline std::string CatalogBitmapBytes(const roaring_bitmap_t* bitmap) {
  const size_t size = roaring_bitmap_portable_size_in_bytes(bitmap);
  const size_t head = kCatalogBitmapMark.size() + sizeof(uint64_t);
  std::string bytes(head + size, '\0');
  roaring_bitmap_portable_serialize(bitmap, bytes.data() + head);
  const uint64_t hash = XXH3_64bits(bytes.data() + head, size);
  std::memcpy(bytes.data(), kCatalogBitmapMark.data(), kCatalogBitmapMark.size());
  std::memcpy(bytes.data() + kCatalogBitmapMark.size(), &hash, sizeof hash);
  return bytes;
}

// The delete bitmap in `blob`, or null when it is damaged (the caller owns the result): a hash
// that differs, bytes before or after the bitmap, or row numbers out of order (CRoaring's
// reader does not check that an array container is sorted). A blob written before the hash
// (catalogs of 2026-11-30 and earlier: the bitmap alone) is read with the same checks, less the
// hash.
inline roaring_bitmap_t* ReadCatalogBitmap(std::string_view blob) {
  if (blob.starts_with(kCatalogBitmapMark)) {
    uint64_t hash = 0;
    if (blob.size() < kCatalogBitmapMark.size() + sizeof hash) return nullptr;
    std::memcpy(&hash, blob.data() + kCatalogBitmapMark.size(), sizeof hash);
    blob.remove_prefix(kCatalogBitmapMark.size() + sizeof hash);
    if (hash != XXH3_64bits(blob.data(), blob.size())) return nullptr;
  }
  if (roaring_bitmap_portable_deserialize_size(blob.data(), blob.size()) != blob.size()) {
    return nullptr;
  }
  roaring_bitmap_t* bitmap = roaring_bitmap_portable_deserialize_safe(blob.data(), blob.size());
  if (bitmap == nullptr) return nullptr;
  struct Order {
    bool first = true, sorted = true;
    uint32_t last = 0;
  } order;
  roaring_iterate(
      bitmap,
      [](uint32_t value, void* p) {
        auto* o = static_cast<Order*>(p);
        o->sorted = o->first || value > o->last;
        o->first = false;
        o->last = value;
        return o->sorted;
      },
      &order);
  if (!order.sorted) {
    roaring_bitmap_free(bitmap);
    return nullptr;
  }
  return bitmap;
}

}  // namespace medlake::store
