// Reads FHIR resources from files without a lake: NDJSON (one resource per line, *.ndjson or
// *.jsonl), a single JSON resource, or a Bundle (each entry's resource, with the Bundle
// available for resolve()). Used by the fhirpath and view commands.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "json/json.h"
#include "medlake/status.h"

namespace medlake::fhirpath {

struct ResourceLocation {
  std::string file;
  size_t line = 0;   // NDJSON: 1-based line; 0 for whole-file JSON
  size_t entry = 0;  // Bundle: 0-based entry index
};

// Calls `fn` for each resource in `path` in file order; the nodes are valid during the call
// only. `bundle` is the enclosing Bundle when the file is one. A malformed NDJSON line is
// reported to `on_error` (when given) and skipped; `fn` returning false stops the walk.
// Errors: kIoError / kNotFound for the file, kParseError for a malformed JSON document.
Status ForEachResourceInFile(
    const std::string& path,
    const std::function<bool(json::Node resource, std::optional<json::Node> bundle,
                             const ResourceLocation& where)>& fn,
    const std::function<void(const ResourceLocation& where, const Status& error)>& on_error =
        nullptr);

}  // namespace medlake::fhirpath
