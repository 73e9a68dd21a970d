// End-to-end output of `Generate`: determinism and FHIR R4 validity.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "json/json.h"
#include "json_references.h"
#include "synth/fhir_writer.h"
#include "test_output.h"

namespace medlake::synth {
namespace {

namespace fs = std::filesystem;
using testing::Lines;
using testing::SharedOutput;
using testing::Slurp;

std::map<std::string, std::string> AllFiles(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files[fs::relative(entry.path(), dir).string()] = Slurp(entry.path());
    }
  }
  return files;
}

TEST(SynthOutputTest, SameSeedSameBytesWhateverTheThreads) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok()) << shared.status.ToString();
  const std::string dir = testing::TestDir("determinism");
  SynthConfig config = shared.config;
  config.out_dir = dir;
  config.threads = 1;
  config.chunk_size = 17;  // different chunking must not change the output either
  ASSERT_TRUE(Generate(config).ok());
  const auto a = AllFiles(shared.dir);
  const auto b = AllFiles(dir);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, content] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(content == b.at(name)) << name << " differs";
  }
  EXPECT_FALSE(fs::exists(fs::path(dir) / ".synth-tmp"));
  config.seed = 12;
  ASSERT_TRUE(Generate(config).ok());
  EXPECT_NE(Slurp(fs::path(dir) / "fhir" / "Patient.ndjson"), a.at("fhir/Patient.ndjson"));
  fs::remove_all(dir);
}

TEST(SynthOutputTest, InvalidConfigurationIsRejected) {
  SynthConfig config = SharedOutput::Get().config;
  config.patients = 0;
  EXPECT_EQ(Generate(config).status().code(), ErrorCode::kInvalidArgument);
}

using ::medlake::testing::CollectReferences;

bool HasCoding(const json::Node& codeable, std::string_view system) {
  bool found = false;
  if (auto codings = codeable.Find("coding")) {
    codings->ForEachItem([&](json::Node c) {
      auto s = c.Find("system");
      auto code = c.Find("code");
      if (s && code && s->GetString() == system && !code->GetString().empty()) found = true;
      return !found;
    });
  }
  return found;
}

