// Pseudonymization at ingest (ingest/deidentify.h): in a lake initialised with a key, no
// identifier reaches the segments or the catalog, the same identifier from FHIR and HL7 v2
// gives the same pseudonym, references follow, and the vault holds what was removed.
#include "ingest/deidentify.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "adt_message.h"
#include "ingest/ingest.h"
#include "ingest/stream_ingest.h"
#include "json/json.h"
#include "medlake/lake.h"
#include "privacy/key_store.h"
#include "privacy/pseudonymizer.h"
#include "privacy/vault.h"
#include "quarantine_of.h"
#include "store/lake_writer.h"
#include "store/sqlite.h"
#include "test_util.h"
#include "zstd_frames.h"

namespace medlake::ingest {
namespace {

using testing::TempDir;

// `medlake init`: a random lake key in DIR/keys/lake.key.
std::string InitLake(const std::string& dir) {
  auto keys = privacy::KeyStore::Create(dir);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return dir;
}

// The identity vault's record of `pseudonym` in the keyed lake `lake`.
Result<std::string> VaultRecord(const std::string& lake, const std::string& pseudonym) {
  MEDLAKE_ASSIGN_OR_RETURN(privacy::KeyStore keys, privacy::KeyStore::Open(lake));
  MEDLAKE_ASSIGN_OR_RETURN(auto vault, privacy::Vault::Open(keys));
  return vault->Get(pseudonym);
}

// A keyed lake's writer and its de-identifier, for tests that call Deidentifier itself.
struct KeyedWriter {
  explicit KeyedWriter(const std::string& lake) {
    InitLake(lake);
    auto w = store::LakeWriter::Open(lake);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!w.ok()) return;
    writer = std::move(*w);
    auto d = Deidentifier::ForLake(lake, *writer);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (d.ok()) deid = std::move(*d);
  }
  std::unique_ptr<store::LakeWriter> writer;
  std::unique_ptr<Deidentifier> deid;  // declared last: destroyed before the writer
};

struct Stored {
  std::map<std::string, std::string> json;  // "Type/id" -> stored JSON
  std::map<std::string, uint32_t> patient;  // "Type/id" -> patient ordinal
  std::string all;                          // every stored resource, concatenated
};

Stored ReadAll(const std::string& dir) {
  Stored out;
  auto lake = Lake::Open(dir);
  EXPECT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)
                  ->Scan(
                      "",
                      [&](const ResourceView& v) {
                        std::string key = std::string(v.type) + "/" + std::string(v.id);
                        out.json[key] = std::string(v.json);
                        out.patient[key] = v.patient;
                        out.all.append(v.json).push_back('\n');
                      },
                      nullptr)
                  .ok());
  return out;
}

std::string RawBytes(const std::string& dir, const std::set<std::string>& skip) {
  std::string all;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || skip.count(e.path().filename().string())) continue;
    all += testing::ReadText(e.path().string());
  }
  return all;
}

const char* kFhirPatient =
    R"({"resourceType":"Patient","id":"src-17","text":{"status":"generated","div":"<div>Jane Roe</div>"},)"
    R"("identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},)"
    R"("system":"http://hosp.example/mrn","value":"MRN-4711"},{"system":"http://ssn.example","value":"999-12-3456"}],)"
    R"("name":[{"family":"Roeberts","given":["Janelle"]}],"telecom":[{"system":"phone","value":"555-0199"}],)"
    R"("gender":"female","birthDate":"1961-07-23","address":[{"line":["12 Quillfeather Lane"],"city":"Springfield"}],)"
    R"("extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName","valueString":"Oddbottom"}],)"
    R"("maritalStatus":{"coding":[{"code":"M"}]}})";

const char* kFhirObservation =
    R"({"resourceType":"Observation","id":"obs-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
    R"("subject":{"reference":"Patient/src-17","display":"Janelle Roeberts"},"effectiveDateTime":"2024-01-02T10:00:00Z",)"
    R"("valueQuantity":{"value":72.50,"unit":"/min"},"note":[{"text":"Janelle said she felt fine"}]})";

// The CLI decides access and auditing by whether the lake has a key; a `medlake init` between
// that and the writer's lock made a keyed ingest without an audit trail (a review). The run
// checks again under the lock.
TEST(DeidentifyTest, AnIngestRefusesALakeWhoseKeyChangedSinceItBegan) {
  TempDir dir;
  testing::WriteText(dir / "in/p.ndjson", std::string(kFhirPatient) + "\n");
  InitLake(dir / "keyed");
  IngestOptions plain_expected;
  plain_expected.expect_key = false;
  auto refused = Ingest(dir / "keyed", {dir / "in"}, plain_expected);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("was given a key"), std::string::npos);
  IngestOptions keyed_expected;
  keyed_expected.expect_key = true;
  EXPECT_FALSE(Ingest(dir / "plain", {dir / "in"}, keyed_expected).ok());
  auto stored = Ingest(dir / "keyed", {dir / "in"}, keyed_expected);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->counters.stored, 1u);
}

// The vault's records of a commit whose vault step failed are not lost: they go back to the
// queue, and the writer's next commit writes them (the step runs beside the catalog's
// transaction, which it rolls back).
TEST(DeidentifyTest, RecordsOfACommitWhoseVaultFailedAreWrittenByTheNext) {
  TempDir dir;
  const std::string lake = dir / "lake";
  KeyedWriter k(lake);
  ASSERT_TRUE(k.deid);
  ingest::VaultRecord record;
  record.key = "pseudo-1";
  record.json = R"({"name":[{"family":"Kept"}]})";
  k.deid->Queue(std::move(record));
  // The vault's `pending` table gone: its step fails at once.
  store::DbOptions options;
  options.rollback_journal = true;
  options.what = "vault";
  auto vault_file = store::Db::Open(privacy::Vault::PathFor(lake), options);
  ASSERT_TRUE(vault_file.ok()) << vault_file.status().ToString();
  ASSERT_TRUE((*vault_file)->Exec("DROP TABLE pending").ok());
  Status failed = k.writer->Commit(store::RunCounters{}, false);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(k.writer->commits(), 0u);
  ASSERT_TRUE((*vault_file)->Exec("CREATE TABLE pending(tag INTEGER NOT NULL)").ok());
  vault_file->reset();
  ingest::VaultRecord later;
  later.key = "pseudo-2";
  later.json = R"({"name":[{"family":"Later"}]})";
  k.deid->Queue(std::move(later));
  ASSERT_TRUE(k.writer->Commit(store::RunCounters{}, true).ok());
  EXPECT_EQ(k.writer->commits(), 1u);
  auto kept = VaultRecord(lake, "pseudo-1");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(*kept, R"({"name":[{"family":"Kept"}]})");
  auto second = VaultRecord(lake, "pseudo-2");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, R"({"name":[{"family":"Later"}]})");
}

TEST(DeidentifyTest, KeyedLakeStoresPseudonymsAndVaultsIdentity) {
  TempDir dir;
  InitLake(dir / "lake");
  // The Observation comes first (NDJSON files are read in name order): its reference is
  // linked before the Patient is seen, and the Patient must find that link.
  testing::WriteText(dir / "in/a_obs.ndjson", std::string(kFhirObservation) + "\n");
  testing::WriteText(dir / "in/b_patient.ndjson", std::string(kFhirPatient) + "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 2u);

  Stored s = ReadAll(dir / "lake");
  ASSERT_EQ(s.json.size(), 2u);
  std::string patient_key, obs_key;
  for (const auto& [k, v] : s.json) (k.starts_with("Patient/") ? patient_key : obs_key) = k;
  std::string pseudonym = patient_key.substr(8);
  EXPECT_TRUE(privacy::Pseudonymizer::LooksLikePseudonym(pseudonym)) << pseudonym;
  EXPECT_NE(obs_key, "Observation/obs-1");
  EXPECT_EQ(s.patient[patient_key], s.patient[obs_key]);
  EXPECT_NE(s.json[obs_key].find("\"reference\":\"Patient/" + pseudonym + "\""), std::string::npos)
      << s.json[obs_key];
  EXPECT_NE(s.json[obs_key].find("72.50"), std::string::npos) << "decimals keep their text";
  EXPECT_NE(s.json[patient_key].find("\"birthDate\":\"1961\""), std::string::npos);
  EXPECT_NE(s.json[patient_key].find("\"gender\":\"female\""), std::string::npos);

  // Nothing identifying in the stored resources, nor in any raw file but the vault.
  std::string raw = s.all + RawBytes(dir / "lake", {"vault.sqlite"});
  for (const char* needle :
       {"Roeberts", "Janelle", "MRN-4711", "999-12-3456", "555-0199", "Quillfeather", "Oddbottom",
        "1961-07-23", "src-17", "felt fine", "Jane Roe"}) {
    EXPECT_EQ(raw.find(needle), std::string::npos) << needle;
  }

  // The vault holds the original Patient and the removed note.
  auto identity = VaultRecord(dir / "lake", pseudonym);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_NE(identity->find("Roeberts"), std::string::npos);
  EXPECT_NE(identity->find("1961-07-23"), std::string::npos);
  auto note = VaultRecord(dir / "lake", pseudonym + "/" + obs_key);
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_NE(note->find("felt fine"), std::string::npos);

  // Re-ingesting stores nothing new.
  auto again = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counters.stored, 0u);
  EXPECT_EQ(again->counters.duplicates, 2u);
}

// The lake's own export read back (`medlake export`, then `ingest` of it into the same lake,
// which README promises) is what the lake holds: the pseudonyms of resources other than
// Patients were pseudonymized a second time, and every one of them was stored again under a
// new id (a review: an Observation count doubled).
TEST(DeidentifyTest, AKeyedLakeReadsItsOwnResourcesBackAsTheyAre) {
  TempDir dir;
  InitLake(dir / "lake");
  std::string observation = kFhirObservation;
  observation.insert(observation.find(R"("effectiveDateTime")"),
                     R"("encounter":{"reference":"Encounter/enc-1"},)");
  testing::WriteText(dir / "in/a_obs.ndjson", observation + "\n");
  testing::WriteText(dir / "in/b_patient.ndjson", std::string(kFhirPatient) + "\n");
  testing::WriteText(dir / "in/c_encounter.ndjson",
                     R"({"resourceType":"Encounter","id":"enc-1","status":"finished",)"
                     R"("class":{"code":"AMB"},"subject":{"reference":"Patient/src-17"}})"
                     "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->counters.stored, 3u);
  const Stored before = ReadAll(dir / "lake");
  std::map<std::string, std::string> files;  // Type.ndjson, as export writes them
  for (const auto& [key, json] : before.json) {
    files[key.substr(0, key.find('/')) + ".ndjson"] += json + "\n";
  }
  for (const auto& [name, text] : files) testing::WriteText(dir / ("export/" + name), text);

  auto again = Ingest(dir / "lake", {dir / "export"}, IngestOptions{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->counters.stored, 0u);
  EXPECT_EQ(again->counters.duplicates, 3u);
  EXPECT_EQ(ReadAll(dir / "lake").json, before.json);

  // Another keyed lake has another key: the same files are pseudonymized there.
  InitLake(dir / "other");
  auto other = Ingest(dir / "other", {dir / "export"}, IngestOptions{});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->counters.stored, 3u);
  for (const auto& [key, json] : ReadAll(dir / "other").json) {
    EXPECT_EQ(before.json.count(key), 0u) << key;
  }
}

// References to what the lake does not hold, read back from its export: a Patient's pseudonym
// made from a reference alone was pseudonymized again (the resource filed under a new patient,
// and stored again at every round), and so was what the rewrite redacted (a review).
TEST(DeidentifyTest, AKeyedLakeReadsBackReferencesToWhatItDoesNotHold) {
  TempDir dir;
  InitLake(dir / "lake");
  const std::string observation =
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"hr"},)"
      R"("subject":{"reference":"Patient/px-1"},"focus":[{"reference":"Patient/p4-1"}],)"
      R"("hasMember":[{"reference":"urn:uuid:0c2f9a1e-7d2b-4c55-9a51-3b2c1f0e9d77"}],)"
      R"("derivedFrom":[{"reference":"Observation?identifier=http://x|1"}]})";
  testing::WriteText(dir / "in/obs.ndjson", observation + "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->counters.stored, 1u);
  const Stored before = ReadAll(dir / "lake");
  ASSERT_EQ(before.json.size(), 1u);
  const std::string exported = before.json.begin()->second;
  EXPECT_EQ(exported.find("px-1"), std::string::npos);  // '-' and '1' are in no pseudonym
  EXPECT_NE(exported.find("urn:medlake:redacted:"), std::string::npos);
  testing::WriteText(dir / "export/Observation.ndjson", exported + "\n");
  for (int round = 0; round < 2; ++round) {
    auto again = Ingest(dir / "lake", {dir / "export"}, IngestOptions{});
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->counters.stored, 0u) << round;
    EXPECT_EQ(again->counters.duplicates, 1u) << round;
    const Stored after = ReadAll(dir / "lake");
    EXPECT_EQ(after.json, before.json) << round;
    EXPECT_EQ(after.patient, before.patient) << round;
  }
  // The source reads the same again.
  auto source = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(source->counters.stored, 0u);

  // A lake made before such pseudonyms were linked to themselves: the patient its resources
  // are filed under is known by the pseudonym all the same.
  TempDir old;
  InitLake(old / "lake");
  ASSERT_TRUE(Ingest(old / "lake", {dir / "in"}, IngestOptions{}).ok());
  const Stored old_before = ReadAll(old / "lake");
  const std::string subject =
      nlohmann::json::parse(old_before.json.begin()->second)["subject"]["reference"]
          .get<std::string>();
  ASSERT_TRUE(subject.starts_with("Patient/"));
  {
    auto keys = privacy::KeyStore::Open(old / "lake");
    ASSERT_TRUE(keys.ok());
    const privacy::Pseudonymizer pseudonymizer(*keys);
    const std::string self_link = pseudonymizer.SourceLink(subject.substr(8));
    auto db = store::Db::Open(old / "lake/catalog.sqlite", false, false);
    ASSERT_TRUE(db.ok());
    // Links are identifiers of no resource: the `identifiers` table alone holds them.
    auto del = (*db)->Prepare("DELETE FROM identifiers WHERE value = ?");
    ASSERT_TRUE(del.ok());
    ASSERT_TRUE(del->Bind(1, self_link).Run().ok());
    EXPECT_EQ((*db)->Changes(), 1);
  }
  testing::WriteText(old / "export/Observation.ndjson", old_before.json.begin()->second + "\n");
  auto old_again = Ingest(old / "lake", {old / "export"}, IngestOptions{});
  ASSERT_TRUE(old_again.ok()) << old_again.status().ToString();
  EXPECT_EQ(old_again->counters.stored, 0u);
  EXPECT_EQ(ReadAll(old / "lake").patient, old_before.patient);
}

