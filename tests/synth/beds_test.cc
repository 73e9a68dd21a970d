// Bed occupancy: at any instant one patient per bed, in the FHIR and in the HL7 v2 view.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "json/json.h"
#include "test_output.h"

namespace medlake::synth {
namespace {

namespace fs = std::filesystem;
using testing::Lines;
using testing::Slurp;

// Periods [start, end) per bed, times as sortable strings, with the visit that held the bed.
struct Period {
  std::string start;
  std::string end;
  std::string visit;
};
using Occupancy = std::map<std::string, std::vector<Period>>;

// Returns "bed: visit A [s, e) overlaps visit B [s, e)" for each overlap.
std::vector<std::string> Overlaps(Occupancy& beds) {
  std::vector<std::string> out;
  for (auto& [bed, periods] : beds) {
    std::sort(periods.begin(), periods.end(),
              [](const Period& a, const Period& b) { return a.start < b.start; });
    for (size_t i = 1; i < periods.size(); ++i) {
      const Period& a = periods[i - 1];
      const Period& b = periods[i];
      if (b.start < a.end) {
        out.push_back(bed + ": " + a.visit + " [" + a.start + ", " + a.end + ") and " + b.visit +
                      " [" + b.start + ", " + b.end + ")");
      }
    }
  }
  return out;
}

Occupancy FhirOccupancy(const fs::path& dir) {
  Occupancy beds;
  json::Parser parser;
  for (const std::string& line : Lines(dir / "fhir" / "Encounter.ndjson")) {
    auto doc = parser.Parse(line);
    EXPECT_TRUE(doc.ok());
    if (!doc.ok()) continue;
    const std::string id(doc->Find("id")->GetString());
    std::optional<json::Node> locations = doc->Find("location");
    if (!locations) continue;
    locations->ForEachItem([&](json::Node l) {
      std::string type;
      l.Find("physicalType")->Find("coding")->ForEachItem([&](json::Node c) {
        type = std::string(c.Find("code")->GetString());
        return false;
      });
      if (type == "bd") {
        // "Location/bed-car-012" -> "car-012"
        const std::string ref(l.Find("location")->Find("reference")->GetString());
        beds[ref.substr(std::string("Location/bed-").size())].push_back(
            {std::string(l.Find("period")->Find("start")->GetString()),
             std::string(l.Find("period")->Find("end")->GetString()), id});
      }
      return true;
    });
  }
  return beds;
}

std::vector<std::string> Fields(std::string_view segment) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t bar = segment.find('|', pos);
    out.emplace_back(segment.substr(pos, bar == std::string_view::npos ? segment.npos : bar - pos));
    if (bar == std::string_view::npos) return out;
    pos = bar + 1;
  }
}

// Bed periods from the ADT messages: A01/A04 open one at PV1-3, A02 closes PV1-6's and opens
// PV1-3's, A03 closes the open one. Times are MSH-7.
Occupancy Hl7Occupancy(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir / "hl7v2")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Occupancy beds;
  std::map<std::string, std::pair<std::string, std::string>> open;  // visit -> (bed, since)
  auto bed_key = [](const std::string& pl) {
    // "car^^012^HOSP1" -> "car-012"
    const size_t a = pl.find('^');
    const size_t b = pl.find('^', a + 2);
    return pl.substr(0, a) + "-" + pl.substr(a + 2, b - a - 2);
  };
  for (const fs::path& file : files) {
    const std::string text = Slurp(file);
    std::string time, event;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t cr = text.find('\r', pos);
      const std::vector<std::string> f = Fields(std::string_view(text).substr(pos, cr - pos));
      pos = cr + 1;
      if (f[0] == "MSH") {
        time = f[6];
        event = f[8];
      } else if (f[0] == "PV1" && event.rfind("ADT^", 0) == 0) {
        const std::string& visit = f[19];
        if (event == "ADT^A01^ADT_A01" || event == "ADT^A04^ADT_A01") {
          EXPECT_FALSE(open.count(visit)) << visit;
          open[visit] = {bed_key(f[3]), time};
        } else if (event == "ADT^A02^ADT_A02") {
          EXPECT_EQ(open.at(visit).first, bed_key(f[6])) << visit << ": A02 prior bed";
          beds[open[visit].first].push_back({open[visit].second, time, visit});
          open[visit] = {bed_key(f[3]), time};
        } else if (event == "ADT^A03^ADT_A03") {
          beds[open.at(visit).first].push_back({open[visit].second, time, visit});
          open.erase(visit);
        }
      }
    }
  }
  EXPECT_TRUE(open.empty()) << open.size() << " visits never discharged";
  return beds;
}

// A dense population: 2,000 patients share a hospital of 60 beds (the minimum) for a year.
const fs::path& DenseOutput() {
  static const fs::path dir = [] {
    SynthConfig c = testing::SmallConfig(testing::TestDir("beds"), 2'000);
    c.years = 1;
    c.bundles = false;
    c.formats.vcf = false;
    c.formats.device = false;
    Result<SynthStats> r = Generate(c);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return fs::path(c.out_dir);
  }();
  return dir;
}

class SynthBedsTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(DenseOutput(), ec);
  }
};

TEST_F(SynthBedsTest, NoBedHoldsTwoPatientsInFhir) {
  Occupancy beds = FhirOccupancy(DenseOutput());
  size_t periods = 0;
  for (const auto& [bed, p] : beds) periods += p.size();
  EXPECT_GT(periods, 500u);
  const std::vector<std::string> overlaps = Overlaps(beds);
  EXPECT_TRUE(overlaps.empty()) << overlaps.size() << " overlaps, first: " << overlaps.front();
}

TEST_F(SynthBedsTest, NoBedHoldsTwoPatientsInHl7v2AndBothViewsAgree) {
  Occupancy hl7 = Hl7Occupancy(DenseOutput());
  const std::vector<std::string> overlaps = Overlaps(hl7);
  EXPECT_TRUE(overlaps.empty()) << overlaps.size() << " overlaps, first: " << overlaps.front();
  Occupancy fhir = FhirOccupancy(DenseOutput());
  ASSERT_EQ(hl7.size(), fhir.size());
  for (const auto& [bed, periods] : fhir) {
    ASSERT_TRUE(hl7.count(bed)) << bed;
    EXPECT_EQ(hl7.at(bed).size(), periods.size()) << bed;
  }
}

TEST_F(SynthBedsTest, EveryBedUsedIsALocation) {
  std::set<std::string> locations;
  json::Parser parser;
  for (const std::string& line : Lines(DenseOutput() / "fhir" / "Location.ndjson")) {
    auto doc = parser.Parse(line);
    ASSERT_TRUE(doc.ok());
    locations.insert(std::string(doc->Find("id")->GetString()));
  }
  for (const auto& [bed, periods] : FhirOccupancy(DenseOutput())) {
    EXPECT_TRUE(locations.count("bed-" + bed)) << bed;
  }
}

}  // namespace
}  // namespace medlake::synth
