// Equality, equivalence, ordering, arithmetic and the binary operators of FHIRPath.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

#include "fhirpath/evaluator.h"
#include "fhirpath/types.h"

namespace medlake::fhirpath {
namespace {

std::string NormalizeForEquivalence(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool SameTemporalFamily(const Item& a, const Item& b) {
  auto family = [](ValueKind k) { return k == ValueKind::kTime ? 1 : 0; };
  return a.IsTemporal() && b.IsTemporal() && family(a.kind) == family(b.kind);
}

ValueKind TemporalCompareKind(const Item& a, const Item& b) {
  if (a.kind == ValueKind::kTime) return ValueKind::kTime;
  if (a.kind == ValueKind::kDate && b.kind == ValueKind::kDate) return ValueKind::kDate;
  return ValueKind::kDateTime;
}

// `v` rounded to `scale` decimal digits, the double nearest to that decimal, so that the
// binary error of a computation (3 'm' in 'cm' is 299.99999999999994) does not show in
// comparisons; unchanged when the scale is unknown (< 0) or beyond what a double holds.
double RoundToScale(double v, int scale) {
  if (scale < 0 || scale > 15 || !std::isfinite(v)) return v;
  char buf[400];  // a double in fixed notation: up to 309 digits before the point
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, scale);
  double r = v;
  if (ec == std::errc()) std::from_chars(buf, end, r);
  return r;
}

// Scale of a sum, difference or remainder: the larger of the operands'; unknown (-1) when
// either is (it was taken as 0 then: 72.50 'kg' read from a resource, of unknown scale, plus
// 250 'g' printed 73 'kg').
int AddScale(const Item& a, const Item& b) {
  int sa = a.kind == ValueKind::kInteger ? 0 : DecimalScale(a);
  int sb = b.kind == ValueKind::kInteger ? 0 : DecimalScale(b);
  return sa < 0 || sb < 0 ? -1 : std::max(sa, sb);
}

// Scale of a product: the operands' scales add up; unknown (-1) stays unknown.
int MulScale(const Item& a, const Item& b) {
  int sa = a.kind == ValueKind::kInteger ? 0 : DecimalScale(a);
  int sb = b.kind == ValueKind::kInteger ? 0 : DecimalScale(b);
  return sa < 0 || sb < 0 ? -1 : sa + sb;
}

std::string_view CalendarFromUcum(std::string_view u) {
  if (u == "wk") return "week";
  if (u == "d") return "day";
  if (u == "h") return "hour";
  if (u == "min") return "minute";
  if (u == "s") return "second";
  if (u == "ms") return "millisecond";
  return {};
}

// A FHIR primitive element that has extensions but no value (`"_birthDate": {...}` alone): it
// has no System value, so comparisons and arithmetic on it are empty (FHIRPath 2.1.9.1.5:
// primitives are compared by their value).
bool HasNoValue(const Item& item) {
  return item.kind == ValueKind::kNode && item.type != nullptr &&
         item.type->kind == TypeKind::kPrimitive;
}

// Integer +, -, *, div and mod. N1 §6.6 Math: "Operations that cause arithmetic overflow or
// underflow will result in empty ({ })": nullopt then, and for a zero divisor. (The 64-bit
// operations wrapped, and INT64_MIN mod -1 raised SIGFPE.)
std::optional<int64_t> IntegerArithmetic(BinaryOp op, int64_t a, int64_t b) {
  int64_t r = 0;
  switch (op) {
    case BinaryOp::kPlus:
      if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
      return r;
    case BinaryOp::kMinus:
      if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
      return r;
    case BinaryOp::kMul:
      if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
      return r;
    case BinaryOp::kIntDiv:
      if (b == 0 || (a == INT64_MIN && b == -1)) return std::nullopt;
      return a / b;  // C++ truncates, as N1's div
    case BinaryOp::kMod:
      if (b == 0) return std::nullopt;
      return b == -1 ? 0 : a % b;
    default:
      return std::nullopt;
  }
}

// Scale of quantity `q` converted by `factor` (units of the target per unit of q; UCUM
// conversions are linear, value.h ConvertUnit): a factor 10^k takes k digits off (2.5 'm' is
// 250 'cm', scale 0); another factor ([lb_av] to g) makes it unknown.
int ConvertedScale(const Item& q, double factor) {
  const int scale = DecimalScale(q);
  // (ConvertUnit's factors are finite, but the inverse of a tiny one is not.)
  if (scale < 0 || !(factor > 0) || !std::isfinite(factor)) return -1;
  const double k = std::round(std::log10(factor));
  if (std::fabs(factor / std::pow(10.0, k) - 1) > 1e-9) return -1;
  return std::max(scale - int(k), 0);
}

// `v` rounded to 15 significant digits (what a double holds), as a decimal.
double RoundToSignificant(double v) {
  if (!std::isfinite(v)) return v;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific, 14);
  double r = v;
  std::from_chars(buf, end, r);
  return r;
}

// Numbers compare exactly (N1 §6.1.1 Equality: Decimal and Integer "comparison is based on
// the values"): in long double, which holds every int64 and every double exactly. A relative
// tolerance of 1e-12 made 1000000000001.0 = 1000000000000.0 true, and a union dropped one.
int CompareNumbers(const Item& a, const Item& b) {
  if (a.kind == ValueKind::kInteger && b.kind == ValueKind::kInteger) {
    return (a.integer > b.integer) - (a.integer < b.integer);
  }
  auto wide = [](const Item& x) {
    return x.kind == ValueKind::kInteger ? static_cast<long double>(x.integer)
                                         : static_cast<long double>(x.decimal);
  };
  const long double x = wide(a), y = wide(b);
  return (x > y) - (x < y);
}

// Quantity `q` converted to `unit` (commensurable), rounded as a decimal: to its scale when the
// factor is a power of ten (3 'm' is 300 'cm', not 299.99999999999994), else to 15
// significant digits, so that the binary error of a conversion does not decide a comparison.
Item ConvertQuantity(const Item& q, std::string_view unit, double factor) {
  const int scale = ConvertedScale(q, factor);
  const double value = q.decimal * factor;
  return Item::Quantity(scale >= 0 ? RoundToScale(value, scale) : RoundToSignificant(value), scale,
                        std::string(unit));
}

// The two quantities in the finer unit of the two (N1 §6.6: "The unit of the result will be
// the most granular unit of either input"), or in the coarser one (equivalence, whose
// precision is the least precise operand's: 4 'g' ~ 4040 'mg'); nullopt when they are not
// commensurable.
enum class Unit { kFiner, kCoarser };
std::optional<std::pair<Item, Item>> InCommonUnit(const Item& a, const Item& b,
                                                  Unit which = Unit::kFiner) {
  if (a.str == b.str) return std::pair<Item, Item>(a, b);
  // b's units per a's, the units parsed once (UCUM conversions are linear).
  auto factor = ConvertUnit(1.0, a.str, b.str);
  if (!factor || *factor <= 0) return std::nullopt;
  if ((*factor > 1) == (which == Unit::kFiner)) {
    return std::pair<Item, Item>(ConvertQuantity(a, b.str, *factor), b);
  }
  return std::pair<Item, Item>(a, ConvertQuantity(b, a.str, 1 / *factor));
}

}  // namespace

