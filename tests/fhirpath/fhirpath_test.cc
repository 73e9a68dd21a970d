#include "fhirpath/fhirpath.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fhirpath/resource_files.h"

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

// Navigation resolves names when the expression compiles and finds a field with its "_name"
// companion in one pass over the object: the lookups behind that must keep their precedence.
TEST_F(FhirPathTest, NavigationPrecedenceAndCompanions) {
  constexpr std::string_view kTwoValues = R"({"resourceType": "Observation",
    "valueString": "a", "valueQuantity": {"value": 1, "unit": "mg"}})";
  constexpr std::string_view kExtensionOnly = R"({"resourceType": "Observation",
    "_valueString": {"extension": [{"url": "http://example.org/u"}]}})";
  constexpr std::string_view kGiven = R"({"resourceType": "Patient",
    "name": [{"_given": [null, {"id": "g2"}], "given": ["Ann", "Bea"], "family": "Doe"}]})";
  struct Case {
    std::string_view resource, expression, expected;
  };
  const Case cases[] = {
      {kTwoValues, "Observation.value is Quantity", "true"},  // choice types in model order
      {kObservation, "Observation.valueQuantity.value", "185"},
      {kObservation, "Patient.name", ""},
      {kObservation, "Observation.status = 'final'", "true"},
      {kExtensionOnly, "Observation.value.extension.url", "http://example.org/u"},
      {kGiven, "Patient.name.given[1].id", "g2"},
      {kGiven, "Patient.name.given[0].id", ""},
      {kGiven, "Patient.name.given.first() + ' ' + Patient.name.family", "Ann Doe"},
      {kGiven, "Patient.name.where(given contains 'Bea').family", "Doe"},
      {kGiven, "Patient.name.given.where($this > 'Ann')", "Bea"},
      // Invocation chains stop early on an empty collection only where every remaining step
      // keeps it empty without evaluating arguments.
      {kObservation, "Patient.name.where(use = 'official').given.first()", ""},
      {kObservation, "Patient.name.given.empty()", "true"},
      {kObservation, "Patient.name.where(use = 'x').given.count()", "0"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(EvalText(c.resource, c.expression), c.expected) << c.expression;
  auto root = parser_.Parse(kObservation);
  ASSERT_TRUE(root.ok());
  auto skip = Expression::Compile("Patient.name.skip('a')");
  ASSERT_TRUE(skip.ok());
  EXPECT_FALSE(skip->Evaluate(*root).ok());  // the argument is still checked on empty input
}

TEST_F(FhirPathTest, PrimitiveExtensions) {
  EXPECT_EQ(EvalText(kPatient, "birthDate.extension('http://example.org/time').value"),
            "1974-12-25T14:35:45-05:00");
  // A primitive with extensions and no value has no value to compare or add (FHIRPath
  // 2.1.9.1.5): empty, where `<` and `+` were errors and `=` was false.
  constexpr std::string_view kNoBirthDate =
      R"({"resourceType":"Patient","id":"p","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}})";
  EXPECT_EQ(EvalText(kNoBirthDate, "birthDate < @2000-01-01"), "");
  EXPECT_EQ(EvalText(kNoBirthDate, "birthDate = @2000-01-01"), "");
  EXPECT_EQ(EvalText(kNoBirthDate, "birthDate + 1 day"), "");
  EXPECT_EQ(EvalText(kNoBirthDate, "birthDate.exists()"), "true");
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

TEST_F(FhirPathTest, HostileExpressionsAreRejectedNotCrashed) {
  EXPECT_FALSE(Expression::Compile(std::string(5000, '(') + "1" + std::string(5000, ')')).ok());
  EXPECT_FALSE(Expression::Compile(std::string(5000, '-') + "1").ok());
  std::string chain = "1";
  for (int i = 0; i < 5000; ++i) chain += "+1";
  EXPECT_FALSE(Expression::Compile(chain).ok());
  EXPECT_FALSE(Expression::Compile("'\\uZZZZ'").ok());
  EXPECT_FALSE(Expression::Compile("'unterminated").ok());
  EXPECT_FALSE(Expression::Compile("@2020-13-01").ok());
  EXPECT_EQ(EvalText(kPatient, "'zz'.decode('hex')"), "");
  EXPECT_EQ(EvalText(kPatient, "(1 | 2 | 3).aggregate($total + $this, 0)"), "6");
}

