#include "query/lake_resolver.h"

namespace medlake::query {

LakeResolver::LakeResolver(const Lake& lake, size_t capacity) : lake_(lake), capacity_(capacity) {}

LakeResolver::~LakeResolver() = default;

fhirpath::Resolver LakeResolver::AsResolver() {
  return [this](std::string_view type, std::string_view id) { return Resolve(type, id); };
}

void LakeResolver::EndEvaluation() {
  if (cache_.size() > capacity_) cache_.clear();
}

Result<std::optional<json::Node>> LakeResolver::Resolve(std::string_view type,
                                                        std::string_view id) {
  std::string key;
  key.reserve(type.size() + 1 + id.size());
  key.append(type).append("/").append(id);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second->root;
  ++lookups_;
  auto entry = std::make_unique<Entry>();
  auto json = lake_.Get(type, id, shard_hint_);
  if (json.ok()) {
    entry->parser.set_keep_number_text(true);
    MEDLAKE_ASSIGN_OR_RETURN(json::Node root, entry->parser.Parse(*json));
    entry->root = root;
  } else if (json.status().code() != ErrorCode::kNotFound) {
    return json.status();
  }
  std::optional<json::Node> root = entry->root;
  cache_.emplace(std::move(key), std::move(entry));
  return root;
}

}  // namespace medlake::query