const Item& SystemValue(const Item& item, std::optional<Item>& storage) {
  static const TypeInfo* quantity = TypeModel::R4().Find("Quantity");
  if (item.kind != ValueKind::kNode || item.type == nullptr || !TypeModel::IsA(item.type, quantity))
    return item;
  auto value = item.node.Find("value");
  if (!value || !value->IsNumber()) return item;
  std::string unit;
  auto system = item.node.Find("system");
  auto code = item.node.Find("code");
  if (code && (!system || system->GetString() == "http://unitsofmeasure.org")) {
    unit = std::string(code->GetString());
  } else if (auto u = item.node.Find("unit")) {
    unit = std::string(u->GetString());
  }
  storage = Item::Quantity(value->GetDouble(), kScaleFromSource, unit.empty() ? "1" : unit);
  storage->node = *value;  // DecimalScale reads the value's source text (72.50: 2 digits)
  return *storage;
}

Result<const Item*> SingletonRef(const Collection& c, std::string_view what) {
  if (c.size() > 1) {
    return InvalidArgument("FHIRPath: " + std::string(what) + " needs a single item, got " +
                           std::to_string(c.size()));
  }
  return c.empty() ? nullptr : &c[0];
}

Result<std::optional<Item>> Singleton(const Collection& c, std::string_view what) {
  MEDLAKE_ASSIGN_OR_RETURN(const Item* item, SingletonRef(c, what));
  return item == nullptr ? std::optional<Item>() : std::optional<Item>(*item);
}

