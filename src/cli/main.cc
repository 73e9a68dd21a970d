// The medlake command-line tool: one binary, one subcommand per task.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"

int main(int argc, char** argv) {
  CLI::App app{"medlake: a pseudonymized, quality-checked health data lake"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "medlake 0.1.0");
  int exit_code = 0;
#ifdef MEDLAKE_HAVE_STORE
  medlake::cli::RegisterStoreCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_SYNTH
  medlake::cli::RegisterSynthCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_FHIRPATH
  medlake::cli::RegisterFhirPathCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_HL7V2
  medlake::cli::RegisterHl7v2Commands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_SERVER
  medlake::cli::RegisterServerCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_QUERY
  medlake::cli::RegisterQueryCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_SCORES
  medlake::cli::RegisterScoresCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_COHORT
  medlake::cli::RegisterCohortCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_WATCH
  medlake::cli::RegisterWatchCommands(app, exit_code);
#endif
#ifdef MEDLAKE_HAVE_PRIVACY
  medlake::cli::RegisterPrivacyCommands(app, exit_code);
#endif
  // CLI11 would say "A subcommand is required" for a misspelt command.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known |= sub->check_name(argv[1]);
    if (!known) {
      return medlake::cli::Fail(medlake::InvalidArgument(
          "unknown command '" + std::string(argv[1]) + "' (medlake --help lists them)"));
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other error on the command line is an invalid
    // argument, told as every other error is, with the exit status of the ErrorCode table
    // (include/medlake/status.h).
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string command = "medlake";
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      command += " " + sub->get_name();
    }
    return medlake::cli::Fail(
        medlake::InvalidArgument(std::string(e.what()) + " (" + command + " --help)"));
  } catch (const std::filesystem::filesystem_error& e) {
    // A file the command could not reach (permissions, a vanished path): its message names
    // the path and the reason, never file content.
    return medlake::cli::Fail(medlake::IoError(e.what()));
  }
  // What a command printed must have reached its destination (a full disk, a closed pipe):
  // a cut or empty output with exit status 0 would pass for a complete one.
  // The reason is errno only when this flush failed: an earlier write's error (ferror) has
  // lost its errno to later calls.
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int reason = errno;
  // A pipe whose reader stopped reading (`| head`, with SIGPIPE ignored) is no failure: only
  // a pipe can do that, and a file or device is what a full disk fills.
  struct stat out {};
  const bool pipe =
      ::fstat(STDOUT_FILENO, &out) == 0 && (S_ISFIFO(out.st_mode) || S_ISSOCK(out.st_mode));
  if ((flush_failed || std::ferror(stdout)) && reason != EPIPE && !(pipe && !flush_failed)) {
    int failed = medlake::cli::Fail(medlake::IoError(
        std::string("cannot write the standard output") +
        (flush_failed && reason != 0 ? std::string(": ") + std::strerror(reason)
                                     : std::string(" (a write failed: a full disk or a closed "
                                                   "pipe)"))));
    return exit_code != 0 ? exit_code : failed;
  }
  return exit_code;
}
