// resolve() over a lake: a fhirpath::Resolver that finds "Type/id" with Lake::Get and keeps the
// parsed resources of one evaluation alive (and cached for the next ones).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "fhirpath/fhirpath.h"
#include "json/json.h"
#include "medlake/lake.h"

namespace medlake::query {

// Not thread-safe: use one per thread (the Lake is shared). Must not outlive the Lake. The
// nodes it hands out stay valid until EndEvaluation() drops them (only when the cache is
// over its capacity), so call that between resources, after their results are used.
class LakeResolver {
 public:
  // `capacity`: resolved resources kept parsed (each with its own parser, a few times the
  // resource's size).
  explicit LakeResolver(const Lake& lake, size_t capacity = 256);
  ~LakeResolver();
  LakeResolver(const LakeResolver&) = delete;
  LakeResolver& operator=(const LakeResolver&) = delete;

  // The shard of the resources being evaluated: looked in first (a resource's references
  // mostly name resources of the same patient).
  void set_shard_hint(uint32_t shard) { shard_hint_ = shard; }
  // The resolver for Environment::resolver / View::Evaluate; refers to this object.
  fhirpath::Resolver AsResolver();
  // Lets the cache shrink back to its capacity; invalidates nodes it handed out if it does.
  void EndEvaluation();

  uint64_t lookups() const { return lookups_; }  // lake lookups (cache misses)

 private:
  struct Entry {
    json::Parser parser;
    std::optional<json::Node> root;  // nullopt: not in the lake
  };
  Result<std::optional<json::Node>> Resolve(std::string_view type, std::string_view id);

  const Lake& lake_;
  size_t capacity_;
  uint32_t shard_hint_ = Lake::kNoShard;
  std::unordered_map<std::string, std::unique_ptr<Entry>> cache_;
  uint64_t lookups_ = 0;
};

}  // namespace medlake::query
