// Versions of HL7 v2 Encounters, Patients, orders, reports and documents merged with the one before
// (ingest/hl7v2/resource_history.h).
#include "ingest/hl7v2/resource_history.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace medlake::hl7v2 {
namespace {

using nlohmann::json;

const char* kA01 =
    R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","period":{"start":"2024-03-01T10:10:00Z"},"location":[{"location":{"reference":"Location/w4e","display":"4E"},"status":"active","period":{"start":"2024-03-01T10:10:00Z"}}]})";
const char* kA02 =
    R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","period":{"start":"2024-03-01T10:10:00Z"},"location":[{"location":{"reference":"Location/w4e","display":"4E"},"status":"completed","period":{"end":"2024-03-02T07:55:00Z"}},{"location":{"reference":"Location/icu","display":"ICU"},"status":"active","period":{"start":"2024-03-02T07:55:00Z"}}]})";
const char* kA03 =
    R"({"resourceType":"Encounter","id":"enc-1","status":"finished","period":{"end":"2024-03-03T12:00:00Z"},"location":[{"location":{"reference":"Location/icu","display":"ICU"},"status":"completed","period":{"end":"2024-03-03T12:00:00Z"}}]})";

// Adds `json` and returns the version the history then holds (stored, or the one it kept).
std::string Merge(ResourceHistory& h, std::string_view type, const std::string& id,
                  std::string json, std::string_view trigger = {},
                  const std::vector<std::string>& cleared = {}) {
  auto r = h.Add(type, id, std::move(json), trigger, cleared);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return h.Latest(type, id).value_or("<none>");
}

TEST(ResourceHistoryTest, AdmissionTransferDischargeKeepsEveryWardWithItsPeriod) {
  ResourceHistory history;
  ASSERT_TRUE(history.Add("Encounter", "enc-1", kA01).ok());
  ASSERT_TRUE(history.Add("Encounter", "enc-1", kA02).ok());
  json e = json::parse(Merge(history, "Encounter", "enc-1", kA03));
  EXPECT_EQ(e["status"], "finished");
  EXPECT_EQ(e["period"]["start"], "2024-03-01T10:10:00Z");  // kept from the admission
  EXPECT_EQ(e["period"]["end"], "2024-03-03T12:00:00Z");
  ASSERT_EQ(e["location"].size(), 2u) << e.dump();
  EXPECT_EQ(e["location"][0]["location"]["reference"], "Location/w4e");
  EXPECT_EQ(e["location"][0]["status"], "completed");
  EXPECT_EQ(e["location"][0]["period"]["start"], "2024-03-01T10:10:00Z");
  EXPECT_EQ(e["location"][0]["period"]["end"], "2024-03-02T07:55:00Z");
  EXPECT_EQ(e["location"][1]["location"]["reference"], "Location/icu");
  EXPECT_EQ(e["location"][1]["status"], "completed");
  EXPECT_EQ(e["location"][1]["period"]["start"], "2024-03-02T07:55:00Z");
  EXPECT_EQ(e["location"][1]["period"]["end"], "2024-03-03T12:00:00Z");
}

TEST(ResourceHistoryTest, ReplayedMessageChangesNothingAndReturnToAWardIsANewStay) {
  ResourceHistory history;
  ASSERT_TRUE(history.Add("Encounter", "enc-1", kA01).ok());
  std::string once = Merge(history, "Encounter", "enc-1", kA02);
  EXPECT_EQ(Merge(history, "Encounter", "enc-1", kA02), once);  // the same transfer again
  // Back to 4E: the first 4E stay is closed, so this is a third entry.
  const char* back =
      R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","location":[{"location":{"reference":"Location/icu"},"status":"completed","period":{"end":"2024-03-02T20:00:00Z"}},{"location":{"reference":"Location/w4e"},"status":"active","period":{"start":"2024-03-02T20:00:00Z"}}]})";
  json e = json::parse(Merge(history, "Encounter", "enc-1", back));
  ASSERT_EQ(e["location"].size(), 3u) << e.dump();
  EXPECT_EQ(e["location"][1]["period"]["end"], "2024-03-02T20:00:00Z");
  EXPECT_EQ(e["location"][2]["location"]["reference"], "Location/w4e");
  EXPECT_EQ(e["location"][2]["status"], "active");
}

TEST(ResourceHistoryTest, FirstVersionComesFromTheLookupAndOthersAreSeparate) {
  int lookups = 0;
  ResourceHistory history(
      [&](std::string_view type, const std::string& id) -> Result<std::optional<std::string>> {
        ++lookups;
        EXPECT_EQ(type, "Encounter");
        if (id == "enc-1") return std::optional<std::string>(kA01);
        if (id == "enc-3") return Corruption("segment 7: checksum mismatch");
        return std::optional<std::string>();
      });
  json e = json::parse(Merge(history, "Encounter", "enc-1", kA02));
  EXPECT_EQ(e["location"][0]["period"]["start"], "2024-03-01T10:10:00Z");
  std::string other = R"({"resourceType":"Encounter","id":"enc-2","status":"planned"})";
  EXPECT_EQ(Merge(history, "Encounter", "enc-2", other), other);
  EXPECT_EQ(lookups, 2);
  ASSERT_TRUE(history.Add("Encounter", "enc-1", kA03).ok());
  EXPECT_EQ(lookups, 2);  // remembered, not looked up again
  // A lookup that fails is not "no earlier version": the error is returned, nothing merged.
  auto failed = history.Add("Encounter", "enc-3", other);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kCorruption);
  EXPECT_FALSE(MergeEncounterLocations("[]", kA01).ok());
}

