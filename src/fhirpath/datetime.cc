// Partial-precision Date, DateTime and Time values: parsing, formatting, comparison and
// calendar arithmetic.
#include <cmath>
#include <cstdio>

#include "common/fhir_time.h"
#include "fhirpath/value.h"

namespace medlake::fhirpath {
namespace {

bool ReadDigits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  pos += n;
  return true;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[(m - 1) % 12];
}

void CivilFromDays(int64_t z, int& y, int& m, int& d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  d = int(doy - (153 * mp + 2) / 5 + 1);
  m = int(mp < 10 ? mp + 3 : mp - 9);
  y = int(yy + (m <= 2));
}

// Parses "HH(:mm(:ss(.fff)?)?)?" into v, updating precision.
bool ParseTimePart(std::string_view s, size_t& pos, DateTimeValue& v, bool require_seconds) {
  if (!ReadDigits(s, pos, 2, v.hour) || v.hour > 23) return false;
  v.precision = Precision::kHour;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!ReadDigits(s, pos, 2, v.minute) || v.minute > 59) return false;
    v.precision = Precision::kMinute;
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!ReadDigits(s, pos, 2, v.second) || v.second > 59) return false;
      v.precision = Precision::kSecond;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        size_t start = pos;
        int ms = 0, digits = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (digits < 3) ms = ms * 10 + (s[pos] - '0'), ++digits;
          ++pos;
        }
        if (pos == start) return false;
        while (digits < 3) ms *= 10, ++digits;
        v.millisecond = ms;
        v.precision = Precision::kMillisecond;
      }
    } else if (require_seconds) {
      return false;
    }
  } else if (require_seconds) {
    return false;
  }
  return true;
}

bool ParseTz(std::string_view s, size_t& pos, DateTimeValue& v) {
  if (pos >= s.size()) return true;
  if (s[pos] == 'Z') {
    ++pos;
    v.has_tz = true;
    v.tz_minutes = 0;
    return true;
  }
  if (s[pos] != '+' && s[pos] != '-') return true;
  int sign = s[pos] == '-' ? -1 : 1;
  ++pos;
  int h = 0, m = 0;
  if (!ReadDigits(s, pos, 2, h) || pos >= s.size() || s[pos] != ':') return false;
  ++pos;
  if (!ReadDigits(s, pos, 2, m) || h > 14 || m > 59) return false;
  v.has_tz = true;
  v.tz_minutes = sign * (h * 60 + m);
  return true;
}

bool ParseDatePart(std::string_view s, size_t& pos, DateTimeValue& v) {
  if (!ReadDigits(s, pos, 4, v.year)) return false;
  v.precision = Precision::kYear;
  if (pos < s.size() && s[pos] == '-') {
    ++pos;
    if (!ReadDigits(s, pos, 2, v.month) || v.month < 1 || v.month > 12) return false;
    v.precision = Precision::kMonth;
    if (pos < s.size() && s[pos] == '-') {
      ++pos;
      if (!ReadDigits(s, pos, 2, v.day) || v.day < 1 || v.day > DaysInMonth(v.year, v.month))
        return false;
      v.precision = Precision::kDay;
    }
  }
  return true;
}

int64_t ToMillis(const DateTimeValue& v) {
  int64_t days = DaysFromCivil(v.year, unsigned(v.month), unsigned(v.day));
  return (((days * 24 + v.hour) * 60 + v.minute) * 60 + v.second) * 1000 + v.millisecond;
}

void FromMillis(int64_t ms, DateTimeValue& v) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;
  CivilFromDays(days, v.year, v.month, v.day);
  v.hour = int(rem / 3600000);
  v.minute = int(rem / 60000 % 60);
  v.second = int(rem / 1000 % 60);
  v.millisecond = int(rem % 1000);
}

// Shifts a value with a timezone to UTC (used before comparison).
DateTimeValue ToUtc(const DateTimeValue& v) {
  if (!v.has_tz || v.tz_minutes == 0) return v;
  DateTimeValue out = v;
  FromMillis(ToMillis(v) - int64_t(v.tz_minutes) * 60000, out);
  out.tz_minutes = 0;
  return out;
}

}  // namespace

