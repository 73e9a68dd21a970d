// Roles end to end through the medlake binary (query/access_context.h): what a researcher, an
// ops user and an auditor get from every command that reads a lake, consent, and the audit
// trail; and the systematic test over the Synthea set: no name, identifier, address, telecom
// or exact birth date of the input in any researcher output.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "common/fhir_time.h"
#include "privacy/audit_log.h"
#include "privacy/key_store.h"
#include "privacy/pseudonymizer.h"
#include "privacy/vault.h"
#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::CliRun;

CliRun Medlake(const std::string& args, const std::string& env = "") {
  return testing::RunMedlake(args, env);
}

std::string TokenIn(const std::string& out) {
  size_t at = out.find("mlk_");
  return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

std::string AddUser(const std::string& lake, const std::string& name, const std::string& role) {
  CliRun r = Medlake("user add " + name + " --role " + role + " --lake " + lake);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return TokenIn(r.out);
}

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

std::string Views() {
  return std::string(MEDLAKE_SOURCE_DIR) + "/views/";
}

// A lake with a key holding `synth --patients 60 --seed 5` (its FHIR files), users aside; returns
// how many of the 60 opted out of research (the population's truth.json).
int IngestSynth60(const testing::TempDir& dir, const std::string& lake) {
  EXPECT_EQ(Medlake("synth --patients 60 --seed 5 --out " + dir / "data").exit_code, 0);
  EXPECT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  EXPECT_EQ(Medlake("ingest --lake " + lake + " " + dir / "data/fhir").exit_code, 0);
  auto truth = nlohmann::json::parse(testing::ReadText(dir / "data/truth.json"));
  int opted_out = 0;
  for (const auto& p : truth["patients"]) opted_out += p["research_opt_out"].get<bool>() ? 1 : 0;
  return opted_out;
}

// The pseudonym -> original Patient of every vault record of a Patient (admin side).
std::map<std::string, nlohmann::json> VaultPatients(const std::string& lake) {
  std::map<std::string, nlohmann::json> out;
  auto keys = KeyStore::Open(lake);
  EXPECT_TRUE(keys.ok());
  auto vault = Vault::Open(*keys);
  EXPECT_TRUE(vault.ok());
  EXPECT_TRUE((*vault)
                  ->ForEach([&](std::string_view pseudonym, std::string_view identity) {
                    auto j = nlohmann::json::parse(identity, nullptr, false);
                    if (j.is_object() && j.value("resourceType", "") == "Patient") {
                      out[std::string(pseudonym)] = j;
                    }
                    return Status::Ok();
                  })
                  .ok());
  return out;
}

// A lake with a key holding `medlake synth`'s first five patients.
void KeyedSynthLake(const testing::TempDir& dir, const std::string& lake) {
  ASSERT_EQ(Medlake("synth --patients 5 --seed 3 --formats fhir --out " + dir / "data").exit_code,
            0);
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "data/fhir").exit_code, 0);
}

class RolesCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(MEDLAKE_BINARY)) GTEST_SKIP() << "medlake binary not built";
  }
};

// verify --drop-damaged deletes data: in a lake with a key it is the admin's, and audited.
TEST_F(RolesCliTest, DroppingDamagedSegmentsIsTheAdminsAndAudited) {
  testing::TempDir dir;
  const std::string lake = dir / "lake";
  KeyedSynthLake(dir, lake);
  std::string researcher = AddUser(lake, "rita", "researcher");
  std::string victim;
  for (const auto& e : std::filesystem::recursive_directory_iterator(lake + "/segments")) {
    if (e.path().extension() == ".mls") victim = e.path().string();
  }
  ASSERT_FALSE(victim.empty());
  std::string bytes = testing::ReadText(victim);
  bytes[bytes.size() / 3] ^= 0x5a;
  testing::WriteText(victim, bytes);
  EXPECT_EQ(Medlake("verify --lake " + lake).exit_code, 6);
  CliRun refused = Medlake("verify --drop-damaged --lake " + lake + " --token " + researcher);
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_TRUE(std::filesystem::exists(victim));
  CliRun dropped = Medlake("verify --drop-damaged --lake " + lake);
  EXPECT_EQ(dropped.exit_code, 0) << dropped.out;
  EXPECT_NE(dropped.out.find("1 damaged segments dropped"), std::string::npos) << dropped.out;
  EXPECT_FALSE(std::filesystem::exists(victim));
  EXPECT_EQ(Medlake("verify --lake " + lake).exit_code, 0);
  CliRun again = Medlake("ingest --lake " + lake + " " + dir / "data/fhir");
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(again.out.find(" 0 stored"), std::string::npos) << again.out;
  CliRun audit = Medlake("audit list --json --lake " + lake);
  EXPECT_NE(audit.out.find(R"("action":"repair")"), std::string::npos) << audit.out;
  EXPECT_EQ(Medlake("audit verify --lake " + lake).exit_code, 0);
}

