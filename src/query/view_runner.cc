#include "query/view_runner.h"

#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>

#include <atomic>
#include <memory>
#include <thread>
#include <unordered_set>

#include "fhirpath/resource_files.h"
#include "json/json.h"
#include "query/lake_resolver.h"

namespace medlake::query {
namespace {

struct SegmentRows {
  size_t segment = 0;
  std::vector<views::Row> rows;
  std::vector<uint32_t> patients;  // distinct, of resources that gave rows
  uint64_t resources = 0;
  std::vector<std::string> damaged;
  std::vector<std::string> errors;
  Status status;
};

}  // namespace

Result<RunStats> RunViewOverLake(const Lake& lake, const views::View& view, const RowSink& sink,
                                 int jobs, const AccessContext* access) {
  std::unordered_set<uint32_t> patients;
  if (jobs <= 0) jobs = static_cast<int>(std::thread::hardware_concurrency());
  if (jobs < 1) jobs = 1;
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<size_t>(jobs));
  RunStats stats;
  Status failure;
  size_t next = 0;
  const size_t count = lake.segments().size();
  const bool hide_ids =
      access != nullptr && (access->restricted() || access->suppresses_small_counts());
  tbb::parallel_pipeline(
      static_cast<size_t>(jobs) * 2,
      tbb::make_filter<void, size_t>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> size_t {
                                       if (next >= count || !failure.ok()) {
                                         fc.stop();
                                         return 0;
                                       }
                                       return next++;
                                     }) &
          tbb::make_filter<size_t, std::shared_ptr<SegmentRows>>(
              tbb::filter_mode::parallel,
              [&](size_t segment) {
                auto out = std::make_shared<SegmentRows>();
                out->segment = segment;
                json::Parser parser;
                parser.set_keep_number_text(true);  // decimals keep their precision ("72.50")
                // resolve() over the lake, except for restricted roles: their resources are
                // rewritten and must not be reachable unrewritten through a reference.
                LakeResolver resolver(lake);
                resolver.set_shard_hint(lake.segments()[segment].shard);
                const fhirpath::Resolver resolve = access != nullptr && access->restricted()
                                                       ? fhirpath::Resolver()
                                                       : resolver.AsResolver();
                std::string visible;
                out->status = lake.ScanSegment(
                    segment, view.resource(),
                    [&](const ResourceView& r) {
                      if (access != nullptr && !access->Transform(r, visible)) return;
                      ++out->resources;
                      auto node = parser.Parse(access != nullptr ? visible : r.json);
                      if (!node.ok()) return;
                      size_t before = out->rows.size();
                      Status s = view.Evaluate(*node, out->rows, std::nullopt, resolve);
                      resolver.EndEvaluation();
                      if (out->rows.size() > before && r.patient != 0xFFFFFFFFu &&
                          (out->patients.empty() || out->patients.back() != r.patient)) {
                        out->patients.push_back(r.patient);
                      }
                      if (!s.ok() && out->errors.size() < 100) {
                        // A caller under disclosure control (researcher, ops) learns no id
                        // from an error: an expression failing on chosen records would list
                        // them (the ids of the Observations above a threshold).
                        out->errors.push_back(
                            (hide_ids ? std::string(r.type)
                                      : std::string(r.type) + "/" + std::string(r.id)) +
                            ": " + s.message());
                      }
                    },
                    &out->damaged);
                return out;
              }) &
          tbb::make_filter<std::shared_ptr<SegmentRows>, void>(
              tbb::filter_mode::serial_in_order, [&](std::shared_ptr<SegmentRows> part) {
                if (!failure.ok()) return;
                if (!part->status.ok()) {
                  failure = part->status;
                  return;
                }
                stats.resources += part->resources;
                patients.insert(part->patients.begin(), part->patients.end());
                for (auto& d : part->damaged) stats.damaged.push_back(std::move(d));
                for (auto& e : part->errors) {
                  if (stats.errors.size() < 100) stats.errors.push_back(std::move(e));
                }
                for (const auto& row : part->rows) {
                  Status s = sink(row);
                  if (!s.ok()) {
                    failure = s;
                    return;
                  }
                  ++stats.rows;
                }
              }));
  MEDLAKE_RETURN_IF_ERROR(failure);
  stats.patients = patients.size();
  return stats;
}

Result<RunStats> RunViewOverFiles(const std::vector<std::string>& files, const views::View& view,
                                  const RowSink& sink) {
  RunStats stats;
  Status failure;
  std::vector<views::Row> rows;
  for (const auto& file : files) {
    Status s = fhirpath::ForEachResourceInFile(
        file,
        [&](json::Node resource, std::optional<json::Node> bundle,
            const fhirpath::ResourceLocation& where) {
          auto type = resource.Find("resourceType");
          if (!type || type->GetString() != view.resource()) return true;
          ++stats.resources;
          rows.clear();
          Status e = view.Evaluate(resource, rows, bundle);
          if (!e.ok()) {
            if (stats.errors.size() < 100) {
              stats.errors.push_back(where.file +
                                     (where.line ? ":" + std::to_string(where.line) : "") + ": " +
                                     e.message());
            }
            return true;
          }
          for (const auto& row : rows) {
            failure = sink(row);
            if (!failure.ok()) return false;
            ++stats.rows;
          }
          return true;
        },
        [&](const fhirpath::ResourceLocation& where, const Status& error) {
          if (stats.errors.size() < 100) {
            stats.errors.push_back(where.file + ":" + std::to_string(where.line) + ": " +
                                   error.message());
          }
        });
    MEDLAKE_RETURN_IF_ERROR(failure);
    MEDLAKE_RETURN_IF_ERROR(s);
  }
  return stats;
}

}  // namespace medlake::query
