// A compact UCUM subset for FHIRPath quantity comparison and arithmetic: base units with
// metric prefixes, time units, common customary units, products, quotients and exponents.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "fhirpath/value.h"

namespace medlake::fhirpath {
namespace {

constexpr int kDims = 7;  // m, g, s, mol, K, A, cd

struct Atom {
  std::string_view code;
  double factor;
  int dims[kDims];
  bool metric;  // accepts prefixes
};

// Cel and [degF] are absent on purpose: they have offsets, so they compare only with the
// same unit.
constexpr Atom kAtoms[] = {
    {"m", 1, {1, 0, 0, 0, 0, 0, 0}, true},
    {"g", 1, {0, 1, 0, 0, 0, 0, 0}, true},
    {"s", 1, {0, 0, 1, 0, 0, 0, 0}, true},
    {"mol", 1, {0, 0, 0, 1, 0, 0, 0}, true},
    {"K", 1, {0, 0, 0, 0, 1, 0, 0}, true},
    {"A", 1, {0, 0, 0, 0, 0, 1, 0}, true},
    {"cd", 1, {0, 0, 0, 0, 0, 0, 1}, true},
    {"L", 1e-3, {3, 0, 0, 0, 0, 0, 0}, true},
    {"l", 1e-3, {3, 0, 0, 0, 0, 0, 0}, true},
    {"min", 60, {0, 0, 1, 0, 0, 0, 0}, false},
    {"h", 3600, {0, 0, 1, 0, 0, 0, 0}, false},
    {"d", 86400, {0, 0, 1, 0, 0, 0, 0}, false},
    {"wk", 604800, {0, 0, 1, 0, 0, 0, 0}, false},
    {"mo", 2629800, {0, 0, 1, 0, 0, 0, 0}, false},
    {"a", 31557600, {0, 0, 1, 0, 0, 0, 0}, false},
    {"%", 0.01, {0, 0, 0, 0, 0, 0, 0}, false},
    {"[in_i]", 0.0254, {1, 0, 0, 0, 0, 0, 0}, false},
    {"[ft_i]", 0.3048, {1, 0, 0, 0, 0, 0, 0}, false},
    {"[mi_i]", 1609.344, {1, 0, 0, 0, 0, 0, 0}, false},
    {"[lb_av]", 453.59237, {0, 1, 0, 0, 0, 0, 0}, false},
    {"[oz_av]", 28.349523125, {0, 1, 0, 0, 0, 0, 0}, false},
    {"[iU]", 1, {0, 0, 0, 0, 0, 0, 0}, true},
    {"[IU]", 1, {0, 0, 0, 0, 0, 0, 0}, true},
    {"U", 1, {0, 0, 0, 0, 0, 0, 0}, true},
    {"eq", 1, {0, 0, 0, 1, 0, 0, 0}, true},
    {"mm[Hg]", 133322.387415, {-1, 1, -2, 0, 0, 0, 0}, false},
    {"Pa", 1000, {-1, 1, -2, 0, 0, 0, 0}, true},
    {"N", 1000, {1, 1, -2, 0, 0, 0, 0}, true},
    {"J", 1000, {2, 1, -2, 0, 0, 0, 0}, true},
    {"W", 1000, {2, 1, -3, 0, 0, 0, 0}, true},
    {"cal", 4184, {2, 1, -2, 0, 0, 0, 0}, true},
    {"Hz", 1, {0, 0, -1, 0, 0, 0, 0}, true},
};

struct Prefix {
  std::string_view code;
  double factor;
};
constexpr Prefix kPrefixes[] = {{"da", 1e1},  {"Y", 1e24}, {"Z", 1e21}, {"E", 1e18}, {"P", 1e15},
                                {"T", 1e12},  {"G", 1e9},  {"M", 1e6},  {"k", 1e3},  {"h", 1e2},
                                {"d", 1e-1},  {"c", 1e-2}, {"m", 1e-3}, {"u", 1e-6}, {"n", 1e-9},
                                {"p", 1e-12}, {"f", 1e-15}};

struct Canon {
  double factor = 1;
  int dims[kDims] = {};
};

// The integer that `text` begins with ("9" of "10*9", "-1" of "s-1"; a '+' may lead, as atoi
// reads it), nullopt when there is none or its magnitude passes 1000: no unit has such an
// exponent, and dimensions multiplied by a larger one overflow an int.
std::optional<int> LeadingExponent(std::string_view text) {
  constexpr int kMaxExponent = 1000;
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < -kMaxExponent || value > kMaxExponent) return std::nullopt;
  return value;
}

bool ParseSimple(std::string_view term, Canon& out) {
  // Powers of ten ("10*9" in "10*9/L", also written "10^9").
  if (term.size() > 3 && (term.substr(0, 3) == "10*" || term.substr(0, 3) == "10^")) {
    const std::optional<int> power = LeadingExponent(term.substr(3));
    if (!power) return false;
    out.factor = std::pow(10.0, *power);
    return true;
  }
  // Strip an integer exponent suffix ("m2", "s-1").
  size_t end = term.size();
  while (end > 0 && (std::isdigit(static_cast<unsigned char>(term[end - 1])))) --end;
  if (end > 0 && end < term.size() && (term[end - 1] == '-' || term[end - 1] == '+')) --end;
  if (end == 0) {
    out.factor = std::atof(std::string(term).c_str());  // a pure number ("1" in "1/d")
    return true;
  }
  int exponent = 1;
  std::string_view atom = term;
  if (end > 0 && end < term.size() && term.back() != ']') {
    const std::optional<int> given = LeadingExponent(term.substr(end));
    if (!given) return false;
    exponent = *given;
    atom = term.substr(0, end);
  }
  if (atom.empty()) {
    // Pure number ("1", "10").
    out.factor = std::atof(std::string(term).c_str());
    return true;
  }
  auto apply = [&](const Atom& a, double prefix) {
    out.factor = std::pow(a.factor * prefix, exponent);
    for (int i = 0; i < kDims; ++i) out.dims[i] = a.dims[i] * exponent;
    return true;
  };
  for (const Atom& a : kAtoms) {
    if (a.code == atom) return apply(a, 1);
  }
  for (const Prefix& p : kPrefixes) {
    if (atom.size() <= p.code.size() || atom.substr(0, p.code.size()) != p.code) continue;
    std::string_view rest = atom.substr(p.code.size());
    for (const Atom& a : kAtoms) {
      if (a.metric && a.code == rest) return apply(a, p.factor);
    }
  }
  return false;
}

std::optional<Canon> ParseUnit(std::string_view unit) {
  Canon total;
  if (unit.empty() || unit == "1") return total;
  size_t pos = 0;
  bool divide = false;
  if (unit[0] == '/') {
    divide = true;
    pos = 1;
  }
  while (pos <= unit.size()) {
    size_t next = pos;
    int depth = 0;
    while (next < unit.size()) {
      char c = unit[next];
      if (c == '[' || c == '{') ++depth;
      if (c == ']' || c == '}') --depth;
      if (depth == 0 && (c == '.' || c == '/')) break;
      ++next;
    }
    std::string_view term = unit.substr(pos, next - pos);
    // Annotations ({beats}) are dimensionless.
    size_t brace = term.find('{');
    if (brace != std::string_view::npos) term = term.substr(0, brace);
    Canon c;
    if (!term.empty() && !ParseSimple(term, c)) return std::nullopt;
    total.factor = divide ? total.factor / c.factor : total.factor * c.factor;
    for (int i = 0; i < kDims; ++i) total.dims[i] += divide ? -c.dims[i] : c.dims[i];
    if (next >= unit.size()) break;
    divide = unit[next] == '/';
    pos = next + 1;
  }
  return total;
}

// UCUM code of a calendar keyword of definite length.
std::string_view DefiniteUcum(std::string_view unit) {
  if (unit == "week") return "wk";
  if (unit == "day") return "d";
  if (unit == "hour") return "h";
  if (unit == "minute") return "min";
  if (unit == "second") return "s";
  if (unit == "millisecond") return "ms";
  return unit;
}

}  // namespace