TEST_F(RolesCliTest, ResearcherOpsAuditorAndConsentOnSynth) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  const auto opted_out = static_cast<size_t>(IngestSynth60(dir, lake));
  ASSERT_GT(opted_out, 0u) << "the synthetic set should have opt-outs";
  std::string researcher = AddUser(lake, "rita", "researcher");
  std::string ops = AddUser(lake, "otto", "ops");
  std::string auditor = AddUser(lake, "aude", "auditor");

  std::string view = Views() + "patients.json";
  CliRun admin_rows = Medlake("view " + view + " --lake " + lake);
  ASSERT_EQ(admin_rows.exit_code, 0) << admin_rows.out;
  EXPECT_EQ(Lines(admin_rows.out), 61u);
  CliRun rows = Medlake("view " + view + " --lake " + lake + " --token " + researcher +
                        " --purpose study-42");
  ASSERT_EQ(rows.exit_code, 0) << rows.out;
  EXPECT_EQ(Lines(rows.out), 61u - opted_out) << "opted-out patients are left out";
  // Ages instead of years of birth: the birth_date column is empty for the researcher.
  EXPECT_FALSE(std::regex_search(rows.out, std::regex(",(19|20)[0-9][0-9],")));

  // The opted-out patients' pseudonyms appear nowhere in researcher exports.
  std::set<std::string> all_ids, seen_ids;
  std::istringstream admin_lines(admin_rows.out), researcher_lines(rows.out);
  std::string line;
  std::getline(admin_lines, line);
  while (std::getline(admin_lines, line)) all_ids.insert(line.substr(0, line.find(',')));
  std::getline(researcher_lines, line);
  while (std::getline(researcher_lines, line)) seen_ids.insert(line.substr(0, line.find(',')));
  CliRun exported =
      Medlake("export --lake " + lake + " --out " + dir / "rx" + " --token " + researcher);
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  std::string export_text;
  for (const auto& e : std::filesystem::directory_iterator(dir / "rx")) {
    export_text += testing::ReadText(e.path().string());
  }
  size_t hidden = 0;
  for (const auto& id : all_ids) {
    if (seen_ids.count(id)) continue;
    ++hidden;
    EXPECT_EQ(export_text.find(id), std::string::npos);
  }
  EXPECT_EQ(hidden, opted_out);

  // A research extract made k-anonymous over declared quasi-identifiers: every combination
  // of sex and age (generalized) is shared by at least 5 rows; out of reach, it is refused
  // and nothing is written.
  std::string ages = dir / "ages.json";
  testing::WriteText(
      ages,
      R"v({"resourceType": "ViewDefinition", "resource": "Patient", "status": "active",)v"
      R"v( "select": [{"column": [{"name": "id", "path": "getResourceKey()"}, {"name": "sex",)v"
      R"v( "path": "gender"}, {"name": "age", "type": "integer", "path": "birthDate.extension()v"
      R"v('https://medlake.dev/fhir/StructureDefinition/age-years').value"}]}]})v");
  CliRun plain_ages = Medlake("view " + ages + " --lake " + lake + " --token " + researcher);
  ASSERT_EQ(plain_ages.exit_code, 0) << plain_ages.out;
  EXPECT_TRUE(std::regex_search(plain_ages.out, std::regex(",(male|female),[0-9]+\n")));
  CliRun kanon = Medlake("view " + ages + " --lake " + lake + " --token " + researcher +
                         " --format csv --out " + dir / "k.csv" +
                         " --k-anonymity 5 --quasi sex=sex --quasi age=age");
  ASSERT_EQ(kanon.exit_code, 0) << kanon.out;
  EXPECT_NE(kanon.out.find("k-anonymity (k=5)"), std::string::npos) << kanon.out;
  std::map<std::string, int> combos;
  std::istringstream klines(testing::ReadText(dir / "k.csv"));
  std::getline(klines, line);
  size_t extract_rows = 0;
  while (std::getline(klines, line)) {
    ++combos[line.substr(line.find(',') + 1)];
    ++extract_rows;
  }
  EXPECT_EQ(extract_rows, 60u - opted_out);
  for (const auto& [combo, n] : combos) EXPECT_GE(n, 5) << combo;
  CliRun refused =
      Medlake("view " + ages + " --lake " + lake + " --token " + researcher + " --out " +
              dir / "k100.csv" + " --k-anonymity 100 --quasi sex=sex --quasi age=age");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.out.find("permission_denied"), std::string::npos) << refused.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "k100.csv"));

  // Dates are shifted per patient, whole days, never by zero.
  std::string vitals = Views() + "vital_signs.json";
  CliRun a = Medlake("view " + vitals + " --lake " + lake + " --format ndjson");
  CliRun r =
      Medlake("view " + vitals + " --lake " + lake + " --format ndjson --token " + researcher);
  ASSERT_EQ(a.exit_code, 0);
  ASSERT_EQ(r.exit_code, 0);
  std::map<std::string, std::string> admin_time;
  std::istringstream as(a.out), rs(r.out);
  while (std::getline(as, line)) {
    auto j = nlohmann::json::parse(line);
    admin_time[j["observation_id"].get<std::string>()] = j["time"].get<std::string>();
  }
  size_t compared = 0;
  while (std::getline(rs, line)) {
    auto j = nlohmann::json::parse(line);
    std::string t = j["time"].get<std::string>();
    std::string original = admin_time[j["observation_id"].get<std::string>()];
    ASSERT_EQ(t.size(), original.size());
    EXPECT_NE(t.substr(0, 10), original.substr(0, 10));
    EXPECT_EQ(t.substr(10), original.substr(10)) << "the time of day is kept";
    ++compared;
  }
  EXPECT_GT(compared, 100u);

  // An opt-out list file: one more patient leaves the research outputs.
  std::string listed = *seen_ids.begin();
  testing::WriteText(lake + "/consent_optout.txt", "# withdrawn 2026-11-28\n" + listed + "\n");
  CliRun fewer = Medlake("view " + view + " --lake " + lake + " --token " + researcher);
  EXPECT_EQ(Lines(fewer.out), Lines(rows.out) - 1);
  EXPECT_EQ(fewer.out.find(listed), std::string::npos);

  // ops: aggregates only, small counts suppressed; auditor: the audit log only.
  for (const std::string& cmd :
       {"view " + view + " --lake " + lake, "export --lake " + lake + " --out " + dir / "ox",
        "fhirpath id --lake " + lake, "get --lake " + lake + " Patient/" + listed,
        "score news2 --lake " + lake}) {
    CliRun denied = Medlake(cmd + " --token " + ops);
    EXPECT_NE(denied.exit_code, 0) << cmd;
    EXPECT_NE(denied.out.find("permission_denied"), std::string::npos) << cmd << ": " << denied.out;
  }
  std::string sql = " --lake " + lake + " --view p=" + view + " --token " + ops;
  CliRun agg = Medlake("sql" + sql +
                       " --format csv \"SELECT gender, count(*) AS n FROM p GROUP BY gender\"");
  ASSERT_EQ(agg.exit_code, 0) << agg.out;
  CliRun small =
      Medlake("sql" + sql + " --format csv \"SELECT count(*) AS n FROM p WHERE deceased\"");
  ASSERT_EQ(small.exit_code, 0) << small.out;
  EXPECT_NE(small.out.find("<10"), std::string::npos) << small.out;
  CliRun rowsql = Medlake("sql" + sql + " \"SELECT patient_id FROM p\"");
  EXPECT_NE(rowsql.exit_code, 0);
  EXPECT_NE(rowsql.out.find("permission_denied"), std::string::npos) << rowsql.out;
  // The threshold is a lake setting (admin only, audited, MACed).
  EXPECT_NE(
      Medlake("policy set small-count-threshold 1000 --lake " + lake + " --token " + ops).exit_code,
      0);
  EXPECT_NE(Medlake("policy set small-count-threshold 1 --lake " + lake).exit_code, 0);
  ASSERT_EQ(Medlake("policy set small-count-threshold 1000 --lake " + lake).exit_code, 0);
  CliRun high = Medlake("sql" + sql +
                        " --format csv \"SELECT gender, count(*) AS n FROM p GROUP BY gender\"");
  ASSERT_EQ(high.exit_code, 0) << high.out;
  EXPECT_NE(high.out.find("male,<1000"), std::string::npos) << high.out;
  EXPECT_EQ(agg.out.find("<1000"), std::string::npos) << agg.out;
  ASSERT_EQ(Medlake("policy set small-count-threshold 10 --lake " + lake).exit_code, 0);

  // Rows without any id are still rows: ops is refused them, with the reason.
  CliRun listing = Medlake("sql" + sql + " \"SELECT gender, deceased FROM p\"");
  EXPECT_NE(listing.exit_code, 0);
  EXPECT_NE(listing.out.find("lists rows"), std::string::npos) << listing.out;
  EXPECT_NE(Medlake("view " + view + " --lake " + lake + " --token " + auditor).exit_code, 0);
  EXPECT_EQ(Medlake("audit verify --lake " + lake + " --token " + auditor).exit_code, 0);

  // Every read is in the audit log with who, role, purpose and patient count.
  CliRun audit = Medlake("audit list --json --lake " + lake);
  ASSERT_EQ(audit.exit_code, 0) << audit.out;
  EXPECT_NE(audit.out.find("study-42"), std::string::npos);
  EXPECT_NE(audit.out.find("\"patients\":" + std::to_string(60 - opted_out)), std::string::npos)
      << audit.out;
  EXPECT_NE(audit.out.find("\"action\":\"denied\""), std::string::npos);
  EXPECT_NE(audit.out.find("\"action\":\"export\""), std::string::npos);
}

// Cohorts: counts for every role that sees aggregates (consent applied, small counts
// suppressed for researcher and ops), the member list for clinician and admin only.
TEST_F(RolesCliTest, CohortCountsForResearchersMembersForClinicians) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  const int opted_out = IngestSynth60(dir, lake);
  std::string researcher = AddUser(lake, "rita", "researcher");
  std::string ops = AddUser(lake, "otto", "ops");
  std::string clinician = AddUser(lake, "cleo", "clinician");

  std::string cohort = dir / "cohort.json";
  testing::WriteText(cohort, R"({"medlake_cohort": 1, "name": "women, then the deceased",
      "index": {"date": "2030-01-01"},
      "inclusion": [{"name": "female", "criterion": {"sex": ["female"]}},
                    {"name": "deceased", "criterion": {"deceased": true}}]})");
  auto run = [&](const std::string& token, const std::string& extra) {
    return Medlake("cohort " + cohort + " --lake " + lake + " --json" + extra +
                   (token.empty() ? "" : " --token " + token));
  };
  CliRun admin = run("", "");
  ASSERT_EQ(admin.exit_code, 0) << admin.out;
  auto a = nlohmann::json::parse(admin.out);
  EXPECT_EQ(a["attrition"][0]["remaining"], 60);
  CliRun research = run(researcher, "");
  ASSERT_EQ(research.exit_code, 0) << research.out;
  auto r = nlohmann::json::parse(research.out);
  EXPECT_EQ(r["attrition"][0]["remaining"], 60 - opted_out) << "opted-out patients are not counted";
  // Few of 60 synthetic patients have died: shown as "<10", never as the number.
  uint64_t dead = a["count"].get<uint64_t>();
  ASSERT_GT(dead, 0u);
  ASSERT_LT(dead, 10u);
  EXPECT_EQ(r["count"], "<10");
  EXPECT_EQ(nlohmann::json::parse(run(ops, "").out)["count"], "<10");
  // A cohort is research: ops gets consent applied as researchers do (it counted everyone).
  EXPECT_EQ(nlohmann::json::parse(run(ops, "").out)["attrition"][0]["remaining"], 60 - opted_out);
  // Members: refused to researcher and ops, given to clinician.
  for (const std::string& token : {researcher, ops}) {
    CliRun denied = run(token, " --list");
    EXPECT_NE(denied.exit_code, 0);
    EXPECT_NE(denied.out.find("permission_denied"), std::string::npos) << denied.out;
  }
  CliRun listed = run(clinician, " --list");
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_EQ(nlohmann::json::parse(listed.out)["members"].size(), dead);
  CliRun audit = Medlake("audit list --json --lake " + lake);
  EXPECT_NE(audit.out.find("cohort sha256:"), std::string::npos) << audit.out;
}

