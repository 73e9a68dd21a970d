// Shared helpers for the functions_*.cc files.
#pragma once

#include <optional>
#include <string>

#include "fhirpath/evaluator.h"
#include "fhirpath/functions.h"

namespace medlake::fhirpath {

#define MEDLAKE_FP_FN(fn_name)                                               \
  Result<Collection> fn_name(                                                \
      [[maybe_unused]] Evaluator& ev, [[maybe_unused]] const Collection& in, \
      [[maybe_unused]] const Ast& call, [[maybe_unused]] const Scope& scope)

inline Collection One(Item item) {
  return Collection{std::move(item)};
}
inline Collection Bool(bool b) {
  return Collection{Item::Boolean(b)};
}

// Evaluates argument i and requires at most one item.
inline Result<std::optional<Item>> SingleArg(Evaluator& ev, const Ast& call, size_t i,
                                             const Scope& scope) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection c, ev.Arg(call, i, scope));
  return Singleton(c, "argument of " + call.name + "()");
}

// Integer argument i; nullopt when empty.
inline Result<std::optional<int64_t>> IntArg(Evaluator& ev, const Ast& call, size_t i,
                                             const Scope& scope) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, SingleArg(ev, call, i, scope));
  if (!v) return std::optional<int64_t>();
  if (v->kind != ValueKind::kInteger) {
    return InvalidArgument("FHIRPath: " + call.name + "() expects an Integer argument");
  }
  return std::optional<int64_t>(v->integer);
}

// String argument i; nullopt when empty.
inline Result<std::optional<std::string>> StringArg(Evaluator& ev, const Ast& call, size_t i,
                                                    const Scope& scope) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, SingleArg(ev, call, i, scope));
  if (!v) return std::optional<std::string>();
  if (v->kind != ValueKind::kString) {
    return InvalidArgument("FHIRPath: " + call.name + "() expects a String argument");
  }
  return std::optional<std::string>(v->Text());
}

// The single input item; error when the input has more than one.
inline Result<std::optional<Item>> Input(const Collection& in, const Ast& call) {
  return Singleton(in, "input of " + call.name + "()");
}

}  // namespace medlake::fhirpath