TEST_F(FhirPathTest, SingletonErrors) {
  auto root = parser_.Parse(kPatient);
  ASSERT_TRUE(root.ok());
  auto e = Expression::Compile("name.given + 'x'");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->Evaluate(*root).ok());
}

TEST_F(FhirPathTest, UcumComparisonAndArithmetic) {
  EXPECT_EQ(EvalText(kPatient, "1 'm' = 100 'cm'"), "true");
  EXPECT_EQ(EvalText(kPatient, "1 'mg' < 1 'g'"), "true");
  EXPECT_EQ(EvalText(kPatient, "2 'h' = 120 'min'"), "true");
  EXPECT_EQ(EvalText(kPatient, "1 'L' = 1000 'mL'"), "true");
  EXPECT_EQ(EvalText(kPatient, "(1 'm' + 50 'cm') = 150 'cm'"), "true");
  EXPECT_EQ(EvalText(kPatient, "1 'kg' = 1 'm'"), "");
  EXPECT_EQ(EvalText(kObservation, "Observation.value > 80 'kg'"), "true");
  // toQuantity() of a FHIR Quantity element, as its comparisons already treat it (it was
  // empty, so a cohort criterion on it matched nobody without an error).
  EXPECT_EQ(EvalText(kObservation, "Observation.value.toQuantity()"), "185 '[lb_av]'");
  EXPECT_EQ(EvalText(kObservation, "Observation.value.convertsToQuantity()"), "true");
  EXPECT_EQ(EvalText(kObservation, "Observation.value.toQuantity('kg') > 83.9 'kg'"), "true");
  EXPECT_EQ(EvalText(kPatient, "1 year = 12 months"), "true");
  EXPECT_EQ(EvalText(kPatient, "1 '1/d' = 7 '1/wk'"), "true");
  EXPECT_EQ(EvalText(kPatient, "100 'mg/dL' = 1 'g/L'"), "true");
  EXPECT_EQ(EvalText(kPatient, "37 'Cel' = 37 'Cel'"), "true");
  EXPECT_EQ(EvalText(kPatient, "37 'Cel' = 310.15 'K'"), "");
}

// Decimals whose shortest form has an exponent were written with 8 decimals (0.000012345 as
// 0.00001234, 1e-9 as 0) or overflowed the buffer (1e300); beyond 64-bit integers a decimal
// keeps a fraction, so that JSON readers do not take it for an integer too large.
TEST(FormatDecimalTest, SmallAndLargeDecimalsKeepTheirValue) {
  EXPECT_EQ(FormatDecimal(0.000012345, -1), "0.000012345");
  EXPECT_EQ(FormatDecimal(1e-9, -1), "0.000000001");
  EXPECT_EQ(FormatDecimal(-4.2e-9, -1), "-0.0000000042");
  EXPECT_EQ(FormatDecimal(1e20, -1), "100000000000000000000.0");
  EXPECT_EQ(FormatDecimal(1e300, -1).size(), 303u);
  EXPECT_EQ(FormatDecimal(72.5, -1), "72.5");
}

