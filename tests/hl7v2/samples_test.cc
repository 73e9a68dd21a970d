// Every HL7 v2 sample of ../shared/data/hl7v2-samples: parsed, then mapped to FHIR or rejected
// with a reason; every mapped resource is valid JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "ingest/hl7v2/fhir_mapper.h"
#include "json/json.h"

namespace medlake::hl7v2 {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> SampleFiles() {
  std::vector<fs::path> files;
  fs::path dir = fs::path(MEDLAKE_SHARED_DATA) / "hl7v2-samples";
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".hl7") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Hl7v2Samples, EveryMessageParsedAndMappedOrRejected) {
  std::vector<fs::path> files = SampleFiles();
  if (files.empty()) {
    GTEST_SKIP() << "no HL7 v2 samples under " MEDLAKE_SHARED_DATA "/hl7v2-samples";
  }
  json::Parser parser;
  size_t messages = 0;
  size_t mapped = 0;
  size_t resources = 0;
  std::map<std::string, size_t> rejected_by_reason;
  std::map<std::string, size_t> resources_by_type;
  std::set<std::string> seen_ids;
  for (const fs::path& path : files) {
    auto data = ReadFile(path.string());
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    auto split = SplitMessages(*data);
    ASSERT_TRUE(split.ok()) << path.filename() << ": " << split.status().ToString();
    EXPECT_FALSE(split->empty()) << path.filename();
    for (const Message& message : *split) {
      ++messages;
      auto result = MapToFhir(message);
      if (!result.ok()) {
        std::string reason = result.status().message();
        // Group by kind: "unsupported message type SIU^S12".
        size_t paren = reason.find(" (control id");
        if (result.status().code() == ErrorCode::kUnsupported && paren != std::string::npos) {
          reason = reason.substr(0, paren);
        }
        ++rejected_by_reason[reason];
        // Supported families must map; only unsupported types are rejected here.
        EXPECT_EQ(result.status().code(), ErrorCode::kUnsupported)
            << path.filename() << ": " << result.status().ToString();
        continue;
      }
      ++mapped;
      for (const MappedResource& r : result->resources) {
        ++resources;
        ++resources_by_type[r.resource_type];
        auto node = parser.Parse(r.json);
        ASSERT_TRUE(node.ok()) << path.filename() << " " << r.resource_type << ": "
                               << node.status().ToString() << "\n"
                               << r.json;
        auto type = node->Find("resourceType");
        ASSERT_TRUE(type.has_value());
        EXPECT_EQ(type->GetString(), r.resource_type);
        EXPECT_EQ(node->Find("id")->GetString(), r.id);
        EXPECT_LE(r.id.size(), 64u);
      }
      // Mapping again gives the same resources (idempotent re-ingest).
      auto again = MapToFhir(message);
      ASSERT_TRUE(again.ok());
      ASSERT_EQ(again->resources.size(), result->resources.size());
      for (size_t i = 0; i < again->resources.size(); ++i) {
        EXPECT_EQ(again->resources[i].json, result->resources[i].json);
      }
    }
  }
  size_t rejected = 0;
  for (const auto& [reason, count] : rejected_by_reason) rejected += count;
  std::cout << "HL7 v2 samples: " << files.size() << " files, " << messages << " messages parsed, "
            << mapped << " mapped (" << resources << " resources), " << rejected << " rejected\n";
  for (const auto& [type, count] : resources_by_type) {
    std::cout << "  resource " << type << ": " << count << "\n";
  }
  for (const auto& [reason, count] : rejected_by_reason) {
    std::cout << "  rejected " << count << " x " << reason << "\n";
  }
  EXPECT_EQ(mapped + rejected, messages);
  EXPECT_GE(messages, 143u);
  EXPECT_GT(mapped, 50u);
}

}  // namespace
}  // namespace medlake::hl7v2