// sql as ops is computed from what a researcher sees (docs/privacy.md: ops as researcher for
// aggregates): consented patients only, shifted dates, ages. It read the stored data (real
// dates, opted-out patients counted) while researchers got shifted dates and consent.
TEST_F(RolesCliTest, OpsSqlSeesConsentedPatientsAndShiftedDates) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  const int opted_out = IngestSynth60(dir, lake);
  ASSERT_GT(opted_out, 0);
  std::string researcher = AddUser(lake, "rita", "researcher");
  std::string ops = AddUser(lake, "otto", "ops");

  const std::string query =
      " --format json \"SELECT count(*) AS n, count(DISTINCT patient_id) AS patients, "
      "min(start) AS first, max(start) AS last FROM e\"";
  auto run = [&](const std::string& token) {
    CliRun r = Medlake("sql --lake " + lake + " --view e=" + Views() + "encounters.json" + query +
                       (token.empty() ? "" : " --token " + token));
    EXPECT_EQ(r.exit_code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')), nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.out;
    return j;
  };
  nlohmann::json admin = run(""), as_ops = run(ops), as_researcher = run(researcher);
  EXPECT_LT(as_ops["patients"], admin["patients"]) << "opted-out patients left out";
  EXPECT_EQ(as_ops, as_researcher) << "the same shifted dates, the same patients";
  EXPECT_NE(as_ops["first"], admin["first"]) << "dates shifted";
  EXPECT_NE(as_ops["last"], admin["last"]) << "dates shifted";

  // Every opted-out patient is left out; birth dates are ages for ops too (the patients view's
  // birth_date column is empty).
  CliRun patients =
      Medlake("sql --lake " + lake + " --view p=" + Views() + "patients.json --token " + ops +
              " --format csv \"SELECT count(*) AS n, count(birth_date) AS born FROM p\"");
  ASSERT_EQ(patients.exit_code, 0) << patients.out;
  EXPECT_EQ(patients.out, "n,born\n" + std::to_string(60 - opted_out) + ",0\n");
}

// synth's PID-3 names its registers by OID (CX.4 HOSP1&2.999.1.1&ISO), which the HL7 v2
// mapping turns into the FHIR Patient's identifier systems: no aliases are needed.
TEST_F(RolesCliTest, SynthFhirAndHl7v2MeetUnderOnePseudonym) {
  testing::TempDir dir;
  ASSERT_EQ(Medlake("synth --patients 30 --seed 9 --out " + dir / "data").exit_code, 0);
  std::string inputs = " " + dir / "data/fhir" + " " + dir / "data/hl7v2";
  ASSERT_EQ(Medlake("init --lake " + dir / "lake").exit_code, 0);
  CliRun ingest = Medlake("ingest --lake " + dir / "lake" + inputs);
  ASSERT_EQ(ingest.exit_code, 0) << ingest.out;
  EXPECT_NE(ingest.out.find(" 0 quarantined"), std::string::npos) << ingest.out;
  CliRun status = Medlake("status --json --lake " + dir / "lake");
  EXPECT_NE(status.out.find("\"patients\": 30,"), std::string::npos) << status.out;
}

// A source path may name the patient (Synthea names files after them): under disclosure
// control the quarantine list shows a keyed hash of it instead, the same for the entries of
// one file; an admin sees the path.
TEST_F(RolesCliTest, QuarantineHidesSourcePathsFromRolesUnderDisclosureControl) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  std::string researcher = AddUser(lake, "rita", "researcher");
  std::string ops = AddUser(lake, "otto", "ops");
  testing::WriteText(dir / "in/Zyxwv_Quobble_77.ndjson", "{bad\n{bad again\n");
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  CliRun admin = Medlake("quarantine --lake " + lake);
  ASSERT_EQ(admin.exit_code, 0) << admin.out;
  EXPECT_NE(admin.out.find("Zyxwv_Quobble_77.ndjson:1"), std::string::npos) << admin.out;
  for (const std::string& token : {researcher, ops}) {
    CliRun listed = Medlake("quarantine --lake " + lake + " --token " + token);
    ASSERT_EQ(listed.exit_code, 0) << listed.out;
    EXPECT_EQ(listed.out.find("Zyxwv"), std::string::npos) << listed.out;
    const size_t first = listed.out.find("file ");
    ASSERT_NE(first, std::string::npos) << listed.out;
    const std::string name = listed.out.substr(first, listed.out.find(':', first) - first);
    EXPECT_NE(listed.out.find(name + ":2"), std::string::npos) << listed.out;
  }
}

TEST_F(RolesCliTest, ExportPatientReidentifiesForClinicianOnly) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  std::string clinician = AddUser(lake, "cleo", "clinician");
  std::string researcher = AddUser(lake, "rita", "researcher");
  testing::WriteText(
      dir / "in/p.ndjson",
      R"({"resourceType":"Patient","id":"src-9","name":[{"family":"Quobbleston","given":["Ada"]}],)"
      R"("birthDate":"1950-02-03","identifier":[{"system":"http://hosp.example/mrn","value":"M-77"}]})"
      "\n");
  testing::WriteText(
      dir / "in/o.ndjson",
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
      R"("subject":{"reference":"Patient/src-9"},"note":[{"text":"talked about her garden"}],)"
      // A reference by identifier alone, emptied when stored (and dropped: no empty object).
      R"("device":{"identifier":{"system":"urn:dev","value":"D-42"}},)"
      // An array item emptied stays in its place, masked (data-absent-reason).
      R"("performer":[{"identifier":{"value":"X-91"}},{"reference":"Practitioner/d1"}],)"
      // An extension that loses its value keeps its url, masked (R4 ext-1).
      R"("extension":[{"url":"urn:ext:mrn","valueIdentifier":{"value":"X-77"}}]})"
      "\n"
      // A contained person and a note below the top level: each goes back where it was.
      R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"y"},)"
      R"("contained":[{"resourceType":"Patient","id":"twin","name":[{"family":"Twinsworth"}],)"
      R"("birthDate":"1950-02-03"}],"subject":{"reference":"Patient/src-9"},)"
      R"("component":[{"code":{"text":"c"},"valueString":"v"},)"
      R"({"code":{"text":"d"},"note":[{"text":"nested remark"}]}]})"
      "\n");
  testing::WriteText(
      dir / "in/r.ndjson",
      R"({"resourceType":"RelatedPerson","id":"mum","patient":{"reference":"Patient/src-9"},)"
      R"("name":[{"family":"Quobbleston"}],"birthDate":"1921-11-30"})"
      "\n");
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  // Stored, a person's birth date keeps only its year, whatever the resource holding it.
  CliRun stored = Medlake("export --lake " + lake + " --out " + dir / "export");
  ASSERT_EQ(stored.exit_code, 0) << stored.out;
  for (const char* file : {"RelatedPerson.ndjson", "Observation.ndjson"}) {
    std::string text = testing::ReadText(dir / ("export/" + std::string(file)));
    EXPECT_EQ(text.find("1921-11-30"), std::string::npos) << text;
    EXPECT_EQ(text.find("1950-02-03"), std::string::npos) << text;
    EXPECT_EQ(text.find("Twinsworth"), std::string::npos) << text;
    EXPECT_EQ(text.find("D-42"), std::string::npos) << text;
    EXPECT_EQ(text.find("{}"), std::string::npos) << text;
    EXPECT_EQ(text.find("X-91"), std::string::npos) << text;
    EXPECT_EQ(text.find("X-77"), std::string::npos) << text;
    if (std::string(file) == "Observation.ndjson") {
      EXPECT_NE(text.find(R"({"url":"urn:ext:mrn","extension":[{"url":)"), std::string::npos)
          << text;
    }
  }

  // A clinician may name a Patient by its source id; a researcher may not map it.
  CliRun by_source = Medlake("get --lake " + lake + " Patient/src-9 --token " + clinician);
  EXPECT_EQ(by_source.exit_code, 0) << by_source.out;
  EXPECT_NE(by_source.out.find("\"birthDate\":\"1950\""), std::string::npos) << by_source.out;
  EXPECT_NE(Medlake("get --lake " + lake + " Patient/src-9 --token " + researcher).exit_code, 0);

  CliRun denied = Medlake("export-patient src-9 --lake " + lake + " --token " + researcher);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.out.find("permission_denied"), std::string::npos) << denied.out;

  CliRun bundle = Medlake("export-patient src-9 --lake " + lake + " --token " + clinician +
                          " --purpose access-request-12");
  ASSERT_EQ(bundle.exit_code, 0) << bundle.out;
  auto j = nlohmann::json::parse(bundle.out);
  ASSERT_EQ(j["entry"].size(), 4u) << bundle.out;
  EXPECT_EQ(j["entry"][0]["resource"]["name"][0]["family"], "Quobbleston");
  EXPECT_EQ(j["entry"][0]["resource"]["birthDate"], "1950-02-03");
  nlohmann::json o1, o2, mum;
  for (const auto& e : j["entry"]) {
    const nlohmann::json& r = e["resource"];
    if (r.contains("note")) o1 = r;
    if (r.contains("contained")) o2 = r;
    if (r["resourceType"] == "RelatedPerson") mum = r;
  }
  EXPECT_EQ(o1["subject"]["reference"], "Patient/src-9");
  EXPECT_EQ(o1["note"][0]["text"], "talked about her garden");
  EXPECT_EQ(o1["device"]["identifier"]["value"], "D-42") << o1.dump();
  EXPECT_EQ(o1["performer"][0], nlohmann::json::parse(R"({"identifier":{"value":"X-91"}})"))
      << o1.dump();
  EXPECT_EQ(o1["performer"][1]["reference"], "Practitioner/d1") << o1.dump();
  EXPECT_EQ(o1["extension"][0],
            nlohmann::json::parse(R"({"url":"urn:ext:mrn","valueIdentifier":{"value":"X-77"}})"))
      << o1.dump();
  // Restored in place: the contained Patient's name and birth date in it (they had been put
  // on the Observation), the component's note in its component.
  EXPECT_FALSE(o2.contains("name")) << o2.dump();
  EXPECT_FALSE(o2.contains("extension")) << o2.dump();
  EXPECT_EQ(o2["contained"][0]["name"][0]["family"], "Twinsworth") << o2.dump();
  EXPECT_EQ(o2["contained"][0]["birthDate"], "1950-02-03") << o2.dump();
  EXPECT_EQ(o2["component"][1]["note"][0]["text"], "nested remark") << o2.dump();
  EXPECT_EQ(mum["birthDate"], "1921-11-30") << mum.dump();
  EXPECT_EQ(mum["name"][0]["family"], "Quobbleston") << mum.dump();

  CliRun audit = Medlake("audit list --json --lake " + lake);
  EXPECT_NE(audit.out.find("\"action\":\"export-patient\""), std::string::npos);
  EXPECT_NE(audit.out.find("access-request-12"), std::string::npos);
  EXPECT_EQ(audit.out.find("src-9"), std::string::npos) << "the audit names no patient";
  EXPECT_NE(Medlake("export-patient nobody --lake " + lake).exit_code, 0);
}