Result<std::optional<bool>> ToBool(const Collection& c, std::string_view what) {
  MEDLAKE_ASSIGN_OR_RETURN(const Item* item, SingletonRef(c, what));
  if (item == nullptr) return std::optional<bool>();
  if (item->kind == ValueKind::kBoolean) return std::optional<bool>(item->boolean);
  return std::optional<bool>(true);
}

std::optional<bool> ItemsEqual(const Item& a_in, const Item& b_in) {
  if (HasNoValue(a_in) || HasNoValue(b_in)) return std::nullopt;
  std::optional<Item> a_storage, b_storage;
  const Item& a = SystemValue(a_in, a_storage);
  const Item& b = SystemValue(b_in, b_storage);
  if (a.IsNumber() && b.IsNumber()) {
    return CompareNumbers(a, b) == 0;
  }
  if (SameTemporalFamily(a, b)) {
    auto c = CompareTemporal(a.dt, b.dt, TemporalCompareKind(a, b));
    if (!c) return std::nullopt;
    return *c == 0;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::kBoolean:
      return a.boolean == b.boolean;
    case ValueKind::kString:
      return a.Text() == b.Text();
    case ValueKind::kQuantity: {
      auto common = InCommonUnit(a, b);
      if (!common) return std::nullopt;
      return common->first.decimal == common->second.decimal;
    }
    case ValueKind::kNode:
      if (!a.node.IsObject() || !b.node.IsObject()) return false;
      return a.node.ToJson() == b.node.ToJson();
    default:
      return false;
  }
}

bool ItemsEquivalent(const Item& a_in, const Item& b_in) {
  if (HasNoValue(a_in) || HasNoValue(b_in)) return HasNoValue(a_in) && HasNoValue(b_in);
  std::optional<Item> a_storage, b_storage;
  const Item& a = SystemValue(a_in, a_storage);
  const Item& b = SystemValue(b_in, b_storage);
  if (a.IsNumber() && b.IsNumber()) {
    // N1 §6.1.3 Equivalence: "comparison is done on values rounded to the precision of the
    // least precise operand".
    auto scale_of = [](const Item& x) {
      return x.kind == ValueKind::kInteger ? 0 : (DecimalScale(x) < 0 ? 15 : DecimalScale(x));
    };
    int scale = std::min(scale_of(a), scale_of(b));
    return RoundToScale(a.AsDouble(), scale) == RoundToScale(b.AsDouble(), scale);
  }
  if (SameTemporalFamily(a, b)) {
    auto c = CompareTemporal(a.dt, b.dt, TemporalCompareKind(a, b));
    return c && *c == 0;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::kString:
      return NormalizeForEquivalence(a.Text()) == NormalizeForEquivalence(b.Text());
    case ValueKind::kQuantity: {
      std::string_view au = CalendarFromUcum(a.str).empty() ? a.str : CalendarFromUcum(a.str);
      std::string_view bu = CalendarFromUcum(b.str).empty() ? b.str : CalendarFromUcum(b.str);
      if ((au == "year" && bu == "a") || (au == "a" && bu == "year") ||
          (au == "month" && bu == "mo") || (au == "mo" && bu == "month")) {
        return a.decimal == b.decimal;
      }
      auto common = InCommonUnit(a, b, Unit::kCoarser);
      if (!common) return false;
      const Item& x = common->first;
      const Item& y = common->second;
      int scale = std::min(DecimalScale(x) < 0 ? 15 : DecimalScale(x),
                           DecimalScale(y) < 0 ? 15 : DecimalScale(y));
      return RoundToScale(x.decimal, scale) == RoundToScale(y.decimal, scale);
    }
    default: {
      auto eq = ItemsEqual(a, b);
      return eq && *eq;
    }
  }
}

