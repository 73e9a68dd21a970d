// The de-identifying rewrite of a lake with a key (ingest/deidentify.h, Deidentifier::Apply)
// against a plain re-serialization of the same parsed resources (json::Node::ToJson), in the
// same run (docs/benchmarks.md, "Twenty-third pass"):
//
//   medlake_bench_deid [--rounds R] [--dump FILE] [--lake KEYED_LAKE] BUNDLE_DIR
//
// The resources are the entries of every Bundle under BUNDLE_DIR, minified, given to the
// de-identifier as ingest gives them: parsed as written, with a resolver of their urn:uuid
// references to Type/id through the Bundle's fullUrls. Each is parsed keeping number text (as
// ingest's parser does in a keyed lake); only the rewrite, or the re-serialization, is timed.
// Pseudonym links are made apart, as a prepared chunk makes them (PendingLinks), one file to a
// chunk, in a fresh keyed lake. Prints MB/s of input on one core for both, median of R rounds
// (default 5), and their ratio.
// --dump writes each rewritten resource and what it removed, one line each, to FILE: two builds'
// dumps of one keyed lake (--lake, made by `medlake init`; it is read, not written: the links
// stay apart) compare the output of two implementations of the rewrite. With --dump-resolved
// the dump is of the resources parsed with their references resolved: it compares the two ways
// ingest may give the de-identifier a resource.
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/string_util.h"
#include "ingest/deidentify.h"
#include "json/json.h"
#include "median.h"
#include "privacy/key_store.h"
#include "store/lake_writer.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using medlake::bench::Median;

// The resources of one Bundle file, minified: as given, and with their urn:uuid references
// resolved through the Bundle's fullUrls (as ingest stores them).
struct BundleResources {
  std::vector<std::string> given, resolved;
  // fullUrl -> Type/id, looked up by view (as ingest's HashIndex is: no copy per reference)
  medlake::StringMap<std::string> typed;
};

