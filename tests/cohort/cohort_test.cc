// Cohort evaluation over lakes built by ingest: hand-built patients for every criterion and
// boundary, and Synthea patients checked against an independent scan of the raw files.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cohort/cohort_index.h"
#include "cohort/definition.h"
#include "cohort/evaluator.h"
#include "cohort/index_file.h"
#include "cohort/output.h"
#include "common/fhir_time.h"
#include "ingest/ingest.h"
#include "privacy/key_store.h"
#include "test_util.h"

namespace medlake::cohort {
namespace {

using Ids = std::set<std::string>;

std::string Patient(const std::string& id, const std::string& extra) {
  return R"({"resourceType":"Patient","id":")" + id + "\"" + extra + "}";
}

std::string Condition(const std::string& id, const std::string& patient, const std::string& codings,
                      const std::string& onset, const std::string& status = "active") {
  return R"({"resourceType":"Condition","id":")" + id +
         R"(","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":")" +
         status + R"("}]},"code":{"coding":[)" + codings +
         R"(]},"subject":{"reference":"Patient/)" + patient + R"("},"onsetDateTime":")" + onset +
         "\"}";
}

std::string Obs(const std::string& id, const std::string& patient, const std::string& loinc,
                const std::string& time, double value, const std::string& unit,
                const std::string& status = "final") {
  std::string t = time.empty() ? "" : R"(,"effectiveDateTime":")" + time + "\"";
  return R"({"resourceType":"Observation","id":")" + id + R"(","status":")" + status +
         R"(","code":{"coding":[{"system":"http://loinc.org","code":")" + loinc +
         R"("}]},"subject":{"reference":"Patient/)" + patient + "\"}" + t +
         R"(,"valueQuantity":{"value":)" + nlohmann::json(value).dump() +
         R"(,"system":"http://unitsofmeasure.org","code":")" + unit + "\"}}";
}

std::string MedRequest(const std::string& id, const std::string& patient, const std::string& atc,
                       const std::string& authored) {
  return R"({"resourceType":"MedicationRequest","id":")" + id +
         R"(","status":"active","intent":"order","medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":")" +
         atc + R"("}]},"subject":{"reference":"Patient/)" + patient + R"("},"authoredOn":")" +
         authored + "\"}";
}

std::string Encounter(const std::string& id, const std::string& patient, const std::string& cls,
                      const std::string& start, const std::string& end) {
  return R"({"resourceType":"Encounter","id":")" + id +
         R"(","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":")" +
         cls + R"("},"subject":{"reference":"Patient/)" + patient + R"("},"period":{"start":")" +
         start + R"(","end":")" + end + "\"}}";
}

const char* kSnomedT2dm = R"({"system":"http://snomed.info/sct","code":"44054006"})";
const char* kIcdE119 = R"({"system":"http://hl7.org/fhir/sid/icd-10","code":"E11.9"})";
const char* kIcdE1165 = R"({"system":"http://hl7.org/fhir/sid/icd-10","code":"E11.65"})";

class CohortTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    std::vector<std::string> lines = {
        // p1: 53 at the index, T2DM since 2020 coded twice, HbA1c in both units.
        Patient("p1", R"(,"gender":"female","birthDate":"1970-06-15")"),
        Condition("c1", "p1", std::string(kSnomedT2dm) + "," + kIcdE119, "2020-01-01"),
        Obs("a1", "p1", "59261-8", "2023-10-01T08:00:00Z", 60, "mmol/mol"),
        Obs("a2", "p1", "4548-4", "2022-01-01T08:00:00Z", 9, "%"),
        // p2: 40 on the index date exactly; T2DM since mid-2023; HbA1c exactly 7.5 %.
        Patient("p2", R"(,"gender":"male","birthDate":"1984-01-01")"),
        Condition("c2", "p2", kSnomedT2dm, "2023-06-01"),
        Obs("a3", "p2", "4548-4", "2023-12-31T00:00:00Z", 7.5, "%"),
        // p3: 74, 75 the day after the index; died the day before the index.
        Patient(
            "p3",
            R"(,"gender":"female","birthDate":"1949-01-02","deceasedDateTime":"2023-12-31T10:00:00Z")"),
        // p4: deceased without a date, no events.
        Patient("p4", R"(,"gender":"male","birthDate":"1990-03-01","deceasedBoolean":true)"),
        // p5: no birth date; ICD-10 only (prefix match); an untimed HbA1c.
        Patient("p5", R"(,"gender":"other")"),
        Condition("c5", "p5", kIcdE1165, "2015-05-05"),
        Obs("a5", "p5", "4548-4", "", 8.0, "%"),
        // p6: glucose in two units, metformin twice, a 4-day inpatient stay, an unknown unit.
        Patient("p6", R"(,"gender":"female","birthDate":"1960-02-29")"),
        Obs("g1", "p6", "2345-7", "2023-12-01T08:00:00Z", 180, "mg/dL"),
        Obs("g2", "p6", "14749-6", "2023-11-01T08:00:00Z", 10.0, "mmol/L"),
        Obs("g3", "p6", "14749-6", "2023-10-01T08:00:00Z", 3.0, "[furlong]"),
        MedRequest("m1", "p6", "A10BA02", "2023-01-01"),
        MedRequest("m2", "p6", "A10BA02", "2023-06-01"),
        Encounter("e1", "p6", "IMP", "2023-05-01T00:00:00Z", "2023-05-05T00:00:00Z"),
        Encounter("e2", "p6", "AMB", "2023-07-01T09:00:00Z", "2023-07-01T10:00:00Z"),
        // p7: a T2DM diagnosis entered in error.
        Patient("p7", R"(,"gender":"male","birthDate":"1970-01-01")"),
        Condition("c7", "p7", kSnomedT2dm, "2019-01-01", "active"),
    };
    std::string ndjson;
    for (const auto& l : lines) ndjson += l + "\n";
    // The entered-in-error version of c7 supersedes the first one (same id, later input).
    ndjson +=
        R"({"resourceType":"Condition","id":"c7","verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"entered-in-error"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},"subject":{"reference":"Patient/p7"},"onsetDateTime":"2019-01-01"})";
    ndjson += "\n";
    // And a second one, ruled out (refuted) while still marked active: no diagnosis either.
    ndjson +=
        R"({"resourceType":"Condition","id":"c8","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"refuted"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},"subject":{"reference":"Patient/p7"},"onsetDateTime":"2020-01-01"})";
    ndjson += "\n";
    testing::WriteText(*dir_ / "in/data.ndjson", ndjson);
    auto report = ingest::Ingest(*dir_ / "lake", {*dir_ / "in"}, ingest::IngestOptions{});
    ASSERT_TRUE(report.ok()) << report.status().message();
    auto lake = Lake::Open(*dir_ / "lake");
    ASSERT_TRUE(lake.ok());
    lake_ = lake->release();
    auto index = CohortIndex::Build(*lake_, 2, nullptr);
    ASSERT_TRUE(index.ok()) << index.status().message();
    index_ = index->release();
    auto ids = lake_->PatientIds();
    ASSERT_TRUE(ids.ok());
    ids_ = new std::vector<std::string>(*ids);
  }
  static void TearDownTestSuite() {
    delete index_;
    delete lake_;
    delete ids_;
    delete dir_;
  }

  // Evaluates a cohort whose body (members after the version) is `body`.
  static CohortResult Run(const std::string& body) {
    auto def = ParseCohort(R"({"medlake_cohort": 1)" + (body.empty() ? "" : ", " + body) + "}");
    EXPECT_TRUE(def.ok()) << def.status().message();
    if (!def.ok()) return {};
    EvaluateOptions options;
    options.default_index_ms = ParseFhirTime("2024-01-01")->start;
    options.lake = lake_;
    auto r = Evaluate(*def, *index_, options);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : CohortResult{};
  }

  static Ids Members(const std::string& body) {
    Ids out;
    for (const auto& m : Run(body).members) out.insert((*ids_)[m.patient]);
    return out;
  }

  // Members of a cohort with one inclusion criterion at index 2024-01-01.
  static Ids With(const std::string& criterion) {
    return Members(R"("inclusion": [{"criterion": )" + criterion + "}]");
  }

  static testing::TempDir* dir_;
  static Lake* lake_;
  static CohortIndex* index_;
  static std::vector<std::string>* ids_;
};

testing::TempDir* CohortTest::dir_ = nullptr;
Lake* CohortTest::lake_ = nullptr;
CohortIndex* CohortTest::index_ = nullptr;
std::vector<std::string>* CohortTest::ids_ = nullptr;

TEST_F(CohortTest, InitialPopulationIsEveryPatient) {
  EXPECT_EQ(Members(""), (Ids{"p1", "p2", "p3", "p4", "p5", "p6", "p7"}));
}

TEST_F(CohortTest, AgeBoundsAreInclusiveInCompletedYears) {
  // p2 turns 40 on the index date; p3 is 74 until the day after.
  EXPECT_EQ(With(R"({"age": {"min": 40, "max": 53}})"), (Ids{"p1", "p2"}));
  EXPECT_EQ(With(R"({"age": {"min": 74}})"), (Ids{"p3"}));
  EXPECT_EQ(With(R"({"age": {"max": 39}})"), (Ids{"p4"}));
  // Born on 29 February: 63 on 2024-01-01.
  EXPECT_EQ(With(R"({"age": {"min": 63, "max": 63}})"), (Ids{"p6"}));
  // Missing birth date never matches, neither in nor out of range.
  EXPECT_EQ(With(R"({"not": {"age": {"min": 0}}})"), (Ids{"p5"}));
}

TEST_F(CohortTest, SexAndDeceased) {
  EXPECT_EQ(With(R"({"sex": ["female"]})"), (Ids{"p1", "p3", "p6"}));
  EXPECT_EQ(With(R"({"sex": ["other", "unknown"]})"), (Ids{"p5"}));
  EXPECT_EQ(With(R"({"deceased": true})"), (Ids{"p3", "p4"}));
  // Before the death date, p3 is alive; the undated death counts at any index.
  EXPECT_EQ(
      Members(
          R"("index": {"date": "2023-12-30"}, "inclusion": [{"criterion": {"deceased": true}}])"),
      (Ids{"p4"}));
}

