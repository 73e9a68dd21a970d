#include "synth/config.h"

#include <fmt/format.h>

#include <charconv>

#include "common/fhir_time.h"
#include "synth/time_format.h"

namespace medlake::synth {

Result<Formats> ParseFormats(std::string_view text) {
  Formats f{false, false, false, false};
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(pos, comma - pos);
    if (item == "fhir") {
      f.fhir = true;
    } else if (item == "hl7v2") {
      f.hl7v2 = true;
    } else if (item == "vcf") {
      f.vcf = true;
    } else if (item == "device") {
      f.device = true;
    } else if (item == "all") {
      f = Formats{};
    } else {
      return InvalidArgument("unknown format '" + std::string(item) +
                             "' (expected fhir, hl7v2, vcf, device or all)");
    }
    pos = comma + 1;
  }
  return f;
}

Result<int64_t> ParseStartDate(std::string_view text) {
  int y = 0;
  unsigned m = 0, d = 0;
  auto num = [&](size_t at, size_t len, auto& out) {
    if (text.size() < at + len) return false;
    auto r = std::from_chars(text.data() + at, text.data() + at + len, out);
    return r.ec == std::errc() && r.ptr == text.data() + at + len;
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !num(0, 4, y) || !num(5, 2, m) ||
      !num(8, 2, d) || m < 1 || m > 12 || d < 1 || d > 31) {
    return InvalidArgument("start date must be YYYY-MM-DD");
  }
  const int64_t days = DaysFromCivil(y, m, d);
  const CivilDate back = CivilFromDays(days);
  if (back.month != m || back.day != d) return InvalidArgument("start date does not exist");
  return days;
}

Status Validate(const SynthConfig& c) {
  if (c.patients < 1 || c.patients > 100'000'000) {
    return InvalidArgument("--patients must be in 1..100000000");
  }
  if (c.years < 1 || c.years > 50) return InvalidArgument("--years must be in 1..50");
  // Every generated date must be writable as YYYY in 0001..9999: birth dates reach up to 106
  // years before the window (ages to 105), events up to 2 years after its end (stays that
  // start in it, a year of clopidogrel after a late myocardial infarction).
  const CivilDate start = CivilFromDays(c.start_day);
  const int year = start.year;
  if (year < kMinStartYear || year + c.years > kMaxWindowEndYear) {
    return InvalidArgument(fmt::format(
        "--start {:04d}-{:02d}-{:02d} with --years {}: every generated date must lie in years "
        "0001-9999 (birth dates reach 106 years before the window, events 2 years "
        "after it), so the window must start in {:04d} or later and end by {}",
        year, start.month, start.day, c.years, kMinStartYear, kMaxWindowEndYear));
  }
  if (!(c.alt_unit_share >= 0 && c.alt_unit_share <= 1)) {  // NaN too
    return InvalidArgument("--alt-unit-share must be in [0, 1]");
  }
  if (!(c.opt_out_share >= 0 && c.opt_out_share <= 1)) {
    return InvalidArgument("--opt-out-share must be in [0, 1]");
  }
  if (c.out_dir.empty()) return InvalidArgument("--out is required");
  if (c.chunk_size < 1) return InvalidArgument("chunk size must be positive");
  if (!c.formats.fhir && !c.formats.hl7v2 && !c.formats.vcf && !c.formats.device) {
    return InvalidArgument("no output format selected");
  }
  return Status::Ok();
}

}  // namespace medlake::synth