TEST(SynthOutputTest, EveryResourceIsValidAndEveryReferenceResolves) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok()) << shared.status.ToString();
  const std::regex id_re("[A-Za-z0-9\\-\\.]{1,64}");
  std::set<std::string> ids;
  std::vector<std::string> references;
  std::map<std::string, int> counts;
  json::Parser parser;
  const std::vector<std::string> types = {
      "Organization", "Location",          "Patient",      "Encounter", "Condition",
      "Observation",  "MedicationRequest", "ImagingStudy", "Consent",   "Procedure"};
  for (const std::string& type : types) {
    const auto lines = Lines(shared.dir / "fhir" / (type + ".ndjson"));
    ASSERT_FALSE(lines.empty()) << type;
    for (size_t i = 0; i < lines.size(); ++i) {
      auto doc = parser.Parse(lines[i]);
      ASSERT_TRUE(doc.ok()) << type << " line " << i + 1;
      const json::Node r = *doc;
      ASSERT_EQ(r.Find("resourceType")->GetString(), type) << type << " line " << i + 1;
      const std::string id(r.Find("id")->GetString());
      ASSERT_TRUE(std::regex_match(id, id_re)) << id;
      ASSERT_TRUE(ids.insert(type + "/" + id).second) << "duplicate " << type << "/" << id;
      CollectReferences(r, references);
      ++counts[type];
      if (type == "Patient") {
        EXPECT_TRUE(r.Find("birthDate") && r.Find("gender") && r.Find("name") &&
                    r.Find("address") && r.Find("telecom"))
            << id;
        EXPECT_EQ(r.Find("identifier")->Size(), 2u) << id;
      } else if (type == "Observation") {
        EXPECT_EQ(r.Find("status")->GetString(), "final");
        ASSERT_TRUE(r.Find("code")) << id;
        EXPECT_TRUE(HasCoding(*r.Find("code"), "http://loinc.org")) << id;
        EXPECT_TRUE(r.Find("effectiveDateTime") && r.Find("subject")) << id;
        const bool has_value =
            r.Find("valueQuantity") || r.Find("valueCodeableConcept") || r.Find("component");
        EXPECT_TRUE(has_value) << id;
        if (auto q = r.Find("valueQuantity")) {
          EXPECT_EQ(q->Find("system")->GetString(), "http://unitsofmeasure.org") << id;
          EXPECT_TRUE(q->Find("value")->IsNumber()) << id;
          EXPECT_TRUE(q->Find("code")) << id;
        }
        EXPECT_TRUE(ParseFhirTime(r.Find("effectiveDateTime")->GetString())) << id;
      } else if (type == "Encounter") {
        EXPECT_EQ(r.Find("status")->GetString(), "finished");
        const std::string_view cls = r.Find("class")->Find("code")->GetString();
        EXPECT_TRUE(cls == "AMB" || cls == "EMER" || cls == "IMP") << id;
        EXPECT_TRUE(r.Find("period")->Find("start") && r.Find("period")->Find("end"));
        if (cls == "IMP") {
          EXPECT_TRUE(r.Find("location") && r.Find("hospitalization")) << id;
        }
      } else if (type == "Condition") {
        EXPECT_TRUE(HasCoding(*r.Find("code"), "http://snomed.info/sct")) << id;
        EXPECT_TRUE(HasCoding(*r.Find("code"), "http://hl7.org/fhir/sid/icd-10")) << id;
        EXPECT_TRUE(r.Find("subject") && r.Find("clinicalStatus")) << id;
      } else if (type == "MedicationRequest") {
        EXPECT_TRUE(r.Find("status") && r.Find("intent") && r.Find("subject")) << id;
        const json::Node med = *r.Find("medicationCodeableConcept");
        EXPECT_TRUE(HasCoding(med, "http://www.nlm.nih.gov/research/umls/rxnorm")) << id;
        EXPECT_TRUE(HasCoding(med, "http://www.whocc.no/atc")) << id;
      } else if (type == "Consent") {
        EXPECT_TRUE(r.Find("status") && r.Find("scope") && r.Find("category") &&
                    r.Find("patient") && r.Find("policyRule") && r.Find("provision"))
            << id;
      } else if (type == "ImagingStudy") {
        EXPECT_TRUE(r.Find("status") && r.Find("subject") && r.Find("series")) << id;
        EXPECT_TRUE(r.Find("procedureReference")) << id;
      } else if (type == "Procedure") {
        EXPECT_EQ(r.Find("status")->GetString(), "completed") << id;
        EXPECT_TRUE(HasCoding(*r.Find("code"), "http://snomed.info/sct")) << id;
        EXPECT_TRUE(r.Find("subject") && r.Find("encounter")) << id;
        const auto start = ParseFhirTime(r.Find("performedPeriod")->Find("start")->GetString());
        const auto end = ParseFhirTime(r.Find("performedPeriod")->Find("end")->GetString());
        ASSERT_TRUE(start && end) << id;
        EXPECT_LT(start->start, end->start) << id;
        EXPECT_TRUE(r.Find("reasonReference") || r.Find("reasonCode") || r.Find("bodySite")) << id;
      }
    }
  }
  EXPECT_EQ(counts["Patient"], static_cast<int>(shared.config.patients));
  EXPECT_EQ(counts["Consent"], static_cast<int>(shared.config.patients));
  EXPECT_GT(counts["Observation"], counts["Patient"] * 10);
  EXPECT_GT(counts["ImagingStudy"], 0);
  EXPECT_GE(counts["Procedure"], counts["ImagingStudy"]);
  uint64_t from_stats = shared.stats.TotalFhirResources();
  uint64_t counted = 0;
  for (const auto& [type, n] : counts) counted += n;
  EXPECT_EQ(counted, from_stats);
  for (const std::string& ref : references) {
    ASSERT_TRUE(ids.count(ref)) << "unresolved reference " << ref;
  }
}

