// Coded observations to NEWS2 readings.
#include "scores/vital_codes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace medlake::scores {
namespace {

TEST(VitalCodes, NumericLoincCodes) {
  auto rr = VitalFromQuantity("9279-1", 18, "/min");
  ASSERT_TRUE(rr.has_value());
  EXPECT_EQ(rr->parameter, Parameter::kRespirationRate);
  EXPECT_EQ(VitalFromQuantity("59408-5", 95, "%")->parameter, Parameter::kSpO2);
  EXPECT_EQ(VitalFromQuantity("8480-6", 120, "mm[Hg]")->parameter, Parameter::kSystolicBp);
  EXPECT_EQ(VitalFromQuantity("8867-4", 70, "/min")->parameter, Parameter::kPulse);
  EXPECT_EQ(VitalFromQuantity("8310-5", 37.2, "Cel")->value, 37.2);
  EXPECT_NEAR(VitalFromQuantity("8310-5", 98.6, "[degF]")->value, 37.0, 1e-9);
  EXPECT_FALSE(VitalFromQuantity("8310-5", 310, "K").has_value());
  EXPECT_FALSE(VitalFromQuantity("8462-4", 80, "mm[Hg]").has_value());  // diastolic: not NEWS2
  EXPECT_FALSE(VitalFromQuantity("2093-3", 190, "mg/dL").has_value());
}

// UCUM spells rates "1/min" as well as "/min", with annotations ("{beat}/min") that do not
// change the unit; SpO2 may be a fraction ("1"); mm[Hg] is 133.322 Pa. Readings in these
// units were dropped, and the parameter reported missing.
TEST(VitalCodes, EquivalentUcumUnits) {
  EXPECT_EQ(VitalFromQuantity("9279-1", 30, "1/min")->value, 30);
  EXPECT_EQ(VitalFromQuantity("9279-1", 30, "{breath}/min")->value, 30);
  EXPECT_EQ(VitalFromQuantity("8867-4", 135, "1/min")->value, 135);
  EXPECT_EQ(VitalFromQuantity("8867-4", 135, "{beat}/min")->value, 135);
  EXPECT_FALSE(VitalFromQuantity("8867-4", 135, "/h").has_value());
  EXPECT_FALSE(VitalFromQuantity("8867-4", 135, "{beat/min").has_value());
  EXPECT_NEAR(VitalFromQuantity("59408-5", 0.88, "1")->value, 88, 1e-9);
  EXPECT_NEAR(VitalFromQuantity("8480-6", 16, "kPa")->value, 120.01, 0.01);
}

TEST(VitalCodes, OxygenFromFiO2AndFlow) {
  auto air = VitalFromQuantity("3150-0", 21, "%");
  ASSERT_TRUE(air.has_value());
  EXPECT_EQ(air->parameter, Parameter::kSupplementalOxygen);
  EXPECT_EQ(air->value, 0);
  EXPECT_EQ(VitalFromQuantity("3150-0", 28, "%")->value, 1);
  EXPECT_EQ(VitalFromQuantity("3150-0", 0.4, "1")->value, 1);
  EXPECT_EQ(VitalFromQuantity("3150-0", 0.21, "1")->value, 0);
  // FiO2 is at least room air's 20.9 %: an unlabelled value of at most 1 is a fraction.
  EXPECT_EQ(VitalFromQuantity("3150-0", 0.40, "")->value, 1);
  EXPECT_EQ(VitalFromQuantity("3150-0", 1.0, "")->value, 1);
  EXPECT_EQ(VitalFromQuantity("3150-0", 0.21, "")->value, 0);
  EXPECT_EQ(VitalFromQuantity("3150-0", 40, "")->value, 1);
  EXPECT_EQ(VitalFromQuantity("3150-0", 21, "")->value, 0);
  EXPECT_EQ(VitalFromQuantity("3150-0", 20.9, "%")->value, 0);
  // Neither a fraction nor a percentage of inhaled oxygen: not a reading.
  EXPECT_FALSE(VitalFromQuantity("3150-0", 4, "").has_value());
  EXPECT_FALSE(VitalFromQuantity("3150-0", 0.4, "%").has_value());
  EXPECT_FALSE(VitalFromQuantity("3150-0", 40, "1").has_value());
  EXPECT_FALSE(VitalFromQuantity("3150-0", 0.1, "1").has_value());
  EXPECT_FALSE(VitalFromQuantity("3150-0", 120, "%").has_value());
  EXPECT_EQ(VitalFromQuantity("3151-8", 2, "L/min")->value, 2);
  EXPECT_EQ(VitalFromQuantity("3151-8", 0, "L/min")->value, 0);
}

TEST(VitalCodes, Acvpu) {
  EXPECT_EQ(AcvpuFromCode("248234008"), Acvpu::kAlert);
  EXPECT_EQ(AcvpuFromCode("130987000"), Acvpu::kConfusion);
  EXPECT_EQ(AcvpuFromCode("300202002"), Acvpu::kVoice);
  EXPECT_EQ(AcvpuFromCode("450847001"), Acvpu::kPain);
  EXPECT_EQ(AcvpuFromCode("422768004"), Acvpu::kUnresponsive);
  EXPECT_EQ(AcvpuFromCode("U"), Acvpu::kUnresponsive);
  EXPECT_FALSE(AcvpuFromCode("X").has_value());
}

// Only a level-of-responsiveness Observation gives a letter its ACVPU meaning: a blood group
// "A" or a test result "P" (Positive) is no consciousness level (NEWS2 scored them as Alert and
// Pain). SNOMED CT levels count in any Observation.
TEST(VitalCodes, AcvpuOnlyFromALevelOfResponsivenessOrSnomedLevels) {
  struct C {
    std::string system, code;
  };
  const std::string loinc = "http://loinc.org", snomed = "http://snomed.info/sct";
  using V = std::vector<C>;
  EXPECT_EQ(AcvpuOf(V{{loinc, "67775-7"}, {"urn:local", "C"}}), Acvpu::kConfusion);
  EXPECT_EQ(AcvpuOf(V{{loinc, "67775-7"}, {snomed, "450847001"}}), Acvpu::kPain);
  EXPECT_EQ(AcvpuOf(V{{snomed, "422768004"}}), Acvpu::kUnresponsive);
  EXPECT_FALSE(AcvpuOf(V{{loinc, "94500-6"}, {"http://lab.example/flags", "P"}}));
  EXPECT_FALSE(AcvpuOf(V{{loinc, "882-1"}, {"http://lab.example/abo", "A"}}));
  EXPECT_FALSE(AcvpuOf(V{{"urn:local", "248234008"}}));  // a SNOMED code in another system
  EXPECT_FALSE(AcvpuOf(V{}));
}

}  // namespace
}  // namespace medlake::scores
