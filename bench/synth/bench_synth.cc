// Throughput of `medlake synth` at two population sizes: patients/s, FHIR resources/s, MB/s
// and peak RSS. Each size runs in a forked child so its peak RSS is its own. The baseline is
// Synthea's documented rate on this machine class (about 1,000 patients per minute), and the
// floor the issue sets (100x Synthea, 1,700 patients/s); ratios to both are printed.
//
// Usage: medlake_bench_synth [OUT_DIR] [SMALL] [LARGE] [FORMATS]
//   OUT_DIR defaults to a folder under $TMPDIR (use /dev/shm to take the disk out).
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fhir_time.h"
#include "synth/fhir_writer.h"
#include "synth/generator.h"
#include "synth/population.h"

namespace {

constexpr double kSyntheaPatientsPerSecond = 1000.0 / 60.0;
constexpr double kFloorPatientsPerSecond = 1700.0;

struct Measure {
  double seconds;
  double patients;
  double resources;  // FHIR resources
  double records;    // FHIR resources + HL7 messages + device readings
  double megabytes;
};

int RunChild(const std::string& dir, uint64_t patients, const std::string& formats, int fd) {
  medlake::synth::SynthConfig config;
  config.patients = patients;
  config.seed = 2026;
  config.out_dir = dir;
  config.start_day = medlake::DaysFromCivil(2022, 1, 1);
  config.years = 3;
  auto parsed = medlake::synth::ParseFormats(formats);
  if (!parsed.ok()) return 2;
  config.formats = *parsed;
  medlake::synth::MapLargeBuffersDirectly();
  auto stats = medlake::synth::Generate(config);
  if (!stats.ok()) {
    std::fprintf(stderr, "%s\n", stats.status().ToString().c_str());
    return 1;
  }
  const Measure m{stats->seconds, static_cast<double>(stats->patients),
                  static_cast<double>(stats->TotalFhirResources()),
                  static_cast<double>(stats->TotalFhirResources() + stats->hl7_messages +
                                      stats->device_readings),
                  stats->bytes_written / 1e6};
  return write(fd, &m, sizeof(m)) == sizeof(m) ? 0 : 1;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// In-run baseline for the FHIR writer: the same resources serialized by nlohmann::json
// (dump() of already-built documents, so the baseline's cost is serialization alone) against
// synth's hand-built rendering from the stories. Single thread.
void CompareWithNlohmann() {
  medlake::synth::SynthConfig config;
  config.patients = 500;
  config.seed = 2026;
  config.start_day = medlake::DaysFromCivil(2022, 1, 1);
  const medlake::synth::PopulationModel model(config);
  std::vector<medlake::synth::PatientStory> stories(config.patients);
  for (uint64_t i = 0; i < config.patients; ++i) model.Generate(i, stories[i]);
  medlake::synth::FhirChunk chunk;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& story : stories) medlake::synth::RenderFhir(model, story, false, chunk);
  const double ours = Seconds(t0);
  size_t bytes = 0;
  std::vector<nlohmann::json> docs;
  for (const std::string& text : chunk.ndjson) {
    bytes += text.size();
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t end = text.find('\n', pos);
      docs.push_back(nlohmann::json::parse(text.substr(pos, end - pos)));
      pos = end + 1;
    }
  }
  t0 = std::chrono::steady_clock::now();
  size_t dumped = 0;
  for (const auto& doc : docs) dumped += doc.dump().size() + 1;
  const double theirs = Seconds(t0);
  std::printf("\nFHIR rendering, 1 thread, %zu resources (%.1f MB):\n", docs.size(), bytes / 1e6);
  std::printf("  synth hand-built   %8.1f MB/s\n", bytes / 1e6 / ours);
  std::printf("  nlohmann dump()    %8.1f MB/s   (synth is %.1fx faster, %zu bytes)\n",
              dumped / 1e6 / theirs, (bytes / ours) / (dumped / theirs), dumped);
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const std::string root =
      argc > 1 ? argv[1] : (fs::temp_directory_path() / "medlake_bench_synth").string();
  const uint64_t small = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2000;
  const uint64_t large = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 20000;
  const std::string formats = argc > 4 ? argv[4] : "all";
  std::printf("medlake synth benchmark: formats=%s, out=%s, %ld hardware threads\n",
              formats.c_str(), root.c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%10s %9s %12s %12s %14s %9s %9s %13s %10s %8s\n", "patients", "seconds",
              "patients/s", "FHIR res/s", "all records/s", "MB/s", "peak MB", "patients/cpu-s",
              "x Synthea", "x floor");
  int failures = 0;
  for (uint64_t n : {small, large}) {
    const std::string dir = root + "/" + std::to_string(n);
    int fds[2];
    if (pipe(fds) != 0) return 1;
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      _exit(RunChild(dir, n, formats, fds[1]));
    }
    close(fds[1]);
    Measure m{};
    const bool got = read(fds[0], &m, sizeof(m)) == sizeof(m);
    close(fds[0]);
    int status = 0;
    struct rusage usage {};
    wait4(pid, &status, 0, &usage);
    if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "run with %lu patients failed\n", static_cast<unsigned long>(n));
      ++failures;
      continue;
    }
    const double pps = m.patients / m.seconds;
    const double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                       usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    std::printf("%10.0f %9.2f %12.0f %12.0f %14.0f %9.1f %9.1f %13.0f %10.0f %8.2f\n", m.patients,
                m.seconds, pps, m.resources / m.seconds, m.records / m.seconds,
                m.megabytes / m.seconds, usage.ru_maxrss / 1024.0, m.patients / cpu,
                pps / kSyntheaPatientsPerSecond, pps / kFloorPatientsPerSecond);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  CompareWithNlohmann();
  return failures == 0 ? 0 : 1;
}
