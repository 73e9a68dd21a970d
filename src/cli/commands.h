// Subcommands of the medlake binary. Each Register function adds its subcommands to `app`;
// a subcommand's callback stores its process exit status in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <string>

#include "fhir/r4_model.h"

namespace medlake::cli {

// Accepts an R4 resource type name: a misspelt one would select nothing, silently.
inline CLI::Validator FhirResourceType() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (fhir::ResourceTypeIndex(text) >= 0) return "";
        return "unknown FHIR R4 resource type (names are case-sensitive: Patient, Observation, "
               "...)";
      },
      "TYPE");
}

// Accepts a finite number above 0 (CLI::PositiveNumber lets "nan" through).
inline CLI::Validator PositiveFinite() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || !std::isfinite(v) || v <= 0) return "must be a number above 0";
        return "";
      },
      "NUMBER>0");
}

// Accepts a finite number from 0 up to, not including, 1 (a share).
inline CLI::Validator Share() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        size_t used = 0;
        double v = -1;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || !std::isfinite(v) || v < 0 || v >= 1) {
          return "must be a number from 0 up to 1 (not 1)";
        }
        return "";
      },
      "0<=SHARE<1");
}

// Worker threads: 0 for all cores, at most 1024. (CLI::Range calls a word "not in range".)
inline CLI::Validator Threads() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int n = -1;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end != text.data() + text.size() || n < 0 || n > 1024) {
          return "must be a whole number from 0 (all cores) to 1024";
        }
        return "";
      },
      "0..1024");
}

// Accepts a path that is not empty: "" would name the current folder to some calls and no
// file to others.
inline CLI::Validator NotEmpty() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "must not be empty" : ""; },
      "PATH");
}

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
