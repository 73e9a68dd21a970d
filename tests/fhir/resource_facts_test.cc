#include "fhir/resource_facts.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "fhir/r4_model.h"
#include "json/json.h"

namespace medlake::fhir {
namespace {

Status Extract(json::Parser& parser, const std::string& text, ResourceFacts& facts) {
  auto node = parser.Parse(text);
  if (!node.ok()) return node.status();
  return ExtractFacts(*node, nullptr, facts);
}

TEST(ResourceFacts, EveryR4TypeWithAnIdIsStorable) {
  json::Parser parser;
  for (size_t i = 0; i < ResourceTypeCount(); ++i) {
    std::string type(ResourceTypeName(static_cast<int>(i)));
    ResourceFacts facts;
    Status s = Extract(parser, R"({"resourceType":")" + type + R"(","id":"x1"})", facts);
    ASSERT_TRUE(s.ok()) << type << ": " << s.ToString();
    EXPECT_EQ(facts.type, type);
    EXPECT_EQ(facts.type_index, static_cast<int>(i));
    EXPECT_EQ(facts.id, "x1");
  }
}

TEST(ResourceFacts, ReadsEveryHotFieldWhateverTheFieldOrder) {
  // The fields in an unusual order.
  const std::string observation = R"({
    "valueQuantity": {"value": 7.5, "unit": "mmol/L", "code": "mmol/L"},
    "status": "final",
    "encounter": {"reference": "Encounter/e1"},
    "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"},
                        {"system": "http://loinc.org", "code": "2345-7"}]},
    "effectiveDateTime": "2020-03-04T05:06:07Z",
    "meta": {"lastUpdated": "2021-01-01T00:00:00Z"},
    "subject": {"reference": "Patient/p1"},
    "id": "o1",
    "identifier": [{"system": "urn:s", "value": "v1"}],
    "resourceType": "Observation"
  })";
  json::Parser parser;
  ResourceFacts f;
  ASSERT_TRUE(Extract(parser, observation, f).ok());
  EXPECT_EQ(f.type, "Observation");
  EXPECT_EQ(f.id, "o1");
  EXPECT_EQ(f.patient_id, "p1");
  EXPECT_EQ(f.encounter_id, "e1");
  EXPECT_EQ(f.status, "final");
  EXPECT_DOUBLE_EQ(f.value, 7.5);
  EXPECT_EQ(f.unit, "mmol/L");
  ASSERT_EQ(f.codings.size(), 1u);
  EXPECT_EQ(f.codings[0].code, "2345-7");
  EXPECT_NE(f.effective.start, kNoTime);
  EXPECT_NE(f.last_updated, kNoTime);
  ASSERT_EQ(f.identifiers.size(), 1u);
  EXPECT_EQ(f.identifiers[0].value, "v1");
}

