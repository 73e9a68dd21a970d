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

// Empties a buffer that is reused chunk after chunk. `typical` (start at 0) tracks a running
// mean of the sizes it held; a buffer whose capacity grew past three times that (plus 64 KiB;
// doubling growth leaves up to twice the size) is released, so an unusually large chunk does
// not pin its memory: what stays allocated is at most about three times the typical size,
// however many chunks a run goes through.
inline void ClearBuffer(std::string& s, double& typical) {
  const double size = static_cast<double>(s.size());
  typical = typical == 0 ? size : 0.9 * typical + 0.1 * size;
  if (static_cast<double>(s.capacity()) > 3 * typical + (64 << 10)) {
    std::string().swap(s);
  } else {
    s.clear();
  }
}

}  // namespace medlake::synth