// The display and identifier of every reference that may name a person go to the vault, not
// only of "Patient/id" ones: absolute URLs, urn:uuid, conditional and logical references,
// references to RelatedPerson and Person, and a contained "#id". A reference that says it
// names another type (a Practitioner) keeps its display.
TEST(DeidentifyTest, ReferencesThatMayNameAPersonLoseDisplayAndIdentifier) {
  TempDir dir;
  InitLake(dir / "lake");
  const std::string patient_id = "aaaaaaaa-1111-2222-3333-444444444444";
  testing::WriteText(dir / "in/b_patient.ndjson", R"({"resourceType":"Patient","id":")" +
                                                      patient_id +
                                                      R"("})"
                                                      "\n");
  const std::vector<std::pair<std::string, std::string>> subjects = {
      {"Uuidname", R"({"reference":"urn:uuid:)" + patient_id + R"(","display":"Uuidname"})"},
      {"Absname", R"({"reference":"http://example.org/fhir/Patient/)" + patient_id +
                      R"(","display":"Absname"})"},
      {"Histname",
       R"({"reference":"Patient/)" + patient_id + R"(/_history/2","display":"Histname"})"},
      {"SECRETLOGICAL",
       R"({"type":"Patient","identifier":{"system":"urn:mrn","value":"SECRETLOGICAL"},"display":"Logicalname"})"},
      {"Condname", R"({"reference":"Patient?identifier=urn:mrn|NOTHERE","display":"Condname"})"},
      {"Relname", R"({"reference":"RelatedPerson/r1","display":"Relname"})"},
      {"Containedname", R"({"reference":"#p1","display":"Containedname"})"},
      {"Displayonly", R"({"display":"Displayonly"})"},
  };
  std::string obs;
  for (size_t i = 0; i < subjects.size(); ++i) {
    obs +=
        R"({"resourceType":"Observation","id":"o)" + std::to_string(i) +
        R"(","status":"final","code":{"text":"x"},"subject":)" + subjects[i].second +
        R"(,"performer":[{"reference":"Practitioner/dr1","display":"Dr Kept"}],)" +
        // A contained RelatedPerson loses its name and telecom like a stored one; a
        // Coding keeps its display.
        R"("contained":[{"resourceType":"RelatedPerson","id":"rp","name":[{"family":"Containedrp"}],)"
        R"("telecom":[{"value":"555-0123"}]}],"category":[{"coding":[{"code":"vital-signs",)"
        R"("display":"Vital Signs Kept"}]}]})" +
        "\n";
  }
  testing::WriteText(dir / "in/a_obs.ndjson", obs);
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The conditional reference that names no Patient is quarantined (its record not kept in a
  // lake with a key); the others are stored.
  EXPECT_EQ(r->counters.stored, subjects.size());
  EXPECT_EQ(r->counters.quarantined, 1u);
  std::string raw = ReadAll(dir / "lake").all + RawBytes(dir / "lake", {"vault.sqlite"});
  for (const auto& [needle, subject] : subjects) {
    EXPECT_EQ(raw.find(needle), std::string::npos) << subject;
  }
  EXPECT_EQ(raw.find("Logicalname"), std::string::npos);
  EXPECT_EQ(raw.find("Containedrp"), std::string::npos);
  EXPECT_EQ(raw.find("555-0123"), std::string::npos);
  const std::string stored = ReadAll(dir / "lake").all;
  EXPECT_NE(stored.find("Dr Kept"), std::string::npos);
  EXPECT_NE(stored.find("Vital Signs Kept"), std::string::npos);
  EXPECT_NE(stored.find(R"("id":"rp")"), std::string::npos) << "a contained id stays local";
  // A reference emptied (an identifier naming no known patient, a display alone) goes: FHIR's
  // JSON has no empty objects.
  EXPECT_EQ(stored.find("{}"), std::string::npos) << stored;
}

// What identifies a person wherever it stands (an audit's findings): a shared-area resource
// that names a person only by a logical reference, a contained Patient or a RelatedPerson kept
// everything; an Attachment's data without a contentType stayed, as did a person's birth time,
// what a kept Patient extension nests, a contained Patient's other elements, and identifiers
// and addresses under other names. What identifies no person stays: an Organization's name, a
// Practitioner's display, SampledData's data.
TEST(DeidentifyTest, WhatIdentifiesAPersonGoesWhereverItStands) {
  TempDir dir;
  InitLake(dir / "lake");
  testing::WriteText(
      dir / "in/all.ndjson",
      R"({"resourceType":"Task","id":"t1","status":"requested","intent":"order","for":{"type":"Patient","identifier":{"system":"http://hosp/mrn","value":"ZZR1MRN"},"display":"ZZR1NAME"},"note":[{"text":"ZZR1NOTE"}],"input":[{"type":{"text":"x"},"valueHumanName":{"family":"ZZR1HN"}}]})"
      "\n"
      R"({"resourceType":"Task","id":"t2","status":"requested","intent":"order","for":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","name":[{"family":"ZZR1CPNAME"}],"birthDate":"1960-06-06","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName","valueString":"ZZR3MAIDEN"}]}]})"
      "\n"
      R"({"resourceType":"Device","id":"d1","patient":{"type":"Patient","identifier":{"system":"http://hl7.org/fhir/sid/us-ssn","value":"999-12-3456"}},"serialNumber":"ZZR1SERIAL"})"
      "\n"
      R"({"resourceType":"Task","id":"t3","status":"requested","intent":"order","owner":{"reference":"RelatedPerson/rp1","display":"ZZR1RPDISP"}})"
      "\n"
      R"({"resourceType":"Patient","id":"p2","name":[{"family":"ZZR2NAME"}],"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"x","valueHumanName":{"family":"ZZR3RACEHN"}},{"url":"y","valueIdentifier":{"value":"ZZR3RACEID"}},{"url":"text","valueString":"race-kept"}]}]})"
      "\n"
      R"({"resourceType":"Communication","id":"c2","status":"completed","subject":{"reference":"Patient/p2"},"payload":[{"contentAttachment":{"data":"WlpSMkRBVEE="}}]})"
      "\n"
      R"({"resourceType":"Consent","id":"k2","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"patient":{"reference":"Patient/p2"},"sourceAttachment":{"data":"WlpSMkRBVEE=","url":"http://x/ZZR2URL"},"provision":{"data":[{"meaning":"related","reference":{"reference":"Observation/o4"}}]}})"
      "\n"
      R"({"resourceType":"RelatedPerson","id":"rp3","patient":{"reference":"Patient/p2"},"birthDate":"1945-01-02","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1945-01-02T03:04:05Z"}]}})"
      "\n"
      R"({"resourceType":"DocumentReference","id":"d4","status":"current","subject":{"reference":"Patient/p2"},"masterIdentifier":{"value":"ZZR4MASTER"},"content":[{"attachment":{"title":"t"}}]})"
      "\n"
      R"({"resourceType":"Specimen","id":"s4","subject":{"reference":"Patient/p2"},"accessionIdentifier":{"value":"ZZR4ACCESSION"}})"
      "\n"
      R"({"resourceType":"Coverage","id":"v4","status":"active","beneficiary":{"reference":"Patient/p2"},"payor":[{"reference":"Organization/o"}],"subscriberId":"ZZR4SUBSCRIBER"})"
      "\n"
      R"({"resourceType":"Claim","id":"cl4","status":"active","type":{"text":"x"},"use":"claim","patient":{"reference":"Patient/p2"},"created":"2020-01-01","provider":{"reference":"Organization/o"},"priority":{"text":"x"},"insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/v4"},"preAuthRef":["ZZR4PREAUTH"]}],"accident":{"date":"2019-12-12","locationAddress":{"line":["ZZR4ADDR"]}}})"
      "\n"
      R"({"resourceType":"Observation","id":"o4","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},"extension":[{"url":"http://y","valueAnnotation":{"text":"ZZR4ANNOT"}}],"valueSampledData":{"origin":{"value":0},"period":1,"dimensions":1,"data":"1 2 3"}})"
      "\n"
      R"({"resourceType":"AuditEvent","id":"ae","type":{"code":"rest"},"recorded":"2020-01-01T00:00:00Z","agent":[{"requestor":true,"altId":"ZZR4ALTID","name":"ZZR4AGENT"}],"source":{"observer":{"display":"x"}},"entity":[{"what":{"reference":"Patient/p2"},"query":"WlpSNFFVRVJZ","name":"ZZR4ENTITY"}]})"
      "\n"
      R"({"resourceType":"Observation","id":"o5","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},"focus":[{"reference":"Patient//SRCID123"},{"reference":"RelatedPerson//SRCID456"},{"reference":"Encounter/"}]})"
      "\n"
      R"({"resourceType":"Observation","id":"o6","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},"extension":[{"url":"http://a","valueUri":"Patient/SRCID789"},{"url":"http://b","valueCanonical":"http://h/fhir/Patient/SRCID790/_history/2"},{"url":"http://c","valueUrl":"Encounter/SRCID791"},{"url":"http://d","valueUri":"http://loinc.org"},{"url":"http://e","valueCanonical":"http://h/Questionnaire/ZZKEEPQ"}]})"
      "\n"
      R"({"resourceType":"Organization","id":"o","name":"ZZKEEPORG","partOf":{"display":"ZZKEEPPARENT"}})"
      "\n"
      R"({"resourceType":"Task","id":"t5","status":"requested","intent":"order","owner":{"reference":"Practitioner/dr1","display":"ZZKEEPDR"}})"
      "\n");
  // A uri that is a Bundle-local name of a Patient, or a Patient's source id (Synthea's ids are
  // its fullUrls' uuids), goes as the reference would; an unknown uuid stays.
  testing::WriteText(
      dir / "in/b.json",
      R"({"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:0cafe000-1111-4111-8111-000000000001","resource":{"resourceType":"Patient","id":"0cafe000-1111-4111-8111-000000000001"}},{"resource":{"resourceType":"Observation","id":"o7","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:0cafe000-1111-4111-8111-000000000001"},"extension":[{"url":"http://a","valueUri":"urn:uuid:0cafe000-1111-4111-8111-000000000001"},{"url":"http://b","valueUri":"URN:UUID:0cafe000-1111-4111-8111-000000000001"},{"url":"http://c","valueUri":"urn:uuid:0b0b0000-2222-4222-8222-00000000keep"}]}}]})");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.quarantined, 0u);
  const Stored stored = ReadAll(dir / "lake");
  for (const char* kept : {"\"valueUri\":\"urn:uuid:0b0b0000-2222-4222-8222-00000000keep\""}) {
    EXPECT_NE(stored.all.find(kept), std::string::npos) << kept;
  }
  for (const char* marker :
       {"0cafe000",   "ZZR1MRN",       "ZZR1NAME",       "ZZR1NOTE",    "ZZR1HN",     "ZZR1CPNAME",
        "1960-06-06", "ZZR3MAIDEN",    "999-12-3456",    "ZZR1SERIAL",  "ZZR1RPDISP", "ZZR2NAME",
        "ZZR3RACEHN", "ZZR3RACEID",    "WlpSMkRBVEE",    "ZZR2URL",     "03:04:05",   "1945-01-02",
        "ZZR4MASTER", "ZZR4ACCESSION", "ZZR4SUBSCRIBER", "ZZR4PREAUTH", "ZZR4ADDR",   "ZZR4ANNOT",
        "ZZR4ALTID",  "WlpSNFFVRVJZ",  "ZZR4AGENT",      "ZZR4ENTITY",  "SRCID123",   "SRCID456",
        "SRCID789",   "SRCID790",      "SRCID791"}) {
    EXPECT_EQ(stored.all.find(marker), std::string::npos) << marker;
  }
  for (const char* kept :
       {"race-kept", "us-core-race", "\"1 2 3\"", "\"meaning\":\"related\"", "ZZKEEPORG",
        "ZZKEEPPARENT", "ZZKEEPDR", "\"birthDate\":\"1960\"", "\"birthDate\":\"1945\"",
        "\"valueUri\":\"Patient/", "\"valueUrl\":\"Encounter/", "/_history/2\"",
        "\"valueUri\":\"http://loinc.org\"",
        "\"valueCanonical\":\"http://h/Questionnaire/ZZKEEPQ\""}) {
    EXPECT_NE(stored.all.find(kept), std::string::npos) << kept;
  }
  // What the Patient's resources lost is theirs in the vault.
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
}