// FHIR's JSON format forbids an object to repeat a name: readers disagree on which value
// counts (the facts read the first, many readers of an export the last). At any depth; the
// name is given when it is an element name, never when it could be a value.
TEST(ResourceFacts, ANameTwiceInAnObjectIsRefused) {
  json::Parser parser;
  ResourceFacts f;
  Status top = Extract(parser, R"({"resourceType":"Observation","id":"o1","status":"final",
      "code":{"text":"x"},"status":"entered-in-error"})",
                       f);
  EXPECT_EQ(top.code(), ErrorCode::kParseError);
  EXPECT_NE(top.message().find("\"status\" appears twice"), std::string::npos) << top.ToString();
  Status nested = Extract(parser, R"({"resourceType":"Observation","id":"o1","status":"final",
      "code":{"coding":[{"system":"s","code":"a"},{"system":"s","code":"b","code":"c"}]}})",
                          f);
  EXPECT_EQ(nested.code(), ErrorCode::kParseError);
  EXPECT_NE(nested.message().find("\"code\" appears twice"), std::string::npos);
  // In an object of more than 16 names, the two far apart.
  std::string wide = R"({"resourceType":"Patient","id":"p1","extension":[{"url":"u","a0":1)";
  for (int i = 1; i < 40; ++i) wide += ",\"a" + std::to_string(i) + "\":1";
  EXPECT_EQ(Extract(parser, wide + R"(,"a0":2}]})", f).code(), ErrorCode::kParseError);
  EXPECT_TRUE(Extract(parser, wide + R"(,"a40":2}]})", f).ok());
  Status odd = Extract(parser, R"({"resourceType":"Patient","id":"p1",
      "x":{"Jane Doe 1970":1,"Jane Doe 1970":2}})",
                       f);
  EXPECT_EQ(odd.code(), ErrorCode::kParseError);
  EXPECT_EQ(odd.message().find("Jane"), std::string::npos) << odd.ToString();
  // The empty name too (it was taken for "none repeated": a review).
  EXPECT_EQ(Extract(parser, R"({"resourceType":"Patient","id":"p1","x":{"":1,"":2}})", f).code(),
            ErrorCode::kParseError);
  EXPECT_TRUE(Extract(parser, R"({"resourceType":"Patient","id":"p1","x":{"":1}})", f).ok());
  // Strings and arrays that repeat a value are not names.
  EXPECT_TRUE(Extract(parser, R"({"resourceType":"Patient","id":"p1","name":[{"given":["A","A"]},
      {"given":["A"]}],"telecom":[{"value":"status"},{"value":"status"}]})",
                      f)
                  .ok());
}

// meta.lastUpdated orders the versions of a resource: a value that is no instant is refused,
// not read as "no lastUpdated" (which loses to every version that has one).
TEST(ResourceFacts, LastUpdatedMustBeAnInstant) {
  json::Parser parser;
  auto with = [&](std::string_view value) {
    ResourceFacts f;
    Status s =
        Extract(parser,
                std::string(R"({"resourceType":"Patient","id":"p1","meta":{"lastUpdated":)") +
                    std::string(value) + "}}",
                f);
    return std::make_pair(s, f.last_updated);
  };
  for (std::string_view good : {R"("2024-05-01T10:00:00Z")", R"("2024-05-01T10:00:00.123+02:00")",
                                R"("2024-05-01T10:00:00-05:30")", R"("2024-05-01T10:00:00")"}) {
    auto [s, t] = with(good);
    EXPECT_TRUE(s.ok()) << good << " " << s.ToString();
    EXPECT_NE(t, kNoTime) << good;
  }
  EXPECT_EQ(with(R"("2024-05-01T10:00:00.000+02:00")").second,
            with(R"("2024-05-01T08:00:00Z")").second);
  for (std::string_view bad :
       {R"("2024-05-01T10:00:00.000+0000")", R"("2020-01-01")", R"("2020-01")", R"("not-a-date")",
        R"("2024-05-01 10:00:00Z")", R"("2024-05-01T10:00Z")", "20240501", "null", R"("")"}) {
    auto [s, t] = with(bad);
    EXPECT_EQ(s.code(), ErrorCode::kParseError) << bad;
    EXPECT_NE(s.message().find("meta.lastUpdated is not a FHIR instant"), std::string::npos);
  }
}