TEST_F(CohortTest, CodeSetsExactPrefixAndEnteredInError) {
  EXPECT_EQ(
      With(
          R"({"event": {"codes": [{"system": "http://snomed.info/sct", "codes": ["44054006"]}]}})"),
      (Ids{"p1", "p2"}));  // p7's diagnoses were entered in error or refuted
  EXPECT_EQ(
      With(
          R"({"event": {"codes": [{"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["E11"]}]}})"),
      (Ids{"p1", "p5"}));
  EXPECT_EQ(
      With(
          R"({"event": {"codes": [{"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["E11.6"]}]}})"),
      (Ids{"p5"}));
  // The right code in the wrong type does not match.
  EXPECT_EQ(
      With(
          R"({"event": {"type": "Observation", "codes": [{"system": "http://snomed.info/sct", "codes": ["44054006"]}]}})"),
      Ids{});
  EXPECT_EQ(With(R"({"event": {"type": "Encounter"}})"), (Ids{"p6"}));
}

TEST_F(CohortTest, NotOfAnEmptySetIsEveryone) {
  EXPECT_EQ(
      With(R"({"not": {"event": {"codes": [{"system": "urn:x", "codes": ["none"]}]}}})").size(),
      7u);
  EXPECT_EQ(
      With(R"({"event": {"codes": [{"system": "urn:x", "codes": ["none"]}], "count": {"max": 0}}})")
          .size(),
      7u);
  EXPECT_EQ(With(R"({"any": []})"), Ids{});
  EXPECT_EQ(With(R"({"all": []})").size(), 7u);
}

TEST_F(CohortTest, WindowEdgesInclusiveAndExclusive) {
  // p2's HbA1c is at 2023-12-31T00:00Z, exactly one day before the index.
  std::string a1c = R"("codes": [{"system": "http://loinc.org", "codes": ["4548-4"]}])";
  EXPECT_EQ(
      With(R"({"event": {)" + a1c + R"(, "window": {"start": {"days": -1}, "end": {"days": 0}}}})"),
      (Ids{"p2"}));
  EXPECT_EQ(
      With(R"({"event": {)" + a1c + R"(, "window": {"start": {"days": -1, "inclusive": false}}}})"),
      Ids{});
  // Fixed dates: an end date covers its whole day.
  EXPECT_EQ(
      With(R"({"event": {)" + a1c +
           R"(, "window": {"start": {"date": "2023-12-31"}, "end": {"date": "2023-12-31"}}}})"),
      (Ids{"p2"}));
  EXPECT_EQ(With(R"({"event": {)" + a1c + R"(, "window": {"end": {"date": "2023-12-30"}}}})"),
            (Ids{"p1"}));  // p1's 2022 result; the untimed p5 result never matches a window
  // An exclusive date leaves its whole day out, at either end (it left out only its first or
  // last millisecond, so p2's result on that day still matched).
  EXPECT_EQ(With(R"({"event": {)" + a1c +
                 R"(, "window": {"end": {"date": "2023-12-31", "inclusive": false}}}})"),
            (Ids{"p1"}));
  EXPECT_EQ(With(R"({"event": {)" + a1c +
                 R"(, "window": {"start": {"date": "2023-12-30", "inclusive": false}}}})"),
            (Ids{"p2"}));
  EXPECT_EQ(With(R"({"event": {)" + a1c +
                 R"(, "window": {"start": {"date": "2023-12-31", "inclusive": false}}}})"),
            Ids{});
  // Diagnosed at least a year before the index.
  EXPECT_EQ(
      With(
          R"({"event": {"type": "Condition", "select": "first", "window": {"end": {"days": -365}}}})"),
      (Ids{"p1", "p5"}));
}