// A shared-area resource whose only reference to a patient is inside an element that is
// removed (a Task's note by its author): the note goes to the vault under that patient, and the
// Task is filed under them. (This crashed ingest.)
TEST(DeidentifyTest, SharedResourceNamingAPatientOnlyInWhatIsRemovedIsTheirs) {
  TempDir dir;
  InitLake(dir / "lake");
  testing::WriteText(
      dir / "in/a.ndjson",
      R"({"resourceType":"Patient","id":"p1"})"
      "\n"
      R"({"resourceType":"Task","id":"t1","status":"requested","intent":"order",)"
      R"("note":[{"authorReference":{"reference":"Patient/p1"},"text":"Call Quillby back"}]})"
      "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 2u);
  Stored stored = ReadAll(dir / "lake");
  EXPECT_EQ(stored.all.find("Quillby"), std::string::npos);
  std::string pseudonym;
  for (const auto& [key, json] : stored.json) {
    if (key.starts_with("Patient/")) pseudonym = key.substr(8);
  }
  ASSERT_FALSE(pseudonym.empty());
  EXPECT_EQ(stored.patient["Task/t1"], stored.patient["Patient/" + pseudonym]);
  auto note = VaultRecord(dir / "lake", pseudonym + "/Task/t1");
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_NE(note->find("Quillby"), std::string::npos);
}

TEST(DeidentifyTest, SharedIdentifierGivesOnePseudonymAcrossFhirAndHl7v2) {
  TempDir dir;
  InitLake(dir / "lake");
  // The HL7 v2 feed names the same MRN under the same system (universal id, type URI).
  testing::WriteText(
      dir / "in/feed.hl7",
      "MSH|^~\\&|LAB|HOSP|LAKE|HOSP|202401011300||ORU^R01|CTRL2|P|2.5\r"
      "PID|1||MRN-4711^^^&http://hosp.example/mrn&URI^MR||Roeberts^Janelle||19610723|F\r"
      "OBR|1||LAB1|24323-8^Comprehensive metabolic panel^LN|||202401011230\r"
      "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F|||202401011230\r");
  testing::WriteText(dir / "in/patient.ndjson", std::string(kFhirPatient) + "\n");
  auto r = Ingest(dir / "lake", {dir / "in/patient.ndjson"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  r = Ingest(dir / "lake", {dir / "in/feed.hl7"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.quarantined, 0u);

  auto lake = Lake::Open(dir / "lake");
  auto status = (*lake)->Status();
  EXPECT_EQ(status->patients, 1u) << "the HL7 v2 patient is the FHIR patient";
  EXPECT_EQ(status->resources["Patient"], 1u);
  Stored s = ReadAll(dir / "lake");
  std::set<uint32_t> ordinals;
  for (const auto& [k, ordinal] : s.patient) ordinals.insert(ordinal);
  EXPECT_EQ(ordinals.size(), 1u);
  for (const char* needle : {"Roeberts", "Janelle", "MRN-4711", "19610723", "1961-07-23"}) {
    EXPECT_EQ(s.all.find(needle), std::string::npos) << needle;
  }
}

// An NDJSON line is de-identified from the reader's own parse of it (no second parse), written
// with spaces or not: the stored form is minified and its decimals keep their text.
TEST(DeidentifyTest, AnNdjsonLineWithSpacesKeepsItsDecimals) {
  TempDir dir;
  InitLake(dir / "lake");
  testing::WriteText(
      dir / "in/obs.ndjson",
      "{ \"resourceType\" : \"Observation\", \"id\" : \"o1\", \"status\" : \"final\",\t"
      "\"code\" : { \"text\" : \"x\" }, \"subject\" : { \"reference\" : \"Patient/p1\" },"
      " \"valueQuantity\" : { \"value\" : 1.50, \"unit\" : \"mmol/L\" },"
      " \"component\" : [ { \"code\" : { \"text\" : \"y\" }, \"valueInteger\" : -0,"
      " \"valueDecimal\" : 2.0e1 } ] }\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 1u);
  Stored s = ReadAll(dir / "lake");
  ASSERT_EQ(s.json.size(), 1u);
  const std::string& stored = s.json.begin()->second;
  EXPECT_NE(stored.find(R"("valueQuantity":{"value":1.50,"unit":"mmol/L"})"), std::string::npos)
      << stored;
  EXPECT_NE(stored.find(R"("valueInteger":-0,"valueDecimal":2.0e1)"), std::string::npos) << stored;
  EXPECT_EQ(stored.find(' '), std::string::npos) << stored;
}

// A keyed lake links each Patient's source id and identifiers to its pseudonym. Links committed
// at a checkpoint are found after it (through the catalog), so that a Patient read again, by id
// or by identifier, keeps its pseudonym.
TEST(DeidentifyTest, PseudonymLinksAreFoundAfterACheckpoint) {
  TempDir dir;
  InitLake(dir / "lake");
  auto patient = [](const std::string& id, const std::string& mrn) {
    return R"({"resourceType":"Patient","id":")" + id +
           R"(","identifier":[{"system":"http://mrn","value":")" + mrn + R"("}]})" + "\n";
  };
  // A file each: checkpoints come between two pieces of input.
  for (int i = 0; i < 30; ++i) {
    testing::WriteText(dir / ("a/Patient-" + std::to_string(i) + ".ndjson"),
                       patient("src" + std::to_string(i), "M" + std::to_string(i)));
  }
  // The same people: five by their source id, five under a new id with a known identifier.
  std::string again;
  for (int i = 0; i < 5; ++i) again += patient("src" + std::to_string(i), "M" + std::to_string(i));
  for (int i = 5; i < 10; ++i) again += patient("new" + std::to_string(i), "M" + std::to_string(i));
  testing::WriteText(dir / "b/Patient.ndjson", again);
  IngestOptions options;
  options.checkpoint_bytes = 1;  // a checkpoint after every file
  auto r = Ingest(dir / "lake", {dir / "a"}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->checkpoints, 20u);
  r = Ingest(dir / "lake", {dir / "b"}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto status = (*lake)->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->patients, 30u) << "no Patient of the second run is a new person";
}

// A keyed Patient file's pseudonym links bring checkpoints, as identifiers do (they were held
// until the file's end: 0.93 GB for 200,000 Patients with five identifiers), and the lake is
// the one a single commit makes.
TEST(DeidentifyTest, PseudonymLinksBringCheckpoints) {
  TempDir dir;
  InitLake(dir / "one");
  std::filesystem::copy(dir / "one", dir / "many", std::filesystem::copy_options::recursive);
  std::string patients;
  for (int i = 0; i < 20'000; ++i) {
    const std::string n = std::to_string(i);
    patients += R"({"resourceType":"Patient","id":"src)" + n +
                R"(","identifier":[{"system":"http://mrn","value":"M)" + n +
                R"("},{"system":"http://ssn","value":"S)" + n + R"("}]})" + "\n";
  }
  testing::WriteText(dir / "in/Patient.ndjson", patients);
  IngestOptions one, many;
  many.checkpoint_identifiers = 5'000;  // four links a Patient
  many.chunk_bytes = 4096;
  auto single = Ingest(dir / "one", {dir / "in"}, one);
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  EXPECT_EQ(single->checkpoints, 0u);
  auto r = Ingest(dir / "many", {dir / "in"}, many);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->checkpoints, 2u);
  EXPECT_TRUE(ReadAll(dir / "many").json == ReadAll(dir / "one").json);
  auto again = Ingest(dir / "many", {dir / "in"}, many);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->counters.stored, 0u);
}

// Pseudonym links are those of reading the input in order, whatever the threads and the
// checkpoints: chunks prepared at the same time make their links apart, and one that missed a
// link made by a chunk before it is prepared again (ingest::PendingLinks). Each 64 KiB piece
// of the file (a chunk) ends with a Patient A (MR X) and an Observation of a patient "c" not
// yet seen; the next begins with Patient B (MR Y, and X) and Patient c (MR Z). In input order
// B is A's person and keeps A's pseudonym, and c keeps the one its source id gave the
// Observation; two threads on two chunks at once reach B and c first. Conditional references
// to a Patient resolve against the links made before them in the input: one after B by B's
// MR resolves, one before c by c's MR does not.
// Two records of one resource whose stored forms are equal but whose removed elements differ
// (a Patient sent again with its name corrected) are one version; the vault keeps the identity
// of the first in the input, whichever thread admitted which first and wherever checkpoints
// fall (a record that repeats a version committed before leaves the vault as it is).
TEST(DeidentifyTest, VaultKeepsTheFirstRecordOfAVersionInTheInput) {
  TempDir dir;
  constexpr int kPatients = 8000, kBlock = 1000;
  // Each block of patients, then the same again corrected: the two halves of a block are in
  // neighbouring 64 KiB chunks, which two threads admit in either order.
  std::string input;
  for (int b = 0; b < kPatients; b += kBlock) {
    for (const char* name : {"Firstname", "Corrected"}) {
      for (int i = b; i < b + kBlock; ++i) {
        input += R"({"resourceType":"Patient","id":"p)" + std::to_string(i) +
                 R"(","gender":"female","name":[{"family":")" + name + std::to_string(i) +
                 R"("}],"address":[{"line":[")" + std::string(40, 'x') + R"("]}]})" + "\n";
      }
    }
  }
  testing::WriteText(dir / "in/Patient.ndjson", input);
  IngestOptions one, two, checkpoints;
  one.jobs = 1;
  two.jobs = 2;
  checkpoints.jobs = 2;
  checkpoints.checkpoint_bytes = 100'000;  // between the halves of most blocks
  for (IngestOptions* o : {&one, &two, &checkpoints}) o->chunk_bytes = 4096;  // 64 KiB pieces
  for (auto [name, options] :
       {std::pair{"one", &one}, std::pair{"two", &two}, std::pair{"checkpoints", &checkpoints}}) {
    const std::string lake = InitLake(dir / name);
    auto r = Ingest(lake, {dir / "in"}, *options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->counters.stored, static_cast<uint64_t>(kPatients));
    EXPECT_EQ(r->counters.duplicates, static_cast<uint64_t>(kPatients));
    int first = 0, patients = 0;
    for (const auto& [key, json] : ReadAll(lake).json) {
      if (!key.starts_with("Patient/")) continue;
      ++patients;
      auto original = VaultRecord(lake, key.substr(8));
      ASSERT_TRUE(original.ok()) << original.status().ToString();
      first += original->find("Firstname") != std::string::npos;
    }
    EXPECT_EQ(patients, kPatients);
    EXPECT_EQ(first, kPatients) << name;
    if (options == &checkpoints) {
      EXPECT_GE(r->checkpoints, 5u);
    }
  }
}

