// The 51 translated library cohorts run on the Synthea lake (../shared/data): every one
// evaluates, and those without rules are checked against an independent scan of the raw
// bundles (patients with a resource of the index types coded in the index code set). Most
// library cohorts find nobody among these 100 patients: their concept sets name SNOMED parents
// whose descendants (the codes Synthea writes) medlake cannot expand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cohort/circe.h"
#include "cohort/cohort_index.h"
#include "cohort/definition.h"
#include "cohort/evaluator.h"
#include "ingest/ingest.h"
#include "medlake/lake.h"
#include "test_util.h"

namespace medlake::cohort {
namespace {

namespace fs = std::filesystem;

// Per patient, the "type system|code" of every coding of every resource, as
// docs/cohorts.md defines a resource's codings for the types Circe criteria produce.
using RawCodes = std::map<std::string, std::set<std::string>>;

void AddCodings(const nlohmann::json& concept_json, const std::string& type,
                std::set<std::string>& out) {
  if (!concept_json.is_object()) return;
  for (const auto& c : concept_json.value("coding", nlohmann::json::array())) {
    out.insert(type + " " + c.value("system", "") + "|" + c.value("code", ""));
  }
}

RawCodes ScanBundles(const std::string& dir) {
  RawCodes codes;
  for (const auto& file : fs::recursive_directory_iterator(dir)) {
    if (file.path().extension() != ".json") continue;
    auto bundle = nlohmann::json::parse(testing::ReadText(file.path().string()));
    for (const auto& entry : bundle.value("entry", nlohmann::json::array())) {
      const auto& r = entry["resource"];
      std::string type = r.value("resourceType", "");
      if (!r.contains("subject") && !r.contains("patient")) continue;
      if (r.value("status", "") == "entered-in-error") continue;
      const auto& subject = r.contains("subject") ? r["subject"] : r["patient"];
      std::string ref = subject.value("reference", "");
      std::string patient = ref.substr(ref.find_last_of(":/") + 1);
      std::set<std::string>& out = codes[patient];
      if (type == "Encounter") {
        if (r.contains("class")) {
          out.insert(type + " " + r["class"].value("system", "") + "|" +
                     r["class"].value("code", ""));
        }
        for (const auto& t : r.value("type", nlohmann::json::array())) AddCodings(t, type, out);
      } else if (type == "Immunization") {
        AddCodings(r.value("vaccineCode", nlohmann::json::object()), type, out);
      } else if (type.starts_with("Medication")) {
        AddCodings(r.value("medicationCodeableConcept", nlohmann::json::object()), type, out);
      } else {
        AddCodings(r.value("code", nlohmann::json::object()), type, out);
      }
      AddCodings(r.value("valueCodeableConcept", nlohmann::json::object()), type, out);
    }
  }
  return codes;
}

// For a translation whose index is a plain event (types and exact codes, no filter) and that
// has no rules, the patients the raw scan puts in it; nullopt for any other translation.
std::optional<size_t> ExpectedFromScan(const std::string& cohort_json, const RawCodes& raw) {
  auto doc = nlohmann::json::parse(cohort_json);
  if (!doc["inclusion"].empty() || !doc.contains("index")) return std::nullopt;
  const auto& event = doc["index"]["event"];
  for (const auto& [key, value] : event.items()) {
    if (key != "type" && key != "codeset") return std::nullopt;
  }
  std::vector<std::string> types;
  if (event["type"].is_string()) {
    types.push_back(event["type"]);
  } else {
    for (const auto& t : event["type"]) types.push_back(t);
  }
  std::set<std::string> wanted;
  for (const auto& entry : doc["codesets"][event["codeset"].get<std::string>()]) {
    if (entry.contains("prefix")) return std::nullopt;
    for (const auto& code : entry["codes"]) {
      for (const std::string& t : types) {
        wanted.insert(t + " " + entry["system"].get<std::string>() + "|" + code.get<std::string>());
      }
    }
  }
  size_t n = 0;
  for (const auto& [patient, codes] : raw) {
    n += std::any_of(codes.begin(), codes.end(),
                     [&](const std::string& c) { return wanted.count(c) > 0; });
  }
  return n;
}

TEST(CirceSynthea, LibraryCohortsRunOnTheSyntheaLake) {
  const std::string cohorts = "ohdsi-phenotype-cohorts/cohorts";
  const std::string synthea = "synthea-r4-dev-100";
  if (!testing::HaveSharedData(cohorts) || !testing::HaveSharedData(synthea)) {
    GTEST_SKIP() << "../shared/data/" << cohorts << " or " << synthea << " not present";
  }
  testing::TempDir dir;
  ASSERT_TRUE(
      ingest::Ingest(dir / "lake", {testing::SharedData(synthea)}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  auto index = CohortIndex::Build(**lake, 2, nullptr);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  RawCodes raw = ScanBundles(testing::SharedData(synthea));

  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(testing::SharedData(cohorts))) {
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  int checked = 0;
  int checked_nonempty = 0;  // checked with members: 0 == 0 alone would prove little
  int nonempty = 0;
  std::printf("%-8s %8s %10s\n", "cohort", "patients", "raw scan");
  for (const fs::path& file : files) {
    auto t = TranslateCirce(testing::ReadText(file.string()), file.stem().string());
    ASSERT_TRUE(t.ok()) << file;
    auto def = ParseCohort(t->cohort_json);
    ASSERT_TRUE(def.ok()) << file << ": " << def.status().ToString();
    EvaluateOptions options;
    options.threads = 2;
    options.lake = lake->get();
    auto result = Evaluate(*def, **index, options);
    ASSERT_TRUE(result.ok()) << file << ": " << result.status().ToString();
    nonempty += result->count > 0;
    std::optional<size_t> expected = ExpectedFromScan(t->cohort_json, raw);
    std::printf("%-8s %8llu %10s\n", file.stem().c_str(),
                static_cast<unsigned long long>(result->count),
                expected ? std::to_string(*expected).c_str() : "-");
    if (expected) {
      ++checked;
      checked_nonempty += *expected > 0;
      EXPECT_EQ(result->count, *expected) << file;
    }
  }
  std::printf(
      "%d cohorts checked against the raw scan (%d of them with members); %d of 51 with "
      "members\n",
      checked, checked_nonempty, nonempty);
  // The translations without rules and prefixes (pinned: a change of the translation shows).
  EXPECT_EQ(checked, 28);
  EXPECT_GE(checked_nonempty, 10);
}

}  // namespace
}  // namespace medlake::cohort
