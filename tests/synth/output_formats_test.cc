// HL7 v2, VCF, device stream and truth.json outputs, and their agreement with the FHIR view.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "json/json.h"
#include "synth/pgx.h"
#include "test_output.h"

namespace medlake::synth {
namespace {

namespace fs = std::filesystem;
using testing::Lines;
using testing::SharedOutput;
using testing::Slurp;

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(sep, pos);
    out.emplace_back(s.substr(pos, next == std::string_view::npos ? s.npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

struct Hl7Message {
  std::vector<std::vector<std::string>> segments;  // fields; [0] is the segment id
  const std::vector<std::string>* Find(std::string_view id) const {
    for (const auto& s : segments) {
      if (s[0] == id) return &s;
    }
    return nullptr;
  }
};

// Parses every day file, checking well-formedness on the way.
std::vector<Hl7Message> ReadHl7(const fs::path& dir) {
  std::vector<Hl7Message> messages;
  const std::regex segment_id("[A-Z][A-Z0-9]{2}");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    const std::string text = Slurp(file);
    EXPECT_EQ(file.extension(), ".hl7");
    EXPECT_EQ(text.rfind("MSH|^~\\&|", 0), 0u) << file;
    EXPECT_EQ(text.find('\n'), std::string::npos) << file;
    EXPECT_EQ(text.back(), '\r') << file;
    const std::string day = file.stem().string();  // YYYY-MM-DD
    const std::string hl7_day = day.substr(0, 4) + day.substr(5, 2) + day.substr(8, 2);
    std::string last_time;
    for (const std::string& seg : Split(std::string_view(text).substr(0, text.size() - 1), '\r')) {
      EXPECT_FALSE(seg.empty()) << file;
      auto fields = Split(seg, '|');
      EXPECT_TRUE(std::regex_match(fields[0], segment_id)) << file << ": " << fields[0];
      if (fields[0] == "MSH") {
        EXPECT_GE(fields.size(), 12u);
        EXPECT_EQ(fields[1], "^~\\&");
        EXPECT_EQ(fields[11], "2.5");
        EXPECT_EQ(fields[6].substr(0, 8), hl7_day) << file;
        EXPECT_GE(fields[6], last_time) << file << ": messages out of time order";
        last_time = fields[6];
        messages.emplace_back();
      } else {
        EXPECT_FALSE(messages.empty());
      }
      messages.back().segments.push_back(std::move(fields));
    }
  }
  return messages;
}

TEST(SynthHl7v2Test, MessagesAreWellFormedAndMatchFhirEncounters) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok()) << shared.status.ToString();
  const auto messages = ReadHl7(shared.dir / "hl7v2");
  ASSERT_EQ(messages.size(), shared.stats.hl7_messages);
  // FHIR view: visit number -> (class, patient MRN, disposition).
  json::Parser parser;
  std::map<std::string, std::string> mrn_of_patient;
  for (const std::string& line : Lines(shared.dir / "fhir" / "Patient.ndjson")) {
    auto doc = parser.Parse(line);
    ASSERT_TRUE(doc.ok());
    std::string mrn;
    doc->Find("identifier")->ForEachItem([&](json::Node id) {
      if (id.Find("system")->GetString() == "urn:oid:2.999.1.1") {
        mrn = std::string(id.Find("value")->GetString());
      }
      return true;
    });
    mrn_of_patient["Patient/" + std::string(doc->Find("id")->GetString())] = mrn;
  }
  std::map<std::string, std::string> class_of_visit, mrn_of_visit;
  int heart_rates_fhir = 0;
  for (const std::string& line : Lines(shared.dir / "fhir" / "Encounter.ndjson")) {
    auto doc = parser.Parse(line);
    ASSERT_TRUE(doc.ok());
    std::string value;
    doc->Find("identifier")->ForEachItem([&](json::Node id) {
      value = std::string(id.Find("value")->GetString());
      return false;
    });
    class_of_visit[value] = std::string(doc->Find("class")->Find("code")->GetString());
    mrn_of_visit[value] =
        mrn_of_patient.at(std::string(doc->Find("subject")->Find("reference")->GetString()));
  }
  for (const std::string& line : Lines(shared.dir / "fhir" / "Observation.ndjson")) {
    if (line.find("\"8867-4\"") != std::string::npos) ++heart_rates_fhir;
  }
  std::set<std::string> admitted, registered, discharged;
  int heart_rates_hl7 = 0;
  for (const Hl7Message& m : messages) {
    const auto& msh = *m.Find("MSH");
    const auto* pid = m.Find("PID");
    const auto* pv1 = m.Find("PV1");
    ASSERT_TRUE(pid && pv1);
    ASSERT_GT(pv1->size(), 19u);
    const std::string visit = (*pv1)[19];
    ASSERT_TRUE(class_of_visit.count(visit)) << "HL7 visit without FHIR Encounter: " << visit;
    if (pid->size() > 29 && !(*pid)[29].empty()) {
      EXPECT_LE((*pid)[29], msh[6]) << "death reported before it happened";
    }
    const std::string mrn = Split((*pid)[3], '^')[0];
    EXPECT_EQ(mrn, mrn_of_visit.at(visit));
    const std::string type = msh[8];
    if (type == "ADT^A01^ADT_A01") {
      EXPECT_EQ(class_of_visit.at(visit), "IMP");
      admitted.insert(visit);
    } else if (type == "ADT^A04^ADT_A01") {
      EXPECT_EQ(class_of_visit.at(visit), "EMER");
      registered.insert(visit);
    } else if (type == "ADT^A03^ADT_A03") {
      discharged.insert(visit);
    } else if (type == "ORU^R01^ORU_R01") {
      for (const auto& seg : m.segments) {
        if (seg[0] == "OBX" && seg[3].rfind("8867-4^", 0) == 0) ++heart_rates_hl7;
      }
    } else {
      EXPECT_TRUE(type == "ADT^A02^ADT_A02" || type == "ADT^A08^ADT_A01") << type;
    }
  }
  int inpatient = 0, emergency = 0;
  for (const auto& [visit, cls] : class_of_visit) {
    inpatient += cls == "IMP";
    emergency += cls == "EMER";
    if (cls != "AMB") {
      EXPECT_TRUE(discharged.count(visit)) << visit;
    }
  }
  EXPECT_GT(inpatient, 0);
  EXPECT_EQ(admitted.size(), static_cast<size_t>(inpatient));
  EXPECT_EQ(registered.size(), static_cast<size_t>(emergency));
  EXPECT_EQ(heart_rates_hl7, heart_rates_fhir);
}

TEST(SynthHl7v2Test, StreamLayoutHoldsTheSameMessagesInOneFile) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  SynthConfig config = shared.config;
  config.out_dir = testing::TestDir("hl7stream");
  config.formats = Formats{false, true, false, false};
  config.hl7v2_stream = true;
  auto stats = Generate(config);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const fs::path dir = fs::path(config.out_dir) / "hl7v2";
  ASSERT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  const std::string stream = Slurp(dir / "messages.hl7");
  // Same bytes as the day files concatenated in date order.
  std::vector<fs::path> days;
  for (const auto& e : fs::directory_iterator(shared.dir / "hl7v2")) days.push_back(e.path());
  std::sort(days.begin(), days.end());
  std::string concatenated;
  for (const fs::path& d : days) concatenated += Slurp(d);
  EXPECT_TRUE(stream == concatenated);
  EXPECT_EQ(stats->hl7_messages, shared.stats.hl7_messages);
  fs::remove_all(config.out_dir);
}