// ADT^A13 (cancel discharge) names the ward the patient was discharged from: the stay and
// that ward's entry are open again; an A08 that leaves PV1-45 empty does not undo the
// discharge (only A13 does) and adds no ward entry.
TEST(ResourceHistoryTest, CancelledDischargeReopensTheLastWardAndAnUpdateDoesNotUndoIt) {
  const char* a08 =
      R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","location":[{"location":{"reference":"Location/icu","display":"ICU"},"status":"active"}]})";
  const char* a13 =
      R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","period":{"start":"2024-03-01T10:10:00Z"},"location":[{"location":{"reference":"Location/icu","display":"ICU"},"status":"active"}]})";
  ResourceHistory history;
  ASSERT_TRUE(history.Add("Encounter", "enc-1", kA01).ok());
  ASSERT_TRUE(history.Add("Encounter", "enc-1", kA02).ok());
  std::string discharged = Merge(history, "Encounter", "enc-1", kA03);
  json updated = json::parse(Merge(history, "Encounter", "enc-1", a08, "A08"));
  EXPECT_EQ(updated, json::parse(discharged)) << updated.dump();

  json e = json::parse(Merge(history, "Encounter", "enc-1", a13, "A13"));
  EXPECT_EQ(e["status"], "in-progress");
  EXPECT_FALSE(e["period"].contains("end")) << e.dump();
  EXPECT_EQ(e["period"]["start"], "2024-03-01T10:10:00Z");
  ASSERT_EQ(e["location"].size(), 2u) << e.dump();
  EXPECT_EQ(e["location"][1]["location"]["reference"], "Location/icu");
  EXPECT_EQ(e["location"][1]["status"], "active");
  EXPECT_EQ(e["location"][1]["period"]["start"], "2024-03-02T07:55:00Z");
  EXPECT_FALSE(e["location"][1]["period"].contains("end"));
  // A later discharge closes the same entry again.
  const char* again =
      R"({"resourceType":"Encounter","id":"enc-1","status":"finished","period":{"end":"2024-03-04T09:00:00Z"},"location":[{"location":{"reference":"Location/icu"},"status":"completed","period":{"end":"2024-03-04T09:00:00Z"}}]})";
  e = json::parse(Merge(history, "Encounter", "enc-1", again, "A03"));
  ASSERT_EQ(e["location"].size(), 2u) << e.dump();
  EXPECT_EQ(e["location"][1]["period"]["end"], "2024-03-04T09:00:00Z");
}