// An effective time that is no FHIR date or dateTime (2021-02-29, a time without seconds, an
// offset without a colon) or a Period that ends before it starts (R4 per-1) is an error: the
// resource was stored with no effective time, missing from every query for one.
// Appointment's time is its start to its end; Provenance's is when the activity occurred.
TEST(ResourceFacts, EffectiveTimesMustBeValid) {
  json::Parser parser;
  auto facts = [&](const std::string& json) {
    ResourceFacts f;
    Status s = Extract(parser, json, f);
    return std::make_pair(s, f.effective);
  };
  auto observation = [](std::string_view effective) {
    return std::string(R"({"resourceType":"Observation","id":"o1","status":"final",)"
                       R"("code":{"text":"x"},)") +
           std::string(effective) + "}";
  };
  for (std::string_view bad :
       {R"("effectiveDateTime":"2021-02-29")", R"("effectiveDateTime":"2020-13")",
        R"("effectiveDateTime":"2020-05-05T10:00Z")",
        R"("effectiveDateTime":"2020-05-05 10:00:00Z")",
        R"("effectiveDateTime":"2020-05-05T10:00:00+0100")", R"("effectiveDateTime":7)",
        R"("effectivePeriod":{"start":"2020-06-01","end":"2020-05-01"})",
        R"("effectivePeriod":{"start":"2020-06-31"})",
        // Of different precision, but apart in what they share: per-1 is false.
        R"("effectivePeriod":{"start":"2021-03-05","end":"2020-01-01T00:00:00Z"})",
        R"("effectivePeriod":{"start":"2021-01-01T00:00:00Z","end":"2020"})",
        R"("effectivePeriod":{"start":"2021-03","end":"2020-01-01"})",
        R"("effectiveDateTime":"2020-05-05","issued":"2020-05-05T24:00:00Z")"}) {
    auto [s, t] = facts(observation(bad));
    EXPECT_EQ(s.code(), ErrorCode::kParseError) << bad;
    EXPECT_TRUE(s.message().starts_with("effective") || s.message().starts_with("issued"))
        << s.message();
  }
  for (std::string_view good :
       {R"("effectiveDateTime":"2020")", R"("effectiveDateTime":"2020-05")",
        R"("effectiveDateTime":"2020-05-05T10:00:00.5+14:00")",
        R"("effectivePeriod":{"start":"2020-06-01T10:00:00+02:00","end":"2020-06-01T08:30:00Z"})",
        // Of different precision, FHIRPath's start <= end is empty: per-1 holds.
        R"("effectivePeriod":{"start":"2020-01-01","end":"2020-01-01T01:00:00+05:00"})",
        R"("effectivePeriod":{"start":"2020-01-01T23:30:00-05:00","end":"2020-01-01"})",
        R"("effectiveTiming":{"event":["2020-01-01"]},"issued":"2020-01-02T00:00:00Z")"}) {
    auto [s, t] = facts(observation(good));
    EXPECT_TRUE(s.ok()) << good << " " << s.ToString();
    EXPECT_NE(t.start, kNoTime) << good;
  }
  auto [s, t] = facts(R"({"resourceType":"Appointment","id":"a1","status":"booked",)"
                      R"("start":"2020-05-05T07:00:00Z","end":"2020-05-05T07:30:00Z",)"
                      R"("participant":[{"status":"accepted"}]})");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(t.end - t.start, 30 * 60 * 1000);
  auto backwards = facts(R"({"resourceType":"Appointment","id":"a1","status":"booked",)"
                         R"("start":"2020-05-05T07:00:00Z","end":"2020-05-05T06:30:00Z"})");
  EXPECT_EQ(backwards.first.code(), ErrorCode::kParseError);
  auto provenance =
      facts(R"({"resourceType":"Provenance","id":"v1",)"
            R"("occurredPeriod":{"start":"2019-01-01T00:00:00Z","end":"2019-01-02T00:00:00Z"},)"
            R"("recorded":"2020-01-01T00:00:00Z","target":[{"reference":"Patient/p"}]})");
  ASSERT_TRUE(provenance.first.ok());
  EXPECT_EQ(provenance.second.end - provenance.second.start, 24 * 3600 * 1000);
}

// Codings are kept once each, in their first order, however many: past a few they are taken
// out with a hash set (a scan per coding made 200,000 distinct codings take a minute).
TEST(ResourceFacts, ManyCodingsKeepTheFirstOfEach) {
  json::Parser parser;
  constexpr int kDistinct = 50000;
  // c0 .. c49999 (every tenth in a second system), then all of them again, last first.
  auto coding = [](int i) {
    return R"({"system":"urn:s)" + std::to_string(i % 10 == 0) + R"(","code":"c)" +
           std::to_string(i) + R"("})";
  };
  std::string json =
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[)";
  for (int i = 0; i < kDistinct; ++i) json += coding(i) + ",";
  for (int i = kDistinct - 1; i >= 0; --i) json += coding(i) + (i > 0 ? "," : "");
  json += "]}}";
  ResourceFacts f;
  ASSERT_TRUE(Extract(parser, json, f).ok());
  ASSERT_EQ(f.codings.size(), static_cast<size_t>(kDistinct));
  for (int i = 0; i < kDistinct; ++i) {
    ASSERT_EQ(f.codings[i].code, "c" + std::to_string(i));
    ASSERT_EQ(f.codings[i].system, i % 10 == 0 ? "urn:s1" : "urn:s0");
  }
}

