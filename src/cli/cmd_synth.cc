// `medlake synth`: the synthetic population generator (src/synth, docs/synth.md).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "synth/generator.h"

namespace medlake::cli {

namespace {

struct SynthOptions {
  synth::SynthConfig config;
  std::string formats = "fhir,hl7v2,vcf,device";
  std::string start = "2022-01-01";
  bool quiet = false;
};

int RunSynth(SynthOptions& opts) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "medlake synth: %s\n", s.ToString().c_str());
    return InfoFor(s.code()).exit_code;
  };
  Result<synth::Formats> formats = synth::ParseFormats(opts.formats);
  if (!formats.ok()) return fail(formats.status());
  opts.config.formats = *formats;
  Result<int64_t> start = synth::ParseStartDate(opts.start);
  if (!start.ok()) return fail(start.status());
  opts.config.start_day = *start;
  // A population is written whole into a folder of its own: into one that holds files (an
  // earlier population, of other formats or patients), ingesting the folder would mix them.
  std::error_code ec;
  if (std::filesystem::is_directory(opts.config.out_dir, ec) &&
      !std::filesystem::is_empty(opts.config.out_dir, ec)) {
    return fail(AlreadyExists("--out " + opts.config.out_dir +
                              " already holds files: synth writes a whole population into a "
                              "new or empty folder"));
  }
  synth::MapLargeBuffersDirectly();
  Result<synth::SynthStats> stats = synth::Generate(opts.config);
  if (!stats.ok()) return fail(stats.status());
  if (!opts.quiet) {
    const synth::SynthStats& s = *stats;
    const double secs = s.seconds > 0 ? s.seconds : 1e-9;
    std::fputs(fmt::format("medlake synth: {} patients in {:.2f} s ({:.0f} patients/s)\n"
                           "  FHIR resources {} ({:.0f}/s), HL7 v2 messages {}, device readings "
                           "{}, VCF variants {}\n  hospital beds {} ({} surge)\n"
                           "  {:.1f} MB written ({:.1f} MB/s) to {}\n",
                           s.patients, s.seconds, s.patients / secs, s.TotalFhirResources(),
                           s.TotalFhirResources() / secs, s.hl7_messages, s.device_readings,
                           s.vcf_variants, s.hospital_beds, s.surge_beds, s.bytes_written / 1e6,
                           s.bytes_written / 1e6 / secs, opts.config.out_dir)
                   .c_str(),
               stdout);
  }
  return 0;
}

}  // namespace

void RegisterSynthCommands(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<SynthOptions>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Generate a synthetic population (FHIR R4 NDJSON, HL7 v2, VCF, device stream)");
  cmd->add_option("--patients", opts->config.patients, "Number of patients")->capture_default_str();
  cmd->add_option("--seed", opts->config.seed, "Random seed (same seed, same bytes)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--out", opts->config.out_dir, "Output directory")
      ->check(NotEmpty())
      ->required();
  cmd->add_option("--formats", opts->formats, "Comma-separated: fhir,hl7v2,vcf,device or all")
      ->capture_default_str();
  cmd->add_option("--start", opts->start, "First day of the observation window (YYYY-MM-DD)")
      ->capture_default_str();
  cmd->add_option("--years", opts->config.years, "Length of the observation window in years")
      ->capture_default_str();
  cmd->add_flag("--bundles", opts->config.bundles,
                "Also write one FHIR transaction Bundle per patient (fhir-bundles/)");
  cmd->add_flag("--vcf-per-patient", opts->config.vcf_per_patient,
                "Also write one single-sample VCF per patient (vcf/patients/<patient id>.vcf)");
  cmd->add_flag("--hl7v2-stream", opts->config.hl7v2_stream,
                "Write HL7 v2 as one time-ordered stream (hl7v2/messages.hl7), not a file per day");
  cmd->add_option("--alt-unit-share", opts->config.alt_unit_share,
                  "Share of lab results reported in the alternative unit")
      ->capture_default_str();
  cmd->add_option("--opt-out-share", opts->config.opt_out_share,
                  "Share of patients who opt out of research use")
      ->capture_default_str();
  cmd->add_option("--threads", opts->config.threads, "Worker threads (0: all cores)")
      ->capture_default_str()
      ->check(Threads());
  cmd->add_flag("--quiet", opts->quiet, "Print nothing on success");
  cmd->callback([opts, &exit_code] { exit_code = RunSynth(*opts); });
}

}  // namespace medlake::cli