TEST(DeidentifyTest, FhirPseudonymsAreThoseOfTheInputReadInOrder) {
  TempDir dir;
  InitLake(dir / "lake1");
  for (const char* copy : {"lake2", "lake3", "lake4", "lake5"}) {
    std::filesystem::copy(dir / "lake1", dir / copy, std::filesystem::copy_options::recursive);
  }
  auto patient = [](const std::string& id, const std::string& identifiers) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[)" + identifiers +
           "]}\n";
  };
  auto observation = [](const std::string& id, const std::string& subject) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"t"},"subject":{"reference":")" + subject +
           "\"}}\n";
  };
  auto mr = [](const std::string& value) {
    return R"({"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203",)"
           R"("code":"MR"}]},"system":"http://mrn","value":")" +
           value + R"("})";
  };
  constexpr size_t kChunk = 65536;  // what ChunkSource reads at least, cut after a newline
  constexpr int kPieces = 40;
  std::string input;
  for (int i = 0; i < kPieces; ++i) {
    const std::string n = std::to_string(i);
    std::string head, tail;
    if (i > 0) {
      const std::string before = std::to_string(i - 1);
      // Records that need no link first: handled as they are read, and passed over when the
      // chunk is prepared again.
      for (int k = 0; k < 3; ++k) {
        head += R"({"resourceType":"Organization","id":"first)" + before + "-" + std::to_string(k) +
                "\"}\n";
      }
      head += patient("b" + before, mr("Y" + before) + R"(,{"system":"http://mrn","value":"X)" +
                                        before + R"("})") +
              patient("c" + before, mr("Z" + before)) +
              observation("q" + before, "Patient?identifier=http://mrn|Y" + before);
    }
    if (i + 1 < kPieces) {
      tail = observation("u" + n, "Patient?identifier=http://mrn|Z" + n) +
             observation("o" + n, "Patient/c" + n) + patient("a" + n, mr("X" + n));
    }
    // A line that is not JSON, quarantined once however often its chunk is prepared.
    std::string piece = head + "{not json\n";
    const std::string org = R"({"resourceType":"Organization","id":"org)" + n + "-";
    for (int k = 0; piece.size() + tail.size() < kChunk; ++k) {
      // Organizations fill the piece to exactly kChunk bytes (the last one's name pads it).
      size_t room = kChunk - piece.size() - tail.size();
      std::string line = org + std::to_string(k) + R"(","name":")";
      size_t pad = std::min<size_t>(1000, room > line.size() + 3 ? room - line.size() - 3 : 0);
      if (room - (line.size() + pad + 3) < 200) pad = room - line.size() - 3;
      piece += line + std::string(pad, 'x') + "\"}\n";
    }
    ASSERT_EQ(piece.size() + tail.size(), kChunk);
    input += piece + tail;
  }
  testing::WriteText(dir / "in/mixed.ndjson", input);
  IngestOptions in_order, two, two_checkpoints, one_by_links, two_by_links;
  in_order.jobs = 1;
  two.jobs = 2;
  two_checkpoints.jobs = 2;
  two_checkpoints.checkpoint_bytes = 65'536;
  // Checkpoints that the links and identifiers bring (about 70 a piece), where the same chunk
  // reaches the count whatever the threads.
  one_by_links.jobs = 1;
  two_by_links.jobs = 2;
  for (IngestOptions* o : {&one_by_links, &two_by_links}) o->checkpoint_identifiers = 100;
  for (IngestOptions* o : {&in_order, &two, &two_checkpoints, &one_by_links, &two_by_links}) {
    o->chunk_bytes = 4096;
  }
  uint64_t checkpoints_by_links = 0;
  for (auto [lake, options] :
       {std::pair{"lake1", &in_order}, std::pair{"lake2", &two},
        std::pair{"lake3", &two_checkpoints}, std::pair{"lake4", &one_by_links},
        std::pair{"lake5", &two_by_links}}) {
    auto r = Ingest(dir / lake, {dir / "in"}, *options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->unresolved_references, kPieces - 1u) << lake << ": the references before c";
    const store::RunCounters& c = r->counters;
    EXPECT_EQ(c.records_read, static_cast<uint64_t>(std::count(input.begin(), input.end(), '\n')));
    EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined + c.deleted) << lake;
    // The line that is no JSON in each piece, and each "u" Observation, whose Patient comes
    // after it: a subject that names no Patient is quarantined.
    EXPECT_EQ(c.quarantined, 2u * kPieces - 1) << lake;
    if (options == &two_checkpoints) {
      EXPECT_GE(r->checkpoints, 5u);
    }
    if (options == &one_by_links) {
      checkpoints_by_links = r->checkpoints;
      EXPECT_GE(r->checkpoints, 2u);
    }
    if (options == &two_by_links) {
      EXPECT_EQ(r->checkpoints, checkpoints_by_links);
    }
  }
  // Patient ids, and each Observation's subject.
  auto pseudonyms = [](const std::string& lake) {
    std::set<std::string> out;
    for (const auto& [k, v] : ReadAll(lake).json) {
      if (k.starts_with("Patient/")) out.insert(k);
      if (k.starts_with("Observation/")) {
        out.insert("subject " +
                   nlohmann::json::parse(v)["subject"]["reference"].get<std::string>());
      }
    }
    return out;
  };
  const std::set<std::string> expected = pseudonyms(dir / "lake1");
  // One Patient for a and b, one for c, per piece boundary: the subjects of o and q.
  size_t patients = 0, subjects = 0;
  for (const std::string& k : expected) {
    patients += k.starts_with("Patient/");
    subjects += k.starts_with("subject Patient/") && expected.contains(k.substr(8));
  }
  EXPECT_EQ(patients, 2u * (kPieces - 1));
  EXPECT_EQ(subjects, 2u * (kPieces - 1));
  auto differences = [&expected](const std::set<std::string>& got) {
    std::vector<std::string> out;
    std::set_symmetric_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                                  std::back_inserter(out));
    return out.size();
  };
  EXPECT_EQ(differences(pseudonyms(dir / "lake2")), 0u) << "two threads";
  EXPECT_EQ(differences(pseudonyms(dir / "lake3")), 0u) << "two threads and checkpoints";
  EXPECT_EQ(differences(pseudonyms(dir / "lake4")), 0u) << "checkpoints by links";
  EXPECT_EQ(differences(pseudonyms(dir / "lake5")), 0u) << "two threads, checkpoints by links";
}

// JSON documents (each a chunk) link in input order too, whether prepared in parallel or,
// when large (IngestOptions::in_order_document_bytes), read by the serial stage itself.
TEST(DeidentifyTest, DocumentsLinkInInputOrderPreparedOrReadInOrder) {
  TempDir dir;
  InitLake(dir / "lake1");
  for (const char* copy : {"lake2", "lake3"}) {
    std::filesystem::copy(dir / "lake1", dir / copy, std::filesystem::copy_options::recursive);
  }
  auto entry = [](const std::string& resource) { return R"({"resource":)" + resource + "}"; };
  auto patient = [](const std::string& id, const std::string& identifiers) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[)" + identifiers + "]}";
  };
  auto mr = [](const std::string& value) {
    return R"({"type":{"coding":[{"code":"MR"}]},"system":"http://mrn","value":")" + value +
           R"("})";
  };
  constexpr int kFiles = 30;
  for (int i = 0; i < kFiles; ++i) {
    const std::string n = std::to_string(i), next = std::to_string(i + 1);
    // File i: a reference to c<i+1> (whose Patient is in the next file), Patient a<i> (MR X<i>),
    // and Patient b<i-1> (MR Y<i-1>, and X<i-1> of the file before).
    std::string entries =
        entry(R"({"resourceType":"Observation","id":"o)" + n +
              R"(","status":"final","code":{"text":"t"},"subject":{"reference":"Patient/c)" + next +
              R"("}})") +
        "," + entry(patient("a" + n, mr("X" + n))) + "," + entry(patient("c" + n, mr("Z" + n)));
    if (i > 0) {
      const std::string before = std::to_string(i - 1);
      entries += "," + entry(patient("b" + before, mr("Y" + before) +
                                                       R"(,{"system":"http://mrn","value":"X)" +
                                                       before + R"("})"));
    }
    testing::WriteText(
        dir / ("in/doc" + std::string(i < 10 ? "0" : "") + n + ".json"),
        R"({"resourceType":"Bundle","type":"collection","entry":[)" + entries + "]}");
  }
  IngestOptions in_order, prepared, read_in_order;
  in_order.jobs = 1;
  prepared.jobs = 2;
  read_in_order.jobs = 2;
  read_in_order.in_order_document_bytes = 0;  // every document read by the serial stage
  ASSERT_TRUE(Ingest(dir / "lake1", {dir / "in"}, in_order).ok());
  ASSERT_TRUE(Ingest(dir / "lake2", {dir / "in"}, prepared).ok());
  ASSERT_TRUE(Ingest(dir / "lake3", {dir / "in"}, read_in_order).ok());
  auto stored = [](const std::string& lake) {
    std::set<std::string> out;
    for (const auto& [k, v] : ReadAll(lake).json) {
      if (k.starts_with("Patient/")) out.insert(k);
      if (k.starts_with("Observation/")) {
        out.insert(nlohmann::json::parse(v)["subject"]["reference"].get<std::string>());
      }
    }
    return out;
  };
  const std::set<std::string> expected = stored(dir / "lake1");
  // a<i> and b<i> are one person; each c<i> is the subject of o<i-1>, and o<last> names one
  // never seen.
  EXPECT_EQ(expected.size(), 2u * kFiles + 1);
  EXPECT_EQ(stored(dir / "lake2"), expected);
  EXPECT_EQ(stored(dir / "lake3"), expected);
}

// A large Bundle in a keyed lake is read in parallel ranges whose links are published in
// order (FhirReader::EntryRanges): the pseudonyms and the vault are those of a reading in
// order, with patients referenced before their Patient entry, in the range before (the Patient
// takes the link the reference made), Patients that share an identifier with one far before,
// and references to the patient of the range before.
TEST(DeidentifyTest, ALargeBundleReadInParallelRangesLinksAsReadInOrder) {
  TempDir dir;
  InitLake(dir / "whole");
  for (const char* copy : {"ranges1", "ranges2", "waves"}) {
    std::filesystem::copy(dir / "whole", dir / copy, std::filesystem::copy_options::recursive);
  }
  auto observation = [](const std::string& id, const std::string& reference) {
    return R"({"resource":{"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"t"},"subject":{"reference":")" + reference +
           R"("},"note":[{"text":"said )" + id + R"("}]}})";
  };
  auto mr = [](int g) {
    return R"({"type":{"coding":[{"code":"MR"}]},"system":"http://mrn","value":"X)" +
           std::to_string(g) + R"("})";
  };
  std::string bundle = R"({"resourceType":"Bundle","type":"collection","entry":[)";
  constexpr int kGroups = 60;
  for (int g = 0; g < kGroups; ++g) {
    const std::string n = std::to_string(g);
    std::string identifiers = mr(g);
    if (g % 7 == 3) identifiers += "," + mr(g - 3);  // the person of p<g-3>
    bundle += std::string(g > 0 ? "," : "") + R"({"resource":{"resourceType":"Patient","id":"p)" +
              n + R"(","identifier":[)" + identifiers + R"(],"name":[{"family":"F)" + n +
              R"("}]}})";
    for (int i = 0; i < 45; ++i) {
      bundle += "," + observation("o" + n + "-" + std::to_string(i), "Patient/p" + n);
    }
    if (g > 0) bundle += "," + observation("back" + n, "Patient/p" + std::to_string(g - 1));
    if (g >= 2) {
      bundle +=
          "," + observation("cond" + n, "Patient?identifier=http://mrn|X" + std::to_string(g - 2));
    }
    // Before p<g+1>'s own entry, which then takes the link this reference makes (but for those
    // that take the pseudonym of the person they are).
    if ((g + 1) % 7 != 3) {
      bundle += "," + observation("ahead" + n, "Patient/p" + std::to_string(g + 1));
    }
  }
  testing::WriteText(dir / "in/big.json", bundle + "]}");
  IngestOptions whole;
  IngestOptions ranges;
  ranges.in_order_document_bytes = 64;  // read by the serial stage ...
  ranges.streamed_document_bytes = 64;  // ... an entry at a time, in ranges
  auto w = Ingest(dir / "whole", {dir / "in"}, whole);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ranges.jobs = 1;
  ASSERT_TRUE(Ingest(dir / "ranges1", {dir / "in"}, ranges).ok());
  ranges.jobs = 2;
  auto r = Ingest(dir / "ranges2", {dir / "in"}, ranges);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->unresolved_references, w->unresolved_references);
  EXPECT_EQ(r->counters.stored, w->counters.stored);
  // Larger than a checkpoint: read in a batch of its own, committed every 16 KiB of entries.
  ranges.checkpoint_bytes = 16384;
  auto in_waves = Ingest(dir / "waves", {dir / "in"}, ranges);
  ASSERT_TRUE(in_waves.ok()) << in_waves.status().ToString();
  EXPECT_GE(in_waves->checkpoints, bundle.size() / 16384 - 1);
  EXPECT_EQ(in_waves->counters.stored, w->counters.stored);
  EXPECT_EQ(in_waves->counters.quarantined, w->counters.quarantined);
  const Stored expected = ReadAll(dir / "whole");
  // 49 entries a group, less the references to groups before 0 and the nine ahead of p<g>
  // of g % 7 == 3; the conditional references to the MR each of those shares with p<g-3>
  // match two Patients of the Bundle: left unresolved, and quarantined in a keyed lake.
  EXPECT_EQ(r->counters.records_read, static_cast<uint64_t>(kGroups * 49 - 3 - 9));
  EXPECT_EQ(r->counters.quarantined, 9u);
  // Each p<g> of g % 7 == 3 is stored as p<g-3>, replacing it.
  size_t patients = 0;
  for (const auto& [k, v] : expected.json) patients += k.starts_with("Patient/");
  EXPECT_EQ(patients, static_cast<size_t>(kGroups - 9));
  // What the vault holds of each stored resource.
  auto vaulted = [](const std::string& lake, const Stored& stored) {
    std::map<std::string, std::string> out;
    auto keys = privacy::KeyStore::Open(lake);
    EXPECT_TRUE(keys.ok());
    if (!keys.ok()) return out;
    auto vault = privacy::Vault::Open(*keys);
    EXPECT_TRUE(vault.ok());
    if (!vault.ok()) return out;
    for (const auto& [k, v] : stored.json) {
      std::string key = k.substr(8);
      if (k.starts_with("Observation/")) {
        const std::string subject =
            nlohmann::json::parse(v)["subject"]["reference"].get<std::string>();
        key = subject.substr(8) + "/" + k;
      }
      auto record = (*vault)->Get(key);
      out[k] = record.ok() ? *record : record.status().ToString();
    }
    return out;
  };
  const std::map<std::string, std::string> expected_vault = vaulted(dir / "whole", expected);
  for (const char* lake : {"ranges1", "ranges2", "waves"}) {
    SCOPED_TRACE(lake);
    const Stored got = ReadAll(dir / lake);
    EXPECT_EQ(got.json, expected.json);
    EXPECT_EQ(vaulted(dir / lake, got), expected_vault);
  }
  EXPECT_NE(expected_vault.begin()->second.find("said"), std::string::npos)
      << expected_vault.begin()->second;
}