// Resources outside the patient compartment can be about patients: a Task `for` one, a Device
// implanted in one, an Appointment of two. In a keyed lake their names, identifiers and free
// text are removed like a compartment resource's (they were stored as given, to every role);
// one about a single patient is theirs: in their export, and gone with their erasure.
TEST_F(RolesCliTest, SharedResourcesAboutPatientsAreDeidentifiedAndErasedWithThem) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  testing::WriteText(
      dir / "in/a.ndjson",
      R"({"resourceType":"Patient","id":"zp1","name":[{"family":"Zyxwvut"}]})"
      "\n"
      R"({"resourceType":"Patient","id":"zp2"})"
      "\n"
      R"({"resourceType":"Task","id":"t1","status":"requested","intent":"order",)"
      R"("for":{"reference":"Patient/zp1","display":"Zyxwvut"},)"
      R"("description":"Call Zyxwvut about MRNZYX001",)"
      R"("identifier":[{"value":"TASKZYX001"}],"note":[{"text":"Zyxwvut prefers mornings"}]})"
      "\n"
      R"({"resourceType":"Device","id":"d1","patient":{"reference":"Patient/zp1"},)"
      R"("identifier":[{"value":"DEVZYX001"}],"serialNumber":"DEVZYX001"})"
      "\n"
      R"({"resourceType":"Appointment","id":"ap1","status":"booked","comment":"Zyxwvut twins",)"
      R"("participant":[{"actor":{"reference":"Patient/zp1"},"status":"accepted"},)"
      R"({"actor":{"reference":"Patient/zp2"},"status":"accepted"}]})"
      "\n");
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  ASSERT_EQ(Medlake("export --lake " + lake + " --out " + dir / "export").exit_code, 0);
  std::string exported;
  for (const auto& e : std::filesystem::directory_iterator(dir / "export")) {
    exported += testing::ReadText(e.path());
  }
  for (const char* needle : {"Zyxwvut", "TASKZYX001", "MRNZYX001", "DEVZYX001"}) {
    EXPECT_EQ(exported.find(needle), std::string::npos) << needle << " in " << exported;
  }
  EXPECT_EQ(testing::ReadText(lake + "/catalog.sqlite").find("TASKZYX001"), std::string::npos);

  CliRun theirs = Medlake("export-patient zp1 --lake " + lake);
  ASSERT_EQ(theirs.exit_code, 0) << theirs.out;
  EXPECT_NE(theirs.out.find("Call Zyxwvut about MRNZYX001"), std::string::npos) << theirs.out;
  EXPECT_NE(theirs.out.find(R"("resourceType":"Device")"), std::string::npos) << theirs.out;

  // A researcher sees the Task and the Device as zp1's (shifted, under consent), and not the
  // Appointment of two, which no one date shift fits (it was shown as it is stored).
  std::string researcher = AddUser(lake, "rita", "researcher");
  CliRun research =
      Medlake("export --lake " + lake + " --token " + researcher + " --out " + dir / "research");
  ASSERT_EQ(research.exit_code, 0) << research.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "research/Task.ndjson"));
  EXPECT_FALSE(std::filesystem::exists(dir / "research/Appointment.ndjson")) << research.out;

  ASSERT_EQ(Medlake("erase --patient zp1 --lake " + lake).exit_code, 0);
  CliRun task = Medlake("get --lake " + lake + " Task/t1");
  EXPECT_NE(task.exit_code, 0) << "erased with its patient: " << task.out;
  EXPECT_NE(Medlake("get --lake " + lake + " Device/d1").exit_code, 0);
  // The Appointment of both stays, and its comment is in the vault under the first patient.
  CliRun second = Medlake("export-patient zp2 --lake " + lake);
  ASSERT_EQ(second.exit_code, 0) << second.out;
  EXPECT_EQ(second.out.find("Zyxwvut"), std::string::npos) << second.out;
  ASSERT_EQ(Medlake("export --lake " + lake + " --out " + dir / "after").exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(dir / "after/Appointment.ndjson"));
  EXPECT_FALSE(std::filesystem::exists(dir / "after/Task.ndjson"));
}

// A patient known from HL7 v2 alone has no source id the requester could know: an access or
// erasure request names them by an identifier they present, SYSTEM|VALUE, under any alias of
// the system (identifier_systems.json).
TEST_F(RolesCliTest, APatientIsNamedByAnIdentifierForAccessAndErasure) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  testing::WriteText(lake + "/identifier_systems.json",
                     R"({"aliases":{"urn:medlake:hl7v2:authority:HOSP1":"urn:oid:2.999.1.1"}})");
  testing::WriteText(dir / "in/feed.hl7",
                     "MSH|^~\\&|LAB|HOSP1|LAKE|HOSP1|202401011300||ORU^R01|CTRL9|P|2.5\r"
                     "PID|1||MRN-4711^^^HOSP1^MR||Roeberts^Janelle||19610723|F\r"
                     "OBR|1||LAB1|24323-8^Comprehensive metabolic panel^LN|||202401011230\r"
                     "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F|||202401011230\r");
  CliRun ingest = Medlake("ingest --lake " + lake + " " + dir / "in");
  ASSERT_EQ(ingest.exit_code, 0) << ingest.out;
  for (const char* named :
       {"'urn:medlake:hl7v2:authority:HOSP1|MRN-4711'", "'urn:oid:2.999.1.1|MRN-4711'"}) {
    CliRun bundle = Medlake(std::string("export-patient ") + named + " --lake " + lake);
    ASSERT_EQ(bundle.exit_code, 0) << named << ": " << bundle.out;
    EXPECT_NE(bundle.out.find("Roeberts"), std::string::npos) << bundle.out;
  }
  EXPECT_NE(Medlake("export-patient 'urn:oid:2.999.1.1|MRN-0000' --lake " + lake).exit_code, 0);
  CliRun erased = Medlake("erase --patient 'urn:oid:2.999.1.1|MRN-4711' --lake " + lake);
  ASSERT_EQ(erased.exit_code, 0) << erased.out;
  EXPECT_NE(Medlake("export-patient 'urn:oid:2.999.1.1|MRN-4711' --lake " + lake).exit_code, 0);
}

