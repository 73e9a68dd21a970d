// cohort: patients meeting eligibility criteria (docs/cohorts.md).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/access_options.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cohort/circe.h"
#include "cohort/cohort_index.h"
#include "cohort/definition.h"
#include "cohort/evaluator.h"
#include "cohort/index_file.h"
#include "cohort/output.h"
#include "common/fhir_time.h"
#include "common/file_util.h"
#include "privacy/audit_log.h"

namespace medlake::cli {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct CohortOptions {
  std::string file, lake, at, out;
  bool json = false;
  bool list = false;
  bool rebuild = false;
  int threads = 0;
  AccessOptions access;
};

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int RunCohort(const CohortOptions& o) {
  auto text = ReadFile(o.file);
  if (!text.ok()) return Fail(text.status());
  auto def = cohort::ParseCohort(*text);
  if (!def.ok()) return Fail(Status(def.status().code(), o.file + ": " + def.status().message()));
  if (!o.out.empty() && !EndsWith(o.out, ".json") && !EndsWith(o.out, ".csv"))
    return Fail(InvalidArgument("--out: expected a .json (FHIR Group) or .csv file"));

  int64_t at = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  if (!o.at.empty()) {
    auto t = ParseFhirTime(o.at);
    if (!t) return Fail(InvalidArgument("--at: not a FHIR date or dateTime: " + o.at));
    at = t->start;
  }
  std::string index_text;
  switch (def->index.kind) {
    case cohort::IndexSpec::Kind::kFixed:
      index_text = def->index.fixed_text;
      break;
    case cohort::IndexSpec::Kind::kDefault:
      index_text = FormatUtc(at);
      break;
    case cohort::IndexSpec::Kind::kEvent:
      index_text = def->index.select == cohort::Select::kFirst ? "the first index event of each "
                                                                 "patient"
                   : def->index.select == cohort::Select::kLast
                       ? "the last index event of each patient"
                       : "every index event of each patient";
      break;
  }

  auto lake = Lake::Open(o.lake);
  if (!lake.ok()) return Fail(lake.status());
  // Counts for every role that may see aggregates; the members (patient level) only for the
  // roles that may see identified care (docs/privacy.md).
  bool members = o.list || !o.out.empty();
  auto access = OpenAccess(o.lake, o.access,
                           members ? query::OutputKind::kClinical : query::OutputKind::kAggregate,
                           members ? "cohort --list/--out" : "cohort", /*research=*/true);
  if (!access.ok()) return Fail(access.status());
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> damaged;
  cohort::IndexLoad load;
  auto index = o.rebuild ? cohort::CohortIndex::Build(**lake, o.threads, &damaged)
                         : cohort::LoadOrBuildIndex(**lake, o.threads, &damaged, &load);
  if (!index.ok()) return Fail(index.status());
  for (const auto& d : damaged)
    std::fprintf(stderr, "medlake: skipped damaged data: %s\n", d.c_str());
  if (!load.cache_error.empty())
    std::fprintf(stderr, "medlake: cohort index not cached: %s\n", load.cache_error.c_str());
  double build_ms = MsSince(t0);
  bool built = o.rebuild || load.built;

  auto t1 = std::chrono::steady_clock::now();
  cohort::EvaluateOptions options;
  options.default_index_ms = at;
  options.threads = o.threads;
  options.lake = lake->get();
  query::AccessContext* ctx = access->get();
  options.admits = [ctx](uint32_t patient) { return ctx->Admits(patient); };
  auto result = cohort::Evaluate(*def, **index, options);
  if (!result.ok()) return Fail(result.status());
  double eval_ms = MsSince(t1);
  for (const auto& d : result->damaged)
    std::fprintf(stderr, "medlake: skipped damaged data: %s\n", d.c_str());
  damaged.insert(damaged.end(), result->damaged.begin(), result->damaged.end());

  Status audited = ctx->Audit("query", "cohort " + privacy::ObjectHash(*text),
                              static_cast<int64_t>(result->count));
  if (!audited.ok()) return Fail(audited);
  std::vector<std::string> ids;
  if (members) {
    auto all = (*lake)->PatientIds();
    if (!all.ok()) return Fail(all.status());
    ids = std::move(*all);
  }
  cohort::OutputContext out{&*def, &*result, &ids, eval_ms, build_ms, built, index_text};
  if (ctx->suppresses_small_counts()) out.suppress_below = ctx->small_count_threshold();
  if (o.json) {
    std::fputs(cohort::SummaryJson(out, o.list).c_str(), stdout);
  } else {
    std::fputs(cohort::SummaryText(out).c_str(), stdout);
    if (o.list) {
      std::printf("\n%-40s %s\n", "patient", "index");
      for (const auto& m : result->members)
        std::printf("%-40s %s\n", ids[m.patient].c_str(), FormatUtc(m.index_ms).c_str());
    }
  }
  if (!o.out.empty()) {
    std::string data =
        EndsWith(o.out, ".csv") ? cohort::MembersCsv(out) : cohort::MembersGroup(out, "cohort");
    Status s = WriteOutputFile(o.out, data);
    if (!s.ok()) return Fail(s);
    if (!o.json)
      std::printf("wrote   %s (%llu members)\n", o.out.c_str(),
                  static_cast<unsigned long long>(result->count));
  }
  // Patients whose data is in a damaged segment may be missing: the counts are printed (with
  // the damage on stderr), and the exit status says they are incomplete.
  if (!damaged.empty()) {
    return Fail(Corruption("the cohort misses data of damaged segments (" + damaged[0] + ")"));
  }
  return 0;
}

int RunImportCirce(const std::string& file, const std::string& out, bool quiet) {
  auto text = ReadFile(file);
  if (!text.ok()) return Fail(text.status());
  std::string name = std::filesystem::path(file).stem().string();
  auto t = cohort::TranslateCirce(*text, name);
  if (!t.ok()) return Fail(Status(t.status().code(), file + ": " + t.status().message()));
  if (out.empty()) {
    std::fputs(t->cohort_json.c_str(), stdout);
  } else {
    Status s = WriteOutputFile(out, t->cohort_json);
    if (!s.ok()) return Fail(s);
  }
  // The report goes to stderr when the cohort goes to stdout, so that it can be piped.
  if (!quiet) std::fputs(cohort::FormatCirceReport(*t).c_str(), out.empty() ? stderr : stdout);
  return 0;
}

}  // namespace