// R4 names some hot fields otherwise: Goal's status is lifecycleStatus; the medication
// statements, ChargeItem and DocumentReference name their Encounter in `context`.
TEST(ResourceFacts, GoalStatusAndEncountersGivenAsContext) {
  json::Parser parser;
  ResourceFacts f;
  ASSERT_TRUE(Extract(parser,
                      R"({"resourceType":"Goal","id":"g1","lifecycleStatus":"entered-in-error",)"
                      R"("subject":{"reference":"Patient/p1"}})",
                      f)
                  .ok());
  EXPECT_EQ(f.status, "entered-in-error");
  for (const char* type :
       {"MedicationAdministration", "MedicationDispense", "MedicationStatement", "ChargeItem"}) {
    ASSERT_TRUE(Extract(parser,
                        std::string(R"({"resourceType":")") + type +
                            R"(","id":"m1","context":{"reference":"Encounter/e7"}})",
                        f)
                    .ok());
    EXPECT_EQ(f.encounter_id, "e7") << type;
  }
  ASSERT_TRUE(Extract(parser,
                      R"({"resourceType":"MedicationStatement","id":"m2",)"
                      R"("context":{"reference":"EpisodeOfCare/x"}})",
                      f)
                  .ok());
  EXPECT_EQ(f.encounter_id, "");
  ASSERT_TRUE(
      Extract(parser,
              R"({"resourceType":"DocumentReference","id":"d1","context":)"
              R"({"encounter":[{"reference":"Encounter/e8"},{"reference":"Encounter/e9"}]}})",
              f)
          .ok());
  EXPECT_EQ(f.encounter_id, "e8");
}

TEST(ResourceFacts, CompartmentPathsBelowTheTopLevelAndInOrder) {
  json::Parser parser;
  ResourceFacts f;
  // Encounter: "subject" comes before "participant.individual" in the compartment.
  ASSERT_TRUE(Extract(parser, R"({"resourceType":"Encounter","id":"e1",
      "participant":[{"individual":{"reference":"Practitioner/d1"}}],
      "subject":{"reference":"Patient/p2"},
      "period":{"start":"2020-01-01","end":"2020-01-02"}})",
                      f)
                  .ok());
  EXPECT_EQ(f.patient_id, "p2");
  EXPECT_EQ(f.encounter_id, "e1");
  EXPECT_NE(f.effective.end, kNoTime);
  // A Condition's clinicalStatus is its status; verificationStatus entered-in-error wins.
  ASSERT_TRUE(Extract(parser, R"({"resourceType":"Condition","id":"c1",
      "verificationStatus":{"coding":[{"code":"entered-in-error"}]},
      "clinicalStatus":{"coding":[{"code":"active"}]},
      "subject":{"reference":"Patient/p3"},"onsetDateTime":"2019-05-01"})",
                      f)
                  .ok());
  EXPECT_EQ(f.patient_id, "p3");
  EXPECT_EQ(f.status, "entered-in-error");
  // Two different patients on the first path that names any: the shared area.
  ASSERT_TRUE(Extract(parser, R"({"resourceType":"Group","id":"g1","member":[
      {"entity":{"reference":"Patient/a"}},{"entity":{"reference":"Patient/b"}}]})",
                      f)
                  .ok());
  EXPECT_EQ(f.patient_id, "");
}

