// score news2: early-warning scores of current inpatients.
#include <chrono>
#include <cstdio>

#include "cli/access_options.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/fhir_time.h"
#include "scores/inpatient_news2.h"
#include "scores/news2_json.h"

namespace medlake::cli {
namespace {

int RunNews2(const std::string& dir, const std::string& at_text, bool as_json, double window_hours,
             const AccessOptions& access_options) {
  int64_t at = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  if (!at_text.empty()) {
    auto t = ParseFhirTime(at_text);
    if (!t) return Fail(InvalidArgument("--at: not a FHIR dateTime: " + at_text));
    at = t->start;
  }
  scores::News2Options options;
  if (window_hours > 0) options.window_ms.fill(static_cast<int64_t>(window_hours * 3'600'000));
  auto lake = Lake::Open(dir);
  if (!lake.ok()) return Fail(lake.status());
  // Current inpatients' scores are clinical decision support: admin and clinician only.
  auto access = OpenAccess(dir, access_options, query::OutputKind::kClinical, "score news2");
  if (!access.ok()) return Fail(access.status());
  auto results = scores::ScoreInpatients(**lake, at, options);
  if (!results.ok()) return Fail(results.status());
  Status audited = (*access)->Audit("query", "score news2", static_cast<int64_t>(results->size()));
  if (!audited.ok()) return Fail(audited);
  if (!as_json) {
    std::printf("NEWS2 of %zu current inpatients at %s\n", results->size(), FormatUtc(at).c_str());
    std::printf("%-38s %-44s %5s  %-10s %s\n", "patient", "location", "score", "band",
                "missing or stale");
  }
  for (const auto& r : *results) {
    const auto& n = r.news2;
    if (as_json) {
      std::printf(
          "%s\n",
          scores::News2Json({r.patient_id, r.encounter_id, r.location, n, r.qsofa}).c_str());
    } else {
      std::string absent;
      for (const auto& p : scores::ParameterNames(n.missing_mask | n.stale_mask))
        absent += (absent.empty() ? "" : ",") + p;
      std::printf("%-38s %-44s %4u%s  %-10s %s\n", r.patient_id.c_str(), r.location.c_str(),
                  n.aggregate, n.complete() ? " " : "*",
                  std::string(scores::BandName(n.band)).c_str(), absent.c_str());
    }
  }
  bool partial = false;
  for (const auto& r : *results) partial |= !r.news2.complete();
  if (!as_json && partial)
    std::printf("* partial score (a lower bound): parameters missing or stale\n");
  return 0;
}

}  // namespace

void RegisterScoresCommands(CLI::App& app, int& exit_code) {
  struct Options {
    std::string lake, at;
    bool json = false;
    double window_hours = 0;
    AccessOptions access;
  };
  auto o = std::make_shared<Options>();
  auto* score = app.add_subcommand("score", "Clinical scores over the lake");
  score->require_subcommand(1);
  auto* news2 =
      score->add_subcommand("news2", "NEWS2 (RCP 2017) and qSOFA of every current inpatient");
  news2->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  news2->add_option("--at", o->at, "Time to score at (FHIR dateTime; default now)");
  news2
      ->add_option("--window-hours", o->window_hours,
                   "A reading older than this is stale (default 12)")
      ->check(PositiveFinite());
  news2->add_flag("--json", o->json, "One JSON object per patient and line");
  AddAccessOptions(news2, o->access);
  news2->callback([o, &exit_code] {
    exit_code = RunNews2(o->lake, o->at, o->json, o->window_hours, o->access);
  });
}

}  // namespace medlake::cli