TEST_F(CohortTest, ValuesAfterUnitConversion) {
  std::string a1c = R"("codes": [{"system": "http://loinc.org", "codes": ["4548-4", "59261-8"]}])";
  // Most recent HbA1c of the last 6 months above 7.5 %: p1's 60 mmol/mol is 7.64 %; p2 is 7.5.
  std::string last =
      R"({"event": {)" + a1c +
      R"(, "select": "last", "window": {"start": {"days": -182}, "end": {"days": 0}}, "value": {"op": OP, "value": 7.5, "unit": "%"}}})";
  auto with_op = [&](const std::string& op) {
    std::string c = last;
    c.replace(c.find("OP"), 2, "\"" + op + "\"");
    return With(c);
  };
  EXPECT_EQ(with_op(">"), (Ids{"p1"}));
  EXPECT_EQ(with_op(">="), (Ids{"p1", "p2"}));
  EXPECT_EQ(with_op("="), (Ids{"p2"}));
  EXPECT_EQ(with_op("<"), Ids{});
  // The same threshold in mmol/mol (7.5 % = 58.46 mmol/mol).
  EXPECT_EQ(
      With(R"({"event": {)" + a1c +
           R"(, "select": "last", "value": {"op": ">", "value": 58.4, "unit": "mmol/mol"}}})"),
      (Ids{"p1", "p2"}));  // p5's only result has no time: it is nobody's "last"
  // Glucose: 180 mg/dL = 9.99 mmol/L and 10.0 mmol/L; the [furlong] result cannot compare.
  std::string glucose =
      R"("codes": [{"system": "http://loinc.org", "codes": ["2345-7", "14749-6"]}])";
  EXPECT_EQ(
      With(R"({"event": {)" + glucose +
           R"(, "value": {"op": ">=", "value": 9.9, "unit": "mmol/L"}, "count": {"min": 2}}})"),
      (Ids{"p6"}));
  EXPECT_EQ(
      With(R"({"event": {)" + glucose +
           R"(, "value": {"op": ">", "value": 9.995, "unit": "mmol/L"}, "count": {"min": 2}}})"),
      Ids{});
  auto r = Run(R"("inclusion": [{"criterion": {"event": {)" + glucose +
               R"(, "value": {"op": ">", "value": 0, "unit": "mmol/L"}}}}])");
  EXPECT_EQ(r.unconvertible_values, 1u);
  // A value list: all comparisons must hold.
  EXPECT_EQ(
      With(
          R"({"event": {)" + glucose +
          R"(, "value": [{"op": ">", "value": 180.1, "unit": "mg/dL"}, {"op": "<", "value": 181, "unit": "mg/dL"}]}})"),
      (Ids{"p6"}));  // 10.0 mmol/L = 180.16 mg/dL
  EXPECT_EQ(
      With(
          R"({"event": {)" + glucose +
          R"(, "value": [{"op": ">", "value": 180.2, "unit": "mg/dL"}, {"op": "<", "value": 181, "unit": "mg/dL"}]}})"),
      Ids{});
}

TEST_F(CohortTest, OccurrenceCountsAndSelect) {
  std::string met = R"("codes": [{"system": "http://www.whocc.no/atc", "prefix": ["A10BA"]}])";
  EXPECT_EQ(With(R"({"event": {)" + met + R"(, "count": {"min": 2}}})"), (Ids{"p6"}));
  EXPECT_EQ(With(R"({"event": {)" + met + R"(, "count": {"min": 3}}})"), Ids{});
  EXPECT_EQ(With(R"({"event": {)" + met + R"(, "count": {"max": 1}}})").count("p6"), 0u);
  EXPECT_EQ(With(R"({"event": {)" + met + R"(, "count": {"max": 1}}})").size(), 6u);
  // The first prescription is in the first half of 2023, the last in June.
  EXPECT_EQ(With(R"({"event": {)" + met +
                 R"(, "select": "first", "window": {"start": {"date": "2023-06-01"}}}})"),
            Ids{});
  EXPECT_EQ(With(R"({"event": {)" + met +
                 R"(, "select": "last", "window": {"start": {"date": "2023-06-01"}}}})"),
            (Ids{"p6"}));
  // A diagnosis coded in SNOMED CT and ICD-10 at once is one occurrence.
  EXPECT_EQ(With(R"({"event": {"type": "Condition", "count": {"min": 2}}})"), Ids{});
}

TEST_F(CohortTest, EncounterClassAndLengthOfStay) {
  std::string imp =
      R"("type": "Encounter", "codes": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "codes": ["IMP"]}])";
  EXPECT_EQ(With(R"({"event": {)" + imp + R"(, "length_of_stay": {"op": ">=", "value": 4}}})"),
            (Ids{"p6"}));
  EXPECT_EQ(With(R"({"event": {)" + imp + R"(, "length_of_stay": {"op": ">", "value": 4}}})"),
            Ids{});
  EXPECT_EQ(With(R"({"event": {"type": "Encounter", "length_of_stay": {"op": "<", "value": 1}}})"),
            (Ids{"p6"}));  // the ambulatory visit
}

