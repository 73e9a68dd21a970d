// What anyone could read from a file without a key: the text of every zstd frame found in it
// (segment blocks and column sections are zstd frames unless the segment is encrypted). Tests
// of encryption at rest use it as their control: a plain segment shows its content here.
#pragma once

#include <zstd.h>

#include <cstring>
#include <string>
#include <string_view>

namespace medlake::testing {

inline std::string ZstdFrameText(std::string_view bytes) {
  static constexpr char kMagic[4] = {'\x28', '\xB5', '\x2F', '\xFD'};
  std::string text, frame;
  for (size_t at = bytes.find(std::string_view(kMagic, 4)); at != std::string_view::npos;
       at = bytes.find(std::string_view(kMagic, 4), at + 1)) {
    std::string_view rest = bytes.substr(at);
    unsigned long long size = ZSTD_getFrameContentSize(rest.data(), rest.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (1u << 28))
      continue;
    size_t frame_size = ZSTD_findFrameCompressedSize(rest.data(), rest.size());
    if (ZSTD_isError(frame_size)) continue;
    frame.resize(size);
    size_t n = ZSTD_decompress(frame.data(), frame.size(), rest.data(), frame_size);
    if (!ZSTD_isError(n)) text.append(frame.data(), n);
  }
  return text;
}

}  // namespace medlake::testing