Result<std::optional<int>> CompareItems(const Item& a_in, const Item& b_in) {
  if (HasNoValue(a_in) || HasNoValue(b_in)) return std::optional<int>();
  std::optional<Item> a_storage, b_storage;
  const Item& a = SystemValue(a_in, a_storage);
  const Item& b = SystemValue(b_in, b_storage);
  if (a.IsNumber() && b.IsNumber()) return std::optional<int>(CompareNumbers(a, b));
  if (SameTemporalFamily(a, b)) return CompareTemporal(a.dt, b.dt, TemporalCompareKind(a, b));
  if (a.kind == ValueKind::kString && b.kind == ValueKind::kString) {
    int c = a.Text().compare(b.Text());
    return std::optional<int>(c < 0 ? -1 : (c > 0 ? 1 : 0));
  }
  if (a.kind == ValueKind::kQuantity && b.kind == ValueKind::kQuantity) {
    auto common = InCommonUnit(a, b);
    if (!common) return std::optional<int>();
    const double x = common->first.decimal, y = common->second.decimal;
    return std::optional<int>((x > y) - (x < y));
  }
  return InvalidArgument("FHIRPath: cannot compare " + std::string(SystemTypeName(a.kind)) +
                         " with " + std::string(SystemTypeName(b.kind)));
}

std::optional<std::string> StringOf(const Item& item) {
  if (item.kind == ValueKind::kString) return std::string(item.Text());
  if (item.kind == ValueKind::kNode) return std::nullopt;
  return ItemToString(item);
}

namespace {

Result<std::optional<Item>> ArithmeticOf(BinaryOp op, const Item& a_in, const Item& b_in) {
  if (HasNoValue(a_in) || HasNoValue(b_in)) return std::optional<Item>();
  std::optional<Item> a_storage, b_storage;
  const Item& a = SystemValue(a_in, a_storage);
  const Item& b = SystemValue(b_in, b_storage);
  using R = std::optional<Item>;
  auto error = [&]() -> Status {
    return InvalidArgument("FHIRPath: operator not defined for " +
                           std::string(SystemTypeName(a.kind)) + " and " +
                           std::string(SystemTypeName(b.kind)));
  };
  if (op == BinaryOp::kConcat ||
      (op == BinaryOp::kPlus && a.kind == ValueKind::kString && b.kind == ValueKind::kString)) {
    if (a.kind != ValueKind::kString || b.kind != ValueKind::kString) return error();
    return R(Item::String(std::string(a.Text()) + std::string(b.Text())));
  }
  if (a.IsNumber() && b.IsNumber()) {
    bool ints = a.kind == ValueKind::kInteger && b.kind == ValueKind::kInteger;
    double x = a.AsDouble(), y = b.AsDouble();
    const int scale = AddScale(a, b);
    if (ints && op != BinaryOp::kDiv) {
      if (op != BinaryOp::kPlus && op != BinaryOp::kMinus && op != BinaryOp::kMul &&
          op != BinaryOp::kIntDiv && op != BinaryOp::kMod) {
        return error();
      }
      std::optional<int64_t> r = IntegerArithmetic(op, a.integer, b.integer);
      return r ? R(Item::Integer(*r)) : R();
    }
    // Results of known scale are rounded to it, as a decimal result would be exact: 0.1 + 0.2
    // is 0.3, not 0.30000000000000004 (equality is exact).
    switch (op) {
      case BinaryOp::kPlus:
        return R(Item::Decimal(RoundToScale(x + y, scale), scale));
      case BinaryOp::kMinus:
        return R(Item::Decimal(RoundToScale(x - y, scale), scale));
      case BinaryOp::kMul:
        return R(Item::Decimal(RoundToScale(x * y, MulScale(a, b)), MulScale(a, b)));
      case BinaryOp::kDiv:
        if (y == 0) return R();
        return R(Item::Decimal(x / y, -1));
      case BinaryOp::kIntDiv: {
        if (y == 0) return R();
        std::optional<int64_t> q = WholeToInteger(std::trunc(x / y));
        return q ? R(Item::Integer(*q)) : R();
      }
      case BinaryOp::kMod:
        if (y == 0) return R();
        return R(Item::Decimal(RoundToScale(std::fmod(x, y), scale), scale));
      default:
        return error();
    }
  }
  if (a.IsTemporal() && b.kind == ValueKind::kQuantity &&
      (op == BinaryOp::kPlus || op == BinaryOp::kMinus)) {
    std::string_view unit = b.str;
    if (!CalendarFromUcum(unit).empty())
      unit = CalendarFromUcum(unit);
    else if (CalendarUnit(unit).empty())
      return error();
    Item r = a;
    r.type = nullptr;
    r.has_ext = false;
    double amount = op == BinaryOp::kMinus ? -b.decimal : b.decimal;
    switch (AddToTemporal(r.dt, r.kind, amount, unit)) {
      case TemporalSum::kOk:
        return R(r);
      case TemporalSum::kOutOfRange:
        return R();
      case TemporalSum::kBadUnit:
        break;
    }
    return error();
  }
  if (a.kind == ValueKind::kQuantity && b.kind == ValueKind::kQuantity) {
    if (op == BinaryOp::kPlus || op == BinaryOp::kMinus) {
      // N1 §6.6: "The unit of the result will be the most granular unit of either input"
      // (3 'm' - 25 'cm' is 275 'cm'; it was 3 'm', rounded to the scale of 3).
      auto common = InCommonUnit(a, b);
      if (!common) return R();
      const Item& x = common->first;
      const Item& y = common->second;
      double v = op == BinaryOp::kPlus ? x.decimal + y.decimal : x.decimal - y.decimal;
      const int scale = AddScale(x, y);
      return R(Item::Quantity(RoundToScale(v, scale), scale, x.str));
    }
    if (op == BinaryOp::kMul || op == BinaryOp::kDiv) {
      auto ca = Canonicalize(a.decimal, a.str);
      auto cb = Canonicalize(b.decimal, b.str);
      if (!ca || !cb) return R();
      if (op == BinaryOp::kDiv && cb->value == 0) return R();
      std::vector<int> dims(ca->dims.size());
      for (size_t i = 0; i < dims.size(); ++i)
        dims[i] = op == BinaryOp::kMul ? ca->dims[i] + cb->dims[i] : ca->dims[i] - cb->dims[i];
      double v = op == BinaryOp::kMul ? ca->value * cb->value : ca->value / cb->value;
      // Keep the operands' unit when dividing like by like, else report in base units.
      if (op == BinaryOp::kMul && a.str == "1")
        return R(Item::Quantity(a.decimal * b.decimal, -1, b.str));
      if (op == BinaryOp::kMul && b.str == "1")
        return R(Item::Quantity(a.decimal * b.decimal, -1, a.str));
      return R(Item::Quantity(v, -1, UnitFromDims(dims)));
    }
    return error();
  }
  if (a.kind == ValueKind::kQuantity && b.IsNumber() &&
      (op == BinaryOp::kMul || op == BinaryOp::kDiv)) {
    if (op == BinaryOp::kDiv && b.AsDouble() == 0) return R();
    double v = op == BinaryOp::kMul ? a.decimal * b.AsDouble() : a.decimal / b.AsDouble();
    return R(Item::Quantity(v, -1, a.str));
  }
  if (b.kind == ValueKind::kQuantity && a.IsNumber() && op == BinaryOp::kMul) {
    return R(Item::Quantity(a.AsDouble() * b.decimal, -1, b.str));
  }
  return error();
}

}  // namespace