// HL7 v2.5 section 2.5.3: an empty field changes nothing, "" deletes. Elements of the earlier
// Patient that the message leaves empty are kept; those it nulls are gone; a choice element
// in one form replaces its other forms.
TEST(ResourceHistoryTest, ASparsePatientKeepsWhatItLeavesEmptyAndLosesWhatItNulls) {
  const char* admission =
      R"({"resourceType":"Patient","id":"pat-1","identifier":[{"value":"M1"}],"name":[{"family":"A"}],"telecom":[{"value":"555"}],"gender":"female","birthDate":"1960-01-01","deceasedBoolean":false,"address":[{"city":"X"}]})";
  const char* lab =
      R"({"resourceType":"Patient","id":"pat-1","identifier":[{"value":"M1"}],"name":[{"family":"B"}],"deceasedDateTime":"2024-03-05T10:00:00Z"})";
  ResourceHistory history;
  ASSERT_TRUE(history.Add("Patient", "pat-1", admission).ok());
  json p = json::parse(Merge(history, "Patient", "pat-1", lab, "R01", {"telecom"}));
  EXPECT_EQ(p["name"][0]["family"], "B");                   // the message's value wins
  EXPECT_EQ(p["address"][0]["city"], "X");                  // left empty: kept
  EXPECT_EQ(p["birthDate"], "1960-01-01");                  // left empty: kept
  EXPECT_FALSE(p.contains("telecom")) << p.dump();          // "": deleted
  EXPECT_FALSE(p.contains("deceasedBoolean")) << p.dump();  // the other form of deceased[x]
  EXPECT_EQ(p["deceasedDateTime"], "2024-03-05T10:00:00Z");
  // Merging the result with itself changes nothing (a replayed message).
  std::string once = p.dump();
  EXPECT_EQ(json::parse(Merge(history, "Patient", "pat-1", lab, "R01", {"telecom"})).dump(), once);
  EXPECT_FALSE(MergeElements("[]", lab, {}).ok());
}

// Versions carry their message's time (meta.lastUpdated): an older message is a replay or a
// late arrival and leaves the newer version as it is; a message that changes nothing keeps
// the version, its time included.
TEST(ResourceHistoryTest, OlderMessagesDoNotUndoNewerOnesAndNoChangeKeepsTheTime) {
  auto patient = [](const char* time, const char* city) {
    return std::string(R"({"resourceType":"Patient","id":"pat-1","meta":{"lastUpdated":")") + time +
           R"("},"address":[{"city":")" + city + R"("}]})";
  };
  ResourceHistory history;
  std::string v1 = Merge(history, "Patient", "pat-1", patient("2024-01-01T10:00:00Z", "A"));
  std::string v2 = Merge(history, "Patient", "pat-1", patient("2024-01-02T10:00:00Z", "B"));
  EXPECT_NE(v2.find(R"("city":"B")"), std::string::npos);
  // The first message again (a re-ingest): older than the last change, nothing to store.
  auto replay = history.Add("Patient", "pat-1", patient("2024-01-01T10:00:00Z", "A"));
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(replay->has_value());
  EXPECT_EQ(Merge(history, "Patient", "pat-1", patient("2024-01-01T10:00:00Z", "A")), v2);
  // A later message that says the same: the version and its time stay.
  EXPECT_EQ(Merge(history, "Patient", "pat-1", patient("2024-01-05T10:00:00Z", "B")), v2);
  // A later change applies.
  std::string v3 = Merge(history, "Patient", "pat-1", patient("2024-01-06T10:00:00Z", "C"));
  EXPECT_NE(v3.find(R"("city":"C")"), std::string::npos);
  EXPECT_NE(v3.find("2024-01-06T10:00:00Z"), std::string::npos);
}

