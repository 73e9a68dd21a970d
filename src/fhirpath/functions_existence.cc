// Existence, filtering and projection, subsetting and combining functions, and aggregate().
#include <algorithm>

#include "fhirpath/function_util.h"

namespace medlake::fhirpath {
namespace {

bool ContainsItem(const Collection& c, const Item& item) {
  for (const Item& x : c) {
    auto eq = ItemsEqual(x, item);
    if (eq && *eq) return true;
  }
  return false;
}

Collection Distinct(const Collection& in) {
  Collection out;
  for (const Item& item : in) {
    if (!ContainsItem(out, item)) out.push_back(item);
  }
  return out;
}

// Evaluates a criteria argument item by item as a Boolean (empty -> nullopt), with one $this
// collection for all items.
class Criteria {
 public:
  Criteria(Evaluator& ev, const Ast& arg, const Scope& scope) : ev_(ev), arg_(arg), scope_(scope) {
    scope_.this_coll = &one_;
  }
  Result<std::optional<bool>> operator()(const Item& item, size_t index) {
    if (one_.empty()) {
      one_.push_back(item);  // allocated on first use: criteria on empty input cost nothing
    } else {
      one_[0] = item;
    }
    scope_.index = int64_t(index);
    return ev_.EvalCondition(arg_, scope_, "criteria");
  }

 private:
  Evaluator& ev_;
  const Ast& arg_;
  Scope scope_;
  Collection one_;
};

MEDLAKE_FP_FN(Empty) {
  return Bool(in.empty());
}

MEDLAKE_FP_FN(Exists) {
  if (call.args.empty()) return Bool(!in.empty());
  Criteria criteria(ev, *call.args[0], scope);
  for (size_t i = 0; i < in.size(); ++i) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<bool> b, criteria(in[i], i));
    if (b && *b) return Bool(true);
  }
  return Bool(false);
}

MEDLAKE_FP_FN(All) {
  Criteria criteria(ev, *call.args[0], scope);
  for (size_t i = 0; i < in.size(); ++i) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<bool> b, criteria(in[i], i));
    if (!b || !*b) return Bool(false);
  }
  return Bool(true);
}

template <bool kAll, bool kValue>
MEDLAKE_FP_FN(BoolAggregate) {
  for (const Item& item : in) {
    if (item.kind != ValueKind::kBoolean) {
      return InvalidArgument("FHIRPath: " + call.name + "() needs Boolean items");
    }
    if (kAll && item.boolean != kValue) return Bool(false);
    if (!kAll && item.boolean == kValue) return Bool(true);
  }
  return Bool(kAll);
}

MEDLAKE_FP_FN(SubsetOf) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection other, ev.Arg(call, 0, scope));
  for (const Item& item : in) {
    if (!ContainsItem(other, item)) return Bool(false);
  }
  return Bool(true);
}

MEDLAKE_FP_FN(SupersetOf) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection other, ev.Arg(call, 0, scope));
  for (const Item& item : other) {
    if (!ContainsItem(in, item)) return Bool(false);
  }
  return Bool(true);
}

MEDLAKE_FP_FN(Count) {
  return One(Item::Integer(int64_t(in.size())));
}
MEDLAKE_FP_FN(DistinctFn) {
  return Distinct(in);
}
MEDLAKE_FP_FN(IsDistinct) {
  return Bool(Distinct(in).size() == in.size());
}

MEDLAKE_FP_FN(Where) {
  Collection out;
  Criteria criteria(ev, *call.args[0], scope);
  for (size_t i = 0; i < in.size(); ++i) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<bool> b, criteria(in[i], i));
    if (b && *b) out.push_back(in[i]);
  }
  return out;
}

MEDLAKE_FP_FN(Select) {
  return ev.EvalPerItem(*call.args[0], in, scope);
}

// repeat() stops when no new item comes (N1 §5.2.8), which a projection that always makes new
// ones never gives (`repeat($this + 1)`): past kMaxRepeatLevels rounds or kMaxRepeatItems
// items it is an error, not a hang that fills memory. (A real tree, a Questionnaire's items,
// is tens of levels and hundreds of items; each new item is compared with every one before.)
constexpr size_t kMaxRepeatLevels = 1000;
constexpr size_t kMaxRepeatItems = 10000;

