// Cost of encrypting segments at rest (privacy/segment_cipher.h), issue #6: target < 15 %.
//
//   medlake_bench_segment_crypto INPUT_DIR [ROUNDS]
//
// Ingests INPUT_DIR into a lake without a key (timed: the whole ingest, for scale), reads back
// every row of its segments, then, ROUNDS times, rewrites all of them as plain segments and as
// encrypted segments (encode, compress, seal, write, fsync: what ingest does per segment) and
// scans both sets (open, decode the columns, read every resource: what every lake scan does;
// then the same with a JSON parse of every resource, the least a view or FHIRPath query does).
// Prints the median times and the ratios encrypted / plain; the ingest cost is the extra write
// time as a share of the whole ingest.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "ingest/ingest.h"
#include "median.h"
#include "medlake/lake.h"
#include "store/segment.h"

namespace fs = std::filesystem;
using medlake::store::Row;
using medlake::store::SegmentCipher;
using medlake::store::SegmentReader;

namespace {

using medlake::bench::Median;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

[[noreturn]] void Die(const medlake::Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  std::exit(1);
}

struct Segment {
  uint32_t shard;
  std::vector<Row> rows;
};

double WriteAll(const std::vector<Segment>& segments, const std::string& dir,
                const SegmentCipher* cipher, uint64_t& bytes) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  bytes = 0;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < segments.size(); ++i) {
    auto n = medlake::store::WriteSegment(dir + "/seg-" + std::to_string(i) + ".mls",
                                          segments[i].shard, segments[i].rows, cipher);
    if (!n.ok()) Die(n.status());
    bytes += *n;
  }
  return Seconds(start);
}

// Scans every segment kScanPasses times (one pass takes milliseconds) and returns the time of
// one pass.
constexpr int kScanPasses = 10;
double ScanAll(size_t count, const std::string& dir, const SegmentCipher* cipher,
               uint64_t& resource_bytes, bool parse) {
  simdjson::dom::parser parser;
  resource_bytes = 0;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < count * kScanPasses; ++i) {
    auto reader = SegmentReader::Open(dir + "/seg-" + std::to_string(i % count) + ".mls", cipher);
    if (!reader.ok()) Die(reader.status());
    for (uint32_t row = 0; row < (*reader)->columns().rows; ++row) {
      auto json = (*reader)->Resource(row);
      if (!json.ok()) Die(json.status());
      resource_bytes += json->size();
      if (parse && parser.parse(json->data(), json->size()).error()) {
        std::fprintf(stderr, "error: a stored resource does not parse\n");
        std::exit(1);
      }
    }
  }
  resource_bytes /= kScanPasses;
  return Seconds(start) / kScanPasses;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: medlake_bench_segment_crypto INPUT_DIR [ROUNDS]\n");
    return 2;
  }
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  fs::path work = fs::temp_directory_path() / ("medlake-crypto-bench-" + std::to_string(getpid()));
  fs::create_directories(work);
  const std::string lake_dir = (work / "lake").string();

  auto ingest_start = std::chrono::steady_clock::now();
  auto report = medlake::ingest::Ingest(lake_dir, {argv[1]}, {});
  if (!report.ok()) Die(report.status());
  const double ingest_s = Seconds(ingest_start);

  auto lake = medlake::Lake::Open(lake_dir);
  if (!lake.ok()) Die(lake.status());
  std::vector<Segment> segments;
  uint64_t rows = 0;
  for (const auto& info : (*lake)->segments()) {
    auto reader = SegmentReader::Open(lake_dir + "/" + info.file);
    if (!reader.ok()) Die(reader.status());
    Segment seg{info.shard, {}};
    for (uint32_t r = 0; r < (*reader)->columns().rows; ++r) {
      auto row = (*reader)->ReadRow(r);
      if (!row.ok()) Die(row.status());
      seg.rows.push_back(std::move(*row));
    }
    rows += seg.rows.size();
    segments.push_back(std::move(seg));
  }

  std::array<uint8_t, medlake::privacy::kKeyBytes> key_bytes;
  for (size_t i = 0; i < key_bytes.size(); ++i) key_bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  SegmentCipher cipher{medlake::privacy::SecretKey(key_bytes)};

  std::vector<double> write_plain, write_sealed, scan_plain, scan_sealed, parse_plain, parse_sealed;
  uint64_t bytes_plain = 0, bytes_sealed = 0, json_bytes = 0;
  const std::string plain_dir = (work / "plain").string(), sealed_dir = (work / "sealed").string();
  const size_t n = segments.size();
  for (int r = 0; r < rounds; ++r) {
    write_plain.push_back(WriteAll(segments, plain_dir, nullptr, bytes_plain));
    write_sealed.push_back(WriteAll(segments, sealed_dir, &cipher, bytes_sealed));
    // Alternating which goes first, so that neither always runs on a warmer machine.
    for (bool parse : {false, true}) {
      auto& plain = parse ? parse_plain : scan_plain;
      auto& sealed = parse ? parse_sealed : scan_sealed;
      if (r % 2) sealed.push_back(ScanAll(n, sealed_dir, &cipher, json_bytes, parse));
      plain.push_back(ScanAll(n, plain_dir, nullptr, json_bytes, parse));
      if (r % 2 == 0) sealed.push_back(ScanAll(n, sealed_dir, &cipher, json_bytes, parse));
    }
  }
  fs::remove_all(work);

  const double wp = Median(write_plain), ws = Median(write_sealed);
  const double sp = Median(scan_plain), ss = Median(scan_sealed);
  const double pp = Median(parse_plain), ps = Median(parse_sealed);
  std::printf(
      "input: %llu resources in %zu segments, %.1f MB of JSON, %.1f MB on disk plain, "
      "%.1f MB encrypted; median of %d rounds, one thread\n",
      static_cast<unsigned long long>(rows), segments.size(), json_bytes / 1e6, bytes_plain / 1e6,
      bytes_sealed / 1e6, rounds);
  std::printf("%-36s %10s %10s %8s\n", "", "plain", "encrypted", "ratio");
  std::printf("%-36s %9.3fs %9.3fs %7.3fx\n", "write segments (incl. fsync)", wp, ws, ws / wp);
  std::printf("%-36s %9.3fs %9.3fs %7.3fx\n", "scan segments (every resource)", sp, ss, ss / sp);
  std::printf("%-36s %9.3fs %9.3fs %7.3fx\n", "scan and parse (simdjson DOM)", pp, ps, ps / pp);
  std::printf("%-36s %9.3fs  (+%.1f %% at most: the extra write time, one thread)\n",
              "whole ingest, 2 threads", ingest_s, 100.0 * (ws - wp) / ingest_s);
  return 0;
}
