// The minifier every ingested resource goes through (json/minify.h), each kernel this machine
// runs against simdjson::minify on the same bytes, in the same run.
//
//   medlake_bench_minify [--rounds R] PATH...
//
// Reads every .json and .ndjson file under the PATHs into memory (pretty-printed Bundles are
// half whitespace; NDJSON lines have none outside strings: the two cases a kernel meets), then
// minifies each .json file and each NDJSON line, as ingest does, R times per kernel (default 5) and
// prints the median GB/s of input on one core, and each kernel's speed as a ratio to
// simdjson::minify.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "json/minify.h"

namespace fs = std::filesystem;
using medlake::json::MinifyKernel;

namespace {

struct Input {
  std::string name;
  std::vector<std::string> texts;  // one per file
  size_t bytes = 0;
};

// A .json file is minified whole, an NDJSON file line by line, as ingest does.
void Load(const fs::path& path, bool by_line, Input& input) {
  std::ifstream in(path, std::ios::binary);
  if (!by_line) {
    std::stringstream text;
    text << in.rdbuf();
    input.bytes += text.str().size();
    input.texts.push_back(std::move(text).str());
    return;
  }
  for (std::string line; std::getline(in, line);) {
    input.bytes += line.size();
    input.texts.push_back(std::move(line));
  }
}

// Median GB/s of `minify` over every text of `input`, `rounds` times.
template <typename Minify>
double GigabytesPerSecond(const Input& input, int rounds, Minify minify) {
  size_t largest = 0;
  for (const auto& text : input.texts) largest = std::max(largest, text.size());
  std::string out(largest + medlake::json::kMinifySlack, '\0');
  std::vector<double> speeds;
  size_t kept = 0;
  for (int round = 0; round < rounds; ++round) {
    auto start = std::chrono::steady_clock::now();
    for (const auto& text : input.texts) kept += minify(text, out.data());
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    speeds.push_back(static_cast<double>(input.bytes) / seconds / 1e9);
  }
  if (kept == 0 && input.bytes != 0) std::fprintf(stderr, "nothing kept\n");
  std::sort(speeds.begin(), speeds.end());
  return speeds[speeds.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  Input pretty{"JSON (.json)"}, lines{"NDJSON (.ndjson)"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
      continue;
    }
    auto load = [&](const fs::path& path) {
      if (path.extension() == ".json") Load(path, false, pretty);
      if (path.extension() == ".ndjson") Load(path, true, lines);
    };
    if (!fs::is_directory(arg)) {
      load(arg);
      continue;
    }
    for (const auto& entry : fs::recursive_directory_iterator(arg)) {
      if (entry.is_regular_file()) load(entry.path());
    }
  }
  if (pretty.bytes == 0 && lines.bytes == 0) {
    std::fprintf(stderr, "usage: medlake_bench_minify [--rounds R] PATH...  (no .json/.ndjson)\n");
    return 2;
  }
  const struct {
    MinifyKernel kernel;
    const char* name;
  } kernels[] = {{MinifyKernel::kAvx512, "AVX-512 VBMI2"},
                 {MinifyKernel::kAvx2, "AVX2"},
                 {MinifyKernel::kPortable, "portable"}};
  for (const Input* input : {&pretty, &lines}) {
    if (input->bytes == 0) continue;
    const double baseline =
        GigabytesPerSecond(*input, rounds, [](const std::string& text, char* out) {
          size_t len = 0;
          if (simdjson::minify(text.data(), text.size(), out, len)) std::abort();
          return len;
        });
    std::printf("%-17s %6.1f MB in %zu texts | simdjson::minify %5.2f GB/s\n", input->name.c_str(),
                static_cast<double>(input->bytes) / 1e6, input->texts.size(), baseline);
    for (const auto& k : kernels) {
      if (!medlake::json::MinifyKernelSupported(k.kernel)) {
        std::printf("  %-14s not on this machine\n", k.name);
        continue;
      }
      const double speed =
          GigabytesPerSecond(*input, rounds, [&](const std::string& text, char* out) {
            auto len = medlake::json::MinifyWith(k.kernel, text, out);
            if (!len.ok()) std::abort();
            return *len;
          });
      std::printf("  %-14s %5.2f GB/s | kernel/simdjson %.2f\n", k.name, speed, speed / baseline);
    }
  }
  return 0;
}
