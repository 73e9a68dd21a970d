#include "fhirpath/resource_files.h"

#include "common/file_util.h"

namespace medlake::fhirpath {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status ForEachResourceInFile(
    const std::string& path,
    const std::function<bool(json::Node, std::optional<json::Node>, const ResourceLocation&)>& fn,
    const std::function<void(const ResourceLocation&, const Status&)>& on_error) {
  MEDLAKE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, json::kPadding));
  if (text.size() >= 2 && text[0] == '\x1f' && text[1] == '\x8b') {
    return Unsupported(path +
                       ": gzip-compressed; only ingest reads such files (gunzip it first, "
                       "or ingest it and query the lake)");
  }
  json::Parser parser;
  parser.set_keep_number_text(true);
  ResourceLocation where{path, 0, 0};
  if (EndsWith(path, ".ndjson") || EndsWith(path, ".jsonl")) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      ++where.line;
      std::string_view line(text.data() + pos, end - pos);
      pos = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      auto root = parser.Parse(line);
      if (!root.ok()) {
        if (on_error) {
          on_error(where, ParseError(path + " line " + std::to_string(where.line) + ": " +
                                     root.status().message()));
        }
        continue;
      }
      if (!fn(*root, std::nullopt, where)) break;
    }
    return Status::Ok();
  }
  auto root = parser.ParsePadded(text.data(), text.size());
  if (!root.ok()) return ParseError(path + ": " + root.status().message());
  auto type = root->Find("resourceType");
  if (type && type->GetString() == "Bundle") {
    if (auto entries = root->Find("entry")) {
      json::Node bundle = *root;
      entries->ForEachItem([&](json::Node entry) {
        auto resource = entry.Find("resource");
        bool go_on = true;
        if (resource && resource->IsObject()) go_on = fn(*resource, bundle, where);
        ++where.entry;
        return go_on;
      });
    }
    return Status::Ok();
  }
  if (root->IsArray()) {
    root->ForEachItem([&](json::Node item) {
      bool go_on = fn(item, std::nullopt, where);
      ++where.entry;
      return go_on;
    });
    return Status::Ok();
  }
  fn(*root, std::nullopt, where);
  return Status::Ok();
}

}  // namespace medlake::fhirpath
