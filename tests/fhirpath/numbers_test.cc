// Integer, Decimal and Quantity arithmetic, comparison and output (FHIRPath N1 §4.1, §6.1,
// §6.6).
#include <gtest/gtest.h>

#include <string>

#include "eval_util.h"

namespace medlake::fhirpath {
namespace {

using testing::EvalText;

// N1 §6.6: "Operations that cause arithmetic overflow or underflow will result in empty".
// They wrapped (9223372036854775807 + 1 was negative), abs() of INT64_MIN stayed negative,
// and INT64_MIN mod -1 killed the process with SIGFPE.
TEST(IntegerTest, OverflowIsEmptyNotAWrongValueOrACrash) {
  EXPECT_EQ(EvalText("9223372036854775807 + 1"), "");
  EXPECT_EQ(EvalText("(-9223372036854775807 - 2)"), "");
  EXPECT_EQ(EvalText("3037000500 * 3037000500"), "");
  EXPECT_EQ(EvalText("(-9223372036854775807 - 1).abs()"), "");
  EXPECT_EQ(EvalText("-(-9223372036854775807 - 1)"), "");
  EXPECT_EQ(EvalText("(-9223372036854775807 - 1) div -1"), "");
  EXPECT_EQ(EvalText("(-9223372036854775807 - 1) mod -1"), "0");
  EXPECT_EQ(EvalText("2.power(63)"), "");
  EXPECT_EQ(EvalText("(1.0 * 10000000000 * 10000000000).floor()"), "");
  // In range, the exact value (div and power went through doubles).
  EXPECT_EQ(EvalText("9223372036854775806 + 1"), "9223372036854775807");
  EXPECT_EQ(EvalText("(-9223372036854775807 - 1)"), "-9223372036854775808");
  EXPECT_EQ(EvalText("9007199254740993 div 1"), "9007199254740993");
  EXPECT_EQ(EvalText("3.power(39)"), "4052555153018976267");
  EXPECT_EQ(EvalText("-7 div 2"), "-3");
  EXPECT_EQ(EvalText("-7 mod 2"), "-1");
  EXPECT_EQ(EvalText("5 div 0"), "");
}

// A literal beyond 64 bits was clamped to 9223372036854775807: now a compile error.
TEST(IntegerTest, LiteralOutOfRangeIsASyntaxError) {
  auto e = Expression::Compile("99999999999999999999");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("integer literal out of range"), std::string::npos)
      << e.status().message();
  EXPECT_NE(e.status().message().find("column 1"), std::string::npos) << e.status().message();
  EXPECT_TRUE(Expression::Compile("9223372036854775807").ok());
}

constexpr std::string_view kDecimals = R"({"resourceType": "Observation", "id": "d1",
  "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": 1234567.123456789,
  "unit": "1"}, "extension": [{"url": "http://x/d", "valueDecimal": 1.50}]})";

// docs/fhirpath.md: a decimal read from a resource is written as it was. It came out through
// printf's "%.15g" (1234567.123456789 as 1234567.12345679) and without its trailing zeros
// (1.50 as 1.5); a computed one is written with its precision, or in the shortest form that
// reads back as the same number.
TEST(DecimalTest, OutputIsFaithful) {
  EXPECT_EQ(testing::EvalJson("value.value", kDecimals), "[1234567.123456789]");
  EXPECT_EQ(testing::EvalJson("value.value.toString()", kDecimals), "[\"1234567.123456789\"]");
  EXPECT_EQ(testing::EvalJson("extension('http://x/d').value", kDecimals), "[1.50]");
  EXPECT_EQ(EvalText("extension('http://x/d').value", kDecimals), "1.50");
  EXPECT_EQ(testing::EvalJson("1.0 / 3"), "[0.3333333333333333]");
  EXPECT_EQ(testing::EvalJson("1234567.123456789 * 1"), "[1234567.123456789]");
  EXPECT_EQ(testing::EvalJson("(1.0 / 3 * 3000000).toString()"), "[\"1000000\"]");
  EXPECT_EQ(testing::EvalJson("0.10 + 0.2"), "[0.30]");
  EXPECT_EQ(testing::EvalJson("-0.001.round(2)"), "[0.00]");
  EXPECT_EQ(FormatDecimal(1e300, 2).size(), 304u);
}

constexpr std::string_view kWeight = R"({"resourceType": "Observation", "id": "o1",
  "status": "final", "code": {"text": "weight"}, "valueQuantity": {"value": 72.50, "unit": "kg",
  "system": "http://unitsofmeasure.org", "code": "kg"}})";