// A resource whose later version names another patient keeps, in the vault, what was removed
// from its first version under the first patient's pseudonym: erasing that patient erases it
// too (the keys came from the patient's live rows only, and the record stayed for good).
TEST_F(RolesCliTest, ErasureReachesVersionsSinceGivenToAnotherPatient) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  auto obs = [](const std::string& patient, const std::string& updated) {
    return R"({"resourceType":"Observation","id":"zo9","meta":{"lastUpdated":")" + updated +
           R"("},"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/)" + patient +
           R"(","display":"Zyxwvut Alpha"},"note":[{"text":"Zyxwvut Alpha"}]})" + "\n";
  };
  testing::WriteText(dir / "r1/a.ndjson", R"({"resourceType":"Patient","id":"zp1"})"
                                          "\n"
                                          R"({"resourceType":"Patient","id":"zp2"})"
                                          "\n" +
                                              obs("zp1", "2024-01-01T00:00:00Z"));
  testing::WriteText(dir / "r2/b.ndjson", obs("zp2", "2024-02-01T00:00:00Z"));
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "r1").exit_code, 0);
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "r2").exit_code, 0);
  auto vault_records = [&] {
    auto keys = KeyStore::Open(lake);
    EXPECT_TRUE(keys.ok());
    auto vault = Vault::Open(*keys);
    EXPECT_TRUE(vault.ok());
    size_t n = 0;
    EXPECT_TRUE((*vault)
                    ->ForEach([&](std::string_view, std::string_view) {
                      ++n;
                      return Status::Ok();
                    })
                    .ok());
    return n;
  };
  EXPECT_EQ(vault_records(), 4u);  // two identities, two versions' removed elements
  ASSERT_EQ(Medlake("erase --patient zp1 --lake " + lake).exit_code, 0);
  EXPECT_EQ(vault_records(), 2u);
  ASSERT_EQ(Medlake("erase --patient zp2 --lake " + lake).exit_code, 0);
  EXPECT_EQ(vault_records(), 0u);
}

// A Consent may name its patient by identifier only (a logical reference): the patient it
// names is kept as its reference, so their research opt-out holds (the identifier was
// removed and the Consent belonged to no one).
TEST_F(RolesCliTest, AConsentNamingItsPatientByIdentifierOptsThemOut) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  std::string researcher = AddUser(lake, "rita", "researcher");
  testing::WriteText(dir / "in/Patient.ndjson",
                     R"({"resourceType":"Patient","id":"zp1","gender":"female",)"
                     R"("identifier":[{"system":"http://hosp.example/mrn","value":"MRNZYX001"}]})"
                     "\n"
                     R"({"resourceType":"Patient","id":"zp2","gender":"male"})"
                     "\n");
  testing::WriteText(
      dir / "in/Consent.ndjson",
      R"({"resourceType":"Consent","id":"c1","status":"active","scope":{"coding":[{"code":"research"}]},)"
      R"("category":[{"text":"research"}],"patient":{"type":"Patient","identifier":)"
      R"({"system":"http://hosp.example/mrn","value":"MRNZYX001"}},"provision":{"type":"deny"}})"
      "\n");
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  CliRun view =
      Medlake("view " + Views() + "patients.json --lake " + lake + " --token " + researcher);
  ASSERT_EQ(view.exit_code, 0) << view.out;
  EXPECT_EQ(Lines(view.out), 2u) << "the header and zp2 only: " << view.out;
  EXPECT_EQ(view.out.find("female"), std::string::npos) << view.out;
}

// The review of the change above: a shared resource about no patient keeps its free text (a
// Location's description was dropped, vault and all); one about a patient has each removed
// element once (twice, so export-patient restored it and added it as an extension); and a
// version replaced within the same run leaves no vault record that no erasure would reach.
TEST_F(RolesCliTest, SharedTextIsKeptAndReplacedVersionsLeaveNoVaultRecord) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  testing::WriteText(
      dir / "in/a.ndjson",
      R"({"resourceType":"Patient","id":"pA"})"
      "\n"
      R"({"resourceType":"Patient","id":"pB"})"
      "\n"
      R"({"resourceType":"Location","id":"l1","name":"Ward 3","description":"East wing"})"
      "\n"
      R"({"resourceType":"Task","id":"t1","status":"requested","intent":"order",)"
      R"("for":{"reference":"Patient/pA"},"description":"Call back"})"
      "\n"
      R"({"resourceType":"Observation","id":"o3","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},)"
      R"("status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pA"},)"
      R"("note":[{"text":"about Alice Zebra"}]})"
      "\n"
      R"({"resourceType":"Observation","id":"o3","meta":{"lastUpdated":"2024-02-01T00:00:00Z"},)"
      R"("status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pB"}})"
      "\n");
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  CliRun location = Medlake("get --lake " + lake + " Location/l1");
  EXPECT_NE(location.out.find(R"("description":"East wing")"), std::string::npos) << location.out;
  CliRun theirs = Medlake("export-patient pA --lake " + lake);
  ASSERT_EQ(theirs.exit_code, 0) << theirs.out;
  EXPECT_NE(theirs.out.find("Call back"), std::string::npos) << theirs.out;
  EXPECT_EQ(theirs.out.find("removed-element"), std::string::npos) << theirs.out;
  EXPECT_EQ(theirs.out.find("Alice Zebra"), std::string::npos) << "o3 is pB's now";
  ASSERT_EQ(Medlake("erase --patient pA --lake " + lake).exit_code, 0);
  auto keys = KeyStore::Open(lake);
  ASSERT_TRUE(keys.ok());
  auto vault = Vault::Open(*keys);
  ASSERT_TRUE(vault.ok());
  EXPECT_TRUE((*vault)
                  ->ForEach([&](std::string_view, std::string_view record) {
                    EXPECT_EQ(record.find("Alice Zebra"), std::string_view::npos) << record;
                    return Status::Ok();
                  })
                  .ok());
}

// A vault record written before removed elements kept their paths names a nested element by
// its name alone ("display" of a reference): export-patient puts it in a removed-element
// extension, not at the resource's top level where it made the resource invalid.
TEST_F(RolesCliTest, ALegacyRecordOfANestedElementGoesInAnExtension) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  testing::WriteText(dir / "in/a.ndjson",
                     R"({"resourceType":"Patient","id":"pA"})"
                     "\n"
                     R"({"resourceType":"Observation","id":"o1","status":"final",)"
                     R"("code":{"text":"x"},"subject":{"reference":"Patient/pA"}})"
                     "\n");
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  auto keys = KeyStore::Open(lake);
  ASSERT_TRUE(keys.ok());
  auto patients = VaultPatients(lake);
  ASSERT_EQ(patients.size(), 1u);
  const std::string pseudonym = patients.begin()->first;
  const std::string key =
      pseudonym + "/Observation/" + Pseudonymizer(*keys).ForSourceId("Observation", "o1");
  {
    auto vault = Vault::Open(*keys);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Put(key, R"([{"display":"Alice Zebra"},{"note":[{"text":"n"}]}])").ok());
  }
  CliRun bundle = Medlake("export-patient pA --lake " + lake);
  ASSERT_EQ(bundle.exit_code, 0) << bundle.out;
  auto j = nlohmann::json::parse(bundle.out);
  const nlohmann::json& obs = j["entry"][1]["resource"];
  EXPECT_FALSE(obs.contains("display")) << obs.dump();
  EXPECT_EQ(obs["note"][0]["text"], "n") << obs.dump();
  EXPECT_NE(obs.dump().find("removed-element"), std::string::npos) << obs.dump();
}

// With its audit log emptied, a lake stores nothing (ingest committed its run, then failed to
// audit it); and an init that cannot begin the log leaves no key behind, so it can run again
// (the lake was keyed, with a log that no command could continue).
TEST_F(RolesCliTest, NothingIsStoredWithoutTheAuditLogAndAFailedInitCanRunAgain) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  testing::WriteText(dir / "in/a.ndjson", R"({"resourceType":"Location","id":"l1"})"
                                          "\n");
  std::filesystem::remove(privacy::AuditLog::PathFor(lake));
  CliRun refused = Medlake("ingest --lake " + lake + " " + dir / "in");
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_FALSE(std::filesystem::exists(lake + "/catalog.sqlite") &&
               testing::ReadText(lake + "/catalog.sqlite").find("Location") != std::string::npos)
      << "the run was stored without an audit entry";

  std::string other = dir / "other";
  std::filesystem::create_directories(other + "/audit.sqlite");  // the log cannot be created
  EXPECT_NE(Medlake("init --lake " + other).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(other + "/keys"));
  std::filesystem::remove_all(other + "/audit.sqlite");
  CliRun again = Medlake("init --lake " + other);
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(Medlake("audit verify --lake " + other).exit_code, 0);
}

// A lake init-ed before its first ingest is an empty lake to every reader, as a plain lake
// whose runs stored nothing (they said "holds no data yet", exit 4).
TEST_F(RolesCliTest, AnInitialisedLakeIsEmptyBeforeItsFirstIngest) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  CliRun status = Medlake("status --json --lake " + lake);
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_NE(status.out.find("\"patients\": 0,"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"runs\": 0,"), std::string::npos) << status.out;
  CliRun exported = Medlake("export --lake " + lake + " --out " + dir / "out");
  EXPECT_EQ(exported.exit_code, 0) << exported.out;
  EXPECT_NE(exported.out.find("exported 0 resources"), std::string::npos) << exported.out;
  EXPECT_EQ(Medlake("get --lake " + lake + " Patient/p1").exit_code, 4);
  EXPECT_EQ(Medlake("verify --lake " + lake).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(lake + "/catalog.sqlite")) << "a reader wrote the lake";
  // The first ingest still finds the lake as init left it.
  testing::WriteText(dir / "in/p.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                          "\n");
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  EXPECT_NE(Medlake("status --json --lake " + lake).out.find("\"patients\": 1,"),
            std::string::npos);
}

