// Tree-walking evaluation of a compiled Ast. One Evaluator serves one evaluation; it is
// cheap to build. Internal to the fhirpath module.
#pragma once

#include <optional>
#include <string_view>

#include "fhirpath/ast.h"
#include "fhirpath/fhirpath.h"
#include "fhirpath/types.h"
#include "fhirpath/value.h"

namespace medlake::fhirpath {

struct Scope {
  const Collection* this_coll = nullptr;  // $this
  int64_t index = -1;                     // $index, -1 when unset
  const Collection* total = nullptr;      // $total in aggregate()
};

class Evaluator {
 public:
  Evaluator(const Environment& env, const Collection& context, const Collection& resource);

  Result<Collection> Eval(const Ast& node, const Scope& scope);
  // Evaluates `node` without a copy when its value already lives elsewhere ($this, a literal,
  // %resource, %context): returns that collection; otherwise evaluates into `storage` and
  // returns it.
  Result<const Collection*> EvalRef(const Ast& node, const Scope& scope, Collection& storage);
  // Evaluates `node` for each item of `input` with $this = that item, appending the results.
  Result<Collection> EvalPerItem(const Ast& node, const Collection& input, const Scope& scope,
                                 bool with_index = true);
  // Evaluates `node` as a condition: empty -> nullopt, a single Boolean -> its value, another
  // single item -> true, more items -> an error naming `what` (as ToBool(Eval(node))).
  // Comparisons and logical operators are decided without building result collections.
  Result<std::optional<bool>> EvalCondition(const Ast& node, const Scope& scope,
                                            std::string_view what);
  // Evaluates `node` and requires at most one item.
  Result<std::optional<Item>> EvalSingle(const Ast& node, const Scope& scope);
  // Evaluates argument `i` of `call` in `scope`.
  Result<Collection> Arg(const Ast& call, size_t i, const Scope& scope) {
    return Eval(*call.args[i], scope);
  }

  // Appends the children of `item` named `name` (choice elements expanded). Returns false
  // when `item` has a known FHIR type that has no element `name`.
  bool Member(const Item& item, std::string_view name, Collection& out) const {
    return Member(item, name, model_.Symbol(name), out);
  }
  // As above, with the name's TypeModel::Symbol computed at compile time.
  bool Member(const Item& item, std::string_view name, uint32_t symbol, Collection& out) const;
  // Appends all children of `item`.
  void AllChildren(const Item& item, Collection& out) const;
  // Item for a JSON value of FHIR type `type` (null: inferred from the JSON).
  Item MakeItem(json::Node value, const TypeInfo* type, std::optional<json::Node> ext) const;
  // Type test for is/as/ofType; error for unknown type names.
  // `exact` (as, ofType) does not accept FHIR primitive subtypes (code as string).
  Result<bool> IsType(const Item& item, const TypeSpec& type, bool exact = false) const;

  const Environment& env() const { return env_; }
  const Collection& resource() const { return resource_; }
  const TypeModel& model() const { return model_; }
  int64_t NowMs() const;

 private:
  // The two operands of a binary node, each evaluated through EvalRef.
  struct Operands {
    Collection left_storage, right_storage;
    const Collection* left = nullptr;
    const Collection* right = nullptr;
  };
  Status EvalOperands(const Ast& node, const Scope& scope, Operands& out);
  Result<Collection> EvalBinary(const Ast& node, const Scope& scope);
  // A Boolean-valued operator (comparison, equality, membership, logic); nullopt = empty.
  Result<std::optional<bool>> EvalBooleanOp(const Ast& node, const Scope& scope);
  Result<Collection> EvalMemberRoot(const Ast& node, const Scope& scope);
  // An invocation chain (node.chain) step by step, outside strict mode; stops early when the
  // collection is empty and every remaining step keeps it so.
  Result<Collection> EvalChain(const Ast& node, const Scope& scope);
  Status UnknownElement(const Ast& node, const Item& item) const;
  Status StrictCheck(const Ast& invoke) const;

  const Environment& env_;
  const Collection& context_;
  const Collection& resource_;
  const TypeModel& model_;
  mutable int64_t now_ms_ = INT64_MIN;
};

// A FHIR Quantity element (or Age, Duration, ...) as a System Quantity, built in `storage`;
// other items as they are, without a copy.
const Item& SystemValue(const Item& item, std::optional<Item>& storage);

// Singleton evaluation helpers shared by operators and functions.
// Converts a one-item collection to its item; error when there are more.
Result<std::optional<Item>> Singleton(const Collection& c, std::string_view what);
// As Singleton, without a copy: the item in `c` (valid while `c` lives), null when empty.
Result<const Item*> SingletonRef(const Collection& c, std::string_view what);
// Boolean value of a collection for logic (empty -> nullopt); error when not a single boolean.
Result<std::optional<bool>> ToBool(const Collection& c, std::string_view what);
// Equality of items; nullopt when undecidable (dates with different precision).
std::optional<bool> ItemsEqual(const Item& a, const Item& b);
bool ItemsEquivalent(const Item& a, const Item& b);
// Ordering of items; nullopt when not comparable or undecidable; error for mismatched kinds.
Result<std::optional<int>> CompareItems(const Item& a, const Item& b);
// Implements + - * / div mod & on single items (nullopt result = empty).
Result<std::optional<Item>> Arithmetic(BinaryOp op, const Item& a, const Item& b);
// Text used by string functions: String values as-is; other values through toString().
std::optional<std::string> StringOf(const Item& item);

}  // namespace medlake::fhirpath
