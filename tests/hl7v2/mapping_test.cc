// HL7 v2 → FHIR R4 per message type, on hand-written messages, field by field.
#include <gtest/gtest.h>

#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ingest/hl7v2/fhir_mapper.h"
#include "ingest/hl7v2/json_builder.h"
#include "json/json.h"

namespace medlake::hl7v2 {
namespace {

// Follows "a.b.0.c" (numbers index arrays) from `node`.
std::optional<json::Node> At(json::Node node, std::string_view path) {
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view step = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    size_t index = 0;
    auto [ptr, ec] = std::from_chars(step.data(), step.data() + step.size(), index);
    if (ec == std::errc() && ptr == step.data() + step.size()) {
      std::optional<json::Node> found;
      size_t i = 0;
      node.ForEachItem([&](json::Node item) {
        if (i++ == index) {
          found = item;
          return false;
        }
        return true;
      });
      if (!found) return std::nullopt;
      node = *found;
    } else {
      auto next = node.Find(step);
      if (!next) return std::nullopt;
      node = *next;
    }
  }
  return node;
}

class Mapped {
 public:
  explicit Mapped(std::string text) : text_(std::move(text)) {
    auto m = Message::Parse(text_);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (!m.ok()) return;
    auto mapped = MapToFhir(*m);
    EXPECT_TRUE(mapped.ok()) << mapped.status().ToString();
    if (mapped.ok()) result_ = std::move(mapped).value();
  }

  size_t Count(std::string_view type) const {
    size_t n = 0;
    for (const auto& r : result_.resources) n += r.resource_type == type;
    return n;
  }
  const MappedResource* Get(std::string_view type, size_t nth = 0) const {
    for (const auto& r : result_.resources) {
      if (r.resource_type == type && nth-- == 0) return &r;
    }
    return nullptr;
  }
  // String (or number text) at `path` of the nth resource of `type`; "" when absent.
  std::string S(std::string_view type, std::string_view path, size_t nth = 0) {
    const MappedResource* r = Get(type, nth);
    if (r == nullptr) return "<no " + std::string(type) + ">";
    auto root = parser_.Parse(r->json);
    EXPECT_TRUE(root.ok()) << r->json;
    if (!root.ok()) return "<invalid json>";
    auto node = At(*root, path);
    if (!node) return "";
    if (node->IsString()) return std::string(node->GetString());
    return node->ToJson();
  }
  const MappedMessage& result() const { return result_; }

