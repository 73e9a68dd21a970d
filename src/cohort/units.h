// Unit conversion for cohort value criteria: a measurement is compared in the criterion's unit
// whatever unit the laboratory reported it in (docs/cohorts.md, "Unit conversion").
#pragma once

#include <optional>
#include <string_view>

namespace medlake::cohort {

// value_in_target = scale * value + offset
struct Affine {
  double scale = 1;
  double offset = 0;
  double Apply(double v) const { return scale * v + offset; }
};

// The conversion of a value of the analyte coded (system, code) from unit `from` to unit `to`;
// nullopt when the units are not convertible for this analyte. Empty units convert only to
// empty units.
std::optional<Affine> UnitConversion(std::string_view system, std::string_view code,
                                     std::string_view from, std::string_view to);

}  // namespace medlake::cohort
