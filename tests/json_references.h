// Reference collection over parsed FHIR JSON, for tests that check every reference resolves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "json/json.h"

namespace medlake::testing {

// Appends every "reference" string found anywhere under `node`.
inline void CollectReferences(json::Node node, std::vector<std::string>& out) {
  if (node.IsObject()) {
    node.ForEachField([&](std::string_view key, json::Node value) {
      if (key == "reference" && value.IsString()) {
        out.emplace_back(value.GetString());
      } else {
        CollectReferences(value, out);
      }
      return true;
    });
  } else if (node.IsArray()) {
    node.ForEachItem([&](json::Node item) {
      CollectReferences(item, out);
      return true;
    });
  }
}

}  // namespace medlake::testing