// A Bundle's conditions are matched before its entries are read: a Patient entry whose
// condition names an identifier that a chunk before it links, not yet published, is not stored
// early but prepared again in order, and quarantined as one such entry always is in a keyed
// lake (it matches a Patient the lake holds).
TEST(DeidentifyTest, ABundlesConditionsSeeTheLinksBeforeIt) {
  TempDir dir;
  testing::WriteText(dir / "in/a.ndjson", R"({"resourceType":"Patient","id":"pz","gender":"male"})"
                                          "\n");
  std::string b;
  for (int i = 0; b.size() < 100'000; ++i) {
    b += R"({"resourceType":"Observation","id":"bo)" + std::to_string(i) +
         R"(","status":"final","code":{"text":"t"},"subject":{"reference":"Patient/pz"}})"
         "\n";
  }
  b += R"({"resourceType":"Patient","id":"other","identifier":[{"system":"urn:sys","value":"V1"}]})"
       "\n";
  testing::WriteText(dir / "in/b.ndjson", b);
  testing::WriteText(
      dir / "in/c.json",
      R"({"resourceType":"Bundle","type":"transaction","entry":[)"
      R"({"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111","resource":)"
      R"({"resourceType":"Observation","id":"c0","status":"final","code":{"text":"t"}},)"
      R"("request":{"method":"POST","url":"Observation"}},)"
      R"({"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222","resource":)"
      R"({"resourceType":"Patient","id":"pz","gender":"female"},)"
      R"("request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:sys|V1"}}]})");
  for (int jobs : {1, 2, 2, 2}) {
    TempDir run;
    InitLake(run / "lake");
    IngestOptions options;
    options.jobs = jobs;
    options.chunk_bytes = 4096;  // b.ndjson in two pieces
    auto r = Ingest(run / "lake", {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->counters.quarantined, 1u) << jobs << " jobs";
    for (const auto& [k, v] : ReadAll(run / "lake").json) {
      if (k.starts_with("Patient/") && v.find("female") != std::string::npos) {
        ADD_FAILURE() << jobs << " jobs: the conditional create replaced Patient pz";
      }
    }
  }
}

// Deidentifier::Publish refuses the links of a chunk prepared while a chunk before it made
// one it looked for; prepared again, the chunk finds that link and publishes. A link made
// meanwhile as the chunk made it is no reason: two chunks that reference a patient not yet
// seen both publish.
TEST(DeidentifyTest, PublishRefusesLinksPreparedBeforeAnEarlierChunkMadeThem) {
  TempDir dir;
  KeyedWriter keyed(dir / "lake");
  ASSERT_TRUE(keyed.deid != nullptr);
  auto deid = &keyed.deid;
  json::Parser parser;
  parser.set_keep_number_text(true);
  auto stored_id = [&](const std::string& patient, PendingLinks& pending) {
    auto node = parser.Parse(patient);
    EXPECT_TRUE(node.ok());
    std::string out;
    ingest::VaultRecord removed;
    EXPECT_TRUE((*deid)->Apply(*node, out, removed, &pending).ok());
    return nlohmann::json::parse(out)["id"].get<std::string>();
  };
  const std::string a =
      R"({"resourceType":"Patient","id":"a","identifier":[{"type":{"coding":[{"code":"MR"}]},)"
      R"("system":"http://mrn","value":"X"}]})";
  const std::string b =
      R"({"resourceType":"Patient","id":"b","identifier":[{"type":{"coding":[{"code":"MR"}]},)"
      R"("system":"http://mrn","value":"Y"},{"system":"http://mrn","value":"X"}]})";
  PendingLinks first, second;
  const std::string a_id = stored_id(a, first);
  const std::string b_alone = stored_id(b, second);  // prepared at the same time: X unknown
  EXPECT_NE(a_id, b_alone);
  EXPECT_EQ((*deid)->StoredId("Patient", "a"), "") << "nothing is linked before Publish";
  EXPECT_TRUE((*deid)->Publish(first));
  EXPECT_EQ((*deid)->StoredId("Patient", "a"), a_id);
  EXPECT_FALSE((*deid)->Publish(second)) << "X was made by the chunk before";
  EXPECT_EQ((*deid)->StoredId("Patient", "b"), "") << "a refused chunk publishes nothing";
  second.Clear();
  EXPECT_EQ(stored_id(b, second), a_id) << "prepared again, b is a's person";
  EXPECT_TRUE((*deid)->Publish(second));
  EXPECT_EQ((*deid)->StoredId("Patient", "b"), a_id);

  auto subject = [&](PendingLinks& pending) {
    auto node = parser.Parse(
        R"({"resourceType":"Observation","id":"o","status":"final","code":{"text":"t"},)"
        R"("subject":{"reference":"Patient/p"}})");
    EXPECT_TRUE(node.ok());
    std::string out;
    ingest::VaultRecord removed;
    EXPECT_TRUE((*deid)->Apply(*node, out, removed, &pending).ok());
    return nlohmann::json::parse(out)["subject"]["reference"].get<std::string>();
  };
  PendingLinks third, fourth;
  const std::string p = subject(third);
  EXPECT_EQ(subject(fourth), p);
  EXPECT_TRUE((*deid)->Publish(third));
  EXPECT_TRUE((*deid)->Publish(fourth)) << "p was linked as this chunk linked it";
  EXPECT_EQ("Patient/" + (*deid)->StoredId("Patient", "p"), p);
}

// A Bundle's entry is de-identified from the Bundle's parse, its urn:uuid references resolved
// as they are written (ParsedText::kUnresolved), not parsed again once resolved: both give the
// same stored resource and the same vault record, references in kept and in removed elements
// alike (a note's author, an identifier's assigner, a Patient's organization in its original),
// and the same decisions that depend on a reference's target (a Practitioner's display stays,
// a Patient's goes; a Task about one patient is theirs).
TEST(DeidentifyTest, AnEntryReadWithItsReferencesUnresolvedIsStoredAsOneReadResolved) {
  TempDir dir;
  KeyedWriter keyed(dir / "lake");
  ASSERT_TRUE(keyed.deid != nullptr);
  auto deid = &keyed.deid;
  const std::map<std::string, std::string> full_urls = {{"urn:uuid:p1", "Patient/src-17"},
                                                        {"urn:uuid:dr", "Practitioner/dr-9"},
                                                        {"urn:uuid:org", "Organization/org-1"},
                                                        {"urn:uuid:enc", "Encounter/enc-3"}};
  const fhir::ReferenceResolver resolver = [&](std::string_view ref, std::string&) {
    auto it = full_urls.find(std::string(ref));
    return it == full_urls.end() ? ref : std::string_view(it->second);
  };
  auto resolved_text = [&](std::string text) {
    for (const auto& [url, typed] : full_urls) {
      for (size_t at; (at = text.find("\"" + url + "\"")) != std::string::npos;) {
        text.replace(at + 1, url.size(), typed);
      }
    }
    return text;
  };
  const std::vector<std::string> resources = {
      R"({"resourceType":"Patient","id":"src-17","identifier":[{"system":"http://mrn","value":"M-1",)"
      R"("assigner":{"reference":"urn:uuid:org"}}],"name":[{"family":"Roe"}],"birthDate":"1961-07-23",)"
      R"("managingOrganization":{"reference":"urn:uuid:org","display":"General"},)"
      R"("generalPractitioner":[{"reference":"urn:uuid:dr","display":"Dr Who"}]})",
      R"({"resourceType":"Observation","id":"obs-1","status":"final","code":{"text":"HR"},)"
      R"("subject":{"reference":"urn:uuid:p1","display":"Jane Roe"},"encounter":{"reference":"urn:uuid:enc"},)"
      R"("performer":[{"reference":"urn:uuid:dr","display":"Dr Who"},{"reference":"urn:uuid:p1","display":"Jane"}],)"
      R"("valueQuantity":{"value":72.50,"unit":"/min"},)"
      R"("note":[{"authorReference":{"reference":"urn:uuid:dr"},"text":"Jane felt fine"}],)"
      R"("identifier":[{"value":"o-1","assigner":{"reference":"urn:uuid:org"}}]})",
      R"({"resourceType":"Task","id":"t-1","status":"requested","intent":"order",)"
      R"("for":{"reference":"urn:uuid:p1"},"owner":{"reference":"urn:uuid:dr"},"description":"Call Jane",)"
      R"("note":[{"authorReference":{"reference":"urn:uuid:p1"},"text":"MRN M-1"}]})",
      R"({"resourceType":"Organization","id":"org-1","name":"General","partOf":{"reference":"urn:uuid:org"}})",
      R"({"resourceType":"Condition","id":"c-1","subject":{"reference":"urn:uuid:unknown"},)"
      R"("contained":[{"resourceType":"RelatedPerson","id":"rp","patient":{"reference":"urn:uuid:p1"},)"
      R"("name":[{"text":"Joe"}]}],"asserter":{"reference":"#rp"}})"};
  json::Parser parser;
  parser.set_keep_number_text(true);
  for (const std::string& given : resources) {
    SCOPED_TRACE(given);
    PendingLinks pending;
    auto apply = [&](const std::string& text, const fhir::ReferenceResolver* with) {
      auto node = parser.Parse(text);
      EXPECT_TRUE(node.ok());
      std::string out;
      ingest::VaultRecord removed;
      EXPECT_TRUE((*deid)->Apply(*node, out, removed, &pending, with).ok());
      return std::vector<std::string>{
          out, removed.key, removed.patient,
          removed.json.empty() ? std::string() : nlohmann::json::parse(removed.json).dump()};
    };
    const auto unresolved = apply(given, &resolver);
    const auto resolved = apply(resolved_text(given), nullptr);
    EXPECT_EQ(unresolved, resolved);
    EXPECT_EQ(unresolved[0].find("urn:uuid:p1"), std::string::npos);
    EXPECT_EQ(unresolved[3].find("urn:uuid:"), std::string::npos);
  }
  // A resource of no known type is refused (ingest quarantines it before), not rewritten: its
  // id, rewritten as a reference of that type, threw (found by medlake_fuzz_deidentify).
  auto unknown =
      parser.Parse(R"({"resourceType":"Patientish","id":"x","subject":{"reference":"Patient/p"}})");
  ASSERT_TRUE(unknown.ok());
  std::string out;
  ingest::VaultRecord removed;
  PendingLinks pending;
  EXPECT_FALSE((*deid)->Apply(*unknown, out, removed, &pending).ok());
}

// Ingest gives the de-identifier a Bundle's entries from the Bundle's parse, or from each
// entry's parse when the Bundle is read an entry at a time, their references resolved as they
// are written: either way the lake stores what it stores of the same resources given as NDJSON
// with their references already Type/id (three copies of one keyed lake, one key).
TEST(DeidentifyTest, ABundleStreamedOrParsedWholeIsStoredAsItsResourcesResolved) {
  TempDir dir;
  InitLake(dir / "whole");
  std::filesystem::copy(dir / "whole", dir / "streamed", std::filesystem::copy_options::recursive);
  std::filesystem::copy(dir / "whole", dir / "ndjson", std::filesystem::copy_options::recursive);
  const std::vector<std::pair<std::string, std::string>> resources = {
      {"urn:uuid:pr", R"({"resourceType":"Practitioner","id":"pr-1","name":[{"family":"Who"}]})"},
      {"urn:uuid:pt",
       R"({"resourceType":"Patient","id":"pt-1","identifier":[{"system":"http://mrn","value":"M-1"}],)"
       R"("name":[{"family":"Roe"}],"birthDate":"1961-07-23","generalPractitioner":[{"reference":"urn:uuid:pr"}]})"},
      {"urn:uuid:en",
       R"({"resourceType":"Encounter","id":"en-1","status":"finished","class":{"code":"AMB"},)"
       R"("subject":{"reference":"urn:uuid:pt","display":"Jane Roe"},)"
       R"("participant":[{"individual":{"reference":"urn:uuid:pr","display":"Dr Who"}}]})"},
      {"urn:uuid:ob",
       R"({"resourceType":"Observation","id":"ob-1","status":"final","code":{"text":"HR"},)"
       R"("subject":{"reference":"urn:uuid:pt"},"encounter":{"reference":"urn:uuid:en"},)"
       R"("valueQuantity":{"value":72.50,"unit":"/min"},"component":[{"code":{"text":"x"},)"
       R"("valueQuantity":{"value":1.0e2}}],"note":[{"authorReference":{"reference":"urn:uuid:pr"},"text":"t"}]})"}};
  std::string bundle = R"({"resourceType":"Bundle","type":"collection","entry":[)";
  std::string ndjson;
  for (size_t i = 0; i < resources.size(); ++i) {
    const auto& [url, resource] = resources[i];
    bundle += (i > 0 ? ",\n  " : "\n  ") + std::string(R"({"fullUrl":")") + url +
              R"(","resource":)" + resource + "}";
    std::string resolved = resource;
    for (const auto& [u, r] : resources) {
      auto parsed = nlohmann::json::parse(r);
      const std::string typed =
          parsed["resourceType"].get<std::string>() + "/" + parsed["id"].get<std::string>();
      for (size_t at; (at = resolved.find("\"" + u + "\"")) != std::string::npos;) {
        resolved.replace(at + 1, u.size(), typed);
      }
    }
    ndjson += resolved + "\n";
  }
  bundle += "\n]}\n";
  testing::WriteText(dir / "in-bundle/b.json", bundle);
  testing::WriteText(dir / "in-ndjson/r.ndjson", ndjson);
  IngestOptions whole;
  IngestOptions streamed;
  streamed.in_order_document_bytes = 64;  // read by the serial stage ...
  streamed.streamed_document_bytes = 64;  // ... an entry at a time
  ASSERT_TRUE(Ingest(dir / "whole", {dir / "in-bundle"}, whole).ok());
  ASSERT_TRUE(Ingest(dir / "streamed", {dir / "in-bundle"}, streamed).ok());
  ASSERT_TRUE(Ingest(dir / "ndjson", {dir / "in-ndjson"}, whole).ok());
  const Stored from_ndjson = ReadAll(dir / "ndjson");
  ASSERT_EQ(from_ndjson.json.size(), resources.size());
  EXPECT_EQ(ReadAll(dir / "whole").json, from_ndjson.json);
  EXPECT_EQ(ReadAll(dir / "streamed").json, from_ndjson.json);
  EXPECT_NE(from_ndjson.all.find("72.50"), std::string::npos) << from_ndjson.all;
  EXPECT_NE(from_ndjson.all.find("1.0e2"), std::string::npos) << from_ndjson.all;
  EXPECT_NE(from_ndjson.all.find("Dr Who"), std::string::npos) << "a Practitioner's display stays";
  EXPECT_EQ(from_ndjson.all.find("Jane Roe"), std::string::npos);
}