MEDLAKE_FP_FN(Repeat) {
  Collection out;
  Collection frontier = in;
  for (size_t level = 0; !frontier.empty(); ++level) {
    if (level == kMaxRepeatLevels) {
      return InvalidArgument("repeat() went more than " + std::to_string(kMaxRepeatLevels) +
                             " levels deep: its projection keeps making new items");
    }
    MEDLAKE_ASSIGN_OR_RETURN(Collection next, ev.EvalPerItem(*call.args[0], frontier, scope));
    frontier.clear();
    for (Item& item : next) {
      if (ContainsItem(out, item)) continue;
      if (out.size() == kMaxRepeatItems) {
        return InvalidArgument("repeat() gave more than " + std::to_string(kMaxRepeatItems) +
                               " items: its projection keeps making new ones");
      }
      out.push_back(item);
      frontier.push_back(std::move(item));
    }
  }
  return out;
}

MEDLAKE_FP_FN(OfType) {
  Collection out;
  for (const Item& item : in) {
    MEDLAKE_ASSIGN_OR_RETURN(bool match, ev.IsType(item, call.type, true));
    if (match) out.push_back(item);
  }
  return out;
}

MEDLAKE_FP_FN(IsFn) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> item, Input(in, call));
  if (!item) return Collection{};
  MEDLAKE_ASSIGN_OR_RETURN(bool match, ev.IsType(*item, call.type));
  return Bool(match);
}

MEDLAKE_FP_FN(AsFn) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> item, Input(in, call));
  if (!item) return Collection{};
  MEDLAKE_ASSIGN_OR_RETURN(bool match, ev.IsType(*item, call.type, true));
  return match ? One(*item) : Collection{};
}

MEDLAKE_FP_FN(Single) {
  if (in.size() > 1)
    return InvalidArgument("FHIRPath: single() on " + std::to_string(in.size()) + " items");
  return in;
}
MEDLAKE_FP_FN(First) {
  return in.empty() ? Collection{} : One(in.front());
}
MEDLAKE_FP_FN(Last) {
  return in.empty() ? Collection{} : One(in.back());
}
MEDLAKE_FP_FN(Tail) {
  return in.empty() ? Collection{} : Collection(in.begin() + 1, in.end());
}

MEDLAKE_FP_FN(Skip) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<int64_t> n, IntArg(ev, call, 0, scope));
  if (!n) return Collection{};
  if (*n <= 0) return in;
  if (*n >= int64_t(in.size())) return Collection{};
  return Collection(in.begin() + *n, in.end());
}

MEDLAKE_FP_FN(Take) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<int64_t> n, IntArg(ev, call, 0, scope));
  if (!n || *n <= 0) return Collection{};
  if (*n >= int64_t(in.size())) return in;
  return Collection(in.begin(), in.begin() + *n);
}

MEDLAKE_FP_FN(Intersect) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection other, ev.Arg(call, 0, scope));
  Collection out;
  for (const Item& item : in) {
    if (ContainsItem(other, item) && !ContainsItem(out, item)) out.push_back(item);
  }
  return out;
}

MEDLAKE_FP_FN(Exclude) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection other, ev.Arg(call, 0, scope));
  Collection out;
  for (const Item& item : in) {
    if (!ContainsItem(other, item)) out.push_back(item);
  }
  return out;
}

MEDLAKE_FP_FN(Union) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection other, ev.Arg(call, 0, scope));
  Collection all = in;
  all.insert(all.end(), other.begin(), other.end());
  return Distinct(all);
}

MEDLAKE_FP_FN(Combine) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection other, ev.Arg(call, 0, scope));
  Collection all = in;
  all.insert(all.end(), other.begin(), other.end());
  return all;
}

MEDLAKE_FP_FN(Not) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> item, Input(in, call));
  if (!item) return Collection{};
  return Bool(item->kind == ValueKind::kBoolean ? !item->boolean : false);
}

MEDLAKE_FP_FN(Iif) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> self, Input(in, call));
  Collection focus = self ? Collection{*self} : Collection{};
  Scope inner = scope;
  inner.this_coll = &focus;
  MEDLAKE_ASSIGN_OR_RETURN(Collection crit, ev.Eval(*call.args[0], inner));
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> c, Singleton(crit, "iif() criterion"));
  if (c && c->kind != ValueKind::kBoolean) {
    return InvalidArgument("FHIRPath: iif() criterion must be Boolean");
  }
  if (c && c->boolean) return ev.Eval(*call.args[1], inner);
  if (call.args.size() > 2) return ev.Eval(*call.args[2], inner);
  return Collection{};
}

MEDLAKE_FP_FN(Aggregate) {
  Collection total;
  if (call.args.size() > 1) {
    MEDLAKE_ASSIGN_OR_RETURN(total, ev.Arg(call, 1, scope));
  }
  Collection one(1);
  for (size_t i = 0; i < in.size(); ++i) {
    one[0] = in[i];
    Scope inner = scope;
    inner.this_coll = &one;
    inner.index = int64_t(i);
    inner.total = &total;
    MEDLAKE_ASSIGN_OR_RETURN(Collection next, ev.Eval(*call.args[0], inner));
    total = std::move(next);
  }
  return total;
}

