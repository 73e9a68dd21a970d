// HL7 v2 parse and map throughput, against a naive copy-everything parser in the same run.
//
// Usage: medlake_hl7v2_bench [SAMPLES_DIR] [TARGET_MB]
// The corpus is every .hl7 file of SAMPLES_DIR (default: the shared hl7v2-samples), repeated
// until it reaches TARGET_MB (default 32). Prints MB/s, messages/s and the ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "ingest/hl7v2/fhir_mapper.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace hl7 = medlake::hl7v2;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The baseline: what a straightforward parser does. Copies each message, segment and field
// into std::string and unescapes nothing.
struct NaiveMessage {
  std::vector<std::vector<std::string>> segments;
};

std::vector<NaiveMessage> NaiveParse(const std::string& file) {
  std::vector<NaiveMessage> out;
  size_t pos = 0;
  while (pos < file.size()) {
    size_t end = file.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = file.size();
    std::string line = file.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() >= 3 && line[0] == '\xEF') line = line.substr(3);
    if (line.empty()) continue;
    if (line.compare(0, 3, "MSH") == 0) out.emplace_back();
    if (out.empty()) continue;
    std::vector<std::string> fields;
    size_t start = 0;
    while (true) {
      size_t bar = line.find('|', start);
      fields.push_back(
          line.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    out.back().segments.push_back(std::move(fields));
  }
  return out;
}

std::string BuildCorpus(const std::filesystem::path& dir, size_t target_bytes, size_t& files) {
  std::string one;
  std::vector<std::filesystem::path> paths;
  if (std::filesystem::is_directory(dir)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().extension() == ".hl7") paths.push_back(e.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    auto data = medlake::ReadFile(p.string());
    if (!data.ok()) continue;
    one += *data;
    one += "\r";
  }
  files = paths.size();
  if (one.empty()) {
    one =
        "MSH|^~\\&|LAB|GHH|LAKE|LAKE|20240301120000||ORU^R01|LAB-77|P|2.5.1\r"
        "PID|1||MRN123^^^GHH&1.2.3.4&ISO^MR||Doe^Jane||19800101|F\r"
        "PV1|1|I|4E^136^B||||||||||||||||V100\r"
        "OBR|1|PL-1^OE|FL-1^LAB|24331-1^Lipid panel^LN|||20240301090000\r"
        "OBX|1|NM|2093-3^Cholesterol^LN||196|mg/dl|<200|N|||F\r";
  }
  std::string corpus;
  corpus.reserve(target_bytes + one.size());
  while (corpus.size() < target_bytes) corpus += one;
  return corpus;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir =
      argc > 1 ? argv[1] : std::filesystem::path(MEDLAKE_SHARED_DATA) / "hl7v2-samples";
  size_t target_mb = argc > 2 ? std::stoul(argv[2]) : 32;
  size_t files = 0;
  std::string corpus = BuildCorpus(dir, target_mb << 20, files);
  double mb = static_cast<double>(corpus.size()) / (1 << 20);
  std::printf("corpus: %zu sample files repeated to %.1f MB\n", files, mb);

  // medlake: split + segment index (zero-copy).
  auto t0 = Clock::now();
  std::vector<hl7::FileEntry> entries = hl7::ReadMessages(corpus);
  auto t1 = Clock::now();
  size_t messages = entries.size();
  size_t parse_errors = 0;
  for (const auto& e : entries) parse_errors += !e.message.ok();
  double split_s = Seconds(t0, t1);

  // medlake: split + index + visit every field of every segment.
  t0 = Clock::now();
  std::vector<hl7::FileEntry> walked = hl7::ReadMessages(corpus);
  size_t field_bytes = 0;
  for (const auto& e : walked) {
    if (!e.message.ok()) continue;
    for (size_t s = 0; s < e.message->SegmentCount(); ++s) {
      e.message->segment(s).ForEachField(
          [&](size_t, const hl7::Value& v) { field_bytes += v.raw().size(); });
    }
  }
  t1 = Clock::now();
  double walk_s = Seconds(t0, t1);

  // Baseline: naive copy-everything parse.
  t0 = Clock::now();
  std::vector<NaiveMessage> naive = NaiveParse(corpus);
  t1 = Clock::now();
  double naive_s = Seconds(t0, t1);
  size_t naive_bytes = 0;
  for (const auto& m : naive) {
    for (const auto& seg : m.segments) {
      for (const auto& f : seg) naive_bytes += f.size();
    }
  }

  // Mapping to FHIR JSON (supported message types only; others are rejected quickly).
  t0 = Clock::now();
  size_t mapped = 0;
  size_t json_bytes = 0;
  for (const auto& e : entries) {
    if (!e.message.ok()) continue;
    auto r = hl7::MapToFhir(*e.message);
    if (!r.ok()) continue;
    ++mapped;
    for (const auto& res : r->resources) json_bytes += res.json.size();
  }
  t1 = Clock::now();
  double map_s = Seconds(t0, t1);

  std::printf("messages: %zu (%zu parse errors), fields bytes %zu / baseline %zu\n", messages,
              parse_errors, field_bytes, naive_bytes);
  std::printf("%-36s %9.1f MB/s %12.0f messages/s\n", "medlake split+index", mb / split_s,
              messages / split_s);
  std::printf("%-36s %9.1f MB/s %12.0f messages/s\n", "medlake split+index+all fields", mb / walk_s,
              messages / walk_s);
  std::printf("%-36s %9.1f MB/s %12.0f messages/s\n", "baseline naive vector<string>", mb / naive_s,
              messages / naive_s);
  std::printf("ratio medlake(all fields)/baseline: %.2fx\n", naive_s / walk_s);
  std::printf("%-36s %9.1f MB/s %12.0f messages/s (%zu of %zu mapped, %.1f MB JSON out)\n",
              "medlake MapToFhir (after parse)", mb / map_s, messages / map_s, mapped, messages,
              static_cast<double>(json_bytes) / (1 << 20));
  return 0;
}