// N1 §6.6: "The unit of the result will be the most granular unit of either input" (3 'm' +
// 3 'cm' is 303 'cm'). Sums were rounded to the wrong scale: 3 'm' - 25 'cm' printed 3 'm',
// and 72.50 'kg' read from a resource (its scale unknown) + 250 'g' printed 73 'kg'.
TEST(QuantityTest, SumsKeepTheirDigitsInTheFinerUnit) {
  EXPECT_EQ(EvalText("3 'm' - 25 'cm'"), "275 'cm'");
  EXPECT_EQ(EvalText("3 'm' + 3 'cm'"), "303 'cm'");
  EXPECT_EQ(EvalText("25 'cm' - 3 'm'"), "-275 'cm'");
  EXPECT_EQ(EvalText("2.5 'm' + 1.25 'cm'"), "251.25 'cm'");
  EXPECT_EQ(EvalText("value + 250 'g'", kWeight), "72750 'g'");
  EXPECT_EQ(EvalText("value + 0.25 'kg'", kWeight), "72.75 'kg'");
  EXPECT_EQ(EvalText("(value + 250 'g') = 72.75 'kg'", kWeight), "true");
  EXPECT_EQ(EvalText("1 '[lb_av]' + 1 'g'"), "454.59237 'g'");
  EXPECT_EQ(EvalText("1 'kg' + 1 'm'"), "");
  // A Decimal of unknown scale no longer turns the sum into an Integer-looking value.
  EXPECT_EQ(EvalText("1.0 / 4 + 1"), "1.25");
}

// Equality and ordering of numbers used a relative tolerance of 1e-12: 1000000000001.0 =
// 1000000000000.0 was true and a union dropped one of two different values. N1 §6.1.1:
// equality is exact; §6.1.3: equivalence rounds to the least precise operand.
// '0' is a UCUM unit (the number 0): a quantity in it has no common unit with another, whose
// factor to it is infinite. Compared, both give what quantities of other dimensions give; the
// infinite factor went on into the conversion's scale (a fuzz input: UBSan, inf cast to int).
TEST(QuantityTest, AUnitOfFactorZeroHasNoCommonUnit) {
  for (std::string_view op : {"<", ">", "=", "~", "<=", "!="}) {
    const std::string other = "33 'g' " + std::string(op) + " 3 'm'";
    EXPECT_EQ(EvalText("33 '' " + std::string(op) + " 3 '0'"), EvalText(other)) << op;
    EXPECT_EQ(EvalText("3 '0' " + std::string(op) + " 33 ''"), EvalText(other)) << op;
  }
  EXPECT_EQ(EvalText("33 '' < 3 '0' < 2"), "");
  EXPECT_EQ(EvalText("(33 '').toQuantity('0')"), "");
  EXPECT_EQ(EvalText("(3 '0').toQuantity('')"), "");
  EXPECT_EQ(EvalText("(3 '0').toQuantity('0')"), "3 '0'");
}

// An exponent past what any unit has is no unit, as an unknown atom is: multiplied into the
// dimensions it overflowed an int (a fuzz input: UBSan, signed integer overflow).
TEST(QuantityTest, AnExponentTooLargeIsNoUnit) {
  for (std::string_view unit : {"m-1026405035", "m3000000000", "10*3000000000", "10*99999"}) {
    const std::string given = "1 '" + std::string(unit) + "'";
    EXPECT_EQ(EvalText(given + " = 1 'm'"), EvalText("1 'xyz' = 1 'm'")) << unit;
    EXPECT_EQ(EvalText(given + ".toQuantity('m')"), "") << unit;
  }
  // atoi took 2^32 for 0: the unit was m to the power 0, a number.
  EXPECT_EQ(EvalText("1 'm4294967296' = 1 '1'"), EvalText("1 'xyz' = 1 '1'"));
  EXPECT_EQ(EvalText("1 'm2' = 10000 'cm2'"), "true");
  EXPECT_EQ(EvalText("1 '10*3/L' = 1 '/mL'"), "true");
}

