// Fuzz target: the FHIRPath lexer, parser and evaluator. The input's first line is an
// expression, the rest a JSON resource; the expression is compiled and, when both are valid,
// evaluated. Any crash, hang or sanitizer report is a bug; errors must be values.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fhirpath/fhirpath.h"
#include "json/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view expression = input.substr(0, nl);
  std::string_view resource =
      nl == std::string_view::npos ? std::string_view("{}") : input.substr(nl + 1);
  auto expr = medlake::fhirpath::Expression::Compile(expression);
  if (!expr.ok()) {
    if (expr.status().message().empty()) std::abort();  // errors must say why
    return 0;
  }
  medlake::json::Parser parser;
  auto node = parser.Parse(resource);
  if (!node.ok()) return 0;
  medlake::fhirpath::Environment env;
  env.now_ms = 1700000000000;  // deterministic now()/today()
  auto result = expr->Evaluate(*node, env);
  if (result.ok()) (void)medlake::fhirpath::CollectionToJson(*result);
  return 0;
}
