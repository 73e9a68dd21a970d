// The FHIRPath function table. Functions are resolved by name at compile time; the Ast keeps
// the table index. Each implementation receives the input collection and the unevaluated
// argument trees (evaluated eagerly or per item, as the function requires).
#pragma once

#include <string_view>
#include <vector>

#include "fhirpath/ast.h"
#include "fhirpath/value.h"
#include "medlake/status.h"

namespace medlake::fhirpath {

class Evaluator;
struct Scope;

using FunctionImpl = Result<Collection> (*)(Evaluator& ev, const Collection& input, const Ast& call,
                                            const Scope& scope);

struct FunctionDef {
  std::string_view name;
  int min_args;
  int max_args;
  FunctionImpl impl;
  bool type_argument = false;  // the argument is a type specifier (is, as, ofType)
};

// Finds a function by name; stores its table index in `*index`. Null when unknown.
const FunctionDef* FindFunction(std::string_view name, int* index);
const FunctionDef& FunctionAt(int index);

// Each functions_*.cc file contributes its part of the table.
void AddExistenceFunctions(std::vector<FunctionDef>& table);
void AddConversionFunctions(std::vector<FunctionDef>& table);
void AddStringFunctions(std::vector<FunctionDef>& table);
void AddMathFunctions(std::vector<FunctionDef>& table);
void AddNavigationFunctions(std::vector<FunctionDef>& table);
void AddTerminologyFunctions(std::vector<FunctionDef>& table);

}  // namespace medlake::fhirpath