BundleResources Resources(const fs::path& file, simdjson::dom::parser& parser) {
  BundleResources out;
  simdjson::dom::element bundle;
  if (parser.load(file.string()).get(bundle)) return out;
  simdjson::dom::array entries;
  if (bundle["entry"].get_array().get(entries)) return out;
  for (simdjson::dom::element entry : entries) {
    std::string_view url, type, id;
    if (entry["fullUrl"].get_string().get(url) ||
        entry["resource"]["resourceType"].get_string().get(type) ||
        entry["resource"]["id"].get_string().get(id)) {
      continue;
    }
    out.typed[std::string(url)] = std::string(type) + "/" + std::string(id);
  }
  constexpr std::string_view kKey = "\"reference\":\"";
  for (simdjson::dom::element entry : entries) {
    simdjson::dom::element resource;
    if (entry["resource"].get(resource)) continue;
    const std::string& text = out.given.emplace_back(simdjson::minify(resource));
    std::string& resolved = out.resolved.emplace_back();
    size_t pos = 0;
    for (size_t at; (at = text.find(kKey, pos)) != std::string::npos;) {
      const size_t start = at + kKey.size();
      const size_t end = text.find('"', start);
      resolved.append(text, pos, start - pos);
      auto it = out.typed.find(text.substr(start, end - start));
      resolved.append(it == out.typed.end() ? text.substr(start, end - start) : it->second);
      pos = end;
    }
    resolved.append(text, pos);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  std::string dir, dump, given_lake;
  bool dump_resolved = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--dump" && i + 1 < argc) {
      dump = argv[++i];
    } else if (a == "--lake" && i + 1 < argc) {
      given_lake = argv[++i];
    } else if (a == "--dump-resolved") {
      dump_resolved = true;
    } else {
      dir = a;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr,
                 "usage: medlake_bench_deid [--rounds R] [--dump FILE [--dump-resolved]] "
                 "[--lake KEYED_LAKE] BUNDLE_DIR\n");
    return 2;
  }
  std::vector<fs::path> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".json") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<BundleResources> files;
  size_t count = 0, bytes = 0;
  {
    simdjson::dom::parser parser;
    for (const fs::path& path : paths) {
      files.push_back(Resources(path, parser));
      for (const std::string& r : files.back().given) bytes += r.size();
      count += files.back().given.size();
    }
  }
  if (count == 0) {
    std::fprintf(stderr, "no Bundle with resources under %s\n", dir.c_str());
    return 1;
  }

  const fs::path lake = given_lake.empty() ? fs::temp_directory_path() /
                                                 ("medlake_bench_deid." + std::to_string(getpid()))
                                           : fs::path(given_lake);
  if (given_lake.empty()) {
    fs::remove_all(lake);
    fs::create_directories(lake);
    if (auto keys = medlake::privacy::KeyStore::Create(lake.string()); !keys.ok()) {
      std::fprintf(stderr, "cannot key the lake: %s\n", keys.status().ToString().c_str());
      return 1;
    }
  }
  auto writer = medlake::store::LakeWriter::Open(lake.string());
  if (!writer.ok()) {
    std::fprintf(stderr, "cannot open the lake: %s\n", writer.status().ToString().c_str());
    return 1;
  }
  auto deid = medlake::ingest::Deidentifier::ForLake(lake.string(), **writer);
  if (!deid.ok() || *deid == nullptr) {
    std::fprintf(stderr, "no de-identifier for the keyed lake\n");
    return 1;
  }

  medlake::json::Parser parser;
  parser.set_keep_number_text(true);
  std::string out;
  medlake::ingest::VaultRecord removed;
  std::FILE* dump_file = dump.empty() ? nullptr : std::fopen(dump.c_str(), "w");
  // One pass over every resource: seconds spent in the rewrite (or the re-serialization). The
  // rewrite reads the resources as ingest reads a Bundle's entries: parsed as given, their
  // references resolved as they are written; or, `resolved`, parsed with them resolved.
  auto pass = [&](bool rewrite, std::FILE* to, bool resolved) {
    double seconds = 0;
    size_t failed = 0;
    for (const BundleResources& bundle : files) {
      medlake::ingest::PendingLinks pending;
      const medlake::fhir::ReferenceResolver resolver = [&bundle](std::string_view ref,
                                                                  std::string& scratch) {
        auto it = bundle.typed.find(ref);
        if (it == bundle.typed.end()) return ref;
        scratch = it->second;
        return std::string_view(scratch);
      };
      for (size_t i = 0; i < bundle.given.size(); ++i) {
        auto node = parser.Parse(resolved ? bundle.resolved[i] : bundle.given[i]);
        if (!node.ok()) {
          ++failed;
          continue;
        }
        const auto start = Clock::now();
        if (rewrite) {
          if (!(*deid)->Apply(*node, out, removed, &pending, resolved ? nullptr : &resolver).ok()) {
            ++failed;
          }
        } else {
          out = node->ToJson();
        }
        seconds += std::chrono::duration<double>(Clock::now() - start).count();
        if (to != nullptr) {
          std::fprintf(to, "%s\n%s\t%s\t%s\n", out.c_str(), removed.key.c_str(),
                       removed.patient.c_str(), removed.json.c_str());
        }
      }
    }
    if (failed > 0) std::fprintf(stderr, "%zu resources not rewritten\n", failed);
    return seconds;
  };
  if (dump_file != nullptr) {
    pass(true, dump_file, dump_resolved);
    std::fclose(dump_file);
  }
  std::printf("%zu resources, %.1f MB minified, from %zu Bundles, median of %d rounds\n", count,
              static_cast<double>(bytes) / 1e6, files.size(), rounds);
  // Alternated, so that a drift of the machine's speed falls on both.
  std::vector<double> plain, rewritten;
  for (int r = 0; r < rounds; ++r) {
    plain.push_back(static_cast<double>(bytes) / 1e6 / pass(false, nullptr, false));
    rewritten.push_back(static_cast<double>(bytes) / 1e6 / pass(true, nullptr, false));
  }
  const double plain_speed = Median(plain), rewrite_speed = Median(rewritten);
  std::printf(
      "deid    Node::ToJson %.0f MB/s | Deidentifier::Apply %.0f MB/s (%.0f resources/s) | "
      "rewrite / re-serialization %.2f\n",
      plain_speed, rewrite_speed, rewrite_speed * 1e6 / (static_cast<double>(bytes) / count),
      rewrite_speed / plain_speed);
  deid->reset();
  writer->reset();
  if (given_lake.empty()) fs::remove_all(lake);
  return 0;
}
