// Small string helpers shared by modules.
#pragma once

#include <string>
#include <string_view>

namespace medlake {

// Replaces every occurrence of `from` in `s` with `to`, left to right; text inserted by a
// replacement is not searched again. Does nothing when `from` is empty.
void ReplaceAll(std::string& s, std::string_view from, std::string_view to);

}  // namespace medlake
