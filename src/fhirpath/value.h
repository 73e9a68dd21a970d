// FHIRPath values: collections of items that are FHIR JSON nodes or computed System values.
//
// An Item is either a FHIR complex node (kNode: an object in a resource, its FHIR type known
// from the R4 type model when reached by navigation) or a System value (Boolean, String,
// Integer, Decimal, Date, DateTime, Time, Quantity). FHIR primitives reached by navigation
// become System values that keep their FHIR type name and their "_element" companion node
// (id and extensions). Items that hold nodes are valid while the parsed document lives.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json/json.h"

namespace medlake::fhirpath {

struct TypeInfo;

enum class ValueKind : uint8_t {
  kNode,  // a FHIR complex element or resource
  kBoolean,
  kString,
  kInteger,
  kDecimal,
  kDate,
  kDateTime,
  kTime,
  kQuantity,
  kTypeInfo,  // result of type(): str holds "namespace.name"
};

// Precision of a partial date/time value, from coarsest to finest.
enum class Precision : uint8_t { kYear, kMonth, kDay, kHour, kMinute, kSecond, kMillisecond };

// A Date, DateTime or Time with partial precision and an optional timezone offset.
struct DateTimeValue {
  int year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, millisecond = 0;
  Precision precision = Precision::kYear;
  bool has_tz = false;
  int tz_minutes = 0;  // offset east of UTC
};

struct Item {
  ValueKind kind = ValueKind::kNode;
  // FHIR type of the item when known ("HumanName", "code", "Patient.contact"), else null.
  const TypeInfo* type = nullptr;
  json::Node node;  // kNode: the object; primitives: the value node when from a resource
  json::Node ext;   // primitives from a resource: the "_name" companion (id, extension)
  bool has_ext = false;
  bool boolean = false;
  int64_t integer = 0;
  double decimal = 0;  // kDecimal and kQuantity value
  // kDecimal / kQuantity: digits after the decimal point as written; -1 when computed
  // (printed in shortest form); kScaleFromSource for decimals read from JSON (see
  // DecimalScale).
  int scale = 0;
  std::string str;  // kString (unless str_in_node); kQuantity: the unit; kTypeInfo: the name
  // kString read from a resource: the text is the JSON string `node`, not copied into `str`.
  bool str_in_node = false;
  DateTimeValue dt;  // kDate, kDateTime, kTime

  static Item Boolean(bool b) {
    Item i;
    i.kind = ValueKind::kBoolean;
    i.boolean = b;
    return i;
  }
  static Item String(std::string s) {
    Item i;
    i.kind = ValueKind::kString;
    i.str = std::move(s);
    return i;
  }
  static Item Integer(int64_t v) {
    Item i;
    i.kind = ValueKind::kInteger;
    i.integer = v;
    return i;
  }
  static Item Decimal(double v, int scale) {
    Item i;
    i.kind = ValueKind::kDecimal;
    i.decimal = v;
    i.scale = scale;
    return i;
  }
  static Item Quantity(double v, int scale, std::string unit) {
    Item i;
    i.kind = ValueKind::kQuantity;
    i.decimal = v;
    i.scale = scale;
    i.str = std::move(unit);
    return i;
  }
  static Item Temporal(ValueKind kind, const DateTimeValue& dt) {
    Item i;
    i.kind = kind;
    i.dt = dt;
    return i;
  }
  // Text of a String item (also a Quantity's unit, a TypeInfo's name): valid while the item
  // and, for strings read from a resource, its document live.
  std::string_view Text() const { return str_in_node ? node.GetString() : std::string_view(str); }
  bool IsNumber() const { return kind == ValueKind::kInteger || kind == ValueKind::kDecimal; }
  bool IsTemporal() const {
    return kind == ValueKind::kDate || kind == ValueKind::kDateTime || kind == ValueKind::kTime;
  }
  double AsDouble() const { return kind == ValueKind::kInteger ? double(integer) : decimal; }
};

using Collection = std::vector<Item>;

inline constexpr int kScaleFromSource = -2;
// Digits after the decimal point of a Decimal or Quantity item; for decimals read from JSON
// this consults the source text lazily (json::Node::NumberText), so that 1.0 keeps one digit.
int DecimalScale(const Item& item);
// Text of a decimal with `scale` digits after the point; scale < 0: shortest exact form.
std::string FormatDecimal(double v, int scale);

// `v` (a whole number: a result of trunc, floor, ...) as an Integer; nullopt for NaN, the
// infinities and values beyond 64 bits, which N1 §6.6 makes empty (overflow).
inline std::optional<int64_t> WholeToInteger(double v) {
  if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) return std::nullopt;
  return static_cast<int64_t>(v);
}

// --- Date/time helpers (datetime.cc) ---

// Parses FHIRPath literal text without the '@' ("2020-01", "2020-01-02T10:00:00.000+02:00",
// "T10:30"). `kind` receives kDate, kDateTime or kTime. nullopt when malformed.
std::optional<DateTimeValue> ParseTemporal(std::string_view text, ValueKind& kind);
// Parses FHIR JSON text of a date, dateTime/instant or time element.
std::optional<DateTimeValue> ParseFhirTemporal(std::string_view text, ValueKind kind);
// FHIRPath text without '@' ("2020-01-02T10:00:00.000+02:00", "T10:00").
std::string FormatTemporal(const DateTimeValue& v, ValueKind kind);
// Compares two values; nullopt when precisions make the result unknown. `a` and `b` must
// have the same kind (Date vs DateTime is handled by the caller).
std::optional<int> CompareTemporal(const DateTimeValue& a, const DateTimeValue& b, ValueKind kind);
// Adds `amount` of a calendar unit ("year", "month", "week", "day", "hour", "minute",
// "second", "millisecond"); kBadUnit when the unit is not valid for the value, kOutOfRange
// when the result would leave years 1-9999 (N1 §6.6: an empty result, not a wrapped one).
enum class TemporalSum { kOk, kBadUnit, kOutOfRange };
TemporalSum AddToTemporal(DateTimeValue& v, ValueKind kind, double amount, std::string_view unit);
// Number of digits of the value's precision for precision().
int TemporalPrecisionDigits(const DateTimeValue& v, ValueKind kind);

// --- Quantities (ucum.cc) ---

// Normalizes a calendar keyword ("years" -> "year"); empty when `word` is not one.
std::string_view CalendarUnit(std::string_view word);
// Converts `value` in `from` to `to` when the units are commensurable; nullopt otherwise.
// Calendar keywords of fixed length (week and below) convert as their UCUM equivalents.
std::optional<double> ConvertUnit(double value, std::string_view from, std::string_view to);
// Canonical form for multiplication/division: value scaled to base units and the unit's
// dimension vector as text; nullopt when the unit is unknown.
struct CanonicalQuantity {
  double value;
  std::vector<int> dims;  // exponents of m, g, s, mol, K, A, cd
};
std::optional<CanonicalQuantity> Canonicalize(double value, std::string_view unit);
// UCUM unit text for a dimension vector in base units ("g.m-1"), "1" when dimensionless.
std::string UnitFromDims(const std::vector<int>& dims);

}  // namespace medlake::fhirpath
