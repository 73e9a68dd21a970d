#include <gtest/gtest.h>

#include "fhirpath/fhirpath.h"

namespace medlake::fhirpath {
namespace {

constexpr std::string_view kPatient = R"({
  "resourceType": "Patient", "id": "p1",
  "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
           {"use": "usual", "given": ["Jim"]}],
  "birthDate": "1974-12-25",
  "_birthDate": {"extension": [{"url": "http://example.org/time", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
  "deceasedBoolean": false,
  "managingOrganization": {"reference": "Organization/1"}
})";

constexpr std::string_view kObservation = R"({
  "resourceType": "Observation", "id": "o1", "status": "final",
  "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
})";

class FhirPathTest : public ::testing::Test {
 protected:
  Collection Eval(std::string_view resource, std::string_view expr) {
    auto root = parser_.Parse(resource);
    EXPECT_TRUE(root.ok());
    auto compiled = Expression::Compile(expr);
    EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
    if (!compiled.ok()) return {};
    auto r = compiled->Evaluate(*root);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Collection{};
  }
  std::string EvalText(std::string_view resource, std::string_view expr) {
    std::string out;
    for (const Item& item : Eval(resource, expr)) {
      if (!out.empty()) out += ",";
      out += ItemToString(item);
    }
    return out;
  }
  json::Parser parser_;
};

TEST_F(FhirPathTest, Paths) {
  EXPECT_EQ(EvalText(kPatient, "Patient.name.given"), "Peter,James,Jim");
  EXPECT_EQ(EvalText(kPatient, "name.where(use = 'usual').given.first()"), "Jim");
  EXPECT_EQ(EvalText(kPatient, "Patient.name.given.count()"), "3");
}

TEST_F(FhirPathTest, ChoiceTypes) {
  EXPECT_EQ(EvalText(kObservation, "Observation.value.unit"), "lbs");
  EXPECT_EQ(EvalText(kObservation, "Observation.value is Quantity"), "true");
  EXPECT_EQ(EvalText(kObservation, "Observation.value.as(Quantity).value > 100"), "true");
  EXPECT_EQ(EvalText(kPatient, "Patient.deceased is boolean"), "true");
}

TEST_F(FhirPathTest, PrimitiveExtensions) {
  EXPECT_EQ(EvalText(kPatient, "birthDate.extension('http://example.org/time').value"),
            "1974-12-25T14:35:45-05:00");
}

TEST_F(FhirPathTest, ThreeValuedLogic) {
  EXPECT_EQ(EvalText(kPatient, "{} and false"), "false");
  EXPECT_EQ(EvalText(kPatient, "{} and true"), "");
  EXPECT_EQ(EvalText(kPatient, "{} or true"), "true");
  EXPECT_EQ(EvalText(kPatient, "false implies {}"), "true");
}

TEST_F(FhirPathTest, DatesAndQuantities) {
  EXPECT_EQ(EvalText(kPatient, "@2012-04-15 < @2012-04-16"), "true");
  EXPECT_EQ(EvalText(kPatient, "@2012-04-15T10:00:00Z = @2012-04-15T12:00:00+02:00"), "true");
  EXPECT_EQ(EvalText(kPatient, "@2012 = @2012-04"), "");
  EXPECT_EQ(EvalText(kPatient, "1 'kg' = 1000 'g'"), "true");
  EXPECT_EQ(EvalText(kPatient, "@2019-01-31 + 1 month"), "2019-02-28");
  EXPECT_EQ(EvalText(kPatient, "7 days = 1 week"), "true");
}

TEST_F(FhirPathTest, ReferenceKeys) {
  EXPECT_EQ(EvalText(kPatient, "getResourceKey()"), "p1");
  EXPECT_EQ(EvalText(kPatient, "managingOrganization.getReferenceKey(Organization)"), "1");
  EXPECT_EQ(EvalText(kPatient, "managingOrganization.getReferenceKey(Patient)"), "");
}

TEST_F(FhirPathTest, ParseErrorsCarryTheColumn) {
  auto e = Expression::Compile("name.given +");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("column"), std::string::npos) << e.status().message();
  auto f = Expression::Compile("name.nosuchfunction()");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("column 6"), std::string::npos) << f.status().message();
}

TEST_F(FhirPathTest, SingletonErrors) {
  auto root = parser_.Parse(kPatient);
  ASSERT_TRUE(root.ok());
  auto e = Expression::Compile("name.given + 'x'");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->Evaluate(*root).ok());
}

}  // namespace
}  // namespace medlake::fhirpath
