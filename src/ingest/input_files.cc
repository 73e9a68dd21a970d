#include "ingest/input_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

#include "common/fhir_time.h"
#include "common/file_util.h"
#include "fhir/r4_model.h"
#include "ingest/device/device_reading.h"
#include "ingest/fhir/fhir_reader.h"

namespace medlake::ingest {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first bytes of a file (inflated when gzipped), what the format sniffs below look at: 16
// KiB of a JSON file, 1 MiB of an NDJSON one (a line may hold a photo before its
// resourceType). `whole` tells whether they are the whole file.
// A file that cannot be opened is an error here, before anything is ingested: found only when
// its turn came, it stopped a run that had committed the files before it (a review).
size_t HeadBytes(InputFormat format) {
  return format == InputFormat::kJson ? 16u << 10 : 1u << 20;
}

Result<std::string> ReadHead(const InputFile& f, bool& whole) {
  std::string head(HeadBytes(f.format), '\0');
  size_t got = 0;
  const int fd = OpenAnyLength(f.path, O_RDONLY);
  if (fd < 0) return IoError("cannot read " + f.path + ": " + std::strerror(errno));
  if (f.format == InputFormat::kHl7v2) {
    ::close(fd);  // read as it comes (no format to sniff)
    return std::string();
  }
  if (f.format == InputFormat::kNdjsonGz) {
    gzFile gz = gzdopen(fd, "rb");  // closes fd
    int n = gz ? gzread(gz, head.data(), static_cast<unsigned>(head.size())) : 0;
    if (gz) {
      gzclose(gz);
    } else {
      ::close(fd);
    }
    got = n > 0 ? static_cast<size_t>(n) : 0;
  } else {
    while (got < head.size()) {
      const ssize_t n = ::read(fd, head.data() + got, head.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int error = errno;
        ::close(fd);
        return IoError("cannot read " + f.path + ": " + std::strerror(error));
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  whole = got < head.size();
  head.resize(got);
  return head;
}

// True when an NDJSON file holds device readings rather than resources: among its first lines
// (of `head`, the whole file when `whole`), some are device readings
// (ingest/device/device_reading.h) and none names a resourceType. A malformed first line
// decides nothing (it is quarantined in either reading).
bool IsDeviceStream(std::string_view head, bool whole) {
  constexpr int kLinesLooked = 64;
  std::string_view rest = head;
  bool readings = false;
  for (int i = 0; i < kLinesLooked && !rest.empty(); ++i) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    if (line.find("\"resourceType\"") != std::string_view::npos) return false;
    if (!readings && (nl != std::string_view::npos || whole)) {
      readings = DeviceReadingToFhir(line, "", kNoTime).ok();
    }
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  return readings;
}

// The wave a file is read in (InputFile::wave), so that conditional references to what it
// holds resolve in the same run whatever the file order: 0 when its first resource lies
// outside every patient compartment, 1 for an NDJSON file of Patients (a bulk export's
// Patient.ndjson, which sorts after Observation.ndjson), 2 for a JSON file or Bundle that
// starts with a Patient (a patient's record: references inside a Bundle resolve within it, and
// references from later files to its Patient after it), else 3 (the rest, in input order).
// The shared-area files come before the Patients: a Patient file may repeat a shared-area
// resource in another version, and the version read first from the later file must be the
// one remembered (docs/format.md, "Identity, versions and idempotency").
uint8_t ReadWave(InputFormat format, std::string_view head) {
  std::string type = SniffFirstResourceType(head);
  if (type == "Patient") {
    return format != InputFormat::kJson && head.find("\"Bundle\"") == std::string::npos ? 1 : 2;
  }
  return !type.empty() && fhir::ResourceTypeIndex(type) >= 0 &&
                 fhir::PatientCompartmentPaths(type).empty()
             ? 0
             : InputFile::kLastWave;
}

}  // namespace

std::optional<InputFormat> FormatOfName(const std::string& path) {
  // In any case: tools on Windows write "RESULTS.JSON" and "Patient.NDJSON".
  std::string end = path.substr(path.size() - std::min<size_t>(path.size(), 10));
  for (char& c : end) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (EndsWith(end, ".ndjson.gz") || EndsWith(end, ".jsonl.gz")) return InputFormat::kNdjsonGz;
  if (EndsWith(end, ".ndjson") || EndsWith(end, ".jsonl")) return InputFormat::kNdjson;
  if (EndsWith(end, ".json")) return InputFormat::kJson;
  if (EndsWith(end, ".hl7")) return InputFormat::kHl7v2;
  return std::nullopt;
}

namespace {

// Adds a file to read, once: a file named twice (or inside a folder named too, or reached
// again by a symbolic or hard link) is read once, and the repetition listed as skipped
// (reading it twice counted its records twice). Files are told apart by device and inode.
// `listed`: the path as found (a link's own), which messages name.
void AddFile(InputSet& set, const std::string& path, InputFormat format,
             std::set<std::pair<uint64_t, uint64_t>>& seen, const std::string& listed) {
  // Opened rather than stat'ed by name: the path may be longer than stat(2) takes. Opened to
  // read, the kernel is asked for the head ReadHead reads next (from a cold cache the heads
  // read one after the other were 0.12 s of waiting for 1,030 files, 0.02 s so asked); a file
  // that cannot be read is still told apart by O_PATH.
  struct stat st {};
  int fd = OpenAnyLength(path, O_RDONLY);
  if (fd >= 0 && format != InputFormat::kHl7v2) {
    ::posix_fadvise(fd, 0, static_cast<off_t>(HeadBytes(format)), POSIX_FADV_WILLNEED);
  }
  if (fd < 0) fd = OpenAnyLength(path, O_PATH);
  const bool known = fd >= 0 && ::fstat(fd, &st) == 0;
  if (fd >= 0) ::close(fd);
  if (known &&
      !seen.emplace(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)).second) {
    set.skipped.emplace_back(listed, "named more than once (or a link to a file named); read once");
    return;
  }
  InputFile file;
  file.path = path;
  file.format = format;
  // A file that cannot be opened is reported by ReadHead, with the reason.
  file.size = known ? static_cast<uint64_t>(st.st_size) : 0;
  set.files.push_back(std::move(file));
}

// Adds the file found at `listed` (`target`: its path with links resolved): read as the
// target, in the format the target's name gives, as when a link is named on the command line
// ("current.json" -> "data.ndjson" is NDJSON: read as one JSON document it was one record, and
// the file itself was skipped as read); a target whose name gives none (a content-addressed
// cache's "3f2a9c") in the format the link's name gives.
void AddFound(InputSet& set, const std::string& listed, const std::string& target,
              std::set<std::pair<uint64_t, uint64_t>>& seen) {
  if (auto format = FormatOfName(target)) {
    AddFile(set, target, *format, seen, listed);
  } else if (auto by_link = FormatOfName(listed)) {
    AddFile(set, listed, *by_link, seen, listed);
  } else {
    set.skipped.emplace_back(listed, "unknown format (not " + std::string(kKnownFormatNames) + ")");
  }
}

// The mode of what a path longer than stat(2) takes names, a link at its end followed;
// nullopt with errno set when it cannot be opened (OpenAnyLength).
std::optional<mode_t> LongPathMode(const std::string& path) {
  const int fd = OpenAnyLength(path, O_PATH);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  const bool known = ::fstat(fd, &st) == 0;
  const int error = errno;
  ::close(fd);
  errno = error;
  if (!known) return std::nullopt;
  return st.st_mode;
}

}  // namespace

Result<InputSet> ExpandInputs(const std::vector<std::string>& paths) {
  InputSet set;
  std::set<std::pair<uint64_t, uint64_t>> seen;
  for (const auto& given : paths) {
    std::error_code ec;
    // Canonical (absolute, links resolved, so ".." means what it means to the kernel): a file
    // names its quarantine entries by its path, which must not change with the way the
    // command spelled it ("in/a.ndjson", "./in/a.ndjson", "/data/in/a.ndjson").
    fs::path normal = fs::weakly_canonical(given, ec);
    if (!normal.has_filename() && normal.has_parent_path()) normal = normal.parent_path();
    const std::string p = ec ? given : normal.string();
    auto st = fs::status(p, ec);
    if (ec.value() == ENAMETOOLONG) {
      // Deeper than stat(2) takes: a file is read; a folder cannot be listed by its path.
      const std::optional<mode_t> mode = LongPathMode(p);
      if (mode && S_ISREG(*mode)) {
        AddFound(set, p, p, seen);
      } else if (mode && !S_ISDIR(*mode)) {
        set.skipped.emplace_back(p, "not a regular file (save its content to a file)");
      } else if (!mode && errno == ENOENT) {
        return NotFound("no such file or directory: " + p);
      } else {
        return IoError("cannot list " + p + ": " + ec.message());
      }
      continue;
    }
    if (ec || !fs::exists(st)) return NotFound("no such file or directory: " + p);
    if (fs::is_directory(st)) {
      std::vector<std::pair<std::string, std::string>> found;  // as listed, links resolved
      std::string listing = p;  // the folder whose listing an error is about
      for (auto it = fs::recursive_directory_iterator(p, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code entry_ec;
        // The next step enters this entry when it is a folder (a link to one is not followed).
        listing = it->is_directory(entry_ec) && !it->is_symlink(entry_ec) ? it->path().string() : p;
        if (it->path().native().size() >= PATH_MAX && it->is_symlink(entry_ec)) {
          // A link deeper than stat(2) takes, followed through its folders' descriptors (read
          // in the format its own name gives).
          const std::string path = it->path().string();
          const std::optional<mode_t> mode = LongPathMode(path);
          if (mode && S_ISREG(*mode)) {
            found.emplace_back(path, path);
          } else if (mode) {
            set.skipped.emplace_back(path, S_ISDIR(*mode)
                                               ? "symbolic link to a folder (not followed)"
                                               : "not a regular file");
          } else {
            set.skipped.emplace_back(
                path, errno == ELOOP ? "symbolic link loop" : "broken symbolic link");
          }
          continue;
        }
        if (it->is_regular_file(entry_ec)) {
          std::error_code link_ec;
          fs::path file =
              it->is_symlink(entry_ec) ? fs::canonical(it->path(), link_ec) : it->path();
          found.emplace_back(it->path().string(), link_ec ? it->path().string() : file.string());
        } else if (it->is_symlink(entry_ec) && !fs::exists(it->path(), entry_ec)) {
          set.skipped.emplace_back(it->path().string(), entry_ec.value() == ELOOP
                                                            ? "symbolic link loop"
                                                            : "broken symbolic link");
        } else if (it->is_symlink(entry_ec) && it->is_directory(entry_ec)) {
          set.skipped.emplace_back(it->path().string(), "symbolic link to a folder (not followed)");
        } else if (!it->is_directory(entry_ec)) {
          set.skipped.emplace_back(it->path().string(), "not a regular file");
        }
      }
      if (ec) return IoError("cannot list " + listing + ": " + ec.message());
      std::sort(found.begin(), found.end());
      for (const auto& [listed, target] : found) AddFound(set, listed, target, seen);
    } else if (!fs::is_regular_file(st)) {
      // A pipe, socket or device: its bytes cannot be read twice (the format is sniffed first)
      // nor counted, as inside a folder.
      set.skipped.emplace_back(p, "not a regular file (save its content to a file)");
    } else {
      // A link named: its own absolute path when its target's name gives no format.
      std::error_code abs_ec;
      const fs::path named = fs::absolute(given, abs_ec);
      const std::string listed = abs_ec || !fs::is_symlink(named, abs_ec) ? p : named.string();
      AddFound(set, listed, p, seen);
    }
  }
  for (size_t i = 0; i < set.files.size(); ++i) set.files[i].input_order = static_cast<uint32_t>(i);
  for (auto& f : set.files) {
    bool whole = false;
    MEDLAKE_ASSIGN_OR_RETURN(const std::string head, ReadHead(f, whole));
    if (f.format == InputFormat::kHl7v2) continue;  // the last wave, as read
    if (f.format == InputFormat::kNdjson && IsDeviceStream(head, whole)) {
      f.format = InputFormat::kDeviceNdjson;
    } else if (f.format != InputFormat::kDeviceNdjson) {
      f.wave = ReadWave(f.format, head);
    }
    f.shared_first = f.wave < 2;  // remembered as read early (InputFile::shared_first)
  }
  std::stable_sort(set.files.begin(), set.files.end(),
                   [](const InputFile& a, const InputFile& b) { return a.wave < b.wave; });
  return set;
}

}  // namespace medlake::ingest