TEST_F(FhirPathTest, DateTimePrecisionAndTimezones) {
  EXPECT_EQ(EvalText(kPatient, "@2012-04-15T10:00 < @2012-04-15T10:01"), "true");
  EXPECT_EQ(EvalText(kPatient, "@2012-04-15T10:00:00 = @2012-04-15T10:00:00.000"), "true");
  EXPECT_EQ(EvalText(kPatient, "@2012-04-15T10:00:00Z = @2012-04-15T10:00:00"), "");
  EXPECT_EQ(EvalText(kPatient, "@2012-04-15 ~ @2012-04"), "false");
  EXPECT_EQ(EvalText(kPatient, "@T10:30 + 45 minutes"), "T11:15");
  EXPECT_EQ(EvalText(kPatient, "birthDate + 1 year"), "1975-12-25");
  EXPECT_EQ(EvalText(kPatient, "@2014.lowBoundary()"), "2014-01-01");
  // A dateTime without a time is written as FHIR writes it (it was "2020T", "2020-05T").
  constexpr std::string_view kPartial =
      R"({"resourceType":"Condition","onsetDateTime":"2020-05","recordedDate":"2020"})";
  EXPECT_EQ(EvalText(kPartial, "onset"), "2020-05");
  EXPECT_EQ(EvalText(kPartial, "onset.toString()"), "2020-05");
  EXPECT_EQ(EvalText(kPartial, "@2020T.toString()"), "2020");
  EXPECT_EQ(EvalText(kPartial, "@2020-05-06T10:30Z.toString()"), "2020-05-06T10:30Z");
}

TEST_F(FhirPathTest, DecimalPrecisionComesFromTheSourceText) {
  parser_.set_keep_number_text(true);
  constexpr std::string_view kDecimal =
      R"({"resourceType": "Observation", "valueQuantity": {"value": 1.50, "unit": "g"}})";
  EXPECT_EQ(EvalText(kDecimal, "Observation.value.value.precision()"), "2");
  EXPECT_EQ(EvalText(kDecimal, "Observation.value.value.toString()"), "1.50");
  EXPECT_EQ(EvalText(kDecimal, "Observation.value.value.lowBoundary()"), "1.49500000");
}

// A primitive whose JSON is of the wrong kind is read as what the JSON holds: no decimal 0 for
// "SECRET" or true, no false for "yes", no 2 for an integer 2.7.
TEST_F(FhirPathTest, PrimitivesOfTheWrongJsonKindAreNotConverted) {
  constexpr std::string_view kBad = R"({"resourceType":"Observation",
    "valueQuantity":{"value":"SECRET"},"component":[{"valueInteger":2.7},{"valueBoolean":"yes"}]})";
  EXPECT_EQ(EvalText(kBad, "value.value = 0"), "false");
  EXPECT_EQ(EvalText(kBad, "value.value"), "SECRET");
  EXPECT_EQ(EvalText(kBad, "component[0].value = 2"), "false");
  EXPECT_EQ(EvalText(kBad, "component[1].value = false"), "false");
  constexpr std::string_view kGood =
      R"({"resourceType":"Observation","valueQuantity":{"value":0},"component":[{"valueInteger":2}]})";
  EXPECT_EQ(EvalText(kGood, "value.value = 0"), "true");
  EXPECT_EQ(EvalText(kGood, "component[0].value = 2"), "true");
}

TEST_F(FhirPathTest, UserConstantsAndVariables) {
  auto root = parser_.Parse(kPatient);
  ASSERT_TRUE(root.ok());
  auto e = Expression::Compile("name.where(use = %wanted).given.first() & %`dash-name`");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->VariableNames(), (std::vector<std::string>{"wanted", "dash-name"}));
  Environment env;
  env.variables["wanted"] = Collection{Item::String("usual")};
  env.variables["dash-name"] = Collection{Item::String("!")};
  auto r = e->Evaluate(*root, env);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(CollectionToJson(*r), "[\"Jim!\"]");
  auto missing = Expression::Compile("%nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->Evaluate(*root).ok());
}

TEST_F(FhirPathTest, ResolveWithinABundle) {
  constexpr std::string_view kBundle = R"({"resourceType": "Bundle", "type": "collection",
    "entry": [
      {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}},
      {"resource": {"resourceType": "Observation", "id": "o1", "subject": {"reference": "urn:uuid:p1"},
                    "performer": [{"reference": "Patient/p1"}]}}]})";
  auto root = parser_.Parse(kBundle);
  ASSERT_TRUE(root.ok());
  Environment env;
  env.bundle = *root;
  auto e = Expression::Compile(
      "entry.resource.ofType(Observation).select(subject.resolve().gender | "
      "performer.resolve().id)");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto r = e->Evaluate(*root, env);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(CollectionToJson(*r), "[\"female\",\"p1\"]");
  // getReferenceKey() of a reference to a fullUrl is the key of the entry it names (typed),
  // as ingest rewrites it: views over Bundle files agree with views over the lake.
  auto keys = Expression::Compile(
      "entry.resource.ofType(Observation).select(subject.getReferenceKey(Patient) | "
      "subject.getReferenceKey(Practitioner))");
  ASSERT_TRUE(keys.ok());
  auto k = keys->Evaluate(*root, env);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(CollectionToJson(*k), "[\"p1\"]");
}