TEST(SynthOutputTest, VitalSignsCoverNews2Parameters) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  const std::string obs = Slurp(shared.dir / "fhir" / "Observation.ndjson");
  for (const char* code : {"\"8867-4\"", "\"9279-1\"", "\"59408-5\"", "\"8310-5\"", "\"8480-6\"",
                           "\"67775-7\"", "\"3150-0\"", "\"vital-signs\""}) {
    EXPECT_NE(obs.find(code), std::string::npos) << code;
  }
  // Both unit systems of creatinine appear (alternative-unit share).
  EXPECT_NE(obs.find("\"14682-9\""), std::string::npos);
  EXPECT_NE(obs.find("\"2160-0\""), std::string::npos);
}

// Each Bundle is a self-contained transaction (docs/synth.md): every entry has a fullUrl
// consistent with its PUT url and resource id (R4 Bundle.entry.fullUrl), and every reference
// names an entry of the same Bundle, the shared Organization and Locations included.
TEST(SynthOutputTest, BundlesAreSelfContainedTransactionsOfEachPatient) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  const auto lines = Lines(shared.dir / "fhir-bundles" / "Bundle.ndjson");
  ASSERT_EQ(lines.size(), shared.config.patients);
  json::Parser parser;
  size_t patient_entries = 0, shared_entries = 0;
  for (const std::string& line : lines) {
    auto doc = parser.Parse(line);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ(doc->Find("type")->GetString(), "transaction");
    std::set<std::string> urls;
    std::vector<std::string> refs;
    doc->Find("entry")->ForEachItem([&](json::Node e) {
      EXPECT_EQ(e.Find("request")->Find("method")->GetString(), "PUT");
      const std::string url(e.Find("request")->Find("url")->GetString());
      auto res = e.Find("resource");
      EXPECT_EQ(url, std::string(res->Find("resourceType")->GetString()) + "/" +
                         std::string(res->Find("id")->GetString()));
      auto full = e.Find("fullUrl");
      EXPECT_TRUE(full && full->GetString() == std::string(kBundleBaseUrl) + url) << url;
      EXPECT_TRUE(urls.insert(url).second) << "twice in one Bundle: " << url;
      const bool is_shared = url.starts_with("Location/") || url.starts_with("Organization/");
      (is_shared ? shared_entries : patient_entries) += 1;
      ::medlake::testing::CollectReferences(*res, refs);
      return true;
    });
    for (const std::string& ref : refs) EXPECT_TRUE(urls.count(ref)) << "dangling " << ref;
    EXPECT_TRUE(urls.count("Organization/" + std::string(kHospitalOrganizationId)));
  }
  EXPECT_EQ(patient_entries, shared.stats.TotalFhirResources() - shared.stats.shared_resources);
  EXPECT_GT(shared_entries, shared.config.patients);
}

TEST(SynthOutputTest, CommandLineWritesAndRejects) {
  const std::string dir = testing::TestDir("cli");
  const std::string ok_cmd = std::string(MEDLAKE_BINARY) + " synth --patients 20 --seed 3 --out " +
                             dir + " --formats fhir,vcf --quiet";
  EXPECT_EQ(std::system(ok_cmd.c_str()), 0);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "fhir" / "Patient.ndjson"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "vcf" / "genotypes.vcf"));
  EXPECT_FALSE(fs::exists(fs::path(dir) / "hl7v2"));
  const std::string fresh = dir + "/fresh";
  const std::string bad_cmd = std::string(MEDLAKE_BINARY) + " synth --patients 20 --out " +
                              fresh + " --formats csv 2>/dev/null";
  EXPECT_NE(std::system(bad_cmd.c_str()), 0);
  const std::string negative = std::string(MEDLAKE_BINARY) + " synth --seed -3 --out " + fresh +
                               " --quiet 2>/dev/null";
  EXPECT_NE(std::system(negative.c_str()), 0);
  EXPECT_FALSE(fs::exists(fs::path(fresh) / "truth.json"));
  // Another population into the same folder would mix with the first: refused, exit 5.
  const std::string again = std::string(MEDLAKE_BINARY) + " synth --patients 3 --out " + dir +
                            " --formats vcf --quiet 2>/dev/null";
  const int status = std::system(again.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 5) << status;
  fs::remove_all(dir);
}