// In a keyed lake the version an HL7 v2 message updates is found under its pseudonymized id
// (an Encounter) or in the vault (a Patient's original): a transfer in a later run keeps the
// admission's ward, and a lab message's sparse PID keeps the admission's name and address.
TEST(DeidentifyTest, Hl7v2UpdatesMergeWithTheVersionOfAnEarlierRun) {
  TempDir dir;
  InitLake(dir / "lake");
  std::string admission =
      testing::AdtMessage("A01", "C1", "20240301101000", "4E^136^B^GHH", "", "", "V1", "M1");
  // A PID with name and address, as ADT systems send it.
  admission.replace(admission.find("PID|1||M1^^^GHH^MR"), 18,
                    "PID|1||M1^^^GHH^MR||Roeberts^Janelle||19610723|F|||1 Elm St^^Town");
  testing::WriteText(dir / "in1/adt.hl7", admission);
  testing::WriteText(dir / "in2/adt.hl7",
                     testing::AdtMessage("A02", "C2", "20240302075500", "ICU^1^1^GHH",
                                         "4E^136^B^GHH", "", "V1", "M1"));
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in1"}, IngestOptions{}).ok());
  auto second = Ingest(dir / "lake", {dir / "in2"}, IngestOptions{});
  ASSERT_TRUE(second.ok()) << second.status().ToString();

  Stored s = ReadAll(dir / "lake");
  std::string encounter, pseudonym;
  for (const auto& [k, v] : s.json) {
    if (k.starts_with("Encounter/")) encounter = v;
    if (k.starts_with("Patient/")) pseudonym = k.substr(8);
  }
  EXPECT_NE(
      encounter.find(
          R"("display":"4E / 136 / B"},"status":"completed","period":{"start":"2024-03-01T10:10:00Z","end":"2024-03-02T07:55:00Z"})"),
      std::string::npos)
      << "the admission's start of the ward: " << encounter;
  EXPECT_NE(encounter.find(R"("display":"ICU / 1 / 1"},"status":"active")"), std::string::npos)
      << encounter;
  for (const char* needle : {"Roeberts", "Elm St", "M1"}) {
    EXPECT_EQ(s.all.find(needle), std::string::npos) << needle;
  }
  auto original = VaultRecord(dir / "lake", pseudonym);
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  EXPECT_NE(original->find("Roeberts"), std::string::npos) << "the A02's PID has no name";
  EXPECT_NE(original->find("Elm St"), std::string::npos);
  // Both files again: nothing new. (A replayed message's Encounter was the stored one, already
  // de-identified, and went through de-identification again under a new id.)
  auto again = Ingest(dir / "lake", {dir / "in1", dir / "in2"}, IngestOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counters.stored, 0u);
  EXPECT_EQ(ReadAll(dir / "lake").json.size(), s.json.size());
}

// A report corrected in a later run of a keyed lake is not merged with the stored report
// (de-identified: merging pseudonymized its results again, which then named no Observation);
// every reference it holds names a stored resource, and re-ingesting stores nothing.
TEST(DeidentifyTest, Hl7v2ReportCorrectedInALaterRunKeepsValidReferences) {
  TempDir dir;
  InitLake(dir / "lake");
  testing::WriteText(
      dir / "in1/oru.hl7",
      "MSH|^~\\&|LAB|LABFAC|MEDLAKE|HOSP|20240101100000||ORU^R01|C1|P|2.5.1\r"
      "PID|1||M1^^^HOSP^MR\rOBR|1||F1|24323-8^CMP^LN|||20240101090000||||||||||||||||||F\r"
      "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F\rOBX|2|NM|2951-2^Sodium^LN||140|mmol/L|||||F\r");
  testing::WriteText(
      dir / "in2/oru.hl7",
      "MSH|^~\\&|LAB|LABFAC|MEDLAKE|HOSP|20240102100000||ORU^R01|C2|P|2.5.1\r"
      "PID|1||M1^^^HOSP^MR\rOBR|1||F1|24323-8^CMP^LN|||20240101090000||||||||||||||||||C\r"
      "OBX|1|NM|2951-2^Sodium^LN||141|mmol/L|||||C\r");
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in1"}, IngestOptions{}).ok());
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in2"}, IngestOptions{}).ok());
  auto again = Ingest(dir / "lake", {dir / "in2"}, IngestOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counters.stored, 0u);
  Stored s = ReadAll(dir / "lake");
  size_t results = 0;
  for (const auto& [key, json] : s.json) {
    if (!key.starts_with("DiagnosticReport/")) continue;
    auto report = nlohmann::json::parse(json);
    for (const auto& r : report["result"]) {
      ++results;
      EXPECT_TRUE(s.json.count(r["reference"].get<std::string>())) << r.dump();
    }
  }
  EXPECT_GE(results, 1u);
}

// In a keyed lake a conditional update of a Patient is a plain update: the Patient an
// identifier matches is a pseudonym, which the entry's own id never equals (it was
// quarantined as naming "another id").
TEST(DeidentifyTest, ConditionalUpdateOfAPatientIsAPlainUpdate) {
  TempDir dir;
  InitLake(dir / "lake");
  auto bundle = [](const std::string& url, const std::string& updated) {
    return R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)"
           R"({"resourceType":"Patient","id":"p1","meta":{"lastUpdated":")" +
           updated +
           R"("},"identifier":[{"system":"http://ex.org/mrn","value":"X1"}]},)"
           R"("request":{"method":"PUT","url":")" +
           url + R"("}}]})";
  };
  testing::WriteText(dir / "in1/b.json", bundle("Patient/p1", "2024-01-01T00:00:00Z"));
  testing::WriteText(dir / "in2/b.json",
                     bundle("Patient?identifier=http://ex.org/mrn|X1", "2024-02-01T00:00:00Z"));
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in1"}, IngestOptions{}).ok());
  auto second = Ingest(dir / "lake", {dir / "in2"}, IngestOptions{});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->counters.stored, 1u);
  EXPECT_EQ(second->counters.quarantined, 0u);
  EXPECT_EQ(ReadAll(dir / "lake").json.size(), 1u) << "one Patient, updated";
  // A conditional create that matches is refused with the reason: stored as a plain create,
  // it replaced the Patient through its identifier link.
  testing::WriteText(
      dir / "in3/b.json",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":)"
      R"("urn:uuid:22222222-2222-2222-2222-222222222222","resource":{"resourceType":"Patient",)"
      R"("identifier":[{"system":"http://ex.org/mrn","value":"X1"}],"name":[{"family":"Second"}]},)"
      R"("request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=http://ex.org/mrn|X1"}}]})");
  const Stored before = ReadAll(dir / "lake");
  auto third = Ingest(dir / "lake", {dir / "in3"}, IngestOptions{});
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->counters.stored, 0u);
  EXPECT_EQ(third->counters.quarantined, 1u);
  EXPECT_EQ(ReadAll(dir / "lake").all, before.all);
}