TEST(SynthVcfTest, HeaderColumnsAndGenotypes) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  const auto lines = Lines(shared.dir / "vcf" / "genotypes.vcf");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "##fileformat=VCFv4.2");
  size_t header = 0;
  while (header < lines.size() && lines[header].rfind("##", 0) == 0) ++header;
  ASSERT_LT(header, lines.size());
  const auto columns = Split(lines[header], '\t');
  ASSERT_EQ(columns.size(), 9 + shared.config.patients);
  EXPECT_EQ(columns[0], "#CHROM");
  EXPECT_EQ(columns[8], "FORMAT");
  // Sample names are the FHIR Patient ids, in order.
  json::Parser parser;
  const auto patients = Lines(shared.dir / "fhir" / "Patient.ndjson");
  for (size_t i = 0; i < patients.size(); ++i) {
    auto doc = parser.Parse(patients[i]);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ(columns[9 + i], doc->Find("id")->GetString());
  }
  const std::regex gt("[0-9]\\|[0-9]");
  size_t rows = 0;
  std::string last_chrom;
  long last_pos = 0;
  for (size_t i = header + 1; i < lines.size(); ++i) {
    const auto f = Split(lines[i], '\t');
    ASSERT_EQ(f.size(), columns.size()) << "row " << i;
    EXPECT_EQ(f[8], "GT");
    const long pos = std::stol(f[1]);
    if (f[0] == last_chrom) {
      EXPECT_GT(pos, last_pos);
    }
    last_chrom = f[0];
    last_pos = pos;
    for (size_t c = 9; c < f.size(); ++c) ASSERT_TRUE(std::regex_match(f[c], gt)) << f[c];
    ++rows;
  }
  EXPECT_EQ(rows, kPgxPositions.size());
  const std::string meta = Slurp(shared.dir / "vcf" / "genotypes.vcf");
  EXPECT_NE(meta.find("##contig=<ID=chr10"), std::string::npos);
  EXPECT_NE(meta.find("rs4244285"), std::string::npos);  // CYP2C19*2 at its GRCh38 position
  EXPECT_NE(meta.find("94781859"), std::string::npos);
}

