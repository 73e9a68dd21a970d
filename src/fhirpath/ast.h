// The compiled form of a FHIRPath expression: an immutable tree, built once by the parser
// with function names resolved and arities checked, evaluated many times.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fhirpath/value.h"

namespace medlake::fhirpath {

enum class AstKind : uint8_t {
  kEmpty,     // {}
  kLiteral,   // literal value
  kMember,    // identifier navigated from $this (or from the left side of kInvoke)
  kFunction,  // function call on $this (or on the left side of kInvoke)
  kInvoke,    // args[0] . args[1] where args[1] is kMember or kFunction
  kIndexer,   // args[0] [ args[1] ]
  kUnary,     // op is kPlus or kMinus, args[0]
  kBinary,    // args[0] op args[1]
  kIs,        // args[0] is type
  kAs,        // args[0] as type
  kThis,
  kIndex,
  kTotal,
  kVariable,  // %name
};

enum class BinaryOp : uint8_t {
  kMul,
  kDiv,
  kIntDiv,
  kMod,
  kPlus,
  kMinus,
  kConcat,
  kUnion,
  kLt,
  kGt,
  kLe,
  kGe,
  kEq,
  kNe,
  kEquiv,
  kNotEquiv,
  kIn,
  kContains,
  kAnd,
  kOr,
  kXor,
  kImplies,
};

struct TypeSpec {
  std::string ns;    // "FHIR", "System" or empty
  std::string name;  // "Patient", "String"
  // Resolved once when the expression compiles: whether `name` is a System type name, and the
  // FHIR type of that name (null when there is none).
  bool system_name = false;
  const TypeInfo* fhir_type = nullptr;
};

struct Ast {
  AstKind kind = AstKind::kEmpty;
  BinaryOp op = BinaryOp::kPlus;
  int column = 0;
  std::string name;  // member, function or variable name
  // kMember: the FHIR type that `name` denotes (Patient in Patient.name), resolved at compile
  // time; null when the name is not a type.
  const TypeInfo* type_name = nullptr;
  uint32_t symbol = UINT32_MAX;  // kMember: TypeModel::Symbol(name)
  int function = -1;             // index into the function table (kFunction)
  Item literal;                  // kLiteral
  Collection literal_value;      // kLiteral: {literal}, so that operators read it without a copy
  TypeSpec type;                 // kIs / kAs, and type-argument functions (is, as, ofType)
  bool has_type_arg = false;
  std::vector<std::unique_ptr<Ast>> args;
  // kInvoke that is not itself the left side of an invocation: the chain it ends, flattened
  // when the expression compiles: the innermost left operand, then the right side of each
  // invocation in order (a.b.where(c).d: a, b, where(c), d); empty on inner invocations.
  // From position `empty_tail` on, every step maps empty input to empty output without
  // evaluating arguments (members, where(), first(), ...).
  std::vector<const Ast*> chain;
  size_t empty_tail = 0;
};

}  // namespace medlake::fhirpath