TEST_F(CohortTest, IndexEventFirstLastAll) {
  std::string index =
      R"("index": {"event": {"codes": [{"system": "http://loinc.org", "codes": ["4548-4", "59261-8"]}]}, "select": SELECT})";
  std::string rule =
      R"(, "inclusion": [{"criterion": {"event": {"codes": [{"system": "http://loinc.org", "codes": ["4548-4", "59261-8"]}],
      "window": {"start": {"days": 0}, "end": {"days": 0}}, "value": {"op": ">", "value": 8, "unit": "%"}}}}])";
  auto run = [&](const std::string& select) {
    std::string body = index;
    body.replace(body.find("SELECT"), 6, "\"" + select + "\"");
    return Run(body + rule);
  };
  // p1: 9 % on 2022-01-01, 7.64 % on 2023-10-01; p2: 7.5 %; p5's result has no time.
  auto first = run("first");
  EXPECT_EQ(first.attrition[0].remaining, 2u);  // p1, p2
  ASSERT_EQ(first.count, 1u);
  EXPECT_EQ((*ids_)[first.members[0].patient], "p1");
  EXPECT_EQ(FormatUtc(first.members[0].index_ms), "2022-01-01T08:00:00.000Z");
  EXPECT_EQ(run("last").count, 0u);
  auto all = run("all");
  EXPECT_EQ(all.attrition[0].remaining, 2u);  // patients, not index events
  ASSERT_EQ(all.count, 1u);
  EXPECT_EQ(FormatUtc(all.members[0].index_ms), "2022-01-01T08:00:00.000Z");
  // A window on the index event: only p1's 2023 result qualifies as an index.
  auto windowed = Run(
      R"("index": {"event": {"codes": [{"system": "http://loinc.org", "codes": ["4548-4", "59261-8"]}],
      "window": {"start": {"date": "2023-01-01"}, "end": {"date": "2023-12-30"}}}})");
  ASSERT_EQ(windowed.count, 1u);
  EXPECT_EQ(FormatUtc(windowed.members[0].index_ms), "2023-10-01T08:00:00.000Z");
  // Age at the index event, not at today's date.
  auto aged = Run(
      R"("index": {"event": {"type": "Condition"}}, "inclusion": [{"criterion": {"age": {"max": 49}}}])");
  ASSERT_EQ(aged.count, 2u);  // p1 was 49 in 2020, p2 39 in 2023; p5 has no birth date
}

TEST_F(CohortTest, FhirPathEscapeHatch) {
  EXPECT_EQ(
      With(
          R"({"fhirpath": {"type": "Patient", "expression": "gender = 'female' and birthDate < @1965-01-01"}})"),
      (Ids{"p3", "p6"}));
  EXPECT_EQ(
      With(
          R"({"fhirpath": {"type": "Observation", "expression": "value.ofType(Quantity).value > 100",
                     "window": {"start": {"days": -60}}}})"),
      (Ids{"p6"}));
  EXPECT_EQ(
      With(
          R"({"fhirpath": {"type": "Observation", "expression": "value.ofType(Quantity).value > 100",
                     "window": {"end": {"days": -60}}}})"),
      Ids{});
  // An expression that fails (single() of two items) matches nobody and is counted.
  auto failing = Run(R"("inclusion": [{"criterion": {"fhirpath": {"type": "Patient",
      "expression": "(1 | 2).single() = 1"}}}])");
  EXPECT_EQ(failing.count, 0u);
  EXPECT_EQ(failing.fhirpath_errors, 7u);
}

TEST_F(CohortTest, AttritionAndOutputs) {
  auto def = ParseCohort(R"({"medlake_cohort": 1, "name": "women with diabetes",
      "index": {"date": "2024-01-01"},
      "inclusion": [{"name": "female", "criterion": {"sex": ["female"]}},
                    {"name": "diabetes", "criterion": {"event": {"type": "Condition"}}}],
      "exclusion": [{"name": "dead", "criterion": {"deceased": true}}]})");
  ASSERT_TRUE(def.ok());
  auto r = Evaluate(*def, *index_, EvaluateOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->attrition.size(), 4u);
  EXPECT_EQ(r->attrition[0].remaining, 7u);
  EXPECT_EQ(r->attrition[1].remaining, 3u);
  EXPECT_EQ(r->attrition[2].remaining, 1u);
  EXPECT_EQ(r->attrition[3].remaining, 1u);
  EXPECT_EQ(r->attrition[3].kind, "exclusion");
  OutputContext out{&*def, &*r, ids_, 1.0, 2.0, true, "2024-01-01"};
  auto group = nlohmann::json::parse(MembersGroup(out, "g1"));
  EXPECT_EQ(group["resourceType"], "Group");
  EXPECT_EQ(group["quantity"], 1);
  EXPECT_EQ(group["member"][0]["entity"]["reference"], "Patient/p1");
  EXPECT_EQ(MembersCsv(out), "patient,index\np1,2024-01-01T00:00:00.000Z\n");
  auto summary = nlohmann::json::parse(SummaryJson(out, false));
  EXPECT_EQ(summary["count"], 1);
  EXPECT_FALSE(summary.contains("members"));
  EXPECT_NE(SummaryText(out).find("count   1 patients"), std::string::npos);
}

