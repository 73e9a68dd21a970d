// Fuzz target: json::MinifyInto and every minify kernel this machine runs, against the
// byte-at-a-time definition they follow (tests/json/minify_reference.h). The kernels find
// strings, escapes and gaps 64 bytes at a time with carries between blocks; any input where one
// of them keeps, drops or rejects other bytes than the reference is a finding. The portable
// kernel (simdjson::minify behind a byte check) must give the same verdict.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "../../tests/json/minify_reference.h"
#include "json/minify.h"

namespace {

using medlake::json::MinifyKernel;

std::optional<std::string> MinifiedWith(MinifyKernel kernel, std::string_view text) {
  std::string out(text.size() + medlake::json::kMinifySlack, '\0');
  auto len = medlake::json::MinifyWith(kernel, text, out.data());
  if (!len.ok()) return std::nullopt;
  out.resize(*len);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string> expected = medlake::json::ReferenceMinify(text);
  for (MinifyKernel kernel : {MinifyKernel::kAvx512, MinifyKernel::kAvx2}) {
    if (medlake::json::MinifyKernelSupported(kernel) && MinifiedWith(kernel, text) != expected) {
      std::abort();
    }
  }
  if (MinifiedWith(MinifyKernel::kPortable, text).has_value() != expected.has_value()) {
    std::abort();
  }
  std::string out(size + medlake::json::kMinifySlack, '\0');
  auto len = medlake::json::MinifyInto(text, out.data());
  if (len.ok() != expected.has_value()) std::abort();
  return 0;
}