// The rest of the Encounter follows 2.5.3 too: an A08 with PV1-2, PV1-10 and PV1-36 empty kept
// neither the class (NullFlavor UNK replaced IMP), nor the service, nor the discharge
// disposition. PID-30 "Y" alone replaced a known date of death.
TEST(ResourceHistoryTest, UpdatesKeepWhatTheyLeaveEmptyBeyondLocations) {
  const char* a03 =
      R"({"resourceType":"Encounter","id":"enc-1","status":"finished","class":{"code":"IMP"},"serviceType":{"coding":[{"code":"MED"}]},"period":{"start":"2024-03-01T10:10:00Z","end":"2024-03-03T12:00:00Z"},"hospitalization":{"admitSource":{"text":"7"},"dischargeDisposition":{"text":"01"}}})";
  const char* a08 =
      R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-NullFlavor","code":"UNK"},"hospitalization":{"admitSource":{"text":"9"}}})";
  ResourceHistory history;
  ASSERT_TRUE(history.Add("Encounter", "enc-1", a03).ok());
  json e = json::parse(Merge(history, "Encounter", "enc-1", a08, "A08"));
  EXPECT_EQ(e["class"]["code"], "IMP") << e.dump();
  EXPECT_EQ(e["serviceType"]["coding"][0]["code"], "MED");
  EXPECT_EQ(e["hospitalization"]["admitSource"]["text"], "9");
  EXPECT_EQ(e["hospitalization"]["dischargeDisposition"]["text"], "01");
  EXPECT_EQ(e["status"], "finished");
  EXPECT_EQ(e["period"]["end"], "2024-03-03T12:00:00Z");

  ResourceHistory patients;
  ASSERT_TRUE(patients
                  .Add("Patient", "pat-1",
                       R"({"resourceType":"Patient","id":"pat-1","deceasedDateTime":"2023-12-31"})")
                  .ok());
  json p = json::parse(Merge(patients, "Patient", "pat-1",
                             R"({"resourceType":"Patient","id":"pat-1","deceasedBoolean":true})"));
  EXPECT_EQ(p["deceasedDateTime"], "2023-12-31") << p.dump();
  EXPECT_FALSE(p.contains("deceasedBoolean"));
}

// A message that says the same in another member order (a merge appends the elements it
// keeps) changes nothing: it stored a new version and moved the time of the last change, so
// that a real change sent between the two was then taken as older and lost.
TEST(ResourceHistoryTest, TheSameContentInAnotherOrderIsNoChange) {
  ResourceHistory history;
  ASSERT_TRUE(
      history
          .Add(
              "Patient", "p",
              R"({"resourceType":"Patient","id":"p","meta":{"lastUpdated":"2024-01-01T10:00:00Z"},"name":[{"family":"A"}],"address":[{"city":"X","line":["1"]}]})")
          .ok());
  auto same = history.Add(
      "Patient", "p",
      R"({"resourceType":"Patient","id":"p","meta":{"lastUpdated":"2024-01-01T12:00:00Z"},"address":[{"line":["1"],"city":"X"}],"name":[{"family":"A"}]})");
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->has_value());
  EXPECT_NE(history.Latest("Patient", "p")->find("2024-01-01T10:00:00Z"), std::string::npos);
}

