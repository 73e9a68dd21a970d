// `medlake synth` writes the same hospital stays as FHIR R4 and as HL7 v2. Parsing and mapping
// the HL7 v2 side must give the same encounters (visit number, class, period, finished) and the
// same quantitative observations (code, time, value) as the FHIR side.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/fhir_time.h"
#include "common/file_util.h"
#include "ingest/hl7v2/fhir_mapper.h"
#include "json/json.h"
#include "synth/generator.h"

namespace medlake::hl7v2 {
namespace {

namespace fs = std::filesystem;

struct EncounterView {
  std::string cls;
  std::string status;
  int64_t start = kNoTime;
  int64_t end = kNoTime;
};

// (LOINC code, effective time ms, value × 1000)
using ObservationKey = std::tuple<std::string, int64_t, int64_t>;

int64_t TimeOf(json::Node node, std::string_view key) {
  auto v = node.Find(key);
  if (!v) return kNoTime;
  auto range = ParseFhirTime(v->GetString());
  return range ? range->start : kNoTime;
}

std::string FirstCode(json::Node resource) {
  std::string code;
  auto cc = resource.Find("code");
  if (!cc) return code;
  auto coding = cc->Find("coding");
  if (!coding) return code;
  coding->ForEachItem([&](json::Node c) {
    code = std::string(c.Find("code")->GetString());
    return false;
  });
  return code;
}

EncounterView ViewOf(json::Node e) {
  EncounterView v;
  v.cls = std::string(e.Find("class")->Find("code")->GetString());
  v.status = std::string(e.Find("status")->GetString());
  if (auto period = e.Find("period")) {
    v.start = TimeOf(*period, "start");
    v.end = TimeOf(*period, "end");
  }
  return v;
}

std::string VisitNumber(json::Node e) {
  std::string value;
  if (auto ids = e.Find("identifier")) {
    ids->ForEachItem([&](json::Node id) {
      value = std::string(id.Find("value")->GetString());
      return false;
    });
  }
  return value;
}

void AddObservation(json::Node o, std::multiset<ObservationKey>& out) {
  auto q = o.Find("valueQuantity");
  if (!q || !o.Find("encounter")) return;
  std::string code = FirstCode(o);
  out.emplace(code, TimeOf(o, "effectiveDateTime"),
              static_cast<int64_t>(std::llround(q->Find("value")->GetDouble() * 1000)));
}

class SynthAgreement : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("medlake_hl7v2_synth_" + std::to_string(::getpid()));
    synth::SynthConfig config;
    config.patients = 60;
    config.seed = 5;
    config.out_dir = dir_.string();
    config.formats.vcf = false;
    config.formats.device = false;
    config.start_day = DaysFromCivil(2023, 1, 1);
    config.years = 1;
    config.threads = 1;
    auto stats = synth::Generate(config);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(SynthAgreement, Hl7v2AndFhirGiveTheSameEncountersAndObservations) {
  json::Parser parser;
  // HL7 v2 side, through the parser and the mapping. Day files in date order, messages in
  // time order within a file: the last version of each Encounter is the discharge.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir_ / "hl7v2")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  std::map<std::string, EncounterView> hl7_encounters;  // by visit number
  std::multiset<ObservationKey> hl7_observations;
  size_t messages = 0;
  for (const fs::path& file : files) {
    auto text = ReadFile(file.string());
    ASSERT_TRUE(text.ok());
    auto split = SplitMessages(*text);
    ASSERT_TRUE(split.ok()) << file << ": " << split.status().ToString();
    for (const Message& m : *split) {
      ++messages;
      auto mapped = MapToFhir(m);
      ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
      for (const MappedResource& r : mapped->resources) {
        auto node = parser.Parse(r.json);
        ASSERT_TRUE(node.ok());
        if (r.resource_type == "Encounter") hl7_encounters[VisitNumber(*node)] = ViewOf(*node);
        if (r.resource_type == "Observation") AddObservation(*node, hl7_observations);
      }
    }
  }

  // FHIR side, as synth wrote it.
  std::map<std::string, EncounterView> fhir_encounters;
  std::multiset<ObservationKey> fhir_observations;
  std::set<std::string> hl7_codes;
  for (const auto& [code, t, v] : hl7_observations) hl7_codes.insert(code);
  for (std::string_view type : {"Encounter", "Observation"}) {
    std::ifstream in(dir_ / "fhir" / (std::string(type) + ".ndjson"));
    ASSERT_TRUE(in.good()) << type;
    std::string line;
    while (std::getline(in, line)) {
      auto node = parser.Parse(line);
      ASSERT_TRUE(node.ok());
      if (type == "Encounter") {
        EncounterView v = ViewOf(*node);
        if (v.cls != "AMB") fhir_encounters[VisitNumber(*node)] = v;
      } else {
        AddObservation(*node, fhir_observations);
      }
    }
  }
  // Observations of codes both sides carry as single quantities (the FHIR blood-pressure
  // panel is two OBX segments in HL7 v2: its components are not compared here).
  std::set<std::string> fhir_codes;
  for (const auto& key : fhir_observations) fhir_codes.insert(std::get<0>(key));
  std::multiset<ObservationKey> fhir_comparable;
  for (const auto& key : fhir_observations) {
    if (hl7_codes.count(std::get<0>(key))) fhir_comparable.insert(key);
  }
  std::multiset<ObservationKey> hl7_comparable;
  std::map<std::string, int> hl7_only_codes;
  for (const auto& key : hl7_observations) {
    if (fhir_codes.count(std::get<0>(key))) {
      hl7_comparable.insert(key);
    } else {
      ++hl7_only_codes[std::get<0>(key)];
    }
  }
  for (const auto& [code, count] : hl7_only_codes) {
    EXPECT_TRUE(code == "8480-6" || code == "8462-4") << code << " x" << count;
  }

  ASSERT_FALSE(fhir_encounters.empty());
  EXPECT_EQ(hl7_encounters.size(), fhir_encounters.size());
  for (const auto& [visit, f] : fhir_encounters) {
    auto it = hl7_encounters.find(visit);
    ASSERT_NE(it, hl7_encounters.end()) << "no HL7 v2 encounter for visit " << visit;
    EXPECT_EQ(it->second.cls, f.cls) << visit;
    EXPECT_EQ(it->second.start, f.start) << visit;
    EXPECT_EQ(it->second.end, f.end) << visit;
    EXPECT_EQ(it->second.status, "finished") << visit;
  }
  EXPECT_GT(hl7_comparable.size(), 100u);
  EXPECT_EQ(hl7_comparable.size(), fhir_comparable.size());
  EXPECT_TRUE(hl7_comparable == fhir_comparable);
  std::cout << "synth: " << messages << " HL7 v2 messages, " << hl7_encounters.size()
            << " encounters and " << hl7_comparable.size()
            << " quantitative observations agree with the FHIR output\n";
}

// (system|value identifiers, phone|use) of a Patient.
std::pair<std::set<std::string>, std::set<std::string>> IdentityOf(json::Node patient) {
  std::set<std::string> ids, phones;
  if (auto list = patient.Find("identifier")) {
    list->ForEachItem([&](json::Node id) {
      ids.insert(std::string(id.Find("system")->GetString()) + "|" +
                 std::string(id.Find("value")->GetString()));
      return true;
    });
  }
  if (auto list = patient.Find("telecom")) {
    list->ForEachItem([&](json::Node t) {
      phones.insert(std::string(t.Find("value")->GetString()) + "|" +
                    std::string(t.Find("use")->GetString()));
      return true;
    });
  }
  return {ids, phones};
}

// The PID of every message maps to the identifiers (same systems and values) and the phone
// (same use) of the FHIR Patient, so the two views can be linked by identifier.
TEST_F(SynthAgreement, Hl7v2PatientsCarryTheFhirPatientsIdentifiersAndPhone) {
  json::Parser parser;
  std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> fhir;
  std::ifstream in(dir_ / "fhir" / "Patient.ndjson");
  std::string line;
  while (std::getline(in, line)) {
    auto node = parser.Parse(line);
    ASSERT_TRUE(node.ok());
    auto identity = IdentityOf(*node);
    for (const std::string& id : identity.first) fhir[id] = identity;
  }
  ASSERT_EQ(fhir.size(), 2 * 60u);  // MRN and national id of each patient
  size_t patients = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "hl7v2")) {
    auto text = ReadFile(e.path().string());
    ASSERT_TRUE(text.ok());
    auto split = SplitMessages(*text);
    ASSERT_TRUE(split.ok());
    for (const Message& m : *split) {
      auto mapped = MapToFhir(m);
      ASSERT_TRUE(mapped.ok());
      for (const MappedResource& r : mapped->resources) {
        if (r.resource_type != "Patient") continue;
        auto node = parser.Parse(r.json);
        ASSERT_TRUE(node.ok());
        auto identity = IdentityOf(*node);
        ASSERT_EQ(identity.first.size(), 2u) << r.json;
        auto it = fhir.find(*identity.first.begin());
        ASSERT_NE(it, fhir.end()) << "no FHIR Patient with " << *identity.first.begin();
        EXPECT_EQ(identity, it->second) << r.json;
        ++patients;
      }
    }
  }
  EXPECT_GT(patients, 10u);
}

}  // namespace
}  // namespace medlake::hl7v2