Result<std::optional<Item>> Arithmetic(BinaryOp op, const Item& a_in, const Item& b_in) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> r, ArithmeticOf(op, a_in, b_in));
  // A Decimal or Quantity beyond the range of doubles: overflow is empty (N1 §6.6).
  if (r && (r->kind == ValueKind::kDecimal || r->kind == ValueKind::kQuantity) &&
      !std::isfinite(r->decimal)) {
    return std::optional<Item>();
  }
  return r;
}

namespace {

bool Contains(const Collection& c, const Item& item) {
  for (const Item& x : c) {
    auto eq = ItemsEqual(x, item);
    if (eq && *eq) return true;
  }
  return false;
}

Collection Boolean(std::optional<bool> b) {
  if (!b) return {};
  return Collection{Item::Boolean(*b)};
}

// Operators whose result is a Boolean or empty (Evaluator::EvalBooleanOp).
bool IsBooleanOp(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAnd:
    case BinaryOp::kOr:
    case BinaryOp::kXor:
    case BinaryOp::kImplies:
    case BinaryOp::kEq:
    case BinaryOp::kNe:
    case BinaryOp::kEquiv:
    case BinaryOp::kNotEquiv:
    case BinaryOp::kIn:
    case BinaryOp::kContains:
    case BinaryOp::kLt:
    case BinaryOp::kGt:
    case BinaryOp::kLe:
    case BinaryOp::kGe:
      return true;
    default:
      return false;
  }
}

}  // namespace