// init makes a lake where ingest would: not in a folder of other files (a mistyped --lake
// naming a home folder became a keyed lake there), nor over a file (an audit).
TEST_F(RolesCliTest, InitRefusesAFolderOfOtherFilesAndAFile) {
  testing::TempDir dir;
  testing::WriteText(dir / "home/notes.txt", "x");
  CliRun home = Medlake("init --lake " + dir / "home");
  EXPECT_EQ(home.exit_code, 2) << home.out;
  EXPECT_NE(home.out.find("holds other files and no lake"), std::string::npos) << home.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "home/keys"));
  testing::WriteText(dir / "afile", "x");
  CliRun file = Medlake("init --lake " + dir / "afile");
  EXPECT_EQ(file.exit_code, 2) << file.out;
  EXPECT_NE(file.out.find("is not a folder"), std::string::npos) << file.out;
  std::filesystem::create_directories(dir / "empty");
  EXPECT_EQ(Medlake("init --lake " + dir / "empty").exit_code, 0);
}

// Researcher outputs hold every patient who has not opted out, whatever their ordinal: a
// patient known only from references takes an ordinal without a Patient resource, so the
// ordinals outnumber the Patients (researchers lost the patients past that count).
TEST_F(RolesCliTest, ResearchersSeePatientsWhoseOrdinalsOutnumberThePatients) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  std::string researcher = AddUser(lake, "rita", "researcher");
  auto obs = [](const std::string& id, const std::string& patient) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/)" + patient +
           R"("}})" + "\n";
  };
  testing::WriteText(dir / "r1/o.ndjson", obs("o1", "ghost"));
  testing::WriteText(dir / "r2/p.ndjson", R"({"resourceType":"Patient","id":"real"})"
                                          "\n");
  testing::WriteText(dir / "r2/o.ndjson", obs("o2", "real"));
  ASSERT_EQ(Medlake("ingest --jobs 1 --lake " + lake + " " + dir / "r1").exit_code, 0);
  ASSERT_EQ(Medlake("ingest --jobs 1 --lake " + lake + " " + dir / "r2").exit_code, 0);
  CliRun out =
      Medlake("export --lake " + lake + " --out " + dir / "er", "MEDLAKE_TOKEN=" + researcher);
  ASSERT_EQ(out.exit_code, 0) << out.out;
  EXPECT_EQ(Lines(testing::ReadText(dir / "er/Observation.ndjson")), 2u);
  EXPECT_EQ(Lines(testing::ReadText(dir / "er/Patient.ndjson")), 1u);
}

std::string AllBytes(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) all += testing::ReadText(e.path().string());
  }
  return all;
}

TEST_F(RolesCliTest, EraseLeavesNoByteOfThePatient) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  std::string researcher = AddUser(lake, "rita", "researcher");
  std::string ndjson;
  for (const char* id : {"src-9", "src-10"}) {
    std::string family = std::string(id) == "src-9" ? "Quobbleston" : "Keepington";
    testing::WriteText(
        dir / ("in/" + std::string(id) + ".ndjson"),
        std::string(R"({"resourceType":"Patient","id":")") + id + R"(","name":[{"family":")" +
            family + R"("}],"birthDate":"1950-02-03","identifier":[{"system":"http://h.example",)" +
            R"("value":"M-)" + id + R"("}]})" + "\n" + R"({"resourceType":"Observation","id":"o-)" +
            id + R"(","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/)" + id +
            R"("},"note":[{"text":"garden talk )" + id + R"("}]})" + "\n");
  }
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  std::string pseudonym, kept;
  for (const auto& [p, patient] : VaultPatients(lake)) {
    (patient["id"] == "src-9" ? pseudonym : kept) = p;
  }
  ASSERT_FALSE(pseudonym.empty());
  ASSERT_NE(AllBytes(lake).find(pseudonym), std::string::npos) << "in the catalog before";

  CliRun denied = Medlake("erase --patient src-9 --lake " + lake + " --token " + researcher);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.out.find("permission_denied"), std::string::npos) << denied.out;

  // A derived output: the cohort index cache, built by a cohort run.
  testing::WriteText(dir / "all.json", R"({"medlake_cohort": 1})");
  ASSERT_EQ(Medlake("cohort " + dir / "all.json" + " --lake " + lake).exit_code, 0);
  ASSERT_TRUE(std::filesystem::exists(lake + "/index/cohort.idx"));

  // The opt-out list names the patient by source id and by pseudonym (an audit found the
  // README's own walkthrough left "p0000017" there after its erasure); its other lines stay.
  testing::WriteText(lake + "/consent_optout.txt",
                     "# withdrawn\nsrc-9\n" + pseudonym + "\r\nsrc-10 \n");
  CliRun erase = Medlake("erase --patient src-9 --lake " + lake + " --purpose art17-request-3");
  ASSERT_EQ(erase.exit_code, 0) << erase.out;
  EXPECT_FALSE(std::filesystem::exists(lake + "/index")) << "derived caches are removed";
  EXPECT_EQ(testing::ReadText(lake + "/consent_optout.txt"), "# withdrawn\nsrc-10 \n");
  EXPECT_NE(erase.out.find("2 resources"), std::string::npos) << erase.out;

  // No byte of the lake, raw or decompressed, holds the pseudonym or an identifier.
  CliRun exported = Medlake("export --lake " + lake + " --out " + dir / "after");
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  std::string raw = AllBytes(lake) + AllBytes(dir / "after");
  for (const std::string& needle : {pseudonym, std::string("Quobbleston"), std::string("M-src-9"),
                                    std::string("src-9"), std::string("garden talk src-9")}) {
    EXPECT_EQ(raw.find(needle), std::string::npos) << needle;
  }
  // The other patient is untouched; the lake stays writable and consistent.
  EXPECT_NE(raw.find(kept), std::string::npos);
  auto left = VaultPatients(lake);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left.begin()->second["id"], "src-10");
  CliRun status = Medlake("status --lake " + lake + " --json");
  EXPECT_NE(status.out.find("\"total_resources\": 2"), std::string::npos) << status.out;
  EXPECT_EQ(Medlake("verify --lake " + lake).exit_code, 0);
  EXPECT_NE(Medlake("export-patient src-9 --lake " + lake).exit_code, 0);
  EXPECT_EQ(Medlake("export-patient src-10 --lake " + lake).exit_code, 0);

  // The audit keeps that an erasure happened, not whom it concerned.
  CliRun audit = Medlake("audit list --json --lake " + lake);
  EXPECT_NE(audit.out.find("\"action\":\"erase\""), std::string::npos) << audit.out;
  // The attempt is logged before anything is erased: a crash after the commit keeps it.
  EXPECT_LT(audit.out.find("\"action\":\"erase.start\""), audit.out.find("\"action\":\"erase\""))
      << audit.out;
  EXPECT_NE(audit.out.find("art17-request-3"), std::string::npos);
  EXPECT_EQ(Medlake("audit verify --lake " + lake).exit_code, 0);
  // Erasing again finds nothing.
  EXPECT_NE(Medlake("erase --patient src-9 --lake " + lake).exit_code, 0);
}

// A kill after an erasure's commit leaves the replaced segments and the derived indexes of the
// state before it (here put back by hand): the same erase command run again finishes it, though
// the patient is no longer in the catalog.
TEST_F(RolesCliTest, RunningAnInterruptedEraseAgainFinishesIt) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  for (const char* id : {"src-9", "src-10"}) {
    testing::WriteText(dir / ("in/" + std::string(id) + ".ndjson"),
                       std::string(R"({"resourceType":"Patient","id":")") + id + R"("})" + "\n" +
                           R"({"resourceType":"Observation","id":"o-)" + id +
                           R"(","status":"final","code":{"text":"x"},"subject":{"reference":)" +
                           R"("Patient/)" + id + R"("}})" + "\n");
  }
  ASSERT_EQ(Medlake("ingest --lake " + lake + " " + dir / "in").exit_code, 0);
  auto segment_files = [&] {
    std::set<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(lake + "/segments")) {
      if (e.is_regular_file()) files.insert(e.path().string());
    }
    return files;
  };
  fs::create_directories(dir / "before");
  fs::copy(lake + "/segments", dir / "before/segments", fs::copy_options::recursive);
  ASSERT_EQ(Medlake("erase --patient src-9 --lake " + lake + " --purpose t").exit_code, 0);
  const std::set<std::string> after = segment_files();
  fs::copy(dir / "before/segments", lake + "/segments",
           fs::copy_options::recursive | fs::copy_options::skip_existing);
  ASSERT_NE(segment_files(), after);
  CliRun again = Medlake("erase --patient src-9 --lake " + lake + " --purpose t");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.out.find("no such patient"), std::string::npos) << again.out;
  EXPECT_EQ(segment_files(), after);
  EXPECT_EQ(Medlake("verify --lake " + lake).exit_code, 0);
}