// The VCF carries every PharmCAT position of each gene, and each haplotype there is exactly
// the named allele truth.json states (PharmCAT's definitions: an unspecified position is the
// reference named allele's, an IUPAC code matches any base it covers), matched by no other
// named allele as specific, so that PharmCAT could call the stated diplotypes.
TEST(SynthVcfTest, TruthDiplotypesAreCallableFromPharmCatPositions) {
  const fs::path defs = fs::path(MEDLAKE_SHARED_DATA) / "pharmcat" / "definitions" / "alleles";
  if (!fs::exists(defs)) GTEST_SKIP() << "../shared/data/pharmcat not present";
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  // VCF rows by (gene, position): REF + ALTs and the genotype columns.
  std::map<std::pair<std::string, long>, std::vector<std::string>> rows;
  for (const std::string& line : Lines(shared.dir / "vcf" / "genotypes.vcf")) {
    if (line.starts_with("#")) continue;
    auto f = Split(line, '\t');
    rows[{f[7].substr(3), std::stol(f[1])}] = f;
  }
  const auto truth = nlohmann::json::parse(Slurp(shared.dir / "truth.json"));
  const std::map<char, std::string> iupac = {{'R', "AG"},  {'Y', "CT"},  {'S', "CG"},  {'W', "AT"},
                                             {'K', "GT"},  {'M', "AC"},  {'B', "CGT"}, {'D', "AGT"},
                                             {'H', "ACT"}, {'V', "ACG"}, {'N', "ACGT"}};
  auto matches = [&](const std::string& base, const std::string& def) {
    if (base == def) return true;
    auto it = def.size() == 1 ? iupac.find(def[0]) : iupac.end();
    return it != iupac.end() && base.size() == 1 && it->second.find(base[0]) != std::string::npos;
  };
  for (const PgxGene& gene : kPgxGenes) {
    const std::string name(gene.name);
    std::ifstream in(defs / (name + "_translation.json"));
    const auto d = nlohmann::json::parse(in);
    const auto& variants = d["variants"];
    const auto& named = d["namedAlleles"];
    nlohmann::json reference;
    for (const auto& a : named) {
      if (a.value("reference", false)) reference = a;
    }
    for (const auto& v : variants) {
      ASSERT_TRUE(rows.count({name, v["position"].get<long>()})) << name << " " << v["position"];
    }
    // The most specific named allele the bases match, and how many others match as well.
    auto call = [&](const std::vector<std::string>& bases, int& ties) {
      std::string best;
      int best_score = -1;
      ties = 0;
      for (const auto& a : named) {
        int score = 0;
        bool ok = true;
        for (size_t i = 0; i < variants.size() && ok; ++i) {
          const auto& def = a["alleles"][i].is_null() ? reference["alleles"][i] : a["alleles"][i];
          score += !a["alleles"][i].is_null();
          ok = matches(bases[i], def.get<std::string>());
        }
        if (!ok) continue;
        if (score > best_score) {
          best = a["name"], best_score = score, ties = 0;
        } else if (score == best_score) {
          ++ties;
        }
      }
      return best;
    };
    // Haplotype `h` of patient column `column` (-1: allele `a`'s row of kPgxAlleleCalls).
    auto bases_of = [&](int column, int h, int a) {
      std::vector<std::string> bases;
      for (const auto& v : variants) {
        const auto& f = rows[{name, v["position"].get<long>()}];
        std::vector<std::string> alleles = Split(f[4], ',');
        alleles.insert(alleles.begin(), f[3]);
        size_t index = 0;
        if (column >= 0) {
          index = f[9 + column][2 * h] - '0';
        } else {
          for (const PgxPosition& pos : kPgxPositions) {
            if (pos.chrom == f[0] && pos.pos == std::stol(f[1])) {
              index = kPgxAlleleCalls[pos.gene][a].gt[pos.index] - '0';
            }
          }
        }
        bases.push_back(alleles[index]);
      }
      return bases;
    };
    // Every allele the model draws, rare ones included.
    for (int a = 0; a < gene.num_alleles; ++a) {
      int ties = 0;
      EXPECT_EQ(call(bases_of(-1, 0, a), ties), gene.alleles[a].name) << name;
      EXPECT_EQ(ties, 0) << name << " " << gene.alleles[a].name;
    }
    // The generated patients' haplotypes against truth.json.
    for (size_t p = 0; p < shared.config.patients; ++p) {
      const std::string stated = truth["patients"][p]["pgx"][name];
      for (int h = 0; h < 2; ++h) {
        int ties = 0;
        EXPECT_EQ(call(bases_of(static_cast<int>(p), h, 0), ties), Split(stated, '/')[h])
            << name << " patient " << p << " haplotype " << h;
        EXPECT_EQ(ties, 0) << name << " patient " << p;
      }
    }
  }
}