TEST(DecimalTest, EqualityIsExact) {
  EXPECT_EQ(EvalText("1000000000001.0 = 1000000000000.0"), "false");
  EXPECT_EQ(EvalText("1000000000001.0 > 1000000000000.0"), "true");
  EXPECT_EQ(EvalText("1000000000001 = 1000000000000.0"), "false");
  EXPECT_EQ(EvalText("(1000000000000.1 | 1000000000000.2).count()"), "2");
  EXPECT_EQ(EvalText("9007199254740993 = 9007199254740992.0"), "false");
  EXPECT_EQ(EvalText("9007199254740993 > 9007199254740992.0"), "true");
  EXPECT_EQ(EvalText("1.0 = 1"), "true");
  EXPECT_EQ(EvalText("1.50 = 1.5"), "true");
  // Results of known precision are the decimal they stand for.
  EXPECT_EQ(EvalText("0.1 + 0.2 = 0.3"), "true");
  EXPECT_EQ(EvalText("1.1 * 1.1 = 1.21"), "true");
  EXPECT_EQ(EvalText("0.3 - 0.1 = 0.2"), "true");
  EXPECT_EQ(EvalText("(1.0 / 3) = 0.3333333333"), "false");
  // Equivalence rounds to the less precise operand.
  EXPECT_EQ(EvalText("(1.0 / 3) ~ 0.3333333333"), "true");
  EXPECT_EQ(EvalText("1.01 ~ 1.0"), "true");
  EXPECT_EQ(EvalText("1.06 ~ 1.0"), "false");
  // Quantities in different units compare in a common unit without the conversion's binary
  // error deciding.
  EXPECT_EQ(EvalText("3 'm' = 300 'cm'"), "true");
  EXPECT_EQ(EvalText("3 'm' = 300.0001 'cm'"), "false");
  EXPECT_EQ(EvalText("100 'mg/dL' = 1 'g/L'"), "true");
  EXPECT_EQ(EvalText("4 'g' ~ 4040 'mg'"), "true");
  EXPECT_EQ(EvalText("1 '[lb_av]' = 453.59237 'g'"), "true");
}

constexpr std::string_view kEncounter = R"({"resourceType": "Encounter", "id": "e1",
  "status": "finished", "class": {"code": "IMP"},
  "period": {"start": "2020-01-01", "end": "2020-01-05T10:00:00Z"}})";

// SQL-on-FHIR v2 requires lowBoundary() and highBoundary() on a Period (its start's low and its
// end's high boundary): both were empty.
TEST(BoundaryTest, PeriodBoundariesAreThoseOfItsStartAndEnd) {
  EXPECT_EQ(EvalText("period.lowBoundary()", kEncounter), "2020-01-01T00:00:00.000+14:00");
  EXPECT_EQ(EvalText("period.highBoundary()", kEncounter), "2020-01-05T10:00:00.999Z");
  EXPECT_EQ(EvalText("period.lowBoundary(8)", kEncounter), "2020-01-01");
  EXPECT_EQ(EvalText("period.highBoundary(8)", kEncounter), "2020-01-05");
  EXPECT_EQ(testing::EvalJson("period.lowBoundary()", kEncounter),
            "[\"2020-01-01T00:00:00.000+14:00\"]");
  // Open at one side: that boundary is empty.
  constexpr std::string_view kOpen = R"({"resourceType": "Encounter", "id": "e2",
    "status": "in-progress", "class": {"code": "IMP"}, "period": {"start": "2021-03"}})";
  EXPECT_EQ(EvalText("period.lowBoundary()", kOpen), "2021-03-01T00:00:00.000+14:00");
  EXPECT_EQ(EvalText("period.highBoundary()", kOpen), "");
  // Other complex types still have none.
  EXPECT_EQ(EvalText("class.lowBoundary()", kEncounter), "");
}

// repeat() with a projection that always makes new items ran until memory was gone.
TEST(RepeatTest, AProjectionThatNeverEndsIsAnError) {
  const std::string deep = EvalText("1.repeat($this + 1).count()");
  EXPECT_NE(deep.find("error: repeat() went more than 1000 levels"), std::string::npos) << deep;
  const std::string wide = EvalText("1.repeat($this | ($this * 2) | ($this * 2 + 1)).count()");
  EXPECT_NE(wide.find("error: repeat() gave more than 10000 items"), std::string::npos) << wide;
  // The projections only, each once (N1 §5.2.8): 2, 3, 4, 5.
  EXPECT_EQ(EvalText("(1 | 2).repeat(iif($this < 5, $this + 1, {})).count()"), "4");
}

// Date and time arithmetic past years 1-9999 is empty (N1 §6.6), not a wrapped value: a sum
// of seconds gave -292275005-05-16T16:47:05Z, and a subtraction of days the same date.
TEST(TemporalArithmeticTest, OutOfRangeIsEmpty) {
  EXPECT_EQ(EvalText("@2020-01-01T00:00:00Z + 9223372036854775 's'"), "");
  EXPECT_EQ(EvalText("@2020-01-01 - 9223372036854775807 days"), "");
  EXPECT_EQ(EvalText("@9999-12-31 + 1 day"), "");
  EXPECT_EQ(EvalText("@2020 + 8000 years"), "");
  EXPECT_EQ(EvalText("@2020-01-01 + 1 day"), "2020-01-02");
  EXPECT_EQ(EvalText("@T23:00 + 2 hours"), "T01:00");  // times wrap around the day
  EXPECT_EQ(EvalText("@T10:00 + 2562047788015215 'h'"), "");
}

}  // namespace
}  // namespace medlake::fhirpath