// An admission whose message already carries the discharge time closes its location in the
// first stored version too: merged later with its own stored (de-identified) form, the same
// message changes nothing (a keyed re-ingest stored it again, closed).
TEST(DeidentifyTest, Hl7v2ReingestOfAnAdmissionWithItsDischargeStoresNothing) {
  TempDir dir;
  InitLake(dir / "lake");
  const std::string golden = std::string(MEDLAKE_SOURCE_DIR) + "/tests/hl7v2/golden/adt_a01.hl7";
  ASSERT_TRUE(Ingest(dir / "lake", {golden}, IngestOptions{}).ok());
  auto again = Ingest(dir / "lake", {golden}, IngestOptions{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->counters.stored, 0u);
}

// Messages that name one patient by different identifiers update one record in a keyed
// lake: the history is the pseudonym's. A lab message naming the patient by SSN alone lost
// the gender and birth year stored from the admission, and the vault kept only its PID.
TEST(DeidentifyTest, Hl7v2MessagesNamingAPatientDifferentlyUpdateOneRecord) {
  TempDir dir;
  InitLake(dir / "lake");
  testing::WriteText(dir / "in/a.hl7",
                     "MSH|^~\\&|ADT|H|L|H|20240301100000||ADT^A04|C1|P|2.5\r"
                     "PID|1||MRN4^^^H^MR~SSN4^^^SSA^SS||Doe^Anna||19600101|F|||1 Elm St^^Town\r"
                     "PV1|1|O\r"
                     "MSH|^~\\&|LAB|H|L|H|20240302100000||ORU^R01|C2|P|2.5\r"
                     "PID|1||SSN4^^^SSA^SS||Doe^Anne\r"
                     "OBR|1||F1|2823-3^K^LN\rOBX|1|NM|2823-3^K^LN||4.1|mmol/L|||||F\r");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Stored s = ReadAll(dir / "lake");
  std::string patient, pseudonym;
  for (const auto& [k, v] : s.json) {
    if (k.starts_with("Patient/")) {
      patient = v;
      pseudonym = k.substr(8);
    }
  }
  EXPECT_EQ(std::count_if(s.json.begin(), s.json.end(),
                          [](const auto& kv) { return kv.first.starts_with("Patient/"); }),
            1);
  EXPECT_NE(patient.find(R"("gender":"female")"), std::string::npos) << patient;
  EXPECT_NE(patient.find(R"("birthDate":"1960")"), std::string::npos) << patient;
  auto original = VaultRecord(dir / "lake", pseudonym);
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  EXPECT_NE(original->find("Anne"), std::string::npos) << "the later name";
  EXPECT_NE(original->find("Elm St"), std::string::npos) << "the admission's address";
}

// Pseudonym links are made in input order, whatever the threads: a patient named X1 at the end
// of a long file and Y1~X1 in a short one got a pseudonym that depended on --jobs (the short
// file, read by a second thread, linked first).
TEST(DeidentifyTest, Hl7v2PseudonymsDoNotDependOnTheNumberOfThreads) {
  TempDir dir;
  InitLake(dir / "lake1");
  std::filesystem::copy(dir / "lake1", dir / "lake2", std::filesystem::copy_options::recursive);
  std::string filler;
  for (int i = 0; i < 5000; ++i) {
    filler += "MSH|^~\\&|LAB|H|L|H|20240301100000||ORU^R01|F" + std::to_string(i) +
              "|P|2.5\rPID|1||P" + std::to_string(i) + "^^^A^MR\rOBR|1||R" + std::to_string(i) +
              "|2823-3^K^LN\rOBX|1|NM|2823-3^K^LN||4|mmol/L|||||F\r";
  }
  testing::WriteText(dir / "in/t1.hl7", filler +
                                            "MSH|^~\\&|LAB|H|L|H|20240301100000||ORU^R01|X|P|2.5\r"
                                            "PID|1||X1^^^A^MR\rOBR|1||RX|2823-3^K^LN\r"
                                            "OBX|1|NM|2823-3^K^LN||4|mmol/L|||||F\r");
  testing::WriteText(dir / "in/t2.hl7",
                     "MSH|^~\\&|LAB|H|L|H|20240301100000||ORU^R01|Y|P|2.5\r"
                     "PID|1||Y1^^^B^MR~X1^^^A^MR\rOBR|1||RY|2823-3^K^LN\r"
                     "OBX|1|NM|2823-3^K^LN||4|mmol/L|||||F\r");
  IngestOptions one, two;
  one.jobs = 1;
  two.jobs = 2;
  ASSERT_TRUE(Ingest(dir / "lake1", {dir / "in"}, one).ok());
  ASSERT_TRUE(Ingest(dir / "lake2", {dir / "in"}, two).ok());
  auto patients = [](const std::string& lake) {
    std::set<std::string> ids;
    for (const auto& [k, v] : ReadAll(lake).json) {
      if (k.starts_with("Patient/")) ids.insert(k);
    }
    return ids;
  };
  auto a = patients(dir / "lake1");
  EXPECT_EQ(a.size(), 5001u);
  EXPECT_EQ(a, patients(dir / "lake2"));
}

// An HL7 v2 admission of the patient of kFhirPatient, through a stream.
void AcceptAdmission(StreamIngestor& stream) {
  auto acks = stream.AcceptHl7v2(
      {"MSH|^~\\&|ADT|HOSP|LAKE|HOSP|202401011200||ADT^A01|C1|P|2.5\r"
       "PID|1||MRN-4711^^^&http://hosp.example/mrn&URI^MR||Roeberts^Janelle||19610723|F\r"
       "PV1|1|I|WARD1^101^A\r"});
  ASSERT_TRUE(acks.ok());
  ASSERT_TRUE((*acks)[0].ok()) << (*acks)[0].ToString();
}

TEST(DeidentifyTest, StreamIngestPseudonymizesToo) {
  TempDir dir;
  InitLake(dir / "lake");
  {
    auto stream = StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(stream.ok()) << stream.status().ToString();
    AcceptAdmission(**stream);
    ASSERT_TRUE((*stream)->Checkpoint().ok());
  }
  Stored s = ReadAll(dir / "lake");
  size_t patients = 0;
  for (const auto& [k, v] : s.json) {
    if (!k.starts_with("Patient/")) continue;
    ++patients;
    EXPECT_TRUE(privacy::Pseudonymizer::LooksLikePseudonym(k.substr(8))) << k;
  }
  EXPECT_EQ(patients, 1u);
  for (const char* needle : {"Roeberts", "Janelle", "MRN-4711", "19610723", "1961-07-23"}) {
    EXPECT_EQ(s.all.find(needle), std::string::npos) << needle;
  }
  auto keys = privacy::KeyStore::Open(dir / "lake");
  auto vault = privacy::Vault::Open(*keys);
  EXPECT_EQ(*(*vault)->Count(), 1);
}

// Records accepted while a checkpoint runs are shown to the observer (watch) before they are
// stored: in a keyed lake they were shown as mapped, under the source patient id, so watch
// split each patient in two and printed source ids in its alerts.
TEST(DeidentifyTest, StreamObserversSeePseudonymsAlsoDuringACheckpoint) {
  TempDir dir;
  InitLake(dir / "lake");
  struct Observer : StreamObserver {
    std::set<std::string> patients;
    void OnResource(const fhir::ResourceFacts& facts, json::Node,
                    StreamClock::time_point) override {
      if (!facts.patient_id.empty()) patients.insert(facts.patient_id);
    }
    void OnRecordEnd(StreamClock::time_point) override {}
  } observer;
  StreamOptions options;
  options.checkpoint_records = 40;
  auto ingestor = StreamIngestor::Open(dir / "lake", options);
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  (*ingestor)->SetObserver(&observer);
  int n = 0;
  while (n < 20000 && (*ingestor)->stats().deferred == 0) {
    std::vector<std::string> batch;
    for (int i = 0; i < 10; ++i, ++n) {
      batch.push_back("MSH|^~\\&|LAB|HOSP|LAKE|HOSP|20240301100000||ORU^R01|C" + std::to_string(n) +
                      "|P|2.5\rPID|1||MRN-4711^^^HOSP^MR\rOBR|1||F" + std::to_string(n) +
                      "|8867-4^Heart rate^LN\rOBX|1|NM|8867-4^Heart rate^LN||80|/min|||||F|||"
                      "20240301100000\r");
    }
    ASSERT_TRUE((*ingestor)->AcceptHl7v2(batch).ok());
    ASSERT_TRUE((*ingestor)->MaybeCheckpoint().ok());
  }
  ASSERT_GT((*ingestor)->stats().deferred, 0u);
  ASSERT_EQ(observer.patients.size(), 1u) << "one patient, under one id";
  EXPECT_TRUE(privacy::Pseudonymizer::LooksLikePseudonym(*observer.patients.begin()))
      << *observer.patients.begin();
}

// Records accepted by a stream wait in the inbox until a checkpoint: in a keyed lake they are
// sealed there too, and a crash before the checkpoint still replays them.
TEST(DeidentifyTest, StreamInboxIsEncryptedAndReplays) {
  TempDir dir;
  InitLake(dir / "lake");
  StreamOptions no_checkpoint;
  no_checkpoint.checkpoint_records = 1000000;
  no_checkpoint.checkpoint_interval = std::chrono::hours(1);
  auto stream = StreamIngestor::Open(dir / "lake", no_checkpoint);
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  AcceptAdmission(**stream);
  // The state a crash would leave: the inbox holds the message, no segment does.
  std::filesystem::copy(dir / "lake", dir / "crashed", std::filesystem::copy_options::recursive);
  std::string inbox = testing::ReadText(dir / "crashed/inbox/stream.log");
  ASSERT_FALSE(inbox.empty());
  for (const char* needle : {"Roeberts", "Janelle", "MRN-4711", "19610723", "PID|", "ADT^A01"}) {
    EXPECT_EQ(inbox.find(needle), std::string::npos) << needle;
  }
  stream->reset();
  auto replay = StreamIngestor::Open(dir / "crashed", no_checkpoint);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_EQ((*replay)->stats().replayed, 1u);
  replay->reset();
  Stored s = ReadAll(dir / "crashed");
  EXPECT_EQ(std::count_if(s.json.begin(), s.json.end(),
                          [](const auto& kv) { return kv.first.starts_with("Patient/"); }),
            1);
  // Under another lake's key the sealed record is refused, not dropped.
  InitLake(dir / "other");
  std::filesystem::create_directories(dir / "other/inbox");
  testing::WriteText(dir / "other/inbox/stream.log", inbox);
  auto refused = StreamIngestor::Open(dir / "other", no_checkpoint);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kCorruption) << refused.status().ToString();
  EXPECT_EQ(testing::ReadText(dir / "other/inbox/stream.log"), inbox);
}

TEST(DeidentifyTest, ConditionalReferenceToPatientResolvesThroughKeyedLinks) {
  TempDir dir;
  InitLake(dir / "lake");
  testing::WriteText(dir / "in/a.ndjson", std::string(kFhirPatient) + "\n");
  testing::WriteText(
      dir / "in/b.json",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:0b4a0c55-0000-4000-8000-000000000001",)"
      R"("resource":{"resourceType":"Condition","id":"c1","code":{"coding":[{"code":"x"}]},)"
      R"("subject":{"reference":"Patient?identifier=http://ssn.example|999-12-3456"}}}]})");
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in/a.ndjson"}, IngestOptions{}).ok());
  auto r = Ingest(dir / "lake", {dir / "in/b.json"}, IngestOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->unresolved_references, 0u);
  Stored s = ReadAll(dir / "lake");
  std::set<uint32_t> ordinals;
  for (const auto& [k, ordinal] : s.patient) ordinals.insert(ordinal);
  EXPECT_EQ(ordinals.size(), 1u);
  EXPECT_EQ(s.all.find("999-12-3456"), std::string::npos);
}

TEST(DeidentifyTest, KeyedLakeWithoutItsKeyIsRefused) {
  TempDir dir;
  InitLake(dir / "lake");
  std::filesystem::remove(dir / "lake/keys/lake.key");
  testing::WriteText(dir / "in/p.ndjson", std::string(kFhirPatient) + "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnauthenticated) << r.status().ToString();
}

// A keyed lake replaces ids with pseudonyms, after checking the ids as given: the same records
// are quarantined, for the same reasons, with a key as without one.
TEST(DeidentifyTest, MalformedIdsAreQuarantinedWithOrWithoutAKey) {
  TempDir dir;
  const std::string bad = std::string(R"({"resourceType":"Patient","id":"bad id!"})") + "\n" +
                          R"({"resourceType":"Patient","id":"dup1","id":"dup2"})" + "\n" +
                          R"({"resourceType":"Patient","id":")" + std::string(86, 'a') + "\"}\n" +
                          R"({"resourceType":"Observation","id":"bad id!","status":"final",)" +
                          R"("code":{"text":"x"},"subject":{"reference":"Patient/ok1"}})" + "\n" +
                          R"({"resourceType":"Patient","id":"ok1"})" + "\n";
  testing::WriteText(dir / "in/a.ndjson", bad);
  for (bool keyed : {false, true}) {
    std::string lake = dir / (keyed ? "keyed" : "plain");
    if (keyed) InitLake(lake);
    auto r = Ingest(lake, {dir / "in"}, IngestOptions{});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->counters.records_read, 5u) << keyed;
    EXPECT_EQ(r->counters.stored, 1u) << keyed;
    EXPECT_EQ(r->counters.quarantined, 4u) << keyed;
  }
}

