// Runs a ViewDefinition over a lake (segments in parallel, rows delivered in segment order)
// or over NDJSON / JSON / Bundle files, streaming: at most a few segments' rows are in memory.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "medlake/lake.h"
#include "medlake/status.h"
#include "query/access_context.h"
#include "views/view.h"

namespace medlake::query {

// Receives rows in order, from one thread at a time. Returning a non-OK Status stops the run.
using RowSink = std::function<Status(const views::Row& row)>;

struct RunStats {
  uint64_t resources = 0;
  uint64_t rows = 0;
  uint64_t patients = 0;             // distinct patients with at least one row (lake runs)
  std::vector<std::string> damaged;  // damaged segments skipped (file and reason)
  std::vector<std::string> errors;   // resources a view could not evaluate (id and reason)
};

// `jobs` threads (0 = all cores). Errors of single resources are collected in stats.errors
// (at most 100 kept) and the run goes on. With `access`, each resource is what the caller's
// role may see (AccessContext::Transform): left out, or rewritten, before the view sees it.
Result<RunStats> RunViewOverLake(const Lake& lake, const views::View& view, const RowSink& sink,
                                 int jobs = 0, const AccessContext* access = nullptr);
Result<RunStats> RunViewOverFiles(const std::vector<std::string>& files, const views::View& view,
                                  const RowSink& sink);

}  // namespace medlake::query