// With --vcf-per-patient, each patient's file holds the same rows and genotypes as that
// patient's column of the multi-sample file.
TEST(SynthVcfTest, PerPatientFilesMatchTheMultiSampleFile) {
  SynthConfig config = testing::SmallConfig(testing::TestDir("vcf_per_patient"), 70);
  config.formats = Formats{false, false, true, false};
  config.vcf_per_patient = true;
  Result<SynthStats> stats = Generate(config);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const fs::path dir(config.out_dir);
  const auto all = Lines(dir / "vcf" / "genotypes.vcf");
  size_t header = 0;
  while (header < all.size() && all[header].rfind("##", 0) == 0) ++header;
  ASSERT_LT(header, all.size());
  const auto samples = Split(all[header], '\t');
  ASSERT_EQ(samples.size(), 9 + config.patients);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir / "vcf" / "patients")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, config.patients);
  for (size_t p = 0; p < config.patients; ++p) {
    const auto one = Lines(dir / "vcf" / "patients" / (samples[9 + p] + ".vcf"));
    ASSERT_EQ(one.size(), all.size()) << samples[9 + p];
    for (size_t i = 0; i < header; ++i) EXPECT_EQ(one[i], all[i]);
    const auto columns = Split(one[header], '\t');
    ASSERT_EQ(columns.size(), 10u);
    EXPECT_EQ(columns[9], samples[9 + p]);
    for (size_t i = header + 1; i < all.size(); ++i) {
      const auto a = Split(all[i], '\t');
      const auto b = Split(one[i], '\t');
      ASSERT_EQ(b.size(), 10u);
      for (size_t c = 0; c < 9; ++c) EXPECT_EQ(a[c], b[c]);
      EXPECT_EQ(b[9], a[9 + p]) << samples[9 + p] << " row " << i;
    }
  }
  fs::remove_all(dir);
}

