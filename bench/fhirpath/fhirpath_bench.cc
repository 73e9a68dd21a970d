// FHIRPath and ViewDefinition throughput against the reference JavaScript implementation
// (npm `fhirpath`, run by baseline.js with Node.js) on the same resources, in the same run.
//
//   medlake_bench_fhirpath EXPRESSIONS.txt VIEW.json FILE.ndjson...
//
// Prints resources/s, MB/s and peak RSS of each side, the ratio, and whether both sides
// returned the same number of result items (a correctness cross-check).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fhirpath/fhirpath.h"
#include "json/json.h"
#include "views/view.h"

using Clock = std::chrono::steady_clock;

namespace {

// The file's bytes, followed by json::kPadding readable bytes so lines parse in place.
std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text(std::istreambuf_iterator<char>(in), {});
  size_t size = text.size();
  text.append(medlake::json::kPadding, '\0');
  text.resize(size);
  return text;
}

std::vector<std::string_view> Lines(const std::string& text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.emplace_back(text.data() + pos, nl - pos);
    pos = nl + 1;
  }
  return out;
}

long PeakRssKb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: medlake_bench_fhirpath EXPRESSIONS.txt VIEW.json FILE.ndjson...\n");
    return 2;
  }
  std::vector<medlake::fhirpath::Expression> exprs;
  {
    std::istringstream in(Slurp(argv[1]));
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto e = medlake::fhirpath::Expression::Compile(line);
      if (!e.ok()) {
        std::fprintf(stderr, "%s\n", e.status().ToString().c_str());
        return 1;
      }
      exprs.push_back(std::move(*e));
    }
  }
  auto view = medlake::views::View::Parse(Slurp(argv[2]));
  if (!view.ok()) {
    std::fprintf(stderr, "%s\n", view.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> texts;
  std::string file_list;
  size_t bytes = 0;
  for (int i = 3; i < argc; ++i) {
    texts.push_back(Slurp(argv[i]));
    bytes += texts.back().size();
    file_list += std::string(" ") + argv[i];
  }

  // JSON parsing alone, to show its share.
  medlake::json::Parser parser;
  auto start = Clock::now();
  size_t parsed = 0;
  for (const auto& text : texts) {
    for (std::string_view line : Lines(text))
      parsed += parser.ParsePadded(line.data(), line.size()).ok();
  }
  double parse_secs = std::chrono::duration<double>(Clock::now() - start).count();

  // FHIRPath: parse each resource and evaluate every expression (as the baseline does).
  size_t resources = 0, items = 0;
  start = Clock::now();
  for (const auto& text : texts) {
    for (std::string_view line : Lines(text)) {
      auto node = parser.ParsePadded(line.data(), line.size());
      if (!node.ok()) continue;
      ++resources;
      for (const auto& e : exprs) {
        auto r = e.Evaluate(*node);
        if (r.ok()) items += r->size();
      }
    }
  }
  double fp_secs = std::chrono::duration<double>(Clock::now() - start).count();

  // A view over the same resources.
  size_t rows = 0, view_resources = 0;
  std::vector<medlake::views::Row> out;
  start = Clock::now();
  for (const auto& text : texts) {
    for (std::string_view line : Lines(text)) {
      auto node = parser.ParsePadded(line.data(), line.size());
      if (!node.ok()) continue;
      ++view_resources;
      out.clear();
      if (view->Evaluate(*node, out).ok()) rows += out.size();
    }
  }
  double view_secs = std::chrono::duration<double>(Clock::now() - start).count();

  // The JavaScript baseline, same expressions, same files.
  std::string cmd = "node " MEDLAKE_BENCH_DIR "/baseline.js " + std::string(argv[1]) + file_list;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[4096] = {0};
  std::string js;
  while (pipe && fgets(buf, sizeof buf, pipe)) js += buf;
  int rc = pipe ? pclose(pipe) : -1;
  double js_secs = 0;
  size_t js_items = 0;
  long js_rss = 0;
  if (rc == 0) {
    medlake::json::Parser p;
    auto j = p.Parse(js);
    if (j.ok()) {
      js_secs = j->Find("seconds")->GetDouble();
      js_items = static_cast<size_t>(j->Find("items")->GetInt64());
      js_rss = j->Find("peak_rss_kb")->GetInt64();
    }
  }
  std::printf("resources %zu (%.1f MB), %zu expressions, 1 thread\n", resources, bytes / 1e6,
              exprs.size());
  std::printf(
      "medlake fhirpath   %10.0f resources/s  %7.1f MB/s  items %zu  peak RSS %ld MB"
      " (JSON parsing alone: %.0f%% of the time)\n",
      resources / fp_secs, bytes / 1e6 / fp_secs, items, PeakRssKb() / 1024,
      parsed ? 100.0 * parse_secs / fp_secs : 0.0);
  if (js_secs > 0) {
    std::printf("fhirpath.js        %10.0f resources/s  %7.1f MB/s  items %zu  peak RSS %ld MB\n",
                resources / js_secs, bytes / 1e6 / js_secs, js_items, js_rss / 1024);
    std::printf("ratio medlake/js   %.1fx   same item count: %s\n", js_secs / fp_secs,
                js_items == items ? "yes" : "NO");
  } else {
    std::printf(
        "fhirpath.js baseline not run (npm install in bench/fhirpath; see docs/benchmarks.md)\n");
  }
  std::printf("view %-13s %10.0f resources/s  %zu columns, %zu rows\n", view->name().c_str(),
              view_resources / view_secs, view->columns().size(), rows);
  return 0;
}