Status Evaluator::EvalOperands(const Ast& node, const Scope& scope, Operands& out) {
  MEDLAKE_ASSIGN_OR_RETURN(out.left, EvalRef(*node.args[0], scope, out.left_storage));
  MEDLAKE_ASSIGN_OR_RETURN(out.right, EvalRef(*node.args[1], scope, out.right_storage));
  return Status::Ok();
}

Result<std::optional<bool>> Evaluator::EvalCondition(const Ast& node, const Scope& scope,
                                                     std::string_view what) {
  if (node.kind == AstKind::kBinary && IsBooleanOp(node.op)) return EvalBooleanOp(node, scope);
  MEDLAKE_ASSIGN_OR_RETURN(Collection c, Eval(node, scope));
  return ToBool(c, what);
}

Result<std::optional<bool>> Evaluator::EvalBooleanOp(const Ast& node, const Scope& scope) {
  using B = std::optional<bool>;
  BinaryOp op = node.op;
  if (op == BinaryOp::kAnd || op == BinaryOp::kOr || op == BinaryOp::kXor ||
      op == BinaryOp::kImplies) {
    MEDLAKE_ASSIGN_OR_RETURN(B l, EvalCondition(*node.args[0], scope, "logical operand"));
    if (op == BinaryOp::kAnd && l && !*l) return B(false);
    if (op == BinaryOp::kOr && l && *l) return B(true);
    if (op == BinaryOp::kImplies && l && !*l) return B(true);
    MEDLAKE_ASSIGN_OR_RETURN(B r, EvalCondition(*node.args[1], scope, "logical operand"));
    switch (op) {
      case BinaryOp::kAnd:
        if (r && !*r) return B(false);
        if (l && r) return B(true);
        return B();
      case BinaryOp::kOr:
        if (r && *r) return B(true);
        if (l && r) return B(false);
        return B();
      case BinaryOp::kXor:
        if (!l || !r) return B();
        return B(*l != *r);
      default:  // implies, l is true or empty
        if (r && *r) return B(true);
        if (l && r) return B(false);
        return B();
    }
  }
  Operands operands;
  MEDLAKE_RETURN_IF_ERROR(EvalOperands(node, scope, operands));
  const Collection& left = *operands.left;
  const Collection& right = *operands.right;
  switch (op) {
    case BinaryOp::kEq:
    case BinaryOp::kNe: {
      if (left.empty() || right.empty()) return B();
      bool ne = op == BinaryOp::kNe;
      if (left.size() != right.size()) return B(ne);
      for (size_t i = 0; i < left.size(); ++i) {
        auto eq = ItemsEqual(left[i], right[i]);
        if (!eq) return B();
        if (!*eq) return B(ne);
      }
      return B(!ne);
    }
    case BinaryOp::kEquiv:
    case BinaryOp::kNotEquiv: {
      bool result = left.size() == right.size();
      for (size_t i = 0; result && i < left.size(); ++i) {
        bool found = false;
        for (const Item& r : right) found = found || ItemsEquivalent(left[i], r);
        result = found;
      }
      return B(op == BinaryOp::kEquiv ? result : !result);
    }
    case BinaryOp::kIn:
    case BinaryOp::kContains: {
      const Collection& needle = op == BinaryOp::kIn ? left : right;
      const Collection& hay = op == BinaryOp::kIn ? right : left;
      MEDLAKE_ASSIGN_OR_RETURN(const Item* item, SingletonRef(needle, "membership"));
      if (item == nullptr) return B();
      return B(Contains(hay, *item));
    }
    default: {  // < > <= >=
      MEDLAKE_ASSIGN_OR_RETURN(const Item* a, SingletonRef(left, "comparison"));
      MEDLAKE_ASSIGN_OR_RETURN(const Item* b, SingletonRef(right, "comparison"));
      if (a == nullptr || b == nullptr) return B();
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<int> c, CompareItems(*a, *b));
      if (!c) return B();
      switch (op) {
        case BinaryOp::kLt:
          return B(*c < 0);
        case BinaryOp::kGt:
          return B(*c > 0);
        case BinaryOp::kLe:
          return B(*c <= 0);
        default:
          return B(*c >= 0);
      }
    }
  }
}

