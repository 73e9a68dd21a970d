#include "cohort/units.h"

#include <gtest/gtest.h>

#include <cmath>

namespace medlake::cohort {
namespace {

constexpr const char* kLoinc = "http://loinc.org";

double Convert(const char* code, const char* from, const char* to, double v) {
  auto a = UnitConversion(kLoinc, code, from, to);
  EXPECT_TRUE(a.has_value()) << code << " " << from << " -> " << to;
  return a ? a->Apply(v) : NAN;
}

TEST(CohortUnits, HbA1cIfccToNgspByTheMasterEquation) {
  // Hoelzel et al. 2004: NGSP = 0.09148 * IFCC + 2.152. 53 mmol/mol is the classic 7.0 %.
  EXPECT_NEAR(Convert("59261-8", "mmol/mol", "%", 53), 7.0, 0.01);
  EXPECT_NEAR(Convert("4548-4", "%", "mmol/mol", 7.5), 58.46, 0.01);
  // Not a UCUM scaling (which would make 7.5 % = 75 mmol/mol).
  EXPECT_FALSE(UnitConversion(kLoinc, "4548-4", "%", "mg/dL").has_value());
}

TEST(CohortUnits, UcumSameDimension) {
  EXPECT_NEAR(Convert("718-7", "g/dL", "g/L", 13.5), 135, 1e-9);
  EXPECT_NEAR(Convert("6690-2", "10*3/uL", "10*9/L", 7.2), 7.2, 1e-9);
  EXPECT_NEAR(Convert("14682-9", "umol/L", "mmol/L", 88.4), 0.0884, 1e-12);
}

TEST(CohortUnits, MassToSubstanceByMolarMass) {
  // Glucose 180.156 g/mol: 100 mg/dL = 5.55 mmol/L. Creatinine 113.12: 1 mg/dL = 88.4 umol/L.
  EXPECT_NEAR(Convert("2345-7", "mg/dL", "mmol/L", 100), 5.551, 0.001);
  EXPECT_NEAR(Convert("14749-6", "mmol/L", "mg/dL", 5.551), 100, 0.01);
  EXPECT_NEAR(Convert("2160-0", "mg/dL", "umol/L", 1), 88.40, 0.01);
  // Without a known analyte, mass and substance do not convert.
  EXPECT_FALSE(UnitConversion(kLoinc, "1988-5", "mg/L", "mmol/L").has_value());
  EXPECT_FALSE(UnitConversion("http://snomed.info/sct", "2345-7", "mg/dL", "mmol/L").has_value());
}

// Fasting glucose (1558-6) was not a known analyte: 140 mg/dL against >= 7.0 mmol/L (the
// diabetes threshold) was unconvertible. Temperatures have different zeros.
TEST(CohortUnits, FastingGlucoseAndTemperatures) {
  EXPECT_NEAR(Convert("1558-6", "mg/dL", "mmol/L", 140), 7.771, 0.001);
  EXPECT_NEAR(Convert("14771-0", "mmol/L", "mg/dL", 7.0), 126.1, 0.1);
  EXPECT_NEAR(Convert("8310-5", "[degF]", "Cel", 98.6), 37.0, 1e-9);
  EXPECT_NEAR(Convert("8310-5", "Cel", "[degF]", 38.0), 100.4, 1e-9);
  EXPECT_NEAR(Convert("8310-5", "K", "Cel", 310.15), 37.0, 1e-9);
}

TEST(CohortUnits, EmptyAndUnknownUnits) {
  EXPECT_TRUE(UnitConversion(kLoinc, "x", "", "").has_value());
  EXPECT_FALSE(UnitConversion(kLoinc, "x", "", "mg").has_value());
  EXPECT_FALSE(UnitConversion(kLoinc, "x", "mg", "[not a unit]").has_value());
}

}  // namespace
}  // namespace medlake::cohort
