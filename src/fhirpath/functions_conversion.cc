// Conversion functions: toX() and convertsToX().
#include <cctype>
#include <cstdlib>
#include <regex>

#include "fhirpath/function_util.h"

namespace medlake::fhirpath {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsIntegerText(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool IsDecimalText(std::string_view s, int& scale) {
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) {
    scale = 0;
    return IsIntegerText(s);
  }
  std::string_view frac = s.substr(dot + 1);
  if (frac.empty()) return false;
  for (char c : frac) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  scale = int(frac.size());
  return IsIntegerText(s.substr(0, dot));
}

std::optional<Item> ToBoolean(const Item& v) {
  switch (v.kind) {
    case ValueKind::kBoolean:
      return Item::Boolean(v.boolean);
    case ValueKind::kInteger:
      if (v.integer == 0 || v.integer == 1) return Item::Boolean(v.integer == 1);
      return std::nullopt;
    case ValueKind::kDecimal:
      if (v.decimal == 0 || v.decimal == 1) return Item::Boolean(v.decimal == 1);
      return std::nullopt;
    case ValueKind::kString: {
      std::string s = Lower(v.Text());
      if (s == "true" || s == "t" || s == "yes" || s == "y" || s == "1" || s == "1.0")
        return Item::Boolean(true);
      if (s == "false" || s == "f" || s == "no" || s == "n" || s == "0" || s == "0.0")
        return Item::Boolean(false);
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<Item> ToInteger(const Item& v) {
  switch (v.kind) {
    case ValueKind::kInteger:
      return Item::Integer(v.integer);
    case ValueKind::kBoolean:
      return Item::Integer(v.boolean ? 1 : 0);
    case ValueKind::kString:
      if (IsIntegerText(v.Text()) && v.Text().size() < 19)
        return Item::Integer(std::atoll(std::string(v.Text()).c_str()));
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<Item> ToDecimal(const Item& v) {
  switch (v.kind) {
    case ValueKind::kInteger:
      return Item::Decimal(double(v.integer), 0);
    case ValueKind::kDecimal:
      return Item::Decimal(v.decimal, DecimalScale(v));
    case ValueKind::kBoolean:
      return Item::Decimal(v.boolean ? 1 : 0, 1);
    case ValueKind::kString: {
      int scale = 0;
      if (IsDecimalText(v.Text(), scale))
        return Item::Decimal(std::strtod(std::string(v.Text()).c_str(), nullptr), scale);
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<Item> ToStringItem(const Item& v) {
  if (v.kind == ValueKind::kNode) return std::nullopt;
  return Item::String(ItemToString(v));
}

std::optional<Item> ToTemporal(const Item& v, ValueKind target) {
  if (v.kind == ValueKind::kString) {
    ValueKind kind;
    std::string text = (target == ValueKind::kTime ? "T" : "") + std::string(v.Text());
    auto dt = ParseTemporal(text, kind);
    if (!dt) return std::nullopt;
    if (target == ValueKind::kTime)
      return kind == ValueKind::kTime ? std::optional<Item>(Item::Temporal(kind, *dt))
                                      : std::nullopt;
    if (kind == ValueKind::kTime) return std::nullopt;
    if (target == ValueKind::kDate) {
      if (dt->precision > Precision::kDay) dt->precision = Precision::kDay;
      dt->has_tz = false;
    }
    return Item::Temporal(target, *dt);
  }
  if (v.kind == target) {
    Item r = Item::Temporal(target, v.dt);
    return r;
  }
  if (target == ValueKind::kDateTime && v.kind == ValueKind::kDate)
    return Item::Temporal(target, v.dt);
  if (target == ValueKind::kDate && v.kind == ValueKind::kDateTime) {
    DateTimeValue d = v.dt;
    if (d.precision > Precision::kDay) d.precision = Precision::kDay;
    d.has_tz = false;
    return Item::Temporal(target, d);
  }
  return std::nullopt;
}

std::optional<Item> ToQuantity(const Item& v) {
  switch (v.kind) {
    case ValueKind::kQuantity:
      return v;
    case ValueKind::kInteger:
      return Item::Quantity(double(v.integer), 0, "1");
    case ValueKind::kDecimal:
      return Item::Quantity(v.decimal, DecimalScale(v), "1");
    case ValueKind::kBoolean:
      return Item::Quantity(v.boolean ? 1 : 0, 1, "1");
    case ValueKind::kString: {
      static const std::regex kPattern(
          R"(^\s*([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-zA-Z]+))?\s*$)");
      std::smatch m;
      std::string text(v.Text());
      if (!std::regex_match(text, m, kPattern)) return std::nullopt;
      int scale = 0;
      std::string number = m[1].str();
      IsDecimalText(number, scale);
      double value = std::strtod(number.c_str(), nullptr);
      if (m[2].matched) return Item::Quantity(value, scale, m[2].str());
      if (m[3].matched) {
        std::string_view unit = CalendarUnit(m[3].str());
        if (unit.empty()) return std::nullopt;
        return Item::Quantity(value, scale, std::string(unit));
      }
      return Item::Quantity(value, scale, "1");
    }
    default:
      return std::nullopt;
  }
}

using Converter = std::optional<Item> (*)(const Item&);

std::optional<Item> ToDate(const Item& v) {
  return ToTemporal(v, ValueKind::kDate);
}
std::optional<Item> ToDateTime(const Item& v) {
  return ToTemporal(v, ValueKind::kDateTime);
}
std::optional<Item> ToTime(const Item& v) {
  return ToTemporal(v, ValueKind::kTime);
}

template <Converter kConvert>
MEDLAKE_FP_FN(ToFn) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, Input(in, call));
  if (!v) return Collection{};
  auto r = kConvert(*v);
  return r ? One(*r) : Collection{};
}

template <Converter kConvert>
MEDLAKE_FP_FN(ConvertsFn) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, Input(in, call));
  if (!v) return Collection{};
  return Bool(kConvert(*v).has_value());
}

Result<std::optional<Item>> QuantityWithUnit(Evaluator& ev, const Collection& in, const Ast& call,
                                             const Scope& scope) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, Input(in, call));
  if (!v) return std::optional<Item>();
  std::optional<Item> storage;  // a FHIR Quantity element converts like a System Quantity
  auto q = ToQuantity(SystemValue(*v, storage));
  if (!q || call.args.empty()) return q;
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> unit, StringArg(ev, call, 0, scope));
  if (!unit) return std::optional<Item>();
  auto converted = ConvertUnit(q->decimal, q->str, *unit);
  if (!converted) return std::optional<Item>();
  return std::optional<Item>(Item::Quantity(*converted, -1, *unit));
}

MEDLAKE_FP_FN(ToQuantityFn) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> q, QuantityWithUnit(ev, in, call, scope));
  return q ? One(*q) : Collection{};
}

