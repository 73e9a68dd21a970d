#include "privacy/identifier_systems.h"

#include <filesystem>

#include "common/file_util.h"
#include "json/json.h"

namespace medlake::privacy {

Result<IdentifierSystems> IdentifierSystems::ForLake(const std::string& lake_dir) {
  IdentifierSystems out;
  const std::string path = lake_dir + "/" + std::string(kIdentifierSystemsFile);
  if (!std::filesystem::exists(path)) return out;
  MEDLAKE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json::Parser parser;
  auto root = parser.Parse(text);
  if (!root.ok() || !root->IsObject()) return InvalidArgument(path + ": not a JSON object");
  if (auto aliases = root->Find("aliases"); aliases && aliases->IsObject()) {
    aliases->ForEachField([&](std::string_view from, json::Node to) {
      if (to.IsString()) out.aliases_[std::string(from)] = std::string(to.GetString());
      return true;
    });
  }
  return out;
}

std::string IdentifierSystems::Canonical(std::string_view system) const {
  auto it = aliases_.find(std::string(system));
  return it == aliases_.end() ? std::string(system) : it->second;
}

}  // namespace medlake::privacy