 private:
  std::string text_;
  MappedMessage result_;
  json::Parser parser_;
};

constexpr char kAdtA01[] =
    "MSH|^~\\&|ADTAPP|GOODHEALTH|LAKE|LAKE|20240301101500+0100||ADT^A01^ADT_A01|ADT-0001|P|2.5.1\r"
    "EVN|A01|20240301101500+0100\r"
    "PID|1||MRN123^^^GHH&1.2.3.4&ISO^MR~555-11-2222^^^SSA^SS||Everyman^Adam^A^Jr^Dr^^L||"
    "19610615|M|||1 Main St^Apt 2^Ann Arbor^MI^48104^USA^H||^PRN^PH^^1^734^5551234|"
    "^WPN^Internet^adam@example.org||M^Married^HL70002\r"
    "PV1|1|I|4E^136^B^GHH|||||||MED|||||||||V100^^^GHH&1.2.3.4&ISO^VN|||||||||||||||||||||||||"
    "20240301101000+0100\r";

TEST(MapAdt, A01PatientFields) {
  Mapped m(kAdtA01);
  ASSERT_EQ(m.Count("Patient"), 1u);
  EXPECT_EQ(m.S("Patient", "resourceType"), "Patient");
  EXPECT_EQ(m.S("Patient", "identifier.0.value"), "MRN123");
  EXPECT_EQ(m.S("Patient", "identifier.0.system"), "urn:oid:1.2.3.4");
  EXPECT_EQ(m.S("Patient", "identifier.0.type.coding.0.code"), "MR");
  EXPECT_EQ(m.S("Patient", "identifier.1.system"), "urn:medlake:hl7v2:authority:SSA");
  EXPECT_EQ(m.S("Patient", "name.0.use"), "official");
  EXPECT_EQ(m.S("Patient", "name.0.family"), "Everyman");
  EXPECT_EQ(m.S("Patient", "name.0.given.0"), "Adam");
  EXPECT_EQ(m.S("Patient", "name.0.given.1"), "A");
  EXPECT_EQ(m.S("Patient", "name.0.prefix.0"), "Dr");
  EXPECT_EQ(m.S("Patient", "name.0.suffix.0"), "Jr");
  EXPECT_EQ(m.S("Patient", "gender"), "male");
  EXPECT_EQ(m.S("Patient", "birthDate"), "1961-06-15");
  EXPECT_EQ(m.S("Patient", "address.0.line.1"), "Apt 2");
  EXPECT_EQ(m.S("Patient", "address.0.city"), "Ann Arbor");
  EXPECT_EQ(m.S("Patient", "address.0.use"), "home");
  EXPECT_EQ(m.S("Patient", "telecom.0.value"), "(734)5551234");
  EXPECT_EQ(m.S("Patient", "telecom.0.use"), "home");
  EXPECT_EQ(m.S("Patient", "telecom.1.system"), "email");
  EXPECT_EQ(m.S("Patient", "telecom.1.value"), "adam@example.org");
  EXPECT_EQ(m.S("Patient", "maritalStatus.coding.0.code"), "M");
}

// HL7 v2.5 section 2.5.3: "" deletes the stored value, so it is listed in `cleared` and
// nothing is written for it (PID-16 "" gave a maritalStatus coding without a code).
// XPN.7 (table 0200) as FHIR R4's cm-name-use-v2: an adopted name (C) is no "old" name, an
// alias (A) no "anonymous" one; a coded pseudo-name (S) is.
TEST(MapAdt, NameTypesFollowTheFhirConceptMap) {
  std::string adt(kAdtA01);
  adt.replace(adt.find("Everyman^Adam^A^Jr^Dr^^L"), 24,
              "Smith^Anna^^^^^C~Jones^Anna^^^^^A~Anon^X^^^^^S~Doe^Jane^^^^^L");
  Mapped m(adt);
  EXPECT_EQ(m.S("Patient", "name.0.use"), "");
  EXPECT_EQ(m.S("Patient", "name.1.use"), "");
  EXPECT_EQ(m.S("Patient", "name.2.use"), "anonymous");
  EXPECT_EQ(m.S("Patient", "name.3.use"), "official");
}

TEST(MapAdt, NullFieldsAreClearedNotWritten) {
  Mapped m(
      "MSH|^~\\&|ADTAPP|GOODHEALTH|LAKE|LAKE|20240301101500||ADT^A08|ADT-0002|P|2.5.1\r"
      "PID|1||MRN123^^^GHH^MR||Everyman^Adam||\"\"||||||\"\"|||\"\"\r"
      "PV1|1|I|4E^136^B^GHH||||||||||||||||V100^^^GHH^VN\r");
  const MappedResource* patient = m.Get("Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(m.S("Patient", "maritalStatus"), "");
  EXPECT_EQ(m.S("Patient", "birthDate"), "");
  EXPECT_EQ(patient->cleared, (std::vector<std::string>{"telecom", "birthDate", "maritalStatus"}));
  EXPECT_EQ(m.S("Patient", "meta.lastUpdated"), "2024-03-01T10:15:00Z");
}

// A sender's clock far ahead orders nothing: an MSH-7 in 2099 would outrank every later
// message for good (a discharge dropped silently).
TEST(MapAdt, AnMsh7FarInTheFutureIsNoLastUpdated) {
  Mapped m(
      "MSH|^~\\&|ADTAPP|GOODHEALTH|LAKE|LAKE|20990301100000||ADT^A08|ADT-0003|P|2.5.1\r"
      "PID|1||MRN123^^^GHH^MR||Everyman^Adam\r"
      "PV1|1|I|4E^136^B^GHH||||||||||||||||V100^^^GHH^VN\r");
  EXPECT_EQ(m.S("Patient", "meta.lastUpdated"), "");
  EXPECT_EQ(m.S("Encounter", "meta.lastUpdated"), "");
}

TEST(MapAdt, A01EncounterFields) {
  Mapped m(kAdtA01);
  ASSERT_EQ(m.Count("Encounter"), 1u);
  EXPECT_EQ(m.S("Encounter", "status"), "in-progress");
  EXPECT_EQ(m.S("Encounter", "class.code"), "IMP");
  EXPECT_EQ(m.S("Encounter", "class.system"), "http://terminology.hl7.org/CodeSystem/v3-ActCode");
  EXPECT_EQ(m.S("Encounter", "identifier.0.value"), "V100");
  EXPECT_EQ(m.S("Encounter", "identifier.0.type.coding.0.code"), "VN");
  EXPECT_EQ(m.S("Encounter", "period.start"), "2024-03-01T10:10:00+01:00");
  EXPECT_EQ(m.S("Encounter", "period.end"), "");
  EXPECT_EQ(m.S("Encounter", "serviceType.coding.0.code"), "MED");
  EXPECT_EQ(m.S("Encounter", "subject.reference"), "Patient/" + m.Get("Patient")->id);
  EXPECT_EQ(m.S("Encounter", "location.0.status"), "active");
  EXPECT_EQ(m.S("Encounter", "location.0.location.display"), "4E / 136 / B");
  EXPECT_EQ(m.S("Encounter", "location.0.period.start"), "2024-03-01T10:10:00+01:00");
  // Ward, room and bed as Locations, each part of the one above.
  ASSERT_EQ(m.Count("Location"), 3u);
  EXPECT_EQ(m.S("Location", "physicalType.coding.0.code", 0), "wa");
  EXPECT_EQ(m.S("Location", "name", 2), "B");
  EXPECT_EQ(m.S("Location", "partOf.reference", 2), "Location/" + m.Get("Location", 1)->id);
  EXPECT_EQ(m.S("Encounter", "location.0.location.reference"),
            "Location/" + m.Get("Location", 2)->id);
}

// An A01 or A04 without PV1-44: the event is the admission (registration), so its time (EVN-6,
// else EVN-2) is the stay's start; an A08 updates a stay and says nothing of its start.
TEST(MapAdt, AdmissionWithoutPv144StartsAtTheEvent) {
  Mapped occurred(
      "MSH|^~\\&|A|F|L|L|20240301083000||ADT^A01|E1|P|2.5\rEVN|A01|20240301083000||||"
      "20240301080000\rPID|1||M1^^^H^MR\rPV1|1|I|W4^^7^H||||||||||||||||V1\r");
  EXPECT_EQ(occurred.S("Encounter", "period.start"), "2024-03-01T08:00:00Z");
  EXPECT_EQ(occurred.S("Encounter", "location.0.period.start"), "2024-03-01T08:00:00Z");
  Mapped recorded(
      "MSH|^~\\&|A|F|L|L|20240301083000||ADT^A04|E2|P|2.5\rEVN|A04|20240301082000\r"
      "PID|1||M1^^^H^MR\rPV1|1|O|CLIN^^^H||||||||||||||||V2\r");
  EXPECT_EQ(recorded.S("Encounter", "period.start"), "2024-03-01T08:20:00Z");
  Mapped admit_time(  // PV1-44 first
      "MSH|^~\\&|A|F|L|L|20240301083000||ADT^A01|E3|P|2.5\rEVN|A01|20240301083000\r"
      "PID|1||M1^^^H^MR\rPV1|1|I|W4^^7^H||||||||||||||||V3|||||||||||||||||||||||||"
      "20240301070000\r");
  EXPECT_EQ(admit_time.S("Encounter", "period.start"), "2024-03-01T07:00:00Z");
  Mapped update(
      "MSH|^~\\&|A|F|L|L|20240301083000||ADT^A08|E4|P|2.5\rEVN|A08|20240301083000\r"
      "PID|1||M1^^^H^MR\rPV1|1|I|W4^^7^H||||||||||||||||V4\r");
  EXPECT_EQ(update.S("Encounter", "period.start"), "");
  EXPECT_EQ(update.S("Encounter", "location.0.period.start"), "");
  Mapped no_evn(
      "MSH|^~\\&|A|F|L|L|20240301083000||ADT^A01|E5|P|2.5\rPID|1||M1^^^H^MR\r"
      "PV1|1|I|W4^^7^H||||||||||||||||V5\r");
  EXPECT_EQ(no_evn.S("Encounter", "period.start"), "");
}

// A visit number is unique within its assigning authority (CX.4). Without one, two hospitals'
// visit 1001 are two stays: the number is scoped by the patient, so that the lab's and the
// monitor's messages about the same patient (another MSH-3) still name the admission's stay.
// A visit number without an assigning authority is the sending facility's (MSH-4): two
// hospitals' visit 1001 are two stays; one hospital's admission, monitor results and discharge
// name one stay whichever application sends them and in whatever order PID-3 lists the
// patient's identifiers (scoped by the patient, a reordered PID-3 split the stay).
TEST(MapAdt, VisitNumbersWithoutAuthorityAreTheFacilitys) {
  Mapped a(
      "MSH|^~\\&|ADT|HOSPA|L|L|20240301080000||ADT^A01|A-1|P|2.5\rEVN|A01|20240301080000\r"
      "PID|1||MRNA^^^HOSPA^MR\rPV1|1|I|WA^^1^HOSPA||||||||||||||||1001\r");
  Mapped b(
      "MSH|^~\\&|ADT|HOSPB|L|L|20240301090000||ADT^A01|B-1|P|2.5\rEVN|A01|20240301090000\r"
      "PID|1||MRNB^^^HOSPB^MR\rPV1|1|I|WB^^2^HOSPB||||||||||||||||1001\r");
  ASSERT_NE(a.Get("Encounter"), nullptr);
  ASSERT_NE(b.Get("Encounter"), nullptr);
  EXPECT_NE(a.Get("Encounter")->id, b.Get("Encounter")->id);
  Mapped lab(
      "MSH|^~\\&|MON|HOSPA|L|L|20240301100000||ORU^R01|A-2|P|2.5\rPID|1||MRNA^^^HOSPA^MR\r"
      "PV1|1|I|WA^^1^HOSPA||||||||||||||||1001\rOBR|1||F1|85353-1^VS^LN\r"
      "OBX|1|NM|8867-4^HR^LN||80|/min|||||F|||20240301100000\r");
  EXPECT_EQ(lab.S("Observation", "encounter.reference"), "Encounter/" + a.Get("Encounter")->id);
  Mapped discharge(
      "MSH|^~\\&|ADT2|HOSPA|L|L|20240302090000||ADT^A03|A-3|P|2.5\rEVN|A03|20240302090000\r"
      "PID|1||N1^^^NHS^NH~MRNA^^^HOSPA^MR\rPV1|1|I|WA^^1^HOSPA||||||||||||||||1001\r");
  ASSERT_NE(discharge.Get("Encounter"), nullptr);
  EXPECT_EQ(discharge.Get("Encounter")->id, a.Get("Encounter")->id);
  // Without a facility, the patient scopes it.
  Mapped anonymous_a(
      "MSH|^~\\&|ADT||L|L|20240301080000||ADT^A01|X-1|P|2.5\rEVN|A01|20240301080000\r"
      "PID|1||MRNA^^^HOSPA^MR\rPV1|1|I|WA^^1||||||||||||||||1001\r");
  Mapped anonymous_b(
      "MSH|^~\\&|ADT||L|L|20240301090000||ADT^A01|X-2|P|2.5\rEVN|A01|20240301090000\r"
      "PID|1||MRNB^^^HOSPB^MR\rPV1|1|I|WB^^2||||||||||||||||1001\r");
  EXPECT_NE(anonymous_a.Get("Encounter")->id, anonymous_b.Get("Encounter")->id);
  // With an assigning authority the number alone names the visit: ids as before.
  Mapped scoped(kAdtA01);
  EXPECT_EQ(scoped.Get("Encounter")->id, MakeId("enc", "V100|GHH&1.2.3.4&ISO"));
}

TEST(MapAdt, TransferKeepsLocationHistory) {
  Mapped m(
      "MSH|^~\\&|A|F|L|L|20240302||ADT^A02|ADT-0002|P|2.5\r"
      "EVN|A02|20240302080000||||20240302075500\r"
      "PID|1||MRN123^^^GHH&1.2.3.4&ISO^MR\r"
      "PV1|1|I|ICU^1^1^GHH|||4E^136^B^GHH|||||||||||||V100^^^GHH&1.2.3.4&ISO^VN|||||||||||||"
      "||||||||||||20240301101000\r");
  EXPECT_EQ(m.S("Encounter", "status"), "in-progress");
  EXPECT_EQ(m.S("Encounter", "location.0.status"), "completed");
  EXPECT_EQ(m.S("Encounter", "location.0.location.display"), "4E / 136 / B");
  EXPECT_EQ(m.S("Encounter", "location.0.period.end"), "2024-03-02T07:55:00Z");
  EXPECT_EQ(m.S("Encounter", "location.1.status"), "active");
  EXPECT_EQ(m.S("Encounter", "location.1.location.display"), "ICU / 1 / 1");
  EXPECT_EQ(m.S("Encounter", "location.1.period.start"), "2024-03-02T07:55:00Z");
  // Same visit number → same Encounter id as the admission.
  Mapped admit(kAdtA01);
  EXPECT_EQ(m.Get("Encounter")->id, admit.Get("Encounter")->id);
  EXPECT_EQ(m.Get("Patient")->id, admit.Get("Patient")->id);
}

TEST(MapAdt, DischargeCancelAndRegistration) {
  Mapped a03("MSH|^~\\&|A|F|L|L|2024||ADT^A03|D1|P|2.5\rPID|1||M1\rPV1|1|E|ER^^^H\r");
  EXPECT_EQ(a03.S("Encounter", "status"), "finished");
  EXPECT_EQ(a03.S("Encounter", "class.code"), "EMER");
  Mapped a11("MSH|^~\\&|A|F|L|L|2024||ADT^A11|D2|P|2.5\rPID|1||M1\rPV1|1|O\r");
  EXPECT_EQ(a11.S("Encounter", "status"), "cancelled");
  EXPECT_EQ(a11.S("Encounter", "class.code"), "AMB");
  Mapped a04("MSH|^~\\&|A|F|L|L|2024||ADT^A04|D3|P|2.3\rPID|1||M1\rPV1|1|X\r");
  EXPECT_EQ(a04.S("Encounter", "status"), "arrived");
  EXPECT_EQ(a04.S("Encounter", "class.code"), "X");
  EXPECT_EQ(a04.S("Encounter", "class.system"), "http://terminology.hl7.org/CodeSystem/v2-0004");
}

TEST(MapAdt, DischargePeriod) {
  Mapped m(
      "MSH|^~\\&|A|F|L|L|2024||ADT^A03|D9|P|2.5\rPID|1||M1\r"
      "PV1|1|I|W^R^B||||||||||||||||V9|||||||||||||||||||||||||202403011010|202403051200\r");
  EXPECT_EQ(m.S("Encounter", "period.start"), "2024-03-01T10:10:00Z");
  EXPECT_EQ(m.S("Encounter", "period.end"), "2024-03-05T12:00:00Z");
  EXPECT_EQ(m.S("Encounter", "location.0.status"), "completed");
  EXPECT_EQ(m.S("Encounter", "location.0.period.end"), "2024-03-05T12:00:00Z");
}

constexpr char kOru[] =
    "MSH|^~\\&|LAB|GHH|LAKE|LAKE|20240301120000||ORU^R01^ORU_R01|LAB-77|P|2.5.1\r"
    "PID|1||MRN123^^^GHH&1.2.3.4&ISO^MR\r"
    "PV1|1|I|4E^136^B||||||||||||||||V100^^^GHH&1.2.3.4&ISO^VN\r"
    "OBR|1|PL-1^OE|FL-1^LAB|24331-1^Lipid panel^LN|||20240301090000+0100|||||||||||||||"
    "20240301113000+0100|||F\r"
    "OBX|1|NM|2093-3^Cholesterol^LN||196|mg/dl|<200|N|||F|||20240301091500+0100\r"
    "OBX|2|NM|2571-8^Triglyceride^LN||250.5|mg/dL^^UCUM|50-150|H~A|||C\r"
    "OBX|3|SN|1554-5^Glucose^LN||>^7.5|mmol/l|3.5-7.8||||P\r"
    "OBX|4|CWE|5778-6^Color^LN||YEL^Yellow^L||||||F\r"
    "OBX|5|ST|8251-1^Comment^LN||sample \\T\\ rerun||||||F\r"
    "OBX|6|NM|8867-4^Heart rate^LN||72|/min^^UCUM|||||X\r"
    "OBX|7|SN|X-RATIO^Titer^L||^1^:^128||||||F\r"
    "NTE|1|L|Repeated \\T\\ confirmed~second line\r";

TEST(MapOru, ObservationValuesUnitsRanges) {
  Mapped m(kOru);
  ASSERT_EQ(m.Count("Observation"), 7u);
  ASSERT_EQ(m.Count("DiagnosticReport"), 1u);
  EXPECT_EQ(m.Count("Encounter"), 0u);  // only ADT authors the Encounter
  // OBX 1: NM, mapped unit, "<200" upper bound, OBX-14 effective.
  EXPECT_EQ(m.S("Observation", "status", 0), "final");
  EXPECT_EQ(m.S("Observation", "code.coding.0.system", 0), "http://loinc.org");
  EXPECT_EQ(m.S("Observation", "code.coding.0.code", 0), "2093-3");
  EXPECT_EQ(m.S("Observation", "valueQuantity.value", 0), "196");
  EXPECT_EQ(m.S("Observation", "valueQuantity.unit", 0), "mg/dl");
  EXPECT_EQ(m.S("Observation", "valueQuantity.code", 0), "mg/dL");
  EXPECT_EQ(m.S("Observation", "valueQuantity.system", 0), "http://unitsofmeasure.org");
  EXPECT_EQ(m.S("Observation", "referenceRange.0.high.value", 0), "200");
  EXPECT_EQ(m.S("Observation", "referenceRange.0.low", 0), "");
  EXPECT_EQ(m.S("Observation", "interpretation.0.coding.0.code", 0), "N");
  EXPECT_EQ(m.S("Observation", "effectiveDateTime", 0), "2024-03-01T09:15:00+01:00");
  EXPECT_EQ(m.S("Observation", "subject.reference", 0), "Patient/" + m.Get("Patient")->id);
  EXPECT_EQ(m.S("Observation", "encounter.reference", 0).substr(0, 14), "Encounter/enc-");
  // OBX 2: UCUM unit as given, range low/high, two flags, corrected, OBR-7 effective.
  EXPECT_EQ(m.S("Observation", "status", 1), "corrected");
  EXPECT_EQ(m.S("Observation", "valueQuantity.value", 1), "250.5");
  EXPECT_EQ(m.S("Observation", "referenceRange.0.low.value", 1), "50");
  EXPECT_EQ(m.S("Observation", "referenceRange.0.high.value", 1), "150");
  EXPECT_EQ(m.S("Observation", "interpretation.0.coding.0.code", 1), "H");
  EXPECT_EQ(m.S("Observation", "interpretation.1.coding.0.code", 1), "A");
  EXPECT_EQ(m.S("Observation", "effectiveDateTime", 1), "2024-03-01T09:00:00+01:00");
  // OBX 3: SN with comparator.
  EXPECT_EQ(m.S("Observation", "status", 2), "preliminary");
  EXPECT_EQ(m.S("Observation", "valueQuantity.comparator", 2), ">");
  EXPECT_EQ(m.S("Observation", "valueQuantity.value", 2), "7.5");
  EXPECT_EQ(m.S("Observation", "valueQuantity.code", 2), "mmol/L");
  // OBX 4: CWE with a local code system.
  EXPECT_EQ(m.S("Observation", "valueCodeableConcept.coding.0.code", 3), "YEL");
  EXPECT_EQ(m.S("Observation", "valueCodeableConcept.coding.0.system", 3),
            "urn:medlake:hl7v2:codesystem:L");
  // OBX 5: ST unescaped.
  EXPECT_EQ(m.S("Observation", "valueString", 4), "sample & rerun");
  // OBX 6: vital sign category, cancelled status.
  EXPECT_EQ(m.S("Observation", "category.0.coding.0.code", 5), "vital-signs");
  EXPECT_EQ(m.S("Observation", "status", 5), "cancelled");
  EXPECT_EQ(m.S("Observation", "valueQuantity.code", 5), "/min");
  // OBX 7: SN ratio.
  EXPECT_EQ(m.S("Observation", "valueRatio.denominator.value", 6), "128");
  EXPECT_EQ(m.S("Observation", "note.0.text", 6), "Repeated & confirmed\nsecond line");
  EXPECT_EQ(m.S("Observation", "note", 5), "");
}

// A numeric OBX value whose integer part has more than 18 digits (no 64-bit JSON reader takes
// it) stays the text it was, as valueString, and the resource stays valid JSON.
// A FHIR string holds no control character but tab, CR and LF: \X00\ and \X1B\ escapes, and
// raw control bytes, become spaces (they were written as \u0000, which schemas reject).
TEST(MapOru, ControlCharactersBecomeSpaces) {
  std::string oru(kOru);
  oru.replace(oru.find("sample \\T\\ rerun"), 16,
              "a\\X00\\b\\X1B\\c\x01"
              "d");
  Mapped m(oru);
  bool found = false;
  for (size_t i = 0; i < m.Count("Observation"); ++i) {
    std::string value = m.S("Observation", "valueString", i);
    if (value.empty()) continue;
    EXPECT_EQ(value, "a b c d");
    found = true;
  }
  EXPECT_TRUE(found);
}

TEST(MapOru, HugeNumericValueStaysText) {
  Mapped m(
      "MSH|^~\\&|LAB|H|L|L|20240301||ORU^R01|B1|P|2.5\rPID|1||M1\r"
      "OBR|1||F1|2093-3^Cholesterol^LN\r"
      "OBX|1|NM|2093-3^Cholesterol^LN||20240302080302075500|mg/dL|||||F\r"
      "OBX|2|NM|2093-3^Cholesterol^LN||123456789012345678|mg/dL|||||F\r");
  EXPECT_EQ(m.S("Observation", "valueString", 0), "20240302080302075500");
  EXPECT_EQ(m.S("Observation", "valueQuantity", 0), "");
  EXPECT_EQ(m.S("Observation", "valueQuantity.value", 1), "123456789012345678");
}

TEST(MapOru, DiagnosticReportFields) {
  Mapped m(kOru);
  EXPECT_EQ(m.S("DiagnosticReport", "status"), "final");
  EXPECT_EQ(m.S("DiagnosticReport", "code.coding.0.code"), "24331-1");
  EXPECT_EQ(m.S("DiagnosticReport", "identifier.0.value"), "PL-1");
  EXPECT_EQ(m.S("DiagnosticReport", "identifier.0.type.coding.0.code"), "PLAC");
  EXPECT_EQ(m.S("DiagnosticReport", "identifier.1.value"), "FL-1");
  EXPECT_EQ(m.S("DiagnosticReport", "effectiveDateTime"), "2024-03-01T09:00:00+01:00");
  EXPECT_EQ(m.S("DiagnosticReport", "issued"), "2024-03-01T11:30:00+01:00");
  EXPECT_EQ(m.S("DiagnosticReport", "result.0.reference"),
            "Observation/" + m.Get("Observation", 0)->id);
  EXPECT_EQ(m.S("DiagnosticReport", "result.6.reference"),
            "Observation/" + m.Get("Observation", 6)->id);
}

TEST(MapOru, IdsAreDeterministicAndIndependentOfControlId) {
  Mapped a(kOru);
  std::string resent(kOru);
  resent.replace(resent.find("LAB-77"), 6, "LAB-78");  // a corrected resend
  Mapped b(resent);
  ASSERT_EQ(a.result().resources.size(), b.result().resources.size());
  for (size_t i = 0; i < a.result().resources.size(); ++i) {
    EXPECT_EQ(a.result().resources[i].id, b.result().resources[i].id);
    EXPECT_EQ(a.result().resources[i].json, b.result().resources[i].json);
  }
  // Patient id is the same as from the ADT feed for the same MRN.
  Mapped adt(kAdtA01);
  EXPECT_EQ(a.Get("Patient")->id, adt.Get("Patient")->id);
  EXPECT_EQ(a.S("Observation", "encounter.reference"), "Encounter/" + adt.Get("Encounter")->id);
}

// An entity id without its assigning application (EI.2-4 empty) is the sender's: two labs
// that both send filler number 1001 make two reports, not one that replaces the other.
TEST(MapOru, FillerNumbersWithoutANamespaceAreTheSenders) {
  auto oru = [](const char* app, const char* mrn, const char* value) {
    return std::string("MSH|^~\\&|") + app +
           "|SITE|MEDLAKE|HOSP|20240301100000||ORU^R01|C1|P|2.5.1\r" + "PID|1||" + mrn +
           "^^^SITE^MR\rOBR|1||1001|2345-7^Glucose^LN|||20240301090000\r" +
           "OBX|1|NM|2345-7^Glucose^LN||" + value + "|mg/dL|||||F\r";
  };
  Mapped a(oru("LABA", "M1", "95")), b(oru("LABB", "M2", "300")), a_again(oru("LABA", "M1", "96"));
  EXPECT_NE(a.Get("DiagnosticReport")->id, b.Get("DiagnosticReport")->id);
  EXPECT_NE(a.Get("Observation")->id, b.Get("Observation")->id);
  EXPECT_EQ(a.Get("DiagnosticReport")->id, a_again.Get("DiagnosticReport")->id);
  EXPECT_EQ(a.Get("Observation")->id, a_again.Get("Observation")->id);
}

// Registries send the placeholder order number 9999^CDC for every historical dose: each dose
// (patient, vaccine, date) is an Immunization of its own.
TEST(MapOrders, VxuPlaceholderOrderNumbersKeepDosesApart) {
  auto vxu = [](const char* mrn, const std::string& doses) {
    return std::string(
               "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20240301100000||VXU^V04^VXU_V04|H1|P|2.5.1\r") +
           "PID|1||" + mrn + "^^^CLINIC^MR||Doe^A||20200101|F\r" + doses;
  };
  auto dose = [](const char* date, const char* cvx) {
    return std::string("ORC|RE||9999^CDC\rRXA|0|1|") + date + "||" + cvx +
           "^Vaccine^CVX|999|||01^Historical^NIP001\r";
  };
  Mapped one(vxu("A1", dose("20210101", "08") + dose("20210301", "20")));
  Mapped other(vxu("B2", dose("20210101", "08")));
  ASSERT_EQ(one.Count("Immunization"), 2u);
  EXPECT_NE(one.Get("Immunization", 0)->id, one.Get("Immunization", 1)->id);
  EXPECT_NE(one.Get("Immunization", 0)->id, other.Get("Immunization", 0)->id);
  Mapped again(vxu("A1", dose("20210101", "08")));
  EXPECT_EQ(one.Get("Immunization", 0)->id, again.Get("Immunization", 0)->id);
}

// An order's messages come from both sides: the filler's status update (sender LAB) names
// the placer's number, and updates the same ServiceRequest as the placer's order (CPOE). An
// Immunization update that corrects the date keeps the dose (a real filler number).
TEST(MapOrders, OrdersAndDosesKeepTheirIdsAcrossSenders) {
  Mapped placed(
      "MSH|^~\\&|CPOE|HOSP|LAB|LABFAC|20240101100000||ORM^O01|M1|P|2.5.1\r"
      "PID|1||M1^^^HOSP^MR\rORC|NW|P100\rOBR|1|P100||2345-7^Glucose^LN\r");
  Mapped cancelled(
      "MSH|^~\\&|LAB|LABFAC|CPOE|HOSP|20240101110000||ORM^O01|M2|P|2.5.1\r"
      "PID|1||M1^^^HOSP^MR\rORC|OC|P100|F200\r");
  EXPECT_EQ(placed.Get("ServiceRequest")->id, cancelled.Get("ServiceRequest")->id);
  auto vxu = [](const char* date) {
    return std::string(
               "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20240301100000||VXU^V04^VXU_V04|H1|P|2.5.1\r") +
           "PID|1||A1^^^CLINIC^MR||Doe^A||20200101|F\rORC|RE||IZ-555^EHR\rRXA|0|1|" + date +
           "||08^HepB^CVX|999|||00^New^NIP001\r";
  };
  Mapped first(vxu("20231215")), corrected(vxu("20231216"));
  EXPECT_EQ(first.Get("Immunization")->id, corrected.Get("Immunization")->id);
}

// An order or document number is one patient's: two clinics' order 1001 or document 1 for
// different patients are two resources (one patient's order was updated with the other's).
// Several RXAs under one ORC (before v2.5) are several doses.
TEST(MapOrders, NumbersOfDifferentPatientsNameDifferentResources) {
  auto orm = [](const char* facility, const char* mrn, const char* control) {
    return std::string("MSH|^~\\&|CPOE|") + facility + "|LAB|LABFAC|20240101100000||ORM^O01|" +
           control + "|P|2.5.1\rPID|1||" + mrn + "^^^" + facility +
           "^MR\rORC|NW|1001\rOBR|1|1001||2345-7^Glucose^LN\r";
  };
  Mapped x(orm("HOSPA", "X1", "M1")), y(orm("HOSPB", "Y9", "M2"));
  EXPECT_NE(x.Get("ServiceRequest")->id, y.Get("ServiceRequest")->id);
  Mapped two_doses(
      "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20240301100000||VXU^V04|H1|P|2.3.1\r"
      "PID|1||A1^^^CLINIC^MR||Doe^A||20200101|F\rORC|RE||IMM-56^EHR\r"
      "RXA|0|1|20210101||08^Hep B^CVX|999\rRXA|0|1|20210101||03^MMR^CVX|999\r");
  ASSERT_EQ(two_doses.Count("Immunization"), 2u);
  EXPECT_NE(two_doses.Get("Immunization", 0)->id, two_doses.Get("Immunization", 1)->id);
}

TEST(MapOrders, OrmServiceRequest) {
  Mapped m(
      "MSH|^~\\&|OE|GHH|LAB|GHH|20240301||ORM^O01|ORD-1|P|2.3\r"
      "PID|1||MRN9^^^GHH^MR\r"
      "ORC|NW|PLC-9^OE|FIL-9^LAB||||^^^^^S||20240301083000\r"
      "OBR|1|PLC-9^OE|FIL-9^LAB|80048^Basic metabolic panel^C4|||||||||||||||||||||||||||"
      "R07.9^Chest pain^I10\r");
  ASSERT_EQ(m.Count("ServiceRequest"), 1u);
  EXPECT_EQ(m.S("ServiceRequest", "status"), "active");
  EXPECT_EQ(m.S("ServiceRequest", "intent"), "order");
  EXPECT_EQ(m.S("ServiceRequest", "priority"), "stat");
  EXPECT_EQ(m.S("ServiceRequest", "code.coding.0.code"), "80048");
  EXPECT_EQ(m.S("ServiceRequest", "code.coding.0.system"), "http://www.ama-assn.org/go/cpt");
  EXPECT_EQ(m.S("ServiceRequest", "identifier.0.value"), "PLC-9");
  EXPECT_EQ(m.S("ServiceRequest", "identifier.1.type.coding.0.code"), "FILL");
  EXPECT_EQ(m.S("ServiceRequest", "authoredOn"), "2024-03-01T08:30:00Z");
  EXPECT_EQ(m.S("ServiceRequest", "reasonCode.0.coding.0.system"),
            "http://hl7.org/fhir/sid/icd-10");
  EXPECT_EQ(m.S("ServiceRequest", "subject.reference"), "Patient/" + m.Get("Patient")->id);
}

// An order's priority comes from its own TQ1, not from a later order's (TQ1 is searched up to
// the next ORC).
TEST(MapOrders, PriorityFromTheOrdersOwnTq1Only) {
  Mapped m(
      "MSH|^~\\&|OE|GHH|LAB|GHH|20240301||ORM^O01|ORD-3|P|2.5\r"
      "PID|1||MRN9^^^GHH^MR\r"
      "ORC|NW|PO2^OE\r"
      "OBR|1|PO2^OE||1234-5^Test^LN\r"
      "ORC|NW|PO3^OE\r"
      "TQ1|1||||||||A\r"
      "OBR|2|PO3^OE||1234-5^Test^LN\r");
  ASSERT_EQ(m.Count("ServiceRequest"), 2u);
  std::map<std::string, std::string> priority;
  for (const auto& r : m.result().resources) {
    if (r.resource_type != "ServiceRequest") continue;
    auto j = nlohmann::json::parse(r.json);
    priority[j["identifier"][0]["value"]] = j.value("priority", "");
  }
  EXPECT_EQ(priority["PO2"], "");
  EXPECT_EQ(priority["PO3"], "asap");
}

TEST(MapOrders, OmlCancelledOrder) {
  Mapped m(
      "MSH|^~\\&|OE|GHH|LAB|GHH|20240301||OML^O21^OML_O21|ORD-2|P|2.5.1\r"
      "PID|1||MRN9^^^GHH^MR\r"
      "ORC|CA|PLC-10^OE\r"
      "OBR|1|PLC-10^OE||1234-5^Test^LN\r");
  EXPECT_EQ(m.S("ServiceRequest", "status"), "revoked");
}

TEST(MapOrders, VxuImmunization) {
  Mapped m(
      "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20240301||VXU^V04^VXU_V04|VXU-1|P|2.5.1\r"
      "PID|1||MRN9^^^GHH^MR\r"
      "ORC|RE||IMM-55^EHR\r"
      "RXA|0|1|20240215103000|20240215103000|08^Hep B, adolescent or pediatric^CVX|0.5|mL^mL^UCUM"
      "||00^New immunization record^NIP001||||||LOT-7||MSD^Merck^MVX|||CP|A\r"
      "RXR|IM^Intramuscular^HL70162|LA^Left arm^HL70163\r");
  ASSERT_EQ(m.Count("Immunization"), 1u);
  EXPECT_EQ(m.S("Immunization", "status"), "completed");
  EXPECT_EQ(m.S("Immunization", "vaccineCode.coding.0.system"), "http://hl7.org/fhir/sid/cvx");
  EXPECT_EQ(m.S("Immunization", "vaccineCode.coding.0.code"), "08");
  EXPECT_EQ(m.S("Immunization", "occurrenceDateTime"), "2024-02-15T10:30:00Z");
  EXPECT_EQ(m.S("Immunization", "doseQuantity.value"), "0.5");
  EXPECT_EQ(m.S("Immunization", "doseQuantity.code"), "mL");
  EXPECT_EQ(m.S("Immunization", "lotNumber"), "LOT-7");
  EXPECT_EQ(m.S("Immunization", "primarySource"), "true");
  EXPECT_EQ(m.S("Immunization", "manufacturer.display"), "Merck");
  EXPECT_EQ(m.S("Immunization", "route.coding.0.code"), "IM");
  EXPECT_EQ(m.S("Immunization", "site.coding.0.code"), "LA");
  EXPECT_EQ(m.S("Immunization", "patient.reference"), "Patient/" + m.Get("Patient")->id);
}

TEST(MapOrders, VxuWithoutAdministrationTimeIsRejected) {
  auto msg = Message::Parse(
      "MSH|^~\\&|EHR|C|IIS|S|2024||VXU^V04|VXU-2|P|2.5.1\rPID|1||M\rRXA|0|1||||08^HepB^CVX\r");
  ASSERT_TRUE(msg.ok());
  auto mapped = MapToFhir(*msg);
  ASSERT_FALSE(mapped.ok());
  EXPECT_NE(mapped.status().message().find("VXU-2"), std::string::npos);
  EXPECT_NE(mapped.status().message().find("RXA-3"), std::string::npos);
}

TEST(MapOrders, MdmDocumentReference) {
  Mapped m(
      "MSH|^~\\&|DOC|GHH|LAKE|LAKE|20240301||MDM^T02^MDM_T02|MDM-1|P|2.5\r"
      "EVN|T02|20240301\r"
      "PID|1||MRN9^^^GHH^MR\r"
      "PV1|1|I|W^R^B||||||||||||||||V7\r"
      "TXA|1|DS^Discharge summary|TX|20240301101112||||||||DOC-42^GHH|||||AU\r"
      "OBX|1|TX|||Line one\\.br\\Line two||||||F\r"
      "OBX|2|TX|||Line three||||||F\r");
  ASSERT_EQ(m.Count("DocumentReference"), 1u);
  EXPECT_EQ(m.S("DocumentReference", "status"), "current");
  EXPECT_EQ(m.S("DocumentReference", "docStatus"), "final");
  EXPECT_EQ(m.S("DocumentReference", "masterIdentifier.value"), "DOC-42");
  EXPECT_EQ(m.S("DocumentReference", "masterIdentifier.system"), "urn:medlake:hl7v2:authority:GHH");
  EXPECT_EQ(m.S("DocumentReference", "type.coding.0.code"), "DS");
  EXPECT_EQ(m.S("DocumentReference", "date"), "2024-03-01T10:11:12Z");
  EXPECT_EQ(m.S("DocumentReference", "content.0.attachment.contentType"), "text/plain");
  // base64("Line one\nLine two\nLine three")
  EXPECT_EQ(m.S("DocumentReference", "content.0.attachment.data"),
            "TGluZSBvbmUKTGluZSB0d28KTGluZSB0aHJlZQ==");
  EXPECT_EQ(m.S("DocumentReference", "context.encounter.0.reference").substr(0, 14),
            "Encounter/enc-");
}

// A namespace that a URI cannot hold ("MY LAB") is cleaned like every authority system (the
// DocumentReference failed FHIR R4 validation: uri has no spaces).
TEST(MapOrders, DocumentAuthorityIsAValidUri) {
  Mapped m(
      "MSH|^~\\&|DOC|GHH|LAKE|LAKE|20240301||MDM^T02^MDM_T02|MDM-2|P|2.5\r"
      "PID|1||MRN9^^^GHH^MR\r"
      "TXA|1|DS|TX|20240301101112||||||||DOC123^MY LAB|||||AU\r"
      "OBX|1|TX|||Text||||||F\r");
  EXPECT_EQ(m.S("DocumentReference", "masterIdentifier.system"),
            "urn:medlake:hl7v2:authority:MY_LAB");
  // Text of an ISO 8859-1 message is transcoded to UTF-8 before it is base64-encoded, as the
  // message's names and strings are (it kept the Latin-1 bytes: invalid UTF-8).
  Mapped latin1(
      "MSH|^~\\&|DOC|GHH|LAKE|LAKE|20240301||MDM^T02^MDM_T02|MDM-3|P|2.5||||||8859/1\r"
      "PID|1||MRN9^^^GHH^MR\r"
      "TXA|1|DS|TX|20240301101112||||||||DOC124^GHH|||||AU\r"
      "OBX|1|TX|||Gr\xFC\xDF"
      "e||||||F\r");
  EXPECT_EQ(latin1.S("DocumentReference", "content.0.attachment.data"), "R3LDvMOfZQ==");
}

TEST(MapErrors, UnsupportedTypeNamesTypeAndControlId) {
  auto msg =
      Message::Parse("MSH|^~\\&|S|F|R|F|2024||SIU^S12^SIU_S12|SCH-9|P|2.5\rPID|1||SECRET-MRN\r");
  ASSERT_TRUE(msg.ok());
  auto mapped = MapToFhir(*msg);
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(mapped.status().message(), "unsupported message type SIU^S12 (control id SCH-9)");
  auto adt = Message::Parse("MSH|^~\\&|S|F|R|F|2024||ADT^A31|A-31|P|2.5\rPID|1||X\r");
  ASSERT_TRUE(adt.ok());
  EXPECT_EQ(MapToFhir(*adt).status().code(), ErrorCode::kUnsupported);
}

TEST(MapErrors, MissingPidIsAnErrorWithoutData) {
  auto msg = Message::Parse("MSH|^~\\&|S|F|R|F|2024||ORU^R01|NOPID|P|2.5\rOBX|1|NM|X||1\r");
  ASSERT_TRUE(msg.ok());
  auto mapped = MapToFhir(*msg);
  ASSERT_FALSE(mapped.ok());
  EXPECT_NE(mapped.status().message().find("NOPID"), std::string::npos);
  EXPECT_NE(mapped.status().message().find("PID"), std::string::npos);
}

TEST(MapText, Latin1AndInvalidUtf8BecomeValidJson) {
  std::string latin1 =
      "MSH|^~\\&|A|F|L|L|2024||ADT^A01|L1|P|2.5||||||8859/1\rPID|1||M1||M\xFCller^J\rPV1|1|I\r";
  Mapped m(latin1);
  EXPECT_EQ(m.S("Patient", "name.0.family"), "M\xC3\xBCller");
  std::string broken =
      "MSH|^~\\&|A|F|L|L|2024||ADT^A01|L2|P|2.5\rPID|1||M1||M\xFCller^J\rPV1|1|I\r";
  Mapped b(broken);
  EXPECT_EQ(b.S("Patient", "name.0.family"), "M\xEF\xBF\xBDller");
}

TEST(MapText, TimesWithoutOffsetUseOption) {
  auto msg = Message::Parse(
      "MSH|^~\\&|A|F|L|L|2024||ADT^A01|T1|P|2.5\rPID|1||M1\r"
      "PV1|1|I||||||||||||||||||||||||||||||||||||||||||202403011010\r");
  ASSERT_TRUE(msg.ok());
  MapOptions options;
  options.default_offset = "+02:00";
  auto mapped = MapToFhir(*msg, options);
  ASSERT_TRUE(mapped.ok());
  EXPECT_NE(mapped->resources.back().json.find("\"start\":\"2024-03-01T10:10:00+02:00\""),
            std::string::npos);
}

}  // namespace
}  // namespace medlake::hl7v2