MEDLAKE_FP_FN(ConvertsToQuantityFn) {
  if (in.empty()) return Collection{};
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> q, QuantityWithUnit(ev, in, call, scope));
  return Bool(q.has_value());
}

}  // namespace

void AddConversionFunctions(std::vector<FunctionDef>& t) {
  t.push_back({"toBoolean", 0, 0, ToFn<ToBoolean>});
  t.push_back({"convertsToBoolean", 0, 0, ConvertsFn<ToBoolean>});
  t.push_back({"toInteger", 0, 0, ToFn<ToInteger>});
  t.push_back({"convertsToInteger", 0, 0, ConvertsFn<ToInteger>});
  t.push_back({"toDecimal", 0, 0, ToFn<ToDecimal>});
  t.push_back({"convertsToDecimal", 0, 0, ConvertsFn<ToDecimal>});
  t.push_back({"toString", 0, 0, ToFn<ToStringItem>});
  t.push_back({"convertsToString", 0, 0, ConvertsFn<ToStringItem>});
  t.push_back({"toDate", 0, 0, ToFn<ToDate>});
  t.push_back({"convertsToDate", 0, 0, ConvertsFn<ToDate>});
  t.push_back({"toDateTime", 0, 0, ToFn<ToDateTime>});
  t.push_back({"convertsToDateTime", 0, 0, ConvertsFn<ToDateTime>});
  t.push_back({"toTime", 0, 0, ToFn<ToTime>});
  t.push_back({"convertsToTime", 0, 0, ConvertsFn<ToTime>});
  t.push_back({"toQuantity", 0, 1, ToQuantityFn});
  t.push_back({"convertsToQuantity", 0, 1, ConvertsToQuantityFn});
}

}  // namespace medlake::fhirpath