TEST(SynthDeviceTest, ReadingsAreTimeOrderedAndPointToBedsAndPatients) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  std::set<std::string> locations, patients;
  json::Parser parser;
  for (const std::string& line : Lines(shared.dir / "fhir" / "Location.ndjson")) {
    locations.insert(std::string(parser.Parse(line)->Find("id")->GetString()));
  }
  for (const std::string& line : Lines(shared.dir / "fhir" / "Patient.ndjson")) {
    patients.insert(std::string(parser.Parse(line)->Find("id")->GetString()));
  }
  const auto lines = Lines(shared.dir / "device" / "readings.ndjson");
  ASSERT_EQ(lines.size(), shared.stats.device_readings);
  ASSERT_FALSE(lines.empty());
  std::string last;
  for (const std::string& line : lines) {
    auto doc = parser.Parse(line);
    ASSERT_TRUE(doc.ok()) << line;
    const std::string time(doc->Find("time")->GetString());
    EXPECT_GE(time, last);
    last = time;
    const std::string device(doc->Find("device")->GetString());
    ASSERT_EQ(device.rfind("mon-", 0), 0u);
    EXPECT_TRUE(locations.count(device.substr(4))) << device;
    EXPECT_TRUE(patients.count(std::string(doc->Find("patient")->GetString())));
    EXPECT_TRUE(doc->Find("value")->IsNumber());
    EXPECT_TRUE(doc->Find("vital") && doc->Find("unit"));
  }
}

TEST(SynthTruthTest, OutcomesMatchTheFhirView) {
  const SharedOutput& shared = SharedOutput::Get();
  ASSERT_TRUE(shared.status.ok());
  const nlohmann::json truth = nlohmann::json::parse(Slurp(shared.dir / "truth.json"));
  ASSERT_EQ(truth["patients"].size(), shared.config.patients);
  EXPECT_EQ(truth["parameters"]["seed"], shared.config.seed);
  std::map<std::string, std::string> disposition;  // Encounter id -> discharge disposition
  json::Parser parser;
  for (const std::string& line : Lines(shared.dir / "fhir" / "Encounter.ndjson")) {
    auto doc = parser.Parse(line);
    ASSERT_TRUE(doc.ok());
    if (doc->Find("class")->Find("code")->GetString() != "IMP") continue;
    std::string code;
    doc->Find("hospitalization")
        ->Find("dischargeDisposition")
        ->Find("coding")
        ->ForEachItem([&](json::Node c) {
          code = std::string(c.Find("code")->GetString());
          return false;
        });
    disposition[std::string(doc->Find("id")->GetString())] = code;
  }
  size_t stays = 0;
  for (const auto& p : truth["patients"]) {
    bool died_in_stay = false;
    for (const auto& s : p["stays"]) {
      ++stays;
      const std::string id = s["encounter"];
      ASSERT_TRUE(disposition.count(id)) << id;
      EXPECT_EQ(disposition[id] == "exp", s["died"].get<bool>()) << id;
      died_in_stay |= s["died"].get<bool>();
      const double p_death = s["p_death"];
      EXPECT_GE(p_death, 0.0);
      EXPECT_LE(p_death, 1.0);
    }
    EXPECT_EQ(p["died_in_hospital"].get<bool>(), died_in_stay);
    if (died_in_stay) {
      EXPECT_FALSE(p["death"].is_null());
    }
  }
  EXPECT_EQ(stays, disposition.size());
}

}  // namespace
}  // namespace medlake::synth
