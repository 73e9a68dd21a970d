// Small string helpers shared by modules.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace medlake {

// Replaces every occurrence of `from` in `s` with `to`, left to right; text inserted by a
// replacement is not searched again. Does nothing when `from` is empty.
void ReplaceAll(std::string& s, std::string_view from, std::string_view to);

// A hash map keyed by std::string that is searched with a string_view (no key copy per lookup).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace medlake