// The effective time of types beyond the common ones, from each type's own element (R4
// resource pages); a backbone element's time too (Specimen.collection.collected[x], before
// receivedTime).
TEST(ResourceFacts, EffectiveTimeOfEveryTypeThatHasOne) {
  struct Case {
    const char* type;
    const char* fields;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"DeviceRequest", R"("authoredOn":"2020-01-02")", "2020-01-02"},
      {"DeviceRequest", R"("authoredOn":"2020-01-02","occurrenceDateTime":"2020-02-03")",
       "2020-02-03"},
      {"AdverseEvent", R"("date":"2020-03-04T05:06:07Z")", "2020-03-04T05:06:07Z"},
      {"List", R"("date":"2020-04-05")", "2020-04-05"},
      {"ChargeItem", R"("occurrencePeriod":{"start":"2020-05-06"})", "2020-05-06"},
      {"ClaimResponse", R"("created":"2020-06-07")", "2020-06-07"},
      {"Invoice", R"("date":"2020-07-08")", "2020-07-08"},
      {"MeasureReport", R"("date":"2020-08-09")", "2020-08-09"},
      {"DetectedIssue", R"("identifiedDateTime":"2020-09-10")", "2020-09-10"},
      {"VisionPrescription", R"("dateWritten":"2020-10-11")", "2020-10-11"},
      {"SupplyDelivery", R"("occurrenceDateTime":"2020-11-12")", "2020-11-12"},
      {"RequestGroup", R"("authoredOn":"2020-12-13")", "2020-12-13"},
      {"CommunicationRequest", R"("authoredOn":"2021-01-14")", "2021-01-14"},
      {"ImmunizationRecommendation", R"("date":"2021-02-15")", "2021-02-15"},
      {"Basic", R"("created":"2021-03-16")", "2021-03-16"},
      {"Task", R"("executionPeriod":{"start":"2021-04-17"})", "2021-04-17"},
      {"Specimen", R"("receivedTime":"2021-05-19","collection":{"collectedDateTime":"2021-05-18"})",
       "2021-05-18"},
      {"Specimen", R"("receivedTime":"2021-05-19")", "2021-05-19"},
  };
  json::Parser parser;
  for (const auto& c : cases) {
    ResourceFacts f;
    const std::string text =
        std::string(R"({"resourceType":")") + c.type + R"(","id":"x1",)" + c.fields + "}";
    ASSERT_TRUE(Extract(parser, text, f).ok()) << text;
    auto expected = ParseFhirTime(c.expected);
    ASSERT_TRUE(expected);
    EXPECT_EQ(f.effective.start, expected->start) << text;
  }
}

// A quantity with a comparator ("<100 mg/dL") is a bound: no value in the hot column, so that
// a cohort's ">= 100" does not take it for 100.
TEST(ResourceFacts, AValueWithAComparatorIsNoValue) {
  json::Parser parser;
  ResourceFacts f;
  ASSERT_TRUE(Extract(parser,
                      R"({"resourceType":"Observation","id":"o1","valueQuantity":)"
                      R"({"value":100,"comparator":"<","code":"mg/dL"}})",
                      f)
                  .ok());
  EXPECT_TRUE(std::isnan(f.value));
  EXPECT_EQ(f.unit, "mg/dL");
  ASSERT_TRUE(Extract(parser,
                      R"({"resourceType":"Observation","id":"o2","valueQuantity":)"
                      R"({"value":100,"code":"mg/dL"}})",
                      f)
                  .ok());
  EXPECT_EQ(f.value, 100);
}

// CodeableConcept.coding is an array; a "coding" written as an object holds no code, whatever
// its members hold.
TEST(ResourceFacts, ACodingThatIsNotAnArrayHoldsNoCode) {
  json::Parser parser;
  ResourceFacts f;
  ASSERT_TRUE(Extract(parser,
                      R"({"resourceType":"Condition","id":"c1","code":{"coding":)"
                      R"({"x":{"system":"http://snomed.info/sct","code":"44054006"}}}})",
                      f)
                  .ok());
  EXPECT_TRUE(f.codings.empty());
  ASSERT_TRUE(Extract(parser,
                      R"({"resourceType":"Condition","id":"c2","code":{"coding":)"
                      R"([{"system":"http://snomed.info/sct","code":"44054006"}]}})",
                      f)
                  .ok());
  ASSERT_EQ(f.codings.size(), 1u);
  EXPECT_EQ(f.codings[0].code, "44054006");
}

