// memberOf() against the generated R4 value set table; unknown value sets are errors.
#include <gtest/gtest.h>

#include "fhirpath/fhirpath.h"

namespace medlake::fhirpath {
namespace {

constexpr std::string_view kPatient = R"({"resourceType":"Patient","id":"p1","gender":"female",
  "maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}]},
  "contact":[{"gender":"other"}]})";

class MemberOfTest : public ::testing::Test {
 protected:
  Result<Collection> Eval(std::string_view expr) {
    auto root = parser_.Parse(kPatient);
    EXPECT_TRUE(root.ok());
    auto compiled = Expression::Compile(expr);
    EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
    if (!compiled.ok()) return compiled.status();
    return compiled->Evaluate(*root);
  }
  std::string Text(std::string_view expr) {
    auto r = Eval(expr);
    EXPECT_TRUE(r.ok()) << expr << ": " << r.status().ToString();
    return r.ok() ? CollectionToJson(*r) : "error";
  }
  json::Parser parser_;
};

TEST_F(MemberOfTest, CodesOfKnownValueSets) {
  EXPECT_EQ(Text("gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')"),
            "[true]");
  EXPECT_EQ(Text("gender.memberOf(%vs-administrative-gender)"), "[true]");
  EXPECT_EQ(Text("gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1')"),
            "[true]");
  EXPECT_EQ(Text("contact.gender.memberOf(%vs-administrative-gender)"), "[true]");
  EXPECT_EQ(Text("'femme'.memberOf(%vs-administrative-gender)"), "[false]");
  EXPECT_EQ(Text("'final'.memberOf('http://hl7.org/fhir/ValueSet/observation-status')"), "[true]");
  EXPECT_EQ(Text("gender.memberOf('http://hl7.org/fhir/ValueSet/observation-status')"), "[false]");
  EXPECT_EQ(Text("birthDate.memberOf(%vs-administrative-gender)"), "[]");
}

TEST_F(MemberOfTest, UnknownValueSetsAreErrorsNamingTheUrl) {
  for (std::string_view expr :
       {"gender.memberOf('http://example.org/ValueSet/mine')",
        "gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender|3.0.2')",
        "maritalStatus.memberOf('http://hl7.org/fhir/ValueSet/marital-status')"}) {
    auto r = Eval(expr);
    ASSERT_FALSE(r.ok()) << expr;
    EXPECT_NE(r.status().message().find("unknown value set http://"), std::string::npos)
        << r.status().message();
  }
  // Known codes but a Coding: the table has no code system, so no silent answer.
  auto coding = Eval("maritalStatus.coding.first().memberOf(%vs-administrative-gender)");
  ASSERT_FALSE(coding.ok());
  EXPECT_NE(coding.status().message().find("administrative-gender"), std::string::npos);
}

}  // namespace
}  // namespace medlake::fhirpath
