// Math functions and precision/boundary functions.
#include <cmath>
#include <cstdint>
#include <optional>

#include "fhirpath/function_util.h"

namespace medlake::fhirpath {
namespace {

Result<std::optional<Item>> NumberInput(const Collection& in, const Ast& call) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, Input(in, call));
  if (v && !v->IsNumber() && v->kind != ValueKind::kQuantity) {
    return InvalidArgument("FHIRPath: " + call.name + "() needs a number");
  }
  return v;
}

#define MEDLAKE_FP_NUMBER_INPUT(var)                                              \
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> var##_opt, NumberInput(in, call)); \
  if (!var##_opt) return Collection{};                                            \
  const Item& var = *var##_opt

MEDLAKE_FP_FN(Abs) {
  MEDLAKE_FP_NUMBER_INPUT(v);
  Item r = v;
  r.type = nullptr;
  if (r.kind == ValueKind::kInteger) {
    // |INT64_MIN| does not fit: overflow is empty (N1 §6.6), not INT64_MIN again.
    if (r.integer == INT64_MIN) return Collection{};
    r.integer = std::llabs(r.integer);
  } else {
    r.decimal = std::fabs(r.decimal);
  }
  return One(r);
}

template <double (*kFn)(double)>
MEDLAKE_FP_FN(ToIntegerFn) {
  MEDLAKE_FP_NUMBER_INPUT(v);
  if (v.kind == ValueKind::kInteger) return One(Item::Integer(v.integer));
  std::optional<int64_t> r = WholeToInteger(kFn(v.AsDouble()));
  return r ? One(Item::Integer(*r)) : Collection{};
}

// base^exponent for an exponent >= 0; nullopt on overflow.
std::optional<int64_t> IntegerPower(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if ((exponent & 1) && __builtin_mul_overflow(result, base, &result)) return std::nullopt;
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) return std::nullopt;
  }
  return result;
}

template <double (*kFn)(double)>
MEDLAKE_FP_FN(ToDecimalFn) {
  MEDLAKE_FP_NUMBER_INPUT(v);
  double r = kFn(v.AsDouble());
  if (std::isnan(r) || std::isinf(r)) return Collection{};
  return One(Item::Decimal(r, -1));
}

MEDLAKE_FP_FN(Log) {
  MEDLAKE_FP_NUMBER_INPUT(v);
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> base, SingleArg(ev, call, 0, scope));
  if (!base) return Collection{};
  double r = std::log(v.AsDouble()) / std::log(base->AsDouble());
  if (std::isnan(r) || std::isinf(r)) return Collection{};
  return One(Item::Decimal(r, -1));
}

MEDLAKE_FP_FN(Power) {
  MEDLAKE_FP_NUMBER_INPUT(v);
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> e, SingleArg(ev, call, 0, scope));
  if (!e) return Collection{};
  if (v.kind == ValueKind::kInteger && e->kind == ValueKind::kInteger && e->integer >= 0) {
    // Exact: through a double, 3.power(39) lost its last digits.
    std::optional<int64_t> r = IntegerPower(v.integer, e->integer);
    return r ? One(Item::Integer(*r)) : Collection{};
  }
  double r = std::pow(v.AsDouble(), e->AsDouble());
  if (std::isnan(r) || std::isinf(r)) return Collection{};
  return One(Item::Decimal(r, -1));
}

MEDLAKE_FP_FN(Round) {
  MEDLAKE_FP_NUMBER_INPUT(v);
  int64_t digits = 0;
  if (!call.args.empty()) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<int64_t> d, IntArg(ev, call, 0, scope));
    if (!d) return Collection{};
    if (*d < 0) return InvalidArgument("FHIRPath: round() precision must be >= 0");
    digits = *d;
  }
  double f = std::pow(10.0, double(digits));
  return One(Item::Decimal(std::round(v.AsDouble() * f) / f, int(digits)));
}

int ScaleOf(const Item& v) {
  if (v.kind == ValueKind::kInteger) return 0;
  if (DecimalScale(v) >= 0) return DecimalScale(v);
  std::string text = FormatDecimal(v.decimal, -1);
  size_t dot = text.find('.');
  return dot == std::string::npos ? 0 : int(text.size() - dot - 1);
}

MEDLAKE_FP_FN(PrecisionFn) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, Input(in, call));
  if (!v) return Collection{};
  if (v->IsTemporal()) return One(Item::Integer(TemporalPrecisionDigits(v->dt, v->kind)));
  if (v->IsNumber()) return One(Item::Integer(ScaleOf(*v)));
  return Collection{};
}