// Every name, identifier value, address line, telecom value and exact birth date of the
// Synthea patients, skipping the words that the input also uses for something other than a
// patient (clinicians share surnames with patients; "White" is a race display).
struct Needles {
  std::set<std::string> text;
  std::map<std::string, std::string> birth_date_by_source_id;
  // Every full date (YYYY-MM-DD) in each patient's bundle, by the Patient's source id.
  std::map<std::string, std::set<std::string>> dates_by_source_id;
};

void StripPatientDisplays(nlohmann::json& j) {
  if (j.is_object()) {
    if (j.contains("reference") && j.contains("display")) j.erase("display");
    for (auto& [k, v] : j.items()) StripPatientDisplays(v);
  } else if (j.is_array()) {
    for (auto& v : j) StripPatientDisplays(v);
  }
}

Needles SyntheaNeedles() {
  Needles n;
  std::string other;
  for (const auto& e :
       std::filesystem::directory_iterator(testing::SharedData("synthea-r4-dev-100/bundles"))) {
    std::string bundle_text = testing::ReadText(e.path().string());
    auto bundle = nlohmann::json::parse(bundle_text);
    std::set<std::string> dates;
    static const std::regex kDate("[12][0-9]{3}-[01][0-9]-[0-3][0-9]");
    for (std::sregex_iterator it(bundle_text.begin(), bundle_text.end(), kDate), end; it != end;
         ++it) {
      dates.insert(it->str());
    }
    for (auto& entry : bundle["entry"]) {
      auto& r = entry["resource"];
      if (r["resourceType"] != "Patient") {
        StripPatientDisplays(r);
        other += r.dump();
        continue;
      }
      for (const auto& name : r.value("name", nlohmann::json::array())) {
        if (name.contains("family")) n.text.insert(name["family"].get<std::string>());
        for (const auto& g : name.value("given", nlohmann::json::array())) n.text.insert(g);
      }
      for (const auto& i : r.value("identifier", nlohmann::json::array()))
        n.text.insert(i["value"]);
      for (const auto& t : r.value("telecom", nlohmann::json::array())) n.text.insert(t["value"]);
      for (const auto& a : r.value("address", nlohmann::json::array())) {
        for (const auto& l : a.value("line", nlohmann::json::array())) n.text.insert(l);
      }
      for (const auto& x : r.value("extension", nlohmann::json::array())) {
        if (x.contains("valueString")) n.text.insert(x["valueString"].get<std::string>());
      }
      n.birth_date_by_source_id[r["id"]] = r["birthDate"];
      n.dates_by_source_id[r["id"]] = dates;
    }
  }
  std::set<std::string> words;
  std::regex word("[A-Za-z0-9'-]+");
  for (auto it = std::sregex_iterator(other.begin(), other.end(), word);
       it != std::sregex_iterator(); ++it) {
    words.insert(it->str());
  }
  for (auto it = n.text.begin(); it != n.text.end();) {
    it = (it->size() < 4 || words.count(*it)) ? n.text.erase(it) : std::next(it);
  }
  return n;
}

TEST_F(RolesCliTest, ResearcherOutputsOfSyntheaHoldNoIdentifier) {
  if (!testing::HaveSharedData("synthea-r4-dev-100")) {
    GTEST_SKIP() << "needs ../shared/data/synthea-r4-dev-100";
  }
  testing::TempDir dir;
  std::string lake = dir / "lake";
  // A fixed lake key makes pseudonyms and date shifts reproducible: with a random key, an
  // infant's event shifted back by exactly its age in days lands on the birth date by chance
  // (about 1 in 360 per event within 180 days of birth), which is no disclosure but would
  // make the birth-date check below flaky.
  const std::string key = "4d45444c414b452d707269766163792d746573742d6b65792d303030303031aa";
  ASSERT_EQ(Medlake("init --lake " + lake, "MEDLAKE_KEY=" + key).exit_code, 0);
  testing::WriteText(lake + "/keys/lake.key", key + "\n");
  std::filesystem::permissions(lake + "/keys/lake.key", std::filesystem::perms::owner_read |
                                                            std::filesystem::perms::owner_write);
  std::string researcher = AddUser(lake, "rita", "researcher");
  std::string ops = AddUser(lake, "otto", "ops");
  CliRun ingest =
      Medlake("ingest --lake " + lake + " " + testing::SharedData("synthea-r4-dev-100"));
  ASSERT_EQ(ingest.exit_code, 0) << ingest.out;

  // Every command and output format, as researcher; outputs collected by name.
  std::map<std::string, std::string> outputs;
  auto collect = [&](const std::string& name, const std::string& args) {
    CliRun r = Medlake(args + " --token " + researcher);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.out.substr(0, 300);
    outputs[name] = r.out;
  };
  std::vector<std::string> views;
  for (const auto& e : std::filesystem::directory_iterator(Views())) {
    views.push_back(e.path().string());
  }
  std::string sql_views;
  for (const auto& v : views) {
    std::string name = std::filesystem::path(v).stem().string();
    sql_views += " --view " + name + "=" + v;
    for (const char* format : {"csv", "tsv", "ndjson"}) {
      collect("view " + name + " " + format,
              "view " + v + " --lake " + lake + " --format " + std::string(format));
    }
    std::string parquet = dir / (name + ".parquet");
    collect("view " + name + " parquet",
            "view " + v + " --lake " + lake + " --format parquet --out " + parquet);
    outputs["file " + parquet] = testing::ReadText(parquet);
  }
  for (const char* format : {"table", "csv", "json"}) {
    collect(std::string("sql ") + format,
            "sql --lake " + lake + sql_views + " --format " + format +
                " \"SELECT * FROM patients p JOIN encounters e ON e.patient_id = p.patient_id\"");
  }
  collect("export", "export --lake " + lake + " --out " + dir / "export");
  for (const auto& e : std::filesystem::directory_iterator(dir / "export")) {
    outputs["file " + e.path().string()] = testing::ReadText(e.path().string());
  }
  collect("fhirpath",
          "fhirpath \"name | identifier | address | telecom | birthDate | text | "
          "note | subject | patient | extension\" --lake " +
              lake);
  collect("status", "status --lake " + lake + " --json");
  std::string some_patient =
      outputs["view patients csv"].substr(outputs["view patients csv"].find('\n') + 1, 32);
  collect("get", "get --lake " + lake + " Patient/" + some_patient);
  EXPECT_NE(outputs["get"].find("age-years"), std::string::npos) << outputs["get"];

  Needles needles = SyntheaNeedles();
  ASSERT_GT(needles.text.size(), 300u);
  // A researcher's dates are the patient's own dates shifted by a keyed number of days, so
  // one of them can fall on the exact birth date by chance (a visit 30 days after birth
  // shifted by -30); that string is then a shifted visit, not the birth date, and is not
  // looked for in that patient's lines.
  std::map<std::string, std::string> birth_by_pseudonym;
  auto keys = KeyStore::Open(lake);
  ASSERT_TRUE(keys.ok());
  Pseudonymizer pseudonymizer(*keys);
  for (const auto& [pseudonym, patient] : VaultPatients(lake)) {
    std::string birth = patient["birthDate"];
    auto day = ParseFhirTime(birth);
    ASSERT_TRUE(day.has_value()) << birth;
    std::string unshifted =
        FormatUtc(day->start - int64_t{pseudonymizer.DateShiftDays(pseudonym)} * kMsPerDay)
            .substr(0, 10);
    if (needles.dates_by_source_id[patient["id"]].count(unshifted)) continue;
    birth_by_pseudonym[pseudonym] = birth;
  }
  ASSERT_GE(birth_by_pseudonym.size(), 90u);
  size_t bytes = 0, checked = 0;
  for (const auto& [name, text] : outputs) {
    bytes += text.size();
    std::set<std::string> tokens;
    size_t line_start = 0;
    std::vector<std::string> line_pseudonyms;
    auto is_word = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '\'';
    };
    for (size_t i = 0; i <= text.size(); ++i) {
      if (i < text.size() && is_word(text[i])) continue;
      size_t j = i;
      while (j > line_start && is_word(text[j - 1])) --j;
      if (j < i) {
        std::string token = text.substr(j, i - j);
        if (token.size() == 32 && birth_by_pseudonym.count(token)) line_pseudonyms.push_back(token);
        tokens.insert(std::move(token));
      }
      if (i == text.size() || text[i] == '\n') {
        // Each patient's exact birth date appears in none of that patient's lines.
        std::string_view line(text.data() + line_start, i - line_start);
        if (name.find("parquet") == std::string::npos) {
          for (const auto& p : line_pseudonyms) {
            ++checked;
            EXPECT_EQ(line.find(birth_by_pseudonym[p]), std::string_view::npos)
                << name << ": a birth date is visible";
          }
        }
        line_pseudonyms.clear();
        line_start = i + 1;
      }
    }
    // Parquet files are compressed: their raw bytes hold random alphanumeric runs, which can
    // match a short name by chance (and differ between runs: DuckDB writes row groups from
    // several threads). Their rows are the CSV/TSV/NDJSON rows checked in full above; in the
    // raw bytes only needles of 6 characters or more are looked for.
    bool binary = name.find("parquet") != std::string::npos;
    for (const auto& needle : needles.text) {
      if (binary && needle.size() < 6) continue;
      bool found = needle.find(' ') == std::string::npos ? tokens.count(needle) > 0
                                                         : text.find(needle) != std::string::npos;
      EXPECT_FALSE(found) << name << " shows an identifier of the input";
    }
    // No full birth date: researchers get ages, and every other date is shifted.
    EXPECT_EQ(text.find("\"birthDate\":\"1"), std::string::npos) << name;
    EXPECT_EQ(text.find("\"birthDate\":\"2"), std::string::npos) << name;
  }
  EXPECT_GT(bytes, 10'000'000u) << "the outputs should cover the whole lake";
  EXPECT_GT(checked, 10'000u);

  // ops: every patient-level command is refused.
  for (const std::string& cmd :
       {"view " + views[0] + " --lake " + lake, "export --lake " + lake + " --out " + dir / "ox",
        "fhirpath id --lake " + lake, "get --lake " + lake + " Patient/" + some_patient,
        "sql --lake " + lake + sql_views + " \"SELECT * FROM patients\""}) {
    CliRun denied = Medlake(cmd + " --token " + ops);
    EXPECT_NE(denied.exit_code, 0) << cmd;
    for (const auto& needle : needles.text) EXPECT_EQ(denied.out.find(needle), std::string::npos);
  }
}