// An HbA1c result coded twice is one occurrence whose value converts through the code that
// converts, whichever of its codes the index build met first (thread order when segments are
// scanned in parallel): q1 lists a local code first, q2 the LOINC code first. Both are 8.0 %,
// which is 63.9 mmol/mol by the IFCC-NGSP master equation (80 by a UCUM x10).
TEST(CohortValues, AResultCodedTwiceConvertsThroughTheCodeThatConverts) {
  testing::TempDir dir;
  auto obs = [](const std::string& id, const std::string& patient, const std::string& codings) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"coding":[)" + codings +
           R"(]},"subject":{"reference":"Patient/)" + patient +
           R"("},"effectiveDateTime":"2023-10-01","valueQuantity":{"value":8.0,)"
           R"("system":"http://unitsofmeasure.org","code":"%"}})";
  };
  const std::string local = R"({"system":"urn:lab:local","code":"A1C"})";
  const std::string loinc = R"({"system":"http://loinc.org","code":"4548-4"})";
  const std::string snomed = R"({"system":"http://snomed.info/sct","code":"43396009"})";
  std::string ndjson;
  for (const std::string& line :
       {Patient("q1", ""), Patient("q2", ""), Patient("q3", ""),
        obs("o1", "q1", local + "," + loinc), obs("o2", "q2", loinc + "," + local),
        obs("o3", "q3", snomed + "," + loinc)}) {
    ndjson += line + "\n";
  }
  testing::WriteText(dir / "in/a.ndjson", ndjson);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto ids = (*lake)->PatientIds();
  ASSERT_TRUE(ids.ok());
  auto members = [&](const CohortIndex& index, double mmol_per_mol) {
    auto def = ParseCohort(R"({"medlake_cohort": 1, "index": {"date": "2024-01-01"},
        "inclusion": [{"criterion": {"event": {"codes": [
          {"system": "urn:lab:local", "codes": ["A1C"]},
          {"system": "http://loinc.org", "codes": ["4548-4"]},
          {"system": "http://snomed.info/sct", "codes": ["43396009"]}],
        "value": {"op": ">", "value": )" +
                           std::to_string(mmol_per_mol) + R"(, "unit": "mmol/mol"}}}}]})");
    EXPECT_TRUE(def.ok()) << def.status().message();
    Ids out;
    if (!def.ok()) return out;
    auto r = Evaluate(*def, index, EvaluateOptions{});
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return out;
    for (const auto& m : r->members) out.insert((*ids)[m.patient]);
    return out;
  };
  for (int threads : {1, 2}) {
    auto index = CohortIndex::Build(**lake, threads, nullptr);
    ASSERT_TRUE(index.ok());
    EXPECT_EQ(members(**index, 60), (Ids{"q1", "q2", "q3"})) << threads << " threads";
    EXPECT_EQ(members(**index, 70), Ids{}) << threads << " threads";
  }
}

// Attrition for researcher and ops: small counts as "<10", and the steps from which a small
// group would follow by subtracting two visible counts masked too.
TEST(CohortOutput, AttritionComplementarySuppression) {
  using V = std::vector<bool>;
  EXPECT_EQ(AttritionMask({500, 480, 475, 300, 300, 4}, 10), (V{0, 0, 1, 0, 0, 1}));
  // 480 -> 475 -> 472 -> 460: the removals (5, 3) accumulate to 8 and then 20 from 480.
  EXPECT_EQ(AttritionMask({500, 480, 475, 472, 460}, 10), (V{0, 0, 1, 1, 0}));
  EXPECT_EQ(AttritionMask({8, 8, 3, 0}, 10), (V{1, 1, 1, 0}));
  EXPECT_EQ(AttritionMask({500, 480, 475}, 0), (V{0, 0, 0}));
  // Every visible pair then differs by 0 or at least 10.
  std::vector<uint64_t> steps = {1000, 995, 990, 985, 970, 969, 960, 950, 941, 941, 12};
  V mask = AttritionMask(steps, 10);
  uint64_t last = 0;
  bool any = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (mask[i]) continue;
    EXPECT_TRUE(steps[i] == 0 || steps[i] >= 10) << i;
    if (any) {
      EXPECT_TRUE(last - steps[i] == 0 || last - steps[i] >= 10) << i;
    }
    last = steps[i];
    any = true;
  }
  // In the outputs: a masked step reads "suppressed", a small one "<10".
  CohortDefinition def;
  def.name = "c";
  CohortResult r;
  r.attrition = {{"all", "initial", 500}, {"a", "inclusion", 495}, {"b", "inclusion", 300}};
  r.count = 300;
  OutputContext out{&def, &r, nullptr, 1.0, 2.0, true, "2024-01-01"};
  out.suppress_below = 10;
  auto j = nlohmann::json::parse(SummaryJson(out, false));
  EXPECT_EQ(j["attrition"][0]["remaining"], 500);
  EXPECT_EQ(j["attrition"][1]["remaining"], "suppressed");
  EXPECT_EQ(j["attrition"][2]["remaining"], 300);
  EXPECT_EQ(j["count"], 300);
  EXPECT_NE(SummaryText(out).find("suppressed"), std::string::npos);
}

// A lake in DIR/lake holding one woman born in 1950 with type 2 diabetes since 2020.
Result<std::unique_ptr<Lake>> OneDiabeticWoman(const testing::TempDir& dir) {
  testing::WriteText(dir / "in/a.ndjson",
                     Patient("a", R"(,"gender":"female","birthDate":"1950-01-01")") + "\n" +
                         Condition("ca", "a", kSnomedT2dm, "2020-01-01") + "\n");
  MEDLAKE_RETURN_IF_ERROR(
      ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).status());
  return Lake::Open(dir / "lake");
}

// The cached index: same answers as a fresh build; stale after a new commit; damage detected.
TEST(CohortIndexFile, CachesValidatesAndRebuilds) {
  testing::TempDir dir;
  auto lake = OneDiabeticWoman(dir);
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ(LoadIndex(**lake).status().code(), ErrorCode::kNotFound);
  IndexLoad info;
  auto built = LoadOrBuildIndex(**lake, 1, nullptr, &info);
  ASSERT_TRUE(built.ok());
  EXPECT_TRUE(info.built);
  EXPECT_TRUE(info.cache_error.empty()) << info.cache_error;
  auto loaded = LoadOrBuildIndex(**lake, 1, nullptr, &info);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_FALSE(info.built);
  EXPECT_EQ((*loaded)->event_count(), (*built)->event_count());
  EXPECT_EQ((*loaded)->patients(), (*built)->patients());
  auto def = ParseCohort(R"({"medlake_cohort": 1, "inclusion": [{"criterion": {"event": {"codes":
      [{"system": "http://snomed.info/sct", "codes": ["44054006"]}], "window": {"end": {"date": "2020-01-01"}}}}},
      {"criterion": {"sex": ["female"]}}, {"criterion": {"age": {"min": 70}}}]})");
  ASSERT_TRUE(def.ok());
  EvaluateOptions options;
  options.default_index_ms = ParseFhirTime("2024-01-01")->start;
  EXPECT_EQ(Evaluate(*def, **loaded, options)->count, 1u);

  // A new commit makes the cache stale: it is rebuilt, with the new patient.
  testing::WriteText(dir / "in2/b.ndjson",
                     Patient("b", R"(,"gender":"female","birthDate":"1940-01-01")") + "\n" +
                         Condition("cb", "b", kSnomedT2dm, "2019-01-01") + "\n");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in2"}, ingest::IngestOptions{}).ok());
  auto lake2 = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake2.ok());
  EXPECT_NE((*lake2)->state_hash(), (*lake)->state_hash());
  EXPECT_EQ(LoadIndex(**lake2).status().code(), ErrorCode::kNotFound);
  auto rebuilt = LoadOrBuildIndex(**lake2, 1, nullptr, &info);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_TRUE(info.built);
  EXPECT_EQ(Evaluate(*def, **rebuilt, options)->count, 2u);

  // A flipped byte is caught by the checksum and the index is rebuilt.
  std::string bytes = testing::ReadText(IndexPath(**lake2));
  bytes[bytes.size() / 2] ^= 0x20;
  testing::WriteText(IndexPath(**lake2), bytes);
  EXPECT_EQ(LoadIndex(**lake2).status().code(), ErrorCode::kCorruption);
  auto again = LoadOrBuildIndex(**lake2, 1, nullptr, &info);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(info.built);
  EXPECT_TRUE(LoadIndex(**lake2).ok());

  // A segment damaged after the cache was built: the cache is not trusted (its stamp covers
  // the segment files), the rebuild reports the damage, as every run must.
  for (const auto& seg : (*lake2)->segments()) {
    std::string path = (*lake2)->dir() + "/" + seg.file;
    std::string data = testing::ReadText(path);
    data[data.size() / 2] ^= 0x01;
    testing::WriteText(path, data);
  }
  EXPECT_EQ(LoadIndex(**lake2).status().code(), ErrorCode::kNotFound);
  std::vector<std::string> damaged;
  ASSERT_TRUE(LoadOrBuildIndex(**lake2, 1, &damaged, &info).ok());
  EXPECT_TRUE(info.built);
  EXPECT_FALSE(damaged.empty());
}

