// Evaluation helpers for the FHIRPath unit tests: an expression over a resource's JSON text.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "fhirpath/fhirpath.h"

namespace medlake::fhirpath::testing {

inline constexpr std::string_view kBasic = R"({"resourceType": "Basic", "id": "b1"})";

// The result, or the error, of `expr` over `resource`, read keeping the number texts as the
// CLI and the views do (decimals keep their precision).
inline Result<Collection> EvalResult(json::Parser& parser, std::string_view resource,
                                     std::string_view expr) {
  parser.set_keep_number_text(true);
  MEDLAKE_ASSIGN_OR_RETURN(json::Node root, parser.Parse(resource));
  MEDLAKE_ASSIGN_OR_RETURN(Expression compiled, Expression::Compile(expr));
  return compiled.Evaluate(root);
}

// The result's items as toString() gives them, comma-separated; "error: ..." on an error.
inline std::string EvalText(std::string_view expr, std::string_view resource = kBasic) {
  json::Parser parser;
  auto r = EvalResult(parser, resource, expr);
  if (!r.ok()) return "error: " + r.status().message();
  std::string out;
  for (const Item& item : *r) {
    if (!out.empty()) out += ",";
    out += ItemToString(item);
  }
  return out;
}

// The result as JSON (as `medlake fhirpath` prints it); "error: ..." on an error.
inline std::string EvalJson(std::string_view expr, std::string_view resource = kBasic) {
  json::Parser parser;
  auto r = EvalResult(parser, resource, expr);
  if (!r.ok()) return "error: " + r.status().message();
  return CollectionToJson(*r);
}

}  // namespace medlake::fhirpath::testing