// Storing records into a lake with a key is the admin's (the owner of the key file here):
// ingest, watch and listen refuse a clinician, and every run, refusal and stop is in the audit log.
TEST_F(RolesCliTest, StoringRecordsIsTheAdminsAndAudited) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("synth --patients 20 --seed 7 --formats fhir --out " + dir / "data").exit_code,
            0);
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  std::string clinician = AddUser(lake, "cleo", "clinician");
  CliRun refused = Medlake("ingest --lake " + lake + " " + dir / "data/fhir --token " + clinician);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.out.find("permission_denied"), std::string::npos) << refused.out;
  CliRun ingest = Medlake("ingest --lake " + lake + " " + dir / "data/fhir --purpose nightly-load");
  ASSERT_EQ(ingest.exit_code, 0) << ingest.out;
  EXPECT_NE(ingest.out.find("run 1:"), std::string::npos) << "the refused run stored nothing";
  testing::WriteText(dir / "none.ndjson", "");
  std::string watch = "watch --lake " + lake + " --replay " + dir / "none.ndjson" +
                      " --at 2020-01-01T00:00:00Z --alerts " + dir / "alerts.ndjson";
  EXPECT_NE(Medlake(watch + " --token " + clinician).exit_code, 0);
  ASSERT_EQ(Medlake(watch).exit_code, 0);
  // listen, stopped by SIGTERM after a second.
  std::string listen =
      "listen --lake " + lake + " --mllp " + std::to_string(20000 + getpid() % 20000);
  EXPECT_NE(Medlake(listen + " --token " + clinician).exit_code, 0);
  CliRun listened = Medlake(listen, "timeout --preserve-status -s TERM 1");
  ASSERT_EQ(listened.exit_code, 0) << listened.out;

  CliRun audit = Medlake("audit list --json --lake " + lake);
  ASSERT_EQ(audit.exit_code, 0) << audit.out;
  std::vector<std::string> actions;
  std::istringstream lines(audit.out);
  std::string line;
  while (std::getline(lines, line)) {
    auto e = nlohmann::json::parse(line);
    std::string action = e["action"];
    if (action == "init" || action == "user.add") continue;
    actions.push_back(action + " " + e["object"].get<std::string>());
    if (action == "ingest") {
      EXPECT_EQ(e.value("purpose", ""), "nightly-load");
    }
  }
  ASSERT_EQ(actions.size(), 9u) << audit.out;
  EXPECT_EQ(actions[0], "denied ingest");
  EXPECT_EQ(actions[1], "ingest.start ingest");
  EXPECT_EQ(actions[2].rfind("ingest run 1: ", 0), 0u) << actions[2];
  EXPECT_NE(actions[2].find(" records read, "), std::string::npos) << actions[2];
  EXPECT_EQ(actions[3], "denied watch");
  EXPECT_EQ(actions[4], "watch.start watch");
  EXPECT_EQ(actions[5], "watch 0 readings, 0 alerts, 0 RiskAssessments stored");
  EXPECT_EQ(actions[6], "denied listen");
  EXPECT_EQ(actions[7], "listen.start listen");
  EXPECT_EQ(actions[8], "listen 0 records stored, 0 quarantined");
  EXPECT_EQ(Medlake("audit verify --lake " + lake).exit_code, 0);
  // A start that fails (no broker on port 1) leaves its failure after the start entry.
  EXPECT_NE(Medlake("listen --lake " + lake + " --mqtt 127.0.0.1:1").exit_code, 0);
  CliRun after = Medlake("audit list --json --lake " + lake);
  std::string last = after.out.substr(after.out.rfind('{'));
  EXPECT_NE(last.find("\"action\":\"listen.failed\""), std::string::npos) << after.out;
}

// Reads whose output streams (view, fhirpath) or is named at the end (export) are audited
// before anything leaves: with the audit log locked by another process they print and write
// nothing (they wrote the rows, then failed to audit them).
TEST_F(RolesCliTest, AReadTheAuditLogCannotRecordLetsNothingOut) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_NO_FATAL_FAILURE(KeyedSynthLake(dir, lake));
  std::string researcher = AddUser(lake, "rita", "researcher");
  sqlite3* lock = nullptr;
  ASSERT_EQ(sqlite3_open(privacy::AuditLog::PathFor(lake).c_str(), &lock), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(lock, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  // Each waits for the lock (10 s) before it fails: the three run at once.
  auto run = [](const std::string& args) {
    return std::async(std::launch::async, [args] { return Medlake(args); });
  };
  auto view_run =
      run("view " + Views() + "patients.json --lake " + lake + " --token " + researcher);
  auto path_run = run("fhirpath --lake " + lake + " --token " + researcher + " Patient.gender");
  auto export_run =
      run("export --lake " + lake + " --token " + researcher + " --out " + dir / "out");
  CliRun view = view_run.get();
  CliRun path = path_run.get();
  CliRun exported = export_run.get();
  EXPECT_NE(view.exit_code, 0);
  EXPECT_EQ(Lines(view.out), 1u) << "only the error: " << view.out;
  EXPECT_NE(view.out.find("audit"), std::string::npos) << view.out;
  EXPECT_NE(path.exit_code, 0);
  EXPECT_EQ(path.out.find("\"resource\""), std::string::npos) << path.out;
  EXPECT_NE(exported.exit_code, 0);
  EXPECT_TRUE(!std::filesystem::exists(dir / "out") || std::filesystem::is_empty(dir / "out"))
      << exported.out;
  sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(lock);
  // Unlocked, each is audited before its output and again after it, with the count.
  CliRun again =
      Medlake("view " + Views() + "patients.json --lake " + lake + " --token " + researcher);
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_GT(Lines(again.out), 1u) << again.out;
  CliRun audit = Medlake("audit list --json --lake " + lake);
  EXPECT_NE(audit.out.find(R"("action":"query.start")"), std::string::npos) << audit.out;
  EXPECT_EQ(Medlake("audit verify --lake " + lake).exit_code, 0);
}

// A keyed lake whose keys/ folder is gone is a lake whose key is missing, not a lake without
// a key: readers said every segment was damaged, and ingest would have stored plain text.
TEST_F(RolesCliTest, AKeyedLakeWithoutItsKeysFolderIsRefused) {
  testing::TempDir dir;
  std::string lake = dir / "lake";
  ASSERT_NO_FATAL_FAILURE(KeyedSynthLake(dir, lake));
  std::filesystem::rename(lake + "/keys", dir / "keys.away");
  for (const std::string& command :
       {"status --lake " + lake, "export --lake " + lake + " --out " + dir / "x",
        "ingest --lake " + lake + " " + dir / "data/fhir"}) {
    CliRun run = Medlake(command);
    EXPECT_EQ(run.exit_code, 10) << command << "\n" << run.out;
    EXPECT_NE(run.out.find("keys folder is missing"), std::string::npos) << run.out;
  }
  std::filesystem::rename(dir / "keys.away", lake + "/keys");
  CliRun again = Medlake("ingest --lake " + lake + " " + dir / "data/fhir");
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_NE(again.out.find(" 0 stored"), std::string::npos) << again.out;
}

}  // namespace
}  // namespace medlake::privacy