// In a lake with a key the cache is encrypted like the segments: none of its content is
// readable in the file, it loads back, and a flipped byte or a plain file makes it rebuilt.
TEST(CohortIndexFile, EncryptedInAKeyedLake) {
  testing::TempDir dir;
  ASSERT_TRUE(privacy::KeyStore::Create(dir / "lake").ok());
  auto lake = OneDiabeticWoman(dir);
  ASSERT_TRUE(lake.ok());
  ASSERT_NE((*lake)->data_cipher(), nullptr);
  IndexLoad info;
  auto built = LoadOrBuildIndex(**lake, 1, nullptr, &info);
  ASSERT_TRUE(built.ok());
  EXPECT_TRUE(info.cache_error.empty()) << info.cache_error;
  std::string bytes = testing::ReadText(IndexPath(**lake));
  EXPECT_EQ(bytes.substr(0, 8), "MLCOHIXE");
  EXPECT_EQ(bytes.find("44054006"), std::string::npos);
  EXPECT_EQ(bytes.find("snomed"), std::string::npos);
  auto loaded = LoadOrBuildIndex(**lake, 1, nullptr, &info);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_FALSE(info.built);
  EXPECT_EQ((*loaded)->event_count(), (*built)->event_count());
  bytes[bytes.size() / 2] ^= 0x20;
  testing::WriteText(IndexPath(**lake), bytes);
  EXPECT_EQ(LoadIndex(**lake).status().code(), ErrorCode::kCorruption);
  // A plain cache (as an attacker or an older medlake would write it) is not trusted either.
  testing::WriteText(IndexPath(**lake), "MLCOHIX1 plain");
  EXPECT_EQ(LoadIndex(**lake).status().code(), ErrorCode::kCorruption);
  ASSERT_TRUE(LoadOrBuildIndex(**lake, 1, nullptr, &info).ok());
  EXPECT_TRUE(info.built);
  EXPECT_TRUE(LoadIndex(**lake).ok());
}

