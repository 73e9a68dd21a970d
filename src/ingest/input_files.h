// Expansion of ingest arguments into an ordered list of input files with their format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::ingest {

// kDeviceNdjson: NDJSON whose first line is a device reading (no resourceType), such as the
// monitor streams `medlake synth` writes; read like kNdjson, mapped by ingest/device.
enum class InputFormat { kNdjson, kNdjsonGz, kJson, kHl7v2, kDeviceNdjson };

struct InputFile {
  std::string path;
  InputFormat format;
  uint64_t size = 0;
  // Read before the others, in waves of their own with a pipeline boundary after each: the
  // files of shared-area resources (wave 0), NDJSON files of Patients (wave 1), then JSON
  // files (Bundles) whose first resource is a Patient (wave 2); the rest is wave 3, in input
  // order. Conditional references resolve against identifiers of earlier waves (and of
  // earlier checkpoints), never of the wave being read, so that the lake does not depend on
  // which thread reads first (input_files.cc, ReadWave).
  uint8_t wave = kLastWave;
  static constexpr uint8_t kLastWave = 3;
  // Waves 0 and 1 are remembered as read early (LakeWriter::Admit's read_early): they repeat
  // resources that later files hold in other versions.
  bool shared_first = false;
  // Position among the inputs as given (a directory's files in name order): a later input's
  // version of a resource wins, whatever the order the files are read in.
  uint32_t input_order = 0;
};

// The format a file's name says (.ndjson, .jsonl, .ndjson.gz, .jsonl.gz, .json, .hl7); nullopt
// for a name ingest does not read.
std::optional<InputFormat> FormatOfName(const std::string& path);
// The names FormatOfName knows, as reports list them.
inline constexpr std::string_view kKnownFormatNames = ".ndjson, .jsonl, .ndjson.gz, .json or .hl7";

struct InputSet {
  std::vector<InputFile> files;
  std::vector<std::pair<std::string, std::string>> skipped;  // path, reason
};

// Files are taken as given; directories are walked recursively in name order, and files of no
// known format there are skipped (listed, not read). A path that does not exist is an error.
Result<InputSet> ExpandInputs(const std::vector<std::string>& paths);

}  // namespace medlake::ingest