void RegisterCohortCommands(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<CohortOptions>();
  auto* cmd =
      app.add_subcommand("cohort", "Patients meeting eligibility criteria (docs/cohorts.md)");
  cmd->add_option("COHORT", o->file, "Cohort definition (JSON, docs/cohorts.md)");
  cmd->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty());
  cmd->add_option("--at", o->at, "Index date when the definition gives none (default now)");
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->add_flag("--list", o->list, "Also list the members and their index dates");
  cmd->add_option("--out", o->out, "Write the members: FILE.json (FHIR Group) or FILE.csv")
      ->check(NotEmpty());
  cmd->add_option("--threads", o->threads, "Worker threads (0: all cores)")->check(Threads());
  AddAccessOptions(cmd, o->access);
  cmd->add_flag("--rebuild-index", o->rebuild,
                "Rebuild the cohort index from the segments instead of using the cached one");
  struct ImportOptions {
    std::string file, out;
    bool quiet = false;
  };
  auto io = std::make_shared<ImportOptions>();
  auto* import = cmd->add_subcommand(
      "import-circe", "Translate an OHDSI ATLAS/Circe cohort definition into a medlake cohort");
  import->add_option("CIRCE", io->file, "Circe cohort expression (JSON)")->required();
  import->add_option("--out", io->out, "Write the medlake cohort here (default: stdout)")
      ->check(NotEmpty());
  import->add_flag("--quiet", io->quiet, "Do not print the translation report");
  import->callback(
      [io, &exit_code] { exit_code = RunImportCirce(io->file, io->out, io->quiet);
});
cmd->callback([o, cmd, &exit_code] {
  if (!cmd->get_subcommands().empty()) return;
  if (o->file.empty() || o->lake.empty()) {
    exit_code = Fail(InvalidArgument("cohort: needs COHORT and --lake DIR"));
    return;
  }
  exit_code = RunCohort(*o);
});
}  // namespace medlake::cli

}  // namespace medlake::cli