Result<Collection> Evaluator::EvalBinary(const Ast& node, const Scope& scope) {
  BinaryOp op = node.op;
  if (IsBooleanOp(op)) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<bool> b, EvalBooleanOp(node, scope));
    return Boolean(b);
  }
  Operands operands;
  MEDLAKE_RETURN_IF_ERROR(EvalOperands(node, scope, operands));
  const Collection& left = *operands.left;
  const Collection& right = *operands.right;
  switch (op) {
    case BinaryOp::kUnion: {
      Collection out;
      for (const Collection* c : {&left, &right}) {
        for (const Item& item : *c) {
          if (!Contains(out, item)) out.push_back(item);
        }
      }
      return out;
    }
    case BinaryOp::kConcat: {
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> a, Singleton(left, "'&'"));
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> b, Singleton(right, "'&'"));
      Item ea = a ? *a : Item::String("");
      Item eb = b ? *b : Item::String("");
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> r, Arithmetic(op, ea, eb));
      return r ? Collection{*r} : Collection{};
    }
    default: {
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> a, Singleton(left, "arithmetic"));
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> b, Singleton(right, "arithmetic"));
      if (!a || !b) return Collection{};
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> r, Arithmetic(op, *a, *b));
      return r ? Collection{*r} : Collection{};
    }
  }
}

std::string FormatDecimal(double v, int scale) {
  // Plain notation (a FHIRPath decimal has no exponent); 1e308 with 15 decimals fits.
  char buf[400];
  std::string s;
  if (scale >= 0 && scale <= 15) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, scale);
    s.assign(buf, ec == std::errc() ? end : buf);
  } else if (std::isfinite(v)) {
    // The shortest digits that read back as `v` (printf's "%.15g" dropped digits:
    // 1234567.123456789 came out as 1234567.12345679), moved around the point.
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string sci(buf, end);
    bool negative = !sci.empty() && sci[0] == '-';
    if (negative) sci.erase(0, 1);
    size_t e = sci.find('e');
    std::string digits;
    for (char c : sci.substr(0, e)) {
      if (c != '.') digits.push_back(c);
    }
    const long point = std::strtol(sci.c_str() + e + 1, nullptr, 10) + 1;
    const long n = static_cast<long>(digits.size());
    if (negative) s.push_back('-');
    if (point <= 0) {
      s += "0.";
      s.append(static_cast<size_t>(-point), '0');
      s += digits;
    } else if (point >= n) {
      s += digits;
      s.append(static_cast<size_t>(point - n), '0');
    } else {
      s.append(digits, 0, static_cast<size_t>(point));
      s.push_back('.');
      s.append(digits, static_cast<size_t>(point));
    }
  } else {
    return std::isnan(v) ? "NaN" : (v < 0 ? "-Infinity" : "Infinity");
  }
  // No negative zero ("-0", "-0.00").
  if (s.starts_with('-') && s.find_first_of("123456789") == std::string::npos) s.erase(0, 1);
  // A decimal beyond 64-bit integers keeps a fraction: written without one, JSON readers
  // (medlake's own) take it for an integer that does not fit, and the value is lost.
  if (std::fabs(v) >= 9.2e18 && s.find('.') == std::string::npos) s += ".0";
  return s;
}

std::string ItemToString(const Item& item) {
  switch (item.kind) {
    case ValueKind::kBoolean:
      return item.boolean ? "true" : "false";
    case ValueKind::kString:
      return std::string(item.Text());
    case ValueKind::kInteger:
      return std::to_string(item.integer);
    case ValueKind::kDecimal:
      return FormatDecimal(item.decimal, DecimalScale(item));
    case ValueKind::kDate:
    case ValueKind::kDateTime:
    case ValueKind::kTime:
      return FormatTemporal(item.dt, item.kind);
    case ValueKind::kQuantity: {
      std::string v = FormatDecimal(item.decimal, DecimalScale(item));
      if (!CalendarUnit(item.str).empty()) return v + " " + item.str;
      return v + " '" + item.str + "'";
    }
    case ValueKind::kNode:
      return item.node.ToJson();
    case ValueKind::kTypeInfo:
      return item.str;
  }
  return {};
}

std::string ItemTypeName(const Item& item) {
  if (item.type != nullptr) return item.type->name;
  return std::string(SystemTypeName(item.kind));
}

}  // namespace medlake::fhirpath
