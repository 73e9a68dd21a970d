#include "synth/time_format.h"

#include "common/fhir_time.h"

namespace medlake::synth {
namespace {

void Append2(unsigned v, std::string& out) {
  out.push_back(static_cast<char>('0' + v / 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

void Append4(int64_t v, std::string& out) {
  const unsigned u = static_cast<unsigned>(v < 0 ? 0 : v % 10000);
  Append2(u / 100, out);
  Append2(u % 100, out);
}

}  // namespace

CivilDate CivilFromDays(int64_t z) {
  const CivilDay c = medlake::CivilFromDays(z);
  return {c.year, c.month, c.day};
}

void AppendFhirDate(int64_t day, std::string& out) {
  const CivilDate c = CivilFromDays(day);
  Append4(c.year, out);
  out.push_back('-');
  Append2(c.month, out);
  out.push_back('-');
  Append2(c.day, out);
}

void AppendFhirDateTime(int64_t ms, std::string& out) {
  const int64_t day = DayOf(ms);
  const int64_t sec = (ms - day * 86'400'000) / 1000;
  AppendFhirDate(day, out);
  out.push_back('T');
  Append2(static_cast<unsigned>(sec / 3600), out);
  out.push_back(':');
  Append2(static_cast<unsigned>(sec / 60 % 60), out);
  out.push_back(':');
  Append2(static_cast<unsigned>(sec % 60), out);
  out.push_back('Z');
}

void AppendHl7Date(int64_t day, std::string& out) {
  const CivilDate c = CivilFromDays(day);
  Append4(c.year, out);
  Append2(c.month, out);
  Append2(c.day, out);
}

void AppendHl7Time(int64_t ms, std::string& out) {
  const int64_t day = DayOf(ms);
  const int64_t sec = (ms - day * 86'400'000) / 1000;
  AppendHl7Date(day, out);
  Append2(static_cast<unsigned>(sec / 3600), out);
  Append2(static_cast<unsigned>(sec / 60 % 60), out);
  Append2(static_cast<unsigned>(sec % 60), out);
}

}  // namespace medlake::synth
