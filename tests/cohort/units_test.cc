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

// The conversion is decided by the pair of units, then the code: % <-> mmol/mol is the master
// equation for every HbA1c code whose % is NGSP (6.0 % is 42 mmol/mol, it was 60 by a UCUM x10
// for the codes outside a short list), and no conversion at all for any other code.
TEST(CohortUnits, HbA1cPercentAndMmolPerMolByTheUnitPair) {
  constexpr const char* kSnomed = "http://snomed.info/sct";
  for (const char* code : {"4548-4", "4549-2", "17855-8", "17856-6", "71875-9", "96595-4"}) {
    EXPECT_NEAR(Convert(code, "%", "mmol/mol", 6.0), 42.07, 0.01) << code;
    EXPECT_NEAR(Convert(code, "mmol/mol", "%", 53), 7.0, 0.01) << code;
  }
  auto snomed = UnitConversion(kSnomed, "43396009", "%", "mmol/mol");
  ASSERT_TRUE(snomed.has_value());
  EXPECT_NEAR(snomed->Apply(8.0), 63.93, 0.01);
  // UCUM annotations do not change the unit.
  EXPECT_NEAR(Convert("4548-4", "%{HbA1c}", "mmol/mol", 6.0), 42.07, 0.01);
  // The IFCC code's own unit is mmol/mol; a % under it would be the former IFCC %, not NGSP.
  EXPECT_NEAR(Convert("59261-8", "mmol/mol", "%", 53), 7.0, 0.01);
  EXPECT_FALSE(UnitConversion(kLoinc, "59261-8", "%", "mmol/mol").has_value());
  // JDS/JSCC % (Japan) is another scale than NGSP; an unknown code has no HbA1c relation.
  EXPECT_FALSE(UnitConversion(kLoinc, "62388-4", "%", "mmol/mol").has_value());
  EXPECT_FALSE(UnitConversion(kLoinc, "1234-5", "%", "mmol/mol").has_value());
  EXPECT_FALSE(UnitConversion(kLoinc, "1234-5", "mmol/mol", "%").has_value());
  EXPECT_FALSE(UnitConversion(kSnomed, "27113001", "%", "mmol/mol").has_value());
  EXPECT_FALSE(UnitConversion(kLoinc, "1234-5", "umol/mol", "1").has_value());
  // 41995-2 is HbA1c [Mass/volume] in Blood: a mass concentration, scaled by UCUM, never a %.
  EXPECT_NEAR(Convert("41995-2", "g/dL", "g/L", 1.1), 11, 1e-9);
  EXPECT_FALSE(UnitConversion(kLoinc, "41995-2", "%", "mmol/mol").has_value());
  // Substance fractions among themselves still scale.
  EXPECT_NEAR(Convert("1234-5", "mmol/mol", "umol/mol", 2), 2000, 1e-9);
}

TEST(CohortUnits, UcumSameDimension) {
  EXPECT_NEAR(Convert("718-7", "g/dL", "g/L", 13.5), 135, 1e-9);
  EXPECT_NEAR(Convert("6690-2", "10*3/uL", "10*9/L", 7.2), 7.2, 1e-9);
  EXPECT_NEAR(Convert("14682-9", "umol/L", "mmol/L", 88.4), 0.0884, 1e-12);
  // UCUM: eq is mol. Sodium and potassium are written in either (they did not convert).
  EXPECT_NEAR(Convert("2951-2", "mmol/L", "meq/L", 128), 128, 1e-9);
  EXPECT_NEAR(Convert("2823-3", "meq/L", "mmol/L", 5.6), 5.6, 1e-9);
  // An annotation does not change the unit, for HbA1c codes too (they did not match).
  EXPECT_NEAR(Convert("4548-4", "%{HbA1c}", "%", 8.0), 8.0, 1e-12);
  EXPECT_NEAR(Convert("17855-8", "%", "%{HbA1c}", 8.0), 8.0, 1e-12);
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
