// FHIR date, dateTime and instant values as UTC millisecond ranges.
//
// A partial date covers a range: "2020" is [2020-01-01T00:00:00.000Z, 2020-12-31T23:59:59.999Z].
// Times without an offset are read as UTC (FHIR leaves them local; medlake documents this in
// docs/format.md). Thread-safe, allocation-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medlake {

// Milliseconds since 1970-01-01T00:00:00Z; kNoTime marks "absent".
inline constexpr int64_t kNoTime = INT64_MIN;

struct TimeRange {
  int64_t start = kNoTime;  // first millisecond covered
  int64_t end = kNoTime;    // last millisecond covered (inclusive)
};

// Parses a FHIR R4 date / dateTime / instant (regex of the R4 datatypes page); nullopt when
// malformed (e.g. month 13, "2020-1-5", a time without seconds... FHIR requires seconds).
std::optional<TimeRange> ParseFhirTime(std::string_view text);
// An instant (meta.lastUpdated, Bundle.timestamp, response.lastModified: a dateTime with a time
// of day; one without an offset is read as UTC, as everywhere in medlake) as its first
// millisecond; nullopt for anything else, a date alone included.
std::optional<int64_t> ParseFhirInstant(std::string_view text);

inline constexpr int64_t kMsPerDay = 86'400'000;

// The day (days since 1970-01-01, UTC) holding `ms`, rounding down before 1970.
inline int64_t DayOfMs(int64_t ms) {
  return ms / kMsPerDay - (ms % kMsPerDay < 0 ? 1 : 0);
}

// True for a leap year of the proleptic Gregorian calendar.
inline bool IsLeapYear(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

struct CivilDay {
  int64_t year;
  unsigned month;  // 1-12
  unsigned day;    // 1-31
};
// The proleptic Gregorian date of a day number (days since 1970-01-01), inverse of DaysFromCivil.
CivilDay CivilFromDays(int64_t days);

// ISO 8601 UTC text of `ms`, e.g. "2020-03-01T12:00:00.000Z".
std::string FormatUtc(int64_t ms);

}  // namespace medlake