template <bool kHigh>
MEDLAKE_FP_FN(Boundary) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, Input(in, call));
  if (!v) return Collection{};
  // SQL-on-FHIR v2 (ViewDefinition, required additional functions) defines lowBoundary() and
  // highBoundary() on a Period too: the low boundary of its start, the high boundary of its
  // end. A Period open at that side (no start, no end) gives empty.
  static const TypeInfo* period = TypeModel::R4().Find("Period");
  if (v->kind == ValueKind::kNode && v->type != nullptr && TypeModel::IsA(v->type, period)) {
    Collection part;
    ev.Member(*v, kHigh ? "end" : "start", part);
    if (part.size() != 1 || part[0].kind != ValueKind::kDateTime) return Collection{};
    v = part[0];
  }
  std::optional<int64_t> precision;
  if (!call.args.empty()) {
    MEDLAKE_ASSIGN_OR_RETURN(precision, IntArg(ev, call, 0, scope));
  }
  if (v->IsNumber() || v->kind == ValueKind::kQuantity) {
    int scale = ScaleOf(*v);
    int out_scale = int(precision.value_or(8));
    if (out_scale > 28 || out_scale < 0) return Collection{};
    double half = 0.5 * std::pow(10.0, -scale);
    double r = v->AsDouble() + (kHigh ? half : -half);
    if (v->kind == ValueKind::kQuantity) r = v->decimal + (kHigh ? half : -half);
    if (out_scale <= scale) {
      // The boundary needs more digits than asked for: round it outwards, except for values
      // below the requested precision, whose boundaries are zero at that precision.
      double f = std::pow(10.0, out_scale);
      if (std::fabs(v->AsDouble()) < 1.0 / f) {
        r = 0;
      } else {
        r = kHigh ? std::ceil(r * f - 1e-9) / f : std::floor(r * f + 1e-9) / f;
      }
    }
    if (v->kind == ValueKind::kQuantity) return One(Item::Quantity(r, out_scale, v->str));
    return One(Item::Decimal(r, out_scale));
  }
  if (v->IsTemporal()) {
    DateTimeValue d = v->dt;
    if (v->kind == ValueKind::kDateTime && d.precision == Precision::kHour) {
      d.precision = Precision::kMinute;  // "T08" is read as "T08:00"
      d.minute = 0;
    }
    int digits = int(precision.value_or(v->kind == ValueKind::kDate   ? 8
                                        : v->kind == ValueKind::kTime ? 9
                                                                      : 17));
    if (d.precision < Precision::kMonth) d.month = kHigh ? 12 : 1;
    if (d.precision < Precision::kDay) {
      static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      int days = kDays[d.month - 1];
      if (d.month == 2 && ((d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0)) days = 29;
      d.day = kHigh ? days : 1;
    }
    if (d.precision < Precision::kHour) d.hour = kHigh ? 23 : 0;
    if (d.precision < Precision::kMinute) d.minute = kHigh ? 59 : 0;
    if (d.precision < Precision::kSecond) d.second = kHigh ? 59 : 0;
    if (d.precision < Precision::kMillisecond) d.millisecond = kHigh ? 999 : 0;
    if (v->kind == ValueKind::kDateTime && !d.has_tz) {
      d.has_tz = true;
      d.tz_minutes = kHigh ? -12 * 60 : 14 * 60;
    }
    static const std::pair<int, Precision> kDateLevels[] = {
        {4, Precision::kYear},        {6, Precision::kMonth},   {8, Precision::kDay},
        {10, Precision::kHour},       {12, Precision::kMinute}, {14, Precision::kSecond},
        {17, Precision::kMillisecond}};
    static const std::pair<int, Precision> kTimeLevels[] = {{2, Precision::kHour},
                                                            {4, Precision::kMinute},
                                                            {6, Precision::kSecond},
                                                            {9, Precision::kMillisecond}};
    bool found = false;
    if (v->kind == ValueKind::kTime) {
      for (auto [n, p] : kTimeLevels)
        if (n == digits) d.precision = p, found = true;
    } else {
      for (auto [n, p] : kDateLevels)
        if (n == digits) d.precision = p, found = true;
      if (v->kind == ValueKind::kDate && digits > 8) found = false;
    }
    if (!found) return Collection{};
    if (v->kind == ValueKind::kDateTime && digits <= 8) {
      d.has_tz = false;
      return One(Item::Temporal(ValueKind::kDate, d));
    }
    return One(Item::Temporal(v->kind, d));
  }
  return Collection{};
}

double Truncate(double d) {
  return std::trunc(d);
}
double Floor(double d) {
  return std::floor(d);
}
double Ceil(double d) {
  return std::ceil(d);
}
double Exp(double d) {
  return std::exp(d);
}
double Ln(double d) {
  return std::log(d);
}
double Sqrt(double d) {
  return std::sqrt(d);
}

}  // namespace

void AddMathFunctions(std::vector<FunctionDef>& t) {
  t.push_back({"abs", 0, 0, Abs});
  t.push_back({"ceiling", 0, 0, ToIntegerFn<Ceil>});
  t.push_back({"floor", 0, 0, ToIntegerFn<Floor>});
  t.push_back({"truncate", 0, 0, ToIntegerFn<Truncate>});
  t.push_back({"exp", 0, 0, ToDecimalFn<Exp>});
  t.push_back({"ln", 0, 0, ToDecimalFn<Ln>});
  t.push_back({"sqrt", 0, 0, ToDecimalFn<Sqrt>});
  t.push_back({"log", 1, 1, Log});
  t.push_back({"power", 1, 1, Power});
  t.push_back({"round", 0, 1, Round});
  t.push_back({"precision", 0, 0, PrecisionFn});
  t.push_back({"lowBoundary", 0, 1, Boundary<false>});
  t.push_back({"highBoundary", 0, 1, Boundary<true>});
}

}  // namespace medlake::fhirpath
