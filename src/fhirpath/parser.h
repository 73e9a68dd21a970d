// Parses FHIRPath text into an Ast, resolving function names and checking their arity.
#pragma once

#include <memory>
#include <string_view>

#include "fhirpath/ast.h"
#include "medlake/status.h"

namespace medlake::fhirpath {

// Errors are kInvalidArgument with the 1-based column of the offending token.
Result<std::unique_ptr<Ast>> ParseExpression(std::string_view source);

}  // namespace medlake::fhirpath
