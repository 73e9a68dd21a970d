// Subcommands of the medlake binary. Each Register function adds its subcommands to `app`;
// a subcommand's callback stores its process exit status in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace medlake::cli {

void RegisterStoreCommands(CLI::App& app, int& exit_code);     // cmd_store.cc
void RegisterSynthCommands(CLI::App& app, int& exit_code);     // cmd_synth.cc
void RegisterFhirPathCommands(CLI::App& app, int& exit_code);  // cmd_fhirpath.cc
void RegisterHl7v2Commands(CLI::App& app, int& exit_code);     // cmd_hl7v2.cc
void RegisterScoresCommands(CLI::App& app, int& exit_code);    // cmd_scores.cc
void RegisterPrivacyCommands(CLI::App& app, int& exit_code);   // cmd_privacy.cc
void RegisterQueryCommands(CLI::App& app, int& exit_code);     // cmd_query.cc
void RegisterServerCommands(CLI::App& app, int& exit_code);    // cmd_server.cc
void RegisterCohortCommands(CLI::App& app, int& exit_code);    // cmd_cohort.cc
void RegisterWatchCommands(CLI::App& app, int& exit_code);     // cmd_watch.cc

}  // namespace medlake::cli