std::string_view CalendarUnit(std::string_view w) {
  static constexpr std::string_view kUnits[] = {"year", "month",  "week",   "day",
                                                "hour", "minute", "second", "millisecond"};
  for (std::string_view u : kUnits) {
    if (w == u || (w.size() == u.size() + 1 && w.substr(0, u.size()) == u && w.back() == 's'))
      return u;
  }
  return {};
}

std::optional<double> ConvertUnit(double value, std::string_view from, std::string_view to) {
  if (from == to) return value;
  bool from_cal = from == "year" || from == "month";
  bool to_cal = to == "year" || to == "month";
  if (from_cal || to_cal) {
    if (from_cal && to_cal) return from == "year" ? value * 12 : value / 12;
    return std::nullopt;
  }
  auto a = ParseUnit(DefiniteUcum(from));
  auto b = ParseUnit(DefiniteUcum(to));
  if (!a || !b) return std::nullopt;
  for (int i = 0; i < kDims; ++i) {
    if (a->dims[i] != b->dims[i]) return std::nullopt;
  }
  // A unit of factor zero ('0' is UCUM's number 0) converts to and from nothing: its factor to
  // any other is zero or infinite.
  if (!(a->factor > 0) || !(b->factor > 0)) return std::nullopt;
  const double converted = value * a->factor / b->factor;
  if (!std::isfinite(converted)) return std::nullopt;
  return converted;
}

std::optional<CanonicalQuantity> Canonicalize(double value, std::string_view unit) {
  auto c = ParseUnit(DefiniteUcum(unit));
  if (!c) return std::nullopt;
  CanonicalQuantity q{value * c->factor, std::vector<int>(c->dims, c->dims + kDims)};
  return q;
}

std::string UnitFromDims(const std::vector<int>& dims) {
  static constexpr std::string_view kNames[] = {"m", "g", "s", "mol", "K", "A", "cd"};
  std::string out;
  for (size_t i = 0; i < dims.size() && i < kDims; ++i) {
    if (dims[i] == 0) continue;
    if (!out.empty()) out += '.';
    out += kNames[i];
    if (dims[i] != 1) out += std::to_string(dims[i]);
  }
  return out.empty() ? "1" : out;
}

}  // namespace medlake::fhirpath
