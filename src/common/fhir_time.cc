#include "common/fhir_time.h"

#include <cstdio>

namespace medlake {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> ParseFhirInstant(std::string_view text) {
  if (text.find('T') == std::string_view::npos) return std::nullopt;
  std::optional<TimeRange> t = ParseFhirTime(text);
  if (!t) return std::nullopt;
  return t->start;
}

std::optional<TimeRange> ParseFhirTime(std::string_view s) {
  int year = 0, month = 1, day = 1;
  if (!Digits(s, 0, 4, year)) return std::nullopt;
  if (s.size() == 4) {
    int64_t a = DaysFromCivil(year, 1, 1) * kMsPerDay;
    int64_t b = DaysFromCivil(year + 1, 1, 1) * kMsPerDay - 1;
    return TimeRange{a, b};
  }
  if (s[4] != '-' || !Digits(s, 5, 2, month) || month < 1 || month > 12) return std::nullopt;
  if (s.size() == 7) {
    int64_t a = DaysFromCivil(year, month, 1) * kMsPerDay;
    int64_t b = a + DaysInMonth(year, month) * kMsPerDay - 1;
    return TimeRange{a, b};
  }
  if (s[7] != '-' || !Digits(s, 8, 2, day) || day < 1 || day > DaysInMonth(year, month)) {
    return std::nullopt;
  }
  int64_t day_start = DaysFromCivil(year, month, day) * kMsPerDay;
  if (s.size() == 10) return TimeRange{day_start, day_start + kMsPerDay - 1};
  int hh = 0, mm = 0, ss = 0;
  if (s[10] != 'T' || !Digits(s, 11, 2, hh) || s.size() < 19 || s[13] != ':' ||
      !Digits(s, 14, 2, mm) || s[16] != ':' || !Digits(s, 17, 2, ss) || hh > 23 || mm > 59 ||
      ss > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) ms += (s[pos] - '0') * scale, scale /= 10;
      ++pos, ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  int64_t offset_ms = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh = 0, om = 0;
      if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !Digits(s, pos + 4, 2, om) || oh > 14 || om > 59 || (oh == 14 && om != 0)) {
        return std::nullopt;
      }
      offset_ms = (oh * 60 + om) * 60'000LL * (s[pos] == '-' ? -1 : 1);
      pos += 6;
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  int64_t t = day_start + ((hh * 60 + mm) * 60 + ss) * 1000LL + ms - offset_ms;
  return TimeRange{t, t};
}

CivilDay CivilFromDays(int64_t days) {
  // civil_from_days (Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms")
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y0 = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y0 + (m <= 2), m, d};
}

std::string FormatUtc(int64_t ms) {
  int64_t days = ms >= 0 ? ms / kMsPerDay : (ms - kMsPerDay + 1) / kMsPerDay;
  int64_t rem = ms - days * kMsPerDay;
  const CivilDay c = CivilFromDays(days);
  const int64_t y = c.year;
  const unsigned m = c.month, d = c.day;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y),
                m, d, static_cast<int>(rem / 3'600'000), static_cast<int>(rem / 60'000 % 60),
                static_cast<int>(rem / 1000 % 60), static_cast<int>(rem % 1000));
  return buf;
}

}  // namespace medlake
