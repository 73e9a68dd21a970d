// A small generated population shared by the output tests (generated once per process).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/fhir_time.h"
#include "synth/generator.h"

namespace medlake::synth::testing {

inline std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> Lines(const std::filesystem::path& path) {
  std::vector<std::string> out;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

inline SynthConfig SmallConfig(const std::string& dir, uint64_t patients = 300) {
  SynthConfig c;
  c.patients = patients;
  c.seed = 11;
  c.out_dir = dir;
  c.start_day = DaysFromCivil(2022, 1, 1);
  c.years = 2;
  c.bundles = true;
  c.chunk_size = 64;
  return c;
}

inline std::string TestDir(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("medlake_synth_" + name + "_" + std::to_string(::getpid())))
      .string();
}

// The population generated once for all output tests; removed at process exit.
struct SharedOutput {
  static const SharedOutput& Get() {
    static const SharedOutput out;
    return out;
  }
  std::filesystem::path dir;
  SynthConfig config;
  SynthStats stats;
  Status status;

  ~SharedOutput() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

 private:
  SharedOutput() : dir(TestDir("shared")), config(SmallConfig(dir.string())) {
    Result<SynthStats> r = Generate(config);
    status = r.status();
    if (r.ok()) stats = *r;
  }
};

}  // namespace medlake::synth::testing