TEST_F(FhirPathTest, StrictModeRejectsUnknownElements) {
  auto root = parser_.Parse(kObservation);
  ASSERT_TRUE(root.ok());
  auto e = Expression::Compile("Observation.valueQuantity.unit");
  ASSERT_TRUE(e.ok());
  auto lenient = e->Evaluate(*root);
  ASSERT_TRUE(lenient.ok());
  EXPECT_EQ(CollectionToJson(*lenient), "[\"lbs\"]");
  Environment strict;
  strict.strict = true;
  auto r = e->Evaluate(*root, strict);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("valueQuantity"), std::string::npos) << r.status().message();
}

TEST_F(FhirPathTest, TypeFunctions) {
  EXPECT_EQ(EvalText(kPatient, "Patient.birthDate.is(date)"), "true");
  EXPECT_EQ(EvalText(kPatient, "Patient.birthDate.is(string)"), "false");
  EXPECT_EQ(EvalText(kPatient, "Patient.birthDate.type().name"), "date");
  EXPECT_EQ(EvalText(kPatient, "1.type().namespace"), "System");
  EXPECT_EQ(EvalText(kPatient, "Patient.name.given.sort(-$this).first()"), "Peter");
}

TEST(ResourceFiles, ReadsNdjsonAndReportsBadLines) {
  auto path = std::filesystem::temp_directory_path() /
              ("medlake_fhirpath_test_" + std::to_string(::getpid()) + ".ndjson");
  {
    std::ofstream out(path);
    out << R"({"resourceType": "Patient", "id": "a"})"
        << "\n"
        << "{not json\n"
        << "\n"
        << R"({"resourceType": "Patient", "id": "b"})"
        << "\n";
  }
  std::vector<std::string> ids;
  std::vector<size_t> bad_lines;
  Status st = ForEachResourceInFile(
      path.string(),
      [&](json::Node r, std::optional<json::Node>, const ResourceLocation&) {
        ids.emplace_back(r.Find("id")->GetString());
        return true;
      },
      [&](const ResourceLocation& where, const Status&) { bad_lines.push_back(where.line); });
  std::filesystem::remove(path);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(bad_lines, (std::vector<size_t>{2}));
}

// SQL-on-FHIR v2: getReferenceKey() is empty for a reference it cannot resolve to a resource
// key. A urn:uuid outside a Bundle gave "urn:uuid:...", "Observation/" gave "", and a URL
// gave its last segment.
TEST_F(FhirPathTest, ReferenceKeysOfUnresolvableReferencesAreEmpty) {
  constexpr std::string_view kObs = R"({"resourceType": "Observation", "id": "o2",
    "status": "final", "code": {"text": "x"},
    "subject": {"reference": "urn:uuid:9d0a6e7c-1111-2222-3333-444455556666"},
    "hasMember": [{"reference": "Observation/"}, {"reference": "Observation/o1"},
                  {"reference": "http://example.org/some/path"},
                  {"reference": "http://example.org/fhir/Observation/o3/_history/2"},
                  {"reference": "Observation/bad id"}]})";
  EXPECT_EQ(EvalText(kObs, "subject.getReferenceKey()"), "");
  EXPECT_EQ(EvalText(kObs, "subject.getReferenceKey(Patient)"), "");
  EXPECT_EQ(EvalText(kObs, "hasMember.getReferenceKey(Observation)"), "o1,o3");
  EXPECT_EQ(EvalText(kObs, "hasMember.getReferenceKey()"), "o1,o3");
  EXPECT_EQ(EvalText(kObs, "hasMember.getReferenceKey(Patient)"), "");
}

}  // namespace
}  // namespace medlake::fhirpath
