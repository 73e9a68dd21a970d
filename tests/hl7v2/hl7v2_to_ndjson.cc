// Test helper: maps the HL7 v2 files given as arguments (files or directories) and writes
// every resource as one JSON line on stdout, for the FHIR R4 JSON-schema check
// (validate_fhir_schema.py). Messages that do not map are counted on stderr.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "ingest/hl7v2/fhir_mapper.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::recursive_directory_iterator(argv[i])) {
        if (e.is_regular_file() && e.path().extension() == ".hl7") files.push_back(e.path());
      }
    } else {
      files.emplace_back(argv[i]);
    }
  }
  size_t resources = 0;
  size_t rejected = 0;
  for (const fs::path& path : files) {
    auto data = medlake::ReadFile(path.string());
    if (!data.ok()) {
      std::fprintf(stderr, "%s\n", data.status().ToString().c_str());
      return 2;
    }
    for (const auto& entry : medlake::hl7v2::ReadMessages(*data)) {
      if (!entry.message.ok()) {
        ++rejected;
        continue;
      }
      auto mapped = medlake::hl7v2::MapToFhir(*entry.message);
      if (!mapped.ok()) {
        ++rejected;
        continue;
      }
      for (const auto& r : mapped->resources) {
        std::fwrite(r.json.data(), 1, r.json.size(), stdout);
        std::fputc('\n', stdout);
        ++resources;
      }
    }
  }
  std::fprintf(stderr, "%zu files, %zu resources, %zu messages not mapped\n", files.size(),
               resources, rejected);
  return 0;
}
