// Allocation-free text appends for the writers' hot paths (no format-string parsing).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace medlake::synth {

// Appends every part (anything convertible to std::string_view).
template <typename... Parts>
void Cat(std::string& out, const Parts&... parts) {
  (out.append(std::string_view(parts)), ...);
}

inline void AppendInt(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

// Fixed notation with `decimals` digits after the point, correctly rounded.
inline void AppendFixed(std::string& out, double v, int decimals) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed, decimals);
  out.append(buf, r.ptr);
}

}  // namespace medlake::synth
