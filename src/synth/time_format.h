// Fast, allocation-free formatting of UTC times for the writers (FHIR and HL7 v2 forms).
#pragma once

#include <cstdint>
#include <string>

namespace medlake::synth {

struct CivilDate {
  int64_t year;
  unsigned month;
  unsigned day;
};

// Proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
CivilDate CivilFromDays(int64_t days);

// Days since the epoch of the UTC day holding millisecond `ms`.
inline int64_t DayOf(int64_t ms) {
  return ms >= 0 ? ms / 86'400'000 : -((-ms + 86'399'999) / 86'400'000);
}

// "YYYY-MM-DD".
void AppendFhirDate(int64_t day, std::string& out);
// "YYYY-MM-DDThh:mm:ssZ" (a FHIR dateTime and instant).
void AppendFhirDateTime(int64_t ms, std::string& out);
// "YYYYMMDDhhmmss" (HL7 v2 DTM).
void AppendHl7Time(int64_t ms, std::string& out);
// "YYYYMMDD".
void AppendHl7Date(int64_t day, std::string& out);

}  // namespace medlake::synth