TEST(ResourceFacts, UnstorableResourcesSayWhy) {
  json::Parser parser;
  ResourceFacts f;
  EXPECT_NE(Extract(parser, R"({"id":"x"})", f).message().find("no resourceType"),
            std::string::npos);
  EXPECT_NE(Extract(parser, R"({"resourceType":"Nope","id":"x"})", f).message().find("unknown"),
            std::string::npos);
  EXPECT_NE(Extract(parser, R"({"resourceType":"Patient"})", f).message().find("missing id"),
            std::string::npos);
  EXPECT_NE(
      Extract(parser, R"({"resourceType":"Patient","id":"a b"})", f).message().find("malformed id"),
      std::string::npos);
  // Readers that keep the last of a repeated name would see another resource.
  EXPECT_EQ(
      Extract(parser, R"({"resourceType":"Patient","resourceType":"Observation","id":"x"})", f)
          .message(),
      "resourceType or id appears twice");
  EXPECT_EQ(Extract(parser, R"({"resourceType":"Patient","id":"x","id":"y"})", f).message(),
            "resourceType or id appears twice");
  EXPECT_TRUE(Extract(parser, R"({"resourceType":"Patient","id":"x","gender":"male"})", f).ok());
}

TEST(ResourceFacts, AnUnknownTypeIsNotRepeatedButANearMissIsNamed) {
  json::Parser parser;
  ResourceFacts f;
  // The value is record content: error messages never carry it.
  EXPECT_EQ(Extract(parser, R"({"resourceType":"Jane Doe 1970-01-01","id":"x"})", f).message(),
            "unknown resourceType");
  EXPECT_EQ(Extract(parser, R"({"resourceType":"Observaton","id":"x"})", f).message(),
            "unknown resourceType (did you mean Observation?)");
  EXPECT_EQ(Extract(parser, R"({"resourceType":"patient","id":"x"})", f).message(),
            "unknown resourceType (did you mean Patient?)");
  EXPECT_EQ(Extract(parser, R"({"resourceType":"Observations","id":"x"})", f).message(),
            "unknown resourceType (did you mean Observation?)");
  EXPECT_EQ(Extract(parser, R"({"resourceType":"Nope","id":"x"})", f).message(),
            "unknown resourceType");
}

// R4's id datatype: [A-Za-z0-9\-\.]{1,64}, every byte value checked.
TEST(ResourceFacts, IdsFollowTheR4Pattern) {
  for (int c = 0; c < 256; ++c) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '.';
    std::string id = "ab" + std::string(1, static_cast<char>(c)) + "cd";
    EXPECT_EQ(IsValidId(id), allowed) << "byte " << c;
  }
  EXPECT_FALSE(IsValidId(""));
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  EXPECT_TRUE(IsValidId("0b4a0c55-0000-4000-8000-000000000001"));
}

TEST(ResourceFacts, SplitReferenceReadsTheLastTypeAndIdBeforeAnyHistory) {
  struct Case {
    std::string_view reference, type, id;  // type and id empty: not split
  };
  const Case cases[] = {
      {"Patient/p1", "Patient", "p1"},
      {"Patient/p1/_history/2", "Patient", "p1"},
      {"http://srv.example/fhir/Encounter/e1/_history/3", "Encounter", "e1"},
      // A '_' in the base URL before the history: the search goes on past it.
      {"http://my_server.example/fhir/Encounter/e1/_history/3", "Encounter", "e1"},
      {"http://my_server.example/fhir/Encounter/e1", "Encounter", "e1"},
      {"Patient/p_1", "", ""},  // an id has no '_'
      {"Patient/_history/1", "", ""},
      {"_history/1", "", ""},
      {"Patient", "", ""},
      {"Unknown/p1", "", ""},
  };
  for (const Case& c : cases) {
    std::string_view type, id;
    const bool split = SplitReference(c.reference, type, id);
    EXPECT_EQ(split, !c.type.empty()) << c.reference;
    if (split) {
      EXPECT_EQ(type, c.type) << c.reference;
      EXPECT_EQ(id, c.id) << c.reference;
    }
  }
}

}  // namespace
}  // namespace medlake::fhir