std::optional<DateTimeValue> ParseTemporal(std::string_view s, ValueKind& kind) {
  DateTimeValue v;
  size_t pos = 0;
  if (!s.empty() && s[0] == 'T') {
    kind = ValueKind::kTime;
    pos = 1;
    if (!ParseTimePart(s, pos, v, false) || pos != s.size()) return std::nullopt;
    return v;
  }
  if (!ParseDatePart(s, pos, v)) return std::nullopt;
  kind = ValueKind::kDate;
  if (pos < s.size() && s[pos] == 'T') {
    ++pos;
    kind = ValueKind::kDateTime;
    if (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (v.precision != Precision::kDay) return std::nullopt;
      if (!ParseTimePart(s, pos, v, false)) return std::nullopt;
    }
    if (!ParseTz(s, pos, v)) return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return v;
}

std::optional<DateTimeValue> ParseFhirTemporal(std::string_view s, ValueKind kind) {
  DateTimeValue v;
  size_t pos = 0;
  if (kind == ValueKind::kTime) {
    if (!ParseTimePart(s, pos, v, true) || pos != s.size()) return std::nullopt;
    return v;
  }
  if (!ParseDatePart(s, pos, v)) return std::nullopt;
  if (pos < s.size() && s[pos] == 'T') {
    if (kind == ValueKind::kDate || v.precision != Precision::kDay) return std::nullopt;
    ++pos;
    if (!ParseTimePart(s, pos, v, true) || !ParseTz(s, pos, v)) return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return v;
}

std::string FormatTemporal(const DateTimeValue& v, ValueKind kind) {
  char buf[64];
  std::string out;
  if (kind != ValueKind::kTime) {
    std::snprintf(buf, sizeof buf, "%04d", v.year);
    out = buf;
    if (v.precision >= Precision::kMonth) {
      std::snprintf(buf, sizeof buf, "-%02d", v.month);
      out += buf;
    }
    if (v.precision >= Precision::kDay) {
      std::snprintf(buf, sizeof buf, "-%02d", v.day);
      out += buf;
    }
    // A dateTime with no time ("2020", "2020-05", "2023-01-02") is written as FHIR writes it;
    // "@2020T" is only the FHIRPath literal's way to tell it from a date.
    if (kind == ValueKind::kDate || v.precision < Precision::kHour) return out;
  }
  out.push_back('T');  // (out = "T" made GCC 12 warn -Wrestrict)
  std::snprintf(buf, sizeof buf, "%02d", v.hour);
  out += buf;
  if (v.precision >= Precision::kMinute) {
    std::snprintf(buf, sizeof buf, ":%02d", v.minute);
    out += buf;
  }
  if (v.precision >= Precision::kSecond) {
    std::snprintf(buf, sizeof buf, ":%02d", v.second);
    out += buf;
  }
  if (v.precision >= Precision::kMillisecond) {
    std::snprintf(buf, sizeof buf, ".%03d", v.millisecond);
    out += buf;
  }
  if (kind == ValueKind::kDateTime && v.has_tz) {
    if (v.tz_minutes == 0) {
      out += "Z";
    } else {
      int m = std::abs(v.tz_minutes);
      std::snprintf(buf, sizeof buf, "%c%02d:%02d", v.tz_minutes < 0 ? '-' : '+', m / 60, m % 60);
      out += buf;
    }
  }
  return out;
}

std::optional<int> CompareTemporal(const DateTimeValue& a_in, const DateTimeValue& b_in,
                                   ValueKind kind) {
  DateTimeValue a = a_in, b = b_in;
  if (kind == ValueKind::kDateTime && a.precision >= Precision::kHour &&
      b.precision >= Precision::kHour) {
    if (a.has_tz != b.has_tz) return std::nullopt;
    a = ToUtc(a);
    b = ToUtc(b);
  }
  // Seconds and milliseconds count as one precision ("10:00:00" equals "10:00:00.0").
  auto level = [](Precision p) { return p == Precision::kMillisecond ? Precision::kSecond : p; };
  Precision pa = level(a.precision), pb = level(b.precision);
  const int fa[] = {a.year, a.month, a.day, a.hour, a.minute, a.second * 1000 + a.millisecond};
  const int fb[] = {b.year, b.month, b.day, b.hour, b.minute, b.second * 1000 + b.millisecond};
  int first = kind == ValueKind::kTime ? 3 : 0;
  int last = int(std::min(pa, pb));
  for (int i = first; i <= last; ++i) {
    if (fa[i] != fb[i]) return fa[i] < fb[i] ? -1 : 1;
  }
  if (pa != pb) return std::nullopt;
  return 0;
}

TemporalSum AddToTemporal(DateTimeValue& v, ValueKind kind, double amount, std::string_view unit) {
  // Beyond 10,000 years in milliseconds no sum stays in range (and the conversion to an
  // integer, and the products below, would overflow).
  constexpr double kMaxAmount = 1e15;
  const bool calendar = unit == "year" || unit == "month";
  if (kind == ValueKind::kTime && calendar) return TemporalSum::kBadUnit;
  if (!(std::fabs(amount) < kMaxAmount)) return TemporalSum::kOutOfRange;
  int64_t n = static_cast<int64_t>(amount);  // partial units are truncated
  auto in_range = [&] {
    return kind == ValueKind::kTime || (v.year >= 1 && v.year <= 9999) ? TemporalSum::kOk
                                                                       : TemporalSum::kOutOfRange;
  };
  if (calendar) {
    int64_t months = unit == "year" ? n * 12 : n;
    if (v.precision == Precision::kYear) months = (months / 12) * 12;
    int64_t total = int64_t(v.year) * 12 + (v.month - 1) + months;
    if (total < 12 || total >= 10000 * 12) return TemporalSum::kOutOfRange;
    v.year = int(total / 12);
    v.month = int(total % 12) + 1;
    v.day = std::min(v.day, DaysInMonth(v.year, v.month));
    return TemporalSum::kOk;
  }
  int64_t ms_per = 0;
  if (unit == "week")
    ms_per = 7 * 86400000LL;
  else if (unit == "day")
    ms_per = 86400000LL;
  else if (unit == "hour")
    ms_per = 3600000LL;
  else if (unit == "minute")
    ms_per = 60000LL;
  else if (unit == "second")
    ms_per = 1000LL;
  else if (unit == "millisecond")
    ms_per = 1LL;
  else
    return TemporalSum::kBadUnit;
  if (kind == ValueKind::kDate && ms_per < 86400000LL) return TemporalSum::kBadUnit;
  int64_t delta = 0;
  if (__builtin_mul_overflow(n, ms_per, &delta)) return TemporalSum::kOutOfRange;
  // Coarser values drop the part of the quantity below their precision.
  int64_t prec_ms = 0;
  switch (v.precision) {
    case Precision::kYear: {
      int64_t years = delta / (365 * 86400000LL);
      if (years < 1 - int64_t(v.year) || years > 9999 - int64_t(v.year)) {
        return TemporalSum::kOutOfRange;
      }
      v.year += int(years);
      return TemporalSum::kOk;
    }
    case Precision::kMonth: {
      int64_t months = delta / (30 * 86400000LL);
      return AddToTemporal(v, kind, double(months), "month");
    }
    case Precision::kDay:
      prec_ms = 86400000LL;
      break;
    case Precision::kHour:
      prec_ms = 3600000LL;
      break;
    case Precision::kMinute:
      prec_ms = 60000LL;
      break;
    case Precision::kSecond:
      prec_ms = 1000LL;
      break;
    case Precision::kMillisecond:
      prec_ms = 1;
      break;
  }
  delta = (delta / prec_ms) * prec_ms;
  if (kind == ValueKind::kTime) {
    int64_t day = 86400000LL;
    int64_t t = ((int64_t(v.hour) * 60 + v.minute) * 60 + v.second) * 1000 + v.millisecond;
    t = ((t + delta) % day + day) % day;
    v.hour = int(t / 3600000);
    v.minute = int(t / 60000 % 60);
    v.second = int(t / 1000 % 60);
    v.millisecond = int(t % 1000);
    return TemporalSum::kOk;
  }
  int64_t millis = 0;
  if (__builtin_add_overflow(ToMillis(v), delta, &millis)) return TemporalSum::kOutOfRange;
  FromMillis(millis, v);
  return in_range();
}

int TemporalPrecisionDigits(const DateTimeValue& v, ValueKind kind) {
  static constexpr int kDateDigits[] = {4, 6, 8, 10, 12, 14, 17};
  static constexpr int kTimeDigits[] = {0, 0, 0, 2, 4, 6, 9};
  return kind == ValueKind::kTime ? kTimeDigits[int(v.precision)] : kDateDigits[int(v.precision)];
}

}  // namespace medlake::fhirpath