// Ingests dir/`input` into a new lake without a key and one with (dir/`input`-plain, -keyed),
// expects `counts` (read, stored, quarantined) of both, and returns the reasons of what both
// quarantined, sorted, expecting them the same.
struct Counts {
  uint64_t read, stored, quarantined;
};
std::vector<std::string> ReasonsWithAndWithoutAKey(const TempDir& dir, const std::string& input,
                                                   Counts counts) {
  std::vector<std::string> reasons[2];
  for (bool keyed : {false, true}) {
    SCOPED_TRACE(keyed ? "keyed" : "plain");
    const std::string lake = dir / (input + (keyed ? "-keyed" : "-plain"));
    if (keyed) InitLake(lake);
    auto r = Ingest(lake, {dir / input}, IngestOptions{});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->counters.records_read, counts.read);
    EXPECT_EQ(r->counters.stored, counts.stored);
    EXPECT_EQ(r->counters.quarantined, counts.quarantined);
    for (const QuarantineEntry& q : testing::QuarantineOf(lake, counts.quarantined)) {
      reasons[keyed].push_back(q.reason);
    }
    std::sort(reasons[keyed].begin(), reasons[keyed].end());
  }
  EXPECT_EQ(reasons[0], reasons[1]);
  return reasons[0];
}

// What the stored resource's facts refuse is refused before de-identification rewrites it: a
// birth date that is no FHIR date was stored as its "year" in a keyed lake ("99999" as "9999")
// and quarantined without a key; a subject given as a string names its patient in neither
// (an audit). The same records, for the same reasons, with or without a key.
TEST(DeidentifyTest, ABadBirthDateOrSubjectIsQuarantinedWithOrWithoutAKey) {
  TempDir dir;
  testing::WriteText(
      dir / "in/a.ndjson",
      std::string(R"({"resourceType":"Patient","id":"bd1","birthDate":"1961-13-45"})") + "\n" +
          R"({"resourceType":"Patient","id":"bd2","birthDate":"99999"})" + "\n" +
          R"({"resourceType":"Patient","id":"bd3","birthDate":19610101})" + "\n" +
          R"({"resourceType":"Patient","id":"bd4","birthDate":"1961-02-03"})" + "\n" +
          R"({"resourceType":"Observation","id":"s1","status":"final","code":{"text":"x"},)" +
          R"("subject":"Patient/bd4"})" + "\n" +
          R"({"resourceType":"Observation","id":"s2","status":"final","code":{"text":"x"},)" +
          R"("subject":{"reference":["Patient/bd4"]}})" + "\n");
  const std::vector<std::string> reasons = ReasonsWithAndWithoutAKey(dir, "in", {6, 1, 5});
  ASSERT_EQ(reasons.size(), 5u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(reasons[i].starts_with("birthDate is not a FHIR date")) << reasons[i];
  }
  for (int i = 3; i < 5; ++i) {
    EXPECT_TRUE(reasons[i].starts_with("subject is not a Reference")) << reasons[i];
  }
}

// A name given twice anywhere in a resource makes it unstorable, also where de-identification
// removes the element that repeats it (a name, a note's text): the same records are
// quarantined for the same reason with or without a key, in NDJSON lines and in a Bundle
// (whose one walk for repeated names answers for its entries).
TEST(DeidentifyTest, RepeatedNamesAreQuarantinedWithOrWithoutAKey) {
  TempDir dir;
  const std::string subject = R"("subject":{"reference":"Patient/rn1"})";
  const std::string lines[] = {
      R"({"resourceType":"Patient","id":"rn1","name":[{"family":"Aa","family":"Bb"}]})",
      R"({"resourceType":"Observation","id":"rn2","status":"final","code":{"text":"x"},)" +
          subject + R"(,"note":[{"text":"one","text":"two"}]})",
      R"({"resourceType":"Observation","id":"rn3","status":"final",)" + subject +
          R"(,"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","code":"8310-5"}]}})",
      R"({"resourceType":"Patient","id":"rn4","name":[{"family":"Cc"}]})",
      R"({"resourceType":"Observation","id":"rn5","status":"final","code":{"text":"x"},)" +
          subject + "}"};
  std::string ndjson, entries;
  for (const std::string& line : lines) {
    ndjson += line + "\n";
    entries += std::string(entries.empty() ? "" : ",") + R"({"resource":)" + line + "}";
  }
  testing::WriteText(dir / "ndjson/a.ndjson", ndjson);
  testing::WriteText(dir / "bundle/b.json",
                     R"({"resourceType":"Bundle","type":"collection","entry":[)" + entries + "]}");
  for (const char* input : {"ndjson", "bundle"}) {
    SCOPED_TRACE(input);
    const std::vector<std::string> reasons = ReasonsWithAndWithoutAKey(dir, input, {5, 2, 3});
    ASSERT_EQ(reasons.size(), 3u);
    EXPECT_NE(reasons[0].find("\"code\" appears twice"), std::string::npos) << reasons[0];
    EXPECT_NE(reasons[1].find("\"family\" appears twice"), std::string::npos) << reasons[1];
    EXPECT_NE(reasons[2].find("\"text\" appears twice"), std::string::npos) << reasons[2];
  }
}

// Only a resource and those it contains are de-identified: a document Bundle or a Parameters
// holding a Patient would keep its name, identifiers and address in a keyed lake. They are
// quarantined there (and stored as given without a key); a Bundle or Parameters holding no
// resource is stored.
TEST(DeidentifyTest, AResourceHoldingResourcesIsNotStoredInAKeyedLake) {
  TempDir dir;
  const std::string patient =
      R"({"resourceType":"Patient","id":"np1","name":[{"family":"Zyxwv"}],)"
      R"("identifier":[{"system":"urn:mrn","value":"77777"}],"birthDate":"1961-07-13"})";
  testing::WriteText(dir / "in/doc.json",
                     R"({"resourceType":"Bundle","id":"doc1","type":"document","entry":[)"
                     R"({"fullUrl":"urn:uuid:00000000-0000-0000-0000-0000000000bb","resource":)" +
                         patient + "}]}");
  testing::WriteText(
      dir / "in/p.ndjson",
      R"({"resourceType":"Parameters","id":"par1","parameter":[{"name":"a","part":[)"
      R"({"name":"b","resource":)" +
          patient + "}]}]}\n" +
          R"({"resourceType":"Parameters","id":"par2","parameter":[{"name":"n","valueString":"x"}]})"
          "\n" +
          R"({"resourceType":"Bundle","id":"b2","type":"document","entry":[{"response":{)"
          R"("status":"400","outcome":{"resourceType":"OperationOutcome","issue":[]}}}]})"
          "\n");
  // Inside a contained Bundle or Parameters, and as an extension's value (a review found the
  // first two stored in clear); and identifying values of a Parameters about a patient.
  const std::string obs = R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
                          R"("subject":{"reference":"Patient/np1"},)";
  testing::WriteText(
      dir / "in/o.ndjson",
      obs + R"("id":"c1","contained":[{"resourceType":"Bundle","id":"cb","type":"collection",)" +
          R"("entry":[{"resource":)" + patient + "}]}]}\n" + obs +
          R"("id":"c2","contained":[{"resourceType":"Parameters","id":"cp","parameter":[)" +
          R"({"name":"p","resource":)" + patient + "}]}]}\n" + obs +
          R"("id":"c3","extension":[{"url":"urn:x","valueResource":)" + patient + "}]}\n" +
          R"({"resourceType":"Parameters","id":"par3","parameter":[)"
          R"({"name":"who","valueReference":{"reference":"Patient/np1"}},)"
          R"({"name":"n","valueHumanName":{"family":"Zyxwv"}},)"
          R"({"name":"i","valueIdentifier":{"system":"urn:mrn","value":"77777"}},)"
          R"({"name":"a","valueAddress":{"line":["1961-07-13 Lane"]}}]})"
          "\n");
  for (bool keyed : {false, true}) {
    std::string lake = dir / (keyed ? "keyed" : "plain");
    if (keyed) InitLake(lake);
    auto r = Ingest(lake, {dir / "in"}, IngestOptions{});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->counters.records_read, 8u) << keyed;
    EXPECT_EQ(r->counters.stored, keyed ? 2u : 8u) << keyed;
    EXPECT_EQ(r->counters.quarantined, keyed ? 6u : 0u) << keyed;
    Stored s = ReadAll(lake);
    EXPECT_TRUE(s.json.count("Parameters/par2")) << keyed;
    EXPECT_TRUE(s.json.count("Parameters/par3")) << keyed;
    for (const char* value : {"Zyxwv", "77777", "1961-07-13"}) {
      EXPECT_EQ(s.all.find(value) != std::string::npos, !keyed) << value << " " << keyed;
    }
    if (!keyed) continue;
    for (const auto& entry : testing::QuarantineOf(lake, 6)) {
      EXPECT_NE(entry.reason.find("is not stored in a lake with a key"), std::string::npos)
          << entry.reason;
      EXPECT_EQ(entry.reason.find("Zyxwv"), std::string::npos);
    }
  }
}

TEST(DeidentifyTest, LakeWithoutKeyStoresResourcesAsGiven) {
  TempDir dir;
  testing::WriteText(dir / "in/p.ndjson", std::string(kFhirPatient) + "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok());
  Stored s = ReadAll(dir / "lake");
  ASSERT_TRUE(s.json.count("Patient/src-17"));
  EXPECT_NE(s.all.find("Roeberts"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "lake/vault.sqlite"));
}

// Segment files of a keyed lake are encrypted (privacy/segment_cipher.h): their raw bytes hold
// neither resource content nor codes; a lake without a key stores them readable (the control).
TEST(DeidentifyTest, KeyedLakeEncryptsItsSegmentsAtRest) {
  TempDir dir;
  InitLake(dir / "keyed");
  testing::WriteText(dir / "in/p.ndjson",
                     std::string(kFhirPatient) + "\n" + kFhirObservation + "\n");
  ASSERT_TRUE(Ingest(dir / "keyed", {dir / "in"}, IngestOptions{}).ok());
  ASSERT_TRUE(Ingest(dir / "plain", {dir / "in"}, IngestOptions{}).ok());
  std::string keyed = RawBytes(dir / "keyed/segments", {});
  std::string plain_text = testing::ZstdFrameText(RawBytes(dir / "plain/segments", {}));
  std::string keyed_text = testing::ZstdFrameText(keyed);
  ASSERT_FALSE(keyed.empty());
  for (const char* needle : {"resourceType", "8867-4", "Observation", "final", "/min"}) {
    EXPECT_NE(plain_text.find(needle), std::string::npos) << needle;
    EXPECT_EQ(keyed_text.find(needle), std::string::npos) << needle;
    EXPECT_EQ(keyed.find(needle), std::string::npos) << needle;
  }
  Stored s = ReadAll(dir / "keyed");
  ASSERT_EQ(s.json.size(), 2u);
  for (const auto& [key, json] : s.json) {
    if (!key.starts_with("Patient/")) continue;
    EXPECT_EQ(keyed.find(key.substr(8)), std::string::npos) << "pseudonym in a segment file";
  }
  auto lake = Lake::Open(dir / "keyed");
  ASSERT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)->Verify()->empty());
  // Without the key the lake does not open at all.
  std::filesystem::remove(dir / "keyed/keys/lake.key");
  auto keyless = Lake::Open(dir / "keyed");
  ASSERT_FALSE(keyless.ok());
  EXPECT_EQ(keyless.status().code(), ErrorCode::kUnauthenticated);
}

TEST(DeidentifyTest, SyntheaHasNoIdentifierInSegmentsOrCatalog) {
  if (!testing::HaveSharedData("synthea-r4-dev-100")) {
    GTEST_SKIP() << "needs ../shared/data/synthea-r4-dev-100";
  }
  TempDir dir;
  InitLake(dir / "lake");
  auto r = Ingest(dir / "lake", {testing::SharedData("synthea-r4-dev-100")}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Stored s = ReadAll(dir / "lake");
  // Every Patient as stored: pseudonym id, year of birth, no identifier.
  size_t patients = 0;
  for (const auto& [k, v] : s.json) {
    if (!k.starts_with("Patient/")) continue;
    ++patients;
    EXPECT_TRUE(privacy::Pseudonymizer::LooksLikePseudonym(k.substr(8))) << k;
    EXPECT_EQ(v.find("\"identifier\""), std::string::npos);
    EXPECT_EQ(v.find("\"address\""), std::string::npos);
    EXPECT_EQ(v.find("\"name\""), std::string::npos);
    auto birth = v.find("\"birthDate\":\"");
    if (birth != std::string::npos) {
      EXPECT_EQ(v[birth + 17], '"') << v;
    }
  }
  EXPECT_EQ(patients, 100u);
  // Spot checks with the first bundle's patient (the full scan over every name and
  // identifier is the researcher test in tests/privacy).
  std::string raw = s.all + RawBytes(dir / "lake", {"vault.sqlite"});
  for (const char* needle :
       {"6c5d9ca9-54d7-42f5-bfae-a7c19cd217f2", "Lemke", "999-18-8203", "S99914534", "X41457228X",
        "555-532-1156", "167 Nikolaus Gate", "Lettie Boyle", "1965-01-13"}) {
    EXPECT_EQ(raw.find(needle), std::string::npos) << needle;
  }
}

}  // namespace
}  // namespace medlake::ingest