MEDLAKE_FP_FN(Trace) {
  if (ev.env().trace) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> name, StringArg(ev, call, 0, scope));
    if (call.args.size() > 1) {
      MEDLAKE_ASSIGN_OR_RETURN(Collection projected, ev.EvalPerItem(*call.args[1], in, scope));
      ev.env().trace(name.value_or(""), projected);
    } else {
      ev.env().trace(name.value_or(""), in);
    }
  }
  return in;
}

// sort([key, ...]): keys prefixed with unary '-' sort descending; empty keys sort first.
MEDLAKE_FP_FN(Sort) {
  struct Keyed {
    Item item;
    std::vector<std::optional<Item>> keys;
  };
  std::vector<Keyed> rows;
  for (size_t i = 0; i < in.size(); ++i) {
    Keyed row{in[i], {}};
    if (call.args.empty()) row.keys.push_back(in[i]);
    for (const auto& arg : call.args) {
      const Ast* key = arg.get();
      if (key->kind == AstKind::kUnary && key->op == BinaryOp::kMinus) key = key->args[0].get();
      Collection one{in[i]};
      Scope inner = scope;
      inner.this_coll = &one;
      inner.index = int64_t(i);
      MEDLAKE_ASSIGN_OR_RETURN(Collection k, ev.Eval(*key, inner));
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> single, Singleton(k, "sort key"));
      row.keys.push_back(single);
    }
    rows.push_back(std::move(row));
  }
  Status error;
  std::stable_sort(rows.begin(), rows.end(), [&](const Keyed& a, const Keyed& b) {
    for (size_t k = 0; k < a.keys.size(); ++k) {
      bool descending = k < call.args.size() && call.args[k]->kind == AstKind::kUnary &&
                        call.args[k]->op == BinaryOp::kMinus;
      const auto& x = a.keys[k];
      const auto& y = b.keys[k];
      if (!x || !y) {
        if (!x && !y) continue;
        return !x;  // empty keys first, in both directions
      }
      auto c = CompareItems(*x, *y);
      if (!c.ok()) {
        error = c.status();
        return false;
      }
      if (!c->has_value() || **c == 0) continue;
      return descending ? **c > 0 : **c < 0;
    }
    return false;
  });
  if (!error.ok()) return error;
  Collection out;
  for (Keyed& row : rows) out.push_back(std::move(row.item));
  return out;
}

}  // namespace

void AddExistenceFunctions(std::vector<FunctionDef>& t) {
  t.push_back({"empty", 0, 0, Empty});
  t.push_back({"exists", 0, 1, Exists});
  t.push_back({"all", 1, 1, All});
  t.push_back({"allTrue", 0, 0, BoolAggregate<true, true>});
  t.push_back({"anyTrue", 0, 0, BoolAggregate<false, true>});
  t.push_back({"allFalse", 0, 0, BoolAggregate<true, false>});
  t.push_back({"anyFalse", 0, 0, BoolAggregate<false, false>});
  t.push_back({"subsetOf", 1, 1, SubsetOf});
  t.push_back({"supersetOf", 1, 1, SupersetOf});
  t.push_back({"count", 0, 0, Count});
  t.push_back({"distinct", 0, 0, DistinctFn});
  t.push_back({"isDistinct", 0, 0, IsDistinct});
  t.push_back({"where", 1, 1, Where});
  t.push_back({"select", 1, 1, Select});
  t.push_back({"repeat", 1, 1, Repeat});
  t.push_back({"ofType", 1, 1, OfType, true});
  t.push_back({"is", 1, 1, IsFn, true});
  t.push_back({"as", 1, 1, AsFn, true});
  t.push_back({"single", 0, 0, Single});
  t.push_back({"first", 0, 0, First});
  t.push_back({"last", 0, 0, Last});
  t.push_back({"tail", 0, 0, Tail});
  t.push_back({"skip", 1, 1, Skip});
  t.push_back({"take", 1, 1, Take});
  t.push_back({"intersect", 1, 1, Intersect});
  t.push_back({"exclude", 1, 1, Exclude});
  t.push_back({"union", 1, 1, Union});
  t.push_back({"combine", 1, 1, Combine});
  t.push_back({"not", 0, 0, Not});
  t.push_back({"iif", 2, 3, Iif});
  t.push_back({"aggregate", 1, 2, Aggregate});
  t.push_back({"trace", 1, 2, Trace});
  t.push_back({"sort", 0, 8, Sort});
}

}  // namespace medlake::fhirpath
