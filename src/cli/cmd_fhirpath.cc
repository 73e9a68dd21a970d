// medlake fhirpath EXPR (--lake DIR [--type T] | FILE...): evaluates a FHIRPath expression over
// the resources of a lake or of NDJSON, JSON and Bundle files and prints one NDJSON line per
// resource:
//   {"resource":"Patient/123","result":[...]}
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli/access_options.h"
#include "cli/commands.h"
#include "fhirpath/fhirpath.h"
#include "fhirpath/resource_files.h"
#include "medlake/lake.h"
#include "privacy/audit_log.h"
#include "query/lake_resolver.h"

namespace medlake::cli {
namespace {

struct FhirPathOptions {
  std::string expression;
  std::string lake;
  std::string type;
  std::vector<std::string> files;
  bool skip_empty = false;
  AccessOptions access;
};

std::string ResourceLabel(json::Node resource) {
  std::string label;
  if (auto type = resource.Find("resourceType")) label = std::string(type->GetString());
  if (auto id = resource.Find("id")) label += "/" + std::string(id->GetString());
  return label;
}

int RunFhirPath(const FhirPathOptions& options) {
  auto expr = fhirpath::Expression::Compile(options.expression);
  if (!expr.ok()) {
    std::fprintf(stderr, "medlake fhirpath: %s\n", expr.status().ToString().c_str());
    return InfoFor(expr.status().code()).exit_code;
  }
  int exit_code = 0;
  std::string line;
  if (options.lake.empty() == options.files.empty()) {
    std::fprintf(stderr, "medlake fhirpath: give --lake DIR or input files (one of them)\n");
    return InfoFor(ErrorCode::kInvalidArgument).exit_code;
  }
  if (!options.lake.empty()) {
    auto lake = Lake::Open(options.lake);
    if (!lake.ok()) {
      std::fprintf(stderr, "medlake fhirpath: %s\n", lake.status().ToString().c_str());
      return InfoFor(lake.status().code()).exit_code;
    }
    auto access =
        OpenAccess(options.lake, options.access, query::OutputKind::kPatientLevel, "fhirpath");
    if (!access.ok()) {
      std::fprintf(stderr, "medlake fhirpath: %s\n", access.status().ToString().c_str());
      return InfoFor(access.status().code()).exit_code;
    }
    json::Parser parser;
    parser.set_keep_number_text(true);  // decimals keep their precision ("72.50")
    std::vector<std::string> damaged;
    // resolve() finds references in the lake; not for restricted roles, whose resources are
    // rewritten (shifted dates, consent) and must not be reachable unrewritten by reference.
    query::LakeResolver resolver(**lake);
    fhirpath::Environment env;
    if (!(*access)->restricted()) env.resolver = resolver.AsResolver();
    std::string visible;
    std::unordered_set<uint32_t> patients;
    // Results stream out: the access is audited before the first (and again after the last,
    // with the count of patients), so that a log that cannot be written lets nothing out.
    const std::string object = privacy::ObjectHash(options.expression);
    Status st = (*access)->Audit("query.start", object, -1);
    if (!st.ok()) {
      std::fprintf(stderr, "medlake fhirpath: %s\n", st.ToString().c_str());
      return InfoFor(st.code()).exit_code;
    }
    for (size_t segment = 0; segment < (*lake)->segments().size() && st.ok(); ++segment) {
      resolver.set_shard_hint((*lake)->segments()[segment].shard);
      st = (*lake)->ScanSegment(
          segment, options.type,
          [&](const ResourceView& r) {
            resolver.EndEvaluation();  // the previous resource's results are written
            if (!(*access)->Transform(r, visible)) return;
            if (r.patient != 0xFFFFFFFFu) patients.insert(r.patient);
            auto node = parser.Parse(visible);
            if (!node.ok()) return;
            auto result = expr->Evaluate(*node, env);
            std::string label = std::string(r.type) + "/" + std::string(r.id);
            if (!result.ok()) {
              std::fprintf(stderr, "medlake fhirpath: %s: %s\n", label.c_str(),
                           result.status().message().c_str());
              exit_code = InfoFor(result.status().code()).exit_code;
              return;
            }
            if (options.skip_empty && result->empty()) return;
            line = "{\"resource\":";
            json::AppendQuoted(label, line);
            line += ",\"result\":" + fhirpath::CollectionToJson(*result) + "}\n";
            std::fwrite(line.data(), 1, line.size(), stdout);
          },
          &damaged);
    }
    for (const auto& d : damaged)
      std::fprintf(stderr, "medlake fhirpath: damaged segment skipped: %s\n", d.c_str());
    if (!st.ok()) {
      std::fprintf(stderr, "medlake fhirpath: %s\n", st.ToString().c_str());
      return InfoFor(st.code()).exit_code;
    }
    Status audited = (*access)->Audit("query", object, static_cast<int64_t>(patients.size()));
    if (!audited.ok()) {
      std::fprintf(stderr, "medlake fhirpath: %s\n", audited.ToString().c_str());
      return InfoFor(audited.code()).exit_code;
    }
    return damaged.empty() ? exit_code : InfoFor(ErrorCode::kCorruption).exit_code;
  }
  for (const std::string& file : options.files) {
    Status st = fhirpath::ForEachResourceInFile(
        file,
        [&](json::Node resource, std::optional<json::Node> bundle,
            const fhirpath::ResourceLocation& where) {
          if (!options.type.empty()) {
            auto type = resource.Find("resourceType");
            if (!type || type->GetString() != options.type) return true;
          }
          fhirpath::Environment env;
          env.bundle = bundle;
          auto result = expr->Evaluate(resource, env);
          std::string label = ResourceLabel(resource);
          if (!result.ok()) {
            std::fprintf(stderr, "medlake fhirpath: %s (line %zu, entry %zu) %s: %s\n",
                         where.file.c_str(), where.line, where.entry, label.c_str(),
                         result.status().message().c_str());
            exit_code = InfoFor(result.status().code()).exit_code;
            return true;
          }
          if (options.skip_empty && result->empty()) return true;
          line = "{\"resource\":";
          json::AppendQuoted(label, line);
          line += ",\"result\":" + fhirpath::CollectionToJson(*result) + "}\n";
          std::fwrite(line.data(), 1, line.size(), stdout);
          return true;
        },
        [&](const fhirpath::ResourceLocation&, const Status& error) {
          std::fprintf(stderr, "medlake fhirpath: %s\n", error.ToString().c_str());
          exit_code = InfoFor(error.code()).exit_code;
        });
    if (!st.ok()) {
      std::fprintf(stderr, "medlake fhirpath: %s\n", st.ToString().c_str());
      exit_code = InfoFor(st.code()).exit_code;
    }
  }
  return exit_code;
}

}  // namespace

void RegisterFhirPathCommands(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<FhirPathOptions>();
  CLI::App* cmd = app.add_subcommand(
      "fhirpath", "Evaluate a FHIRPath expression over a lake or NDJSON, JSON or Bundle files");
  cmd->add_option("expression", options->expression, "FHIRPath expression")->required();
  cmd->add_option("files", options->files,
                  "NDJSON (*.ndjson), JSON or Bundle files (instead of --lake)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--lake", options->lake, "Lake directory")->check(NotEmpty());
  cmd->add_option("--type", options->type, "Only resources of this type")
      ->check(FhirResourceType());
  cmd->add_flag("--skip-empty", options->skip_empty, "Omit resources with an empty result");
  AddAccessOptions(cmd, options->access);
  cmd->callback([options, &exit_code]() { exit_code = RunFhirPath(*options); });
}

}  // namespace medlake::cli