// Runs `medlake ingest` on one output folder; returns the log, or nullopt when this medlake
// has no ingest subcommand.
std::optional<std::string> IngestLog(const fs::path& input, const std::string& name) {
  const std::string probe = std::string(MEDLAKE_BINARY) + " ingest --help >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) return std::nullopt;
  const std::string lake = testing::TestDir(name);
  const std::string log = lake + ".log";
  const std::string cmd = std::string(MEDLAKE_BINARY) + " ingest --lake " + lake + " " +
                          input.string() + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::string out = Slurp(log);
  fs::remove_all(lake);
  fs::remove(log);
  if (rc != 0) out += "\n(exit status " + std::to_string(rc) + ")";
  return out;
}

// The summary line belongs to the ingest module: "N records read: N stored, ... 0 quarantined".
TEST(SynthOutputTest, MedlakeIngestsFhirWithoutQuarantine) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  const auto out = IngestLog(shared.dir / "fhir", "lake_fhir");
  if (!out) GTEST_SKIP() << "medlake built without the ingest module";
  if (out->find(" quarantined") == std::string::npos) GTEST_SKIP() << "unknown ingest summary";
  EXPECT_NE(out->find(" 0 quarantined"), std::string::npos) << *out;
  EXPECT_NE(out->find(std::to_string(shared.stats.TotalFhirResources()) + " stored"),
            std::string::npos)
      << *out;
  EXPECT_EQ(out->find("exit status"), std::string::npos) << *out;
}

// The FHIR and HL7 v2 views of one run are one population: medlake's HL7 v2 mapping gives
// PID-3 the FHIR identifier systems (CX.4 with its ISO OID), so a lake with a key links each
// PID to its FHIR Patient (docs/privacy.md) and holds as many patients as were generated.
TEST(SynthOutputTest, MedlakeIngestsFhirAndHl7v2AsOnePopulation) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  const std::string probe = std::string(MEDLAKE_BINARY) + " init --help >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) GTEST_SKIP() << "medlake built without lake keys";
  const std::string lake = testing::TestDir("lake_joined");
  const std::string log = lake + ".log";
  const std::string bin = MEDLAKE_BINARY;
  const std::string cmd = bin + " init --lake " + lake + " > /dev/null 2>&1 && " + bin +
                          " ingest --lake " + lake + " " + (shared.dir / "fhir").string() + " " +
                          (shared.dir / "hl7v2").string() + " > /dev/null 2>&1 && " + bin +
                          " status --json --lake " + lake + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string status = Slurp(log);
  fs::remove_all(lake);
  fs::remove(log);
  ASSERT_EQ(rc, 0) << status;
  EXPECT_NE(status.find("\"patients\": " + std::to_string(shared.config.patients) + ","),
            std::string::npos)
      << status;
}

TEST(SynthOutputTest, MedlakeIngestsHl7v2WithoutQuarantine) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  const auto out = IngestLog(shared.dir / "hl7v2", "lake_hl7v2");
  if (!out) GTEST_SKIP() << "medlake built without the ingest module";
  if (out->find(" quarantined") == std::string::npos) GTEST_SKIP() << "unknown ingest summary";
  EXPECT_NE(out->find(" 0 quarantined"), std::string::npos) << *out;
  EXPECT_EQ(out->find("exit status"), std::string::npos) << *out;
}

}  // namespace
}  // namespace medlake::synth