// Orders, reports and documents keep what a later, partial message leaves out: a cancel
// (ORC|CA without OBR) keeps the order's code; a correction carrying the changed OBX only
// keeps the report's other results; a status notification (MDM T03, no OBX) keeps the text.
TEST(ResourceHistoryTest, PartialMessagesKeepOrdersReportsAndDocuments) {
  ResourceHistory h;
  Merge(
      h, "ServiceRequest", "sr-1",
      R"({"resourceType":"ServiceRequest","id":"sr-1","status":"active","code":{"text":"Glucose"}})");
  auto order =
      json::parse(Merge(h, "ServiceRequest", "sr-1",
                        R"({"resourceType":"ServiceRequest","id":"sr-1","status":"revoked"})"));
  EXPECT_EQ(order["status"], "revoked");
  EXPECT_EQ(order["code"]["text"], "Glucose");

  Merge(h, "DiagnosticReport", "dr-1",
        R"({"resourceType":"DiagnosticReport","id":"dr-1","status":"final","result":[)"
        R"({"reference":"Observation/a"},{"reference":"Observation/b"}]})");
  auto report = json::parse(Merge(h, "DiagnosticReport", "dr-1",
                                  R"({"resourceType":"DiagnosticReport","id":"dr-1",)"
                                  R"("status":"corrected","result":[{"reference":"Observation/b"},)"
                                  R"({"reference":"Observation/c"}]})"));
  EXPECT_EQ(report["status"], "corrected");
  ASSERT_EQ(report["result"].size(), 3u) << report.dump();
  EXPECT_EQ(report["result"][0]["reference"], "Observation/a");
  EXPECT_EQ(report["result"][2]["reference"], "Observation/c");

  const std::string with_text =
      R"({"resourceType":"DocumentReference","id":"doc-1","docStatus":"preliminary","content":[)"
      R"({"attachment":{"contentType":"text/plain","data":"dGV4dA==","title":"Note"}}]})";
  Merge(h, "DocumentReference", "doc-1", with_text);
  auto doc =
      json::parse(Merge(h, "DocumentReference", "doc-1",
                        R"({"resourceType":"DocumentReference","id":"doc-1",)"
                        R"("docStatus":"final","content":[{"attachment":{"title":"Note"}}]})"));
  EXPECT_EQ(doc["docStatus"], "final");
  EXPECT_EQ(doc["content"][0]["attachment"]["data"], "dGV4dA==") << doc.dump();
  // A new text (an edit, T08) replaces it.
  auto edited = json::parse(Merge(h, "DocumentReference", "doc-1",
                                  R"({"resourceType":"DocumentReference","id":"doc-1",)"
                                  R"("content":[{"attachment":{"data":"bmV3","title":"Note"}}]})"));
  EXPECT_EQ(edited["content"][0]["attachment"]["data"], "bmV3");
}

// A location the patient left ends: at a transfer whose message does not name the prior
// location (PV1-6 empty), at the new location's start; at a discharge, every open one.
TEST(ResourceHistoryTest, LocationsLeftWithoutBeingNamedEnd) {
  ResourceHistory h;
  Merge(h, "Encounter", "enc-1", kA01, "A01");
  const std::string transfer =
      R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","location":[)"
      R"({"location":{"reference":"Location/icu","display":"ICU"},"status":"active",)"
      R"("period":{"start":"2024-03-02T07:55:00Z"}}]})";
  auto moved = json::parse(Merge(h, "Encounter", "enc-1", transfer, "A02"));
  ASSERT_EQ(moved["location"].size(), 2u) << moved.dump();
  EXPECT_EQ(moved["location"][0]["status"], "completed");
  EXPECT_EQ(moved["location"][0]["period"]["end"], "2024-03-02T07:55:00Z");
  EXPECT_EQ(moved["location"][1]["status"], "active");

  ResourceHistory other;
  Merge(other, "Encounter", "enc-1", kA01, "A01");
  const std::string discharge_elsewhere =
      R"({"resourceType":"Encounter","id":"enc-1","status":"finished","period":{"end":)"
      R"("2024-03-03T12:00:00Z"},"location":[{"location":{"reference":"Location/w5w"},)"
      R"("status":"completed","period":{"end":"2024-03-03T12:00:00Z"}}]})";
  auto done = json::parse(Merge(other, "Encounter", "enc-1", discharge_elsewhere, "A03"));
  for (const auto& entry : done["location"]) {
    EXPECT_EQ(entry["status"], "completed") << done.dump();
    EXPECT_EQ(entry["period"]["end"], "2024-03-03T12:00:00Z") << done.dump();
  }
}

}  // namespace
}  // namespace medlake::hl7v2
