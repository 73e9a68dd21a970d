// medlake fhirpath EXPR FILE...: evaluates a FHIRPath expression over the resources of
// NDJSON, JSON and Bundle files and prints one NDJSON line per resource:
//   {"resource":"Patient/123","result":[...]}
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "fhirpath/fhirpath.h"
#include "fhirpath/resource_files.h"

namespace medlake::cli {
namespace {

struct FhirPathOptions {
  std::string expression;
  std::vector<std::string> files;
  bool skip_empty = false;
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
  for (const std::string& file : options.files) {
    Status st = fhirpath::ForEachResourceInFile(
        file,
        [&](json::Node resource, std::optional<json::Node> bundle,
            const fhirpath::ResourceLocation& where) {
          fhirpath::Environment env;
          env.bundle = bundle;
          auto result = expr->Evaluate(resource, env);
          std::string label = ResourceLabel(resource);
          if (!result.ok()) {
            std::fprintf(stderr, "medlake fhirpath: %s (line %zu, entry %zu) %s: %s\n",
                         where.file.c_str(), where.line, where.entry, label.c_str(),
                         result.status().message().c_str());
            exit_code = 1;
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
          exit_code = 1;
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
      "fhirpath", "Evaluate a FHIRPath expression over NDJSON, JSON or Bundle files");
  cmd->add_option("expression", options->expression, "FHIRPath expression")->required();
  cmd->add_option("files", options->files, "NDJSON (*.ndjson), JSON or Bundle files")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--skip-empty", options->skip_empty, "Omit resources with an empty result");
  cmd->callback([options, &exit_code]() { exit_code = RunFhirPath(*options); });
}

}  // namespace medlake::cli
