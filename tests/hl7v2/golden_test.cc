// Golden files: every golden/*.hl7 is split, parsed and mapped, and the result is compared
// with golden/<name>.reference byte for byte. After an intended mapping change, regenerate
// with MEDLAKE_REGENERATE_GOLDEN=1 and review the diff of the .reference files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "ingest/hl7v2/fhir_mapper.h"

namespace medlake::hl7v2 {
namespace {

namespace fs = std::filesystem;

// One "# ..." line per message (its position and type, or why it was rejected), then one
// line per resource.
std::string Render(std::string_view file) {
  std::string out;
  for (const FileEntry& entry : ReadMessages(file)) {
    out += "# message " + std::to_string(entry.location.message_index) + " at byte " +
           std::to_string(entry.location.byte_offset) + ": ";
    if (!entry.message.ok()) {
      out += "not parsed: " + entry.message.status().ToString() + "\n";
      continue;
    }
    auto mapped = MapToFhir(*entry.message);
    if (!mapped.ok()) {
      out += "rejected: " + mapped.status().ToString() + "\n";
      continue;
    }
    out += mapped->message_type + " " + mapped->control_id + "\n";
    for (const MappedResource& r : mapped->resources) out += r.json + "\n";
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

TEST(Hl7v2Golden, MappingMatchesReferenceFiles) {
  fs::path dir = fs::path(MEDLAKE_SOURCE_DIR) / "tests" / "hl7v2" / "golden";
  const bool regenerate = std::getenv("MEDLAKE_REGENERATE_GOLDEN") != nullptr;
  std::vector<fs::path> inputs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".hl7") inputs.push_back(e.path());
  }
  std::sort(inputs.begin(), inputs.end());
  ASSERT_GE(inputs.size(), 8u);
  for (const fs::path& input : inputs) {
    auto text = ReadFile(input.string());
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    std::string actual = Render(*text);
    fs::path reference = fs::path(input).replace_extension(".reference");
    if (regenerate) {
      ASSERT_TRUE(WriteFileAtomic(reference.string(), actual).ok()) << reference;
      continue;
    }
    auto expected = ReadFile(reference.string());
    ASSERT_TRUE(expected.ok()) << reference << " missing: run with MEDLAKE_REGENERATE_GOLDEN=1";
    if (actual == *expected) continue;
    std::vector<std::string> a = Lines(actual);
    std::vector<std::string> e = Lines(*expected);
    size_t line = 0;
    while (line < a.size() && line < e.size() && a[line] == e[line]) ++line;
    ADD_FAILURE() << input.filename() << " differs from its .reference at line " << line + 1
                  << "\n  actual:   " << (line < a.size() ? a[line] : "<end>")
                  << "\n  expected: " << (line < e.size() ? e[line] : "<end>")
                  << "\nIf the change is intended, regenerate with "
                     "MEDLAKE_REGENERATE_GOLDEN=1 and review the diff.";
  }
}

}  // namespace
}  // namespace medlake::hl7v2
