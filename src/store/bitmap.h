// Portable roaring bitmaps read from bytes (catalog blobs, index files).
#pragma once

#include <roaring/roaring.h>

#include <string_view>

namespace medlake::store {

// The bitmap serialized in `bytes`, or null when they are not one (the caller owns the result:
// roaring_bitmap_free). CRoaring's deserializer writes to stderr when it meets bad bytes; the
// size check before it is silent, so a damaged bitmap is reported by medlake only.
inline roaring_bitmap_t* ReadBitmap(std::string_view bytes) {
  if (roaring_bitmap_portable_deserialize_size(bytes.data(), bytes.size()) == 0) return nullptr;
  return roaring_bitmap_portable_deserialize_safe(bytes.data(), bytes.size());
}

}  // namespace medlake::store