// Synthea: counts checked against an independent scan of the raw bundles.
TEST(CohortSynthea, CountsMatchAScanOfTheRawFiles) {
  if (!testing::HaveSharedData("synthea-r4-dev-100"))
    GTEST_SKIP() << "../shared/data/synthea-r4-dev-100 not present";
  testing::TempDir dir;
  std::string data = testing::SharedData("synthea-r4-dev-100");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {data}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto index = CohortIndex::Build(**lake, 2, nullptr);
  ASSERT_TRUE(index.ok());
  auto ids = (*lake)->PatientIds();
  ASSERT_TRUE(ids.ok());

  // The independent computation: read every bundle with nlohmann::json.
  const int64_t index_ms = ParseFhirTime("2020-01-01")->start;
  const int64_t year_before = index_ms - 365LL * 86'400'000;
  Ids with_prediabetes_or_diabetes, with_recent_high_a1c, female_over_50, all;
  std::map<std::string, std::pair<std::string, std::string>> demo;  // id -> gender, birthDate
  auto patient_of = [](const nlohmann::json& r) {
    std::string ref = r["subject"]["reference"];
    return ref.substr(ref.rfind(':') + 1);  // urn:uuid:<id>
  };
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data)) {
    if (entry.path().extension() != ".json") continue;
    auto bundle = nlohmann::json::parse(testing::ReadText(entry.path().string()));
    for (const auto& e : bundle["entry"]) {
      const auto& r = e["resource"];
      std::string type = r["resourceType"];
      if (type == "Patient") {
        all.insert(r["id"].get<std::string>());
        std::string birth = r.value("birthDate", "");
        bool deceased = false;  // at the index date
        if (r.contains("deceasedDateTime")) {
          auto d = ParseFhirTime(r["deceasedDateTime"].get<std::string>());
          deceased = d && d->start < index_ms + 86'400'000;
        }
        // Age >= 50 on 2020-01-01: born on or before 1970-01-01.
        if (r.value("gender", "") == "female" && !birth.empty() && birth <= "1970-01-01" &&
            !deceased)
          female_over_50.insert(r["id"].get<std::string>());
      } else if (type == "Condition") {
        for (const auto& c : r["code"]["coding"]) {
          std::string code = c["code"];
          if (code == "44054006" || code == "15777000")
            with_prediabetes_or_diabetes.insert(patient_of(r));
        }
      } else if (type == "Observation" && r.contains("valueQuantity") &&
                 r.contains("effectiveDateTime")) {
        if (r["code"]["coding"][0]["code"] != "4548-4") continue;
        auto t = ParseFhirTime(r["effectiveDateTime"].get<std::string>());
        double v = r["valueQuantity"]["value"];
        if (t && t->start >= year_before && t->start <= index_ms && v > 6.0)
          with_recent_high_a1c.insert(patient_of(r));
      }
    }
  }
  ASSERT_FALSE(with_prediabetes_or_diabetes.empty());
  ASSERT_FALSE(with_recent_high_a1c.empty());

  auto run = [&](const std::string& json) {
    auto def = ParseCohort(json);
    EXPECT_TRUE(def.ok()) << def.status().message();
    auto r = Evaluate(*def, **index, EvaluateOptions{});
    EXPECT_TRUE(r.ok());
    Ids out;
    for (const auto& m : r->members) out.insert((*ids)[m.patient]);
    return out;
  };
  EXPECT_EQ(run(R"({"medlake_cohort": 1, "index": {"date": "2020-01-01"}})"), all);
  EXPECT_EQ(
      run(R"({"medlake_cohort": 1, "index": {"date": "2020-01-01"}, "inclusion": [{"criterion":
      {"event": {"type": "Condition", "codes": [{"system": "http://snomed.info/sct", "codes": ["44054006", "15777000"]}]}}}]})"),
      with_prediabetes_or_diabetes);
  EXPECT_EQ(
      run(R"({"medlake_cohort": 1, "index": {"date": "2020-01-01"}, "inclusion": [{"criterion":
      {"event": {"type": "Observation", "codes": [{"system": "http://loinc.org", "codes": ["4548-4"]}],
                 "window": {"start": {"days": -365}, "end": {"days": 0}},
                 "value": {"op": ">", "value": 6.0, "unit": "%"}}}}]})"),
      with_recent_high_a1c);
  // Synthea records death as deceasedDateTime; ages in completed years at the index.
  EXPECT_EQ(run(R"({"medlake_cohort": 1, "index": {"date": "2020-01-01"}, "inclusion": [
      {"criterion": {"sex": ["female"]}}, {"criterion": {"age": {"min": 50}}},
      {"criterion": {"not": {"deceased": true}}}]})"),
            female_over_50);
}

}  // namespace
}  // namespace medlake::cohort
