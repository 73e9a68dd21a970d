// Lake commands: ingest, status, get, export, quarantine, verify.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "cli/access_options.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/file_util.h"
#include "fhir/resource_facts.h"
#include "ingest/chunk_source.h"
#include "ingest/ingest.h"
#include "ingest/input_files.h"
#include "medlake/lake.h"
#include "privacy/key_store.h"
#include "privacy/pseudonymizer.h"
#include "query/patient_export.h"
#include "store/repair.h"

namespace medlake::cli {
namespace {

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  return fmt::format("{:.1f} {}", b, units[u]);
}

int RunIngest(const std::string& lake, const std::vector<std::string>& paths, int jobs,
              uint64_t checkpoint_mb, const AccessOptions& access_options) {
  // In a lake with a key, storing records is the admin's (the owner of the key file, or an
  // admin's token); the run is audited, a refusal and a failure too. The run checks under the
  // writer lock that the lake still is as found here (IngestOptions::expect_key).
  const bool keyed = privacy::KeyStore::IsInitialised(lake);
  auto access = OpenAccess(lake, access_options, query::OutputKind::kWrite, "ingest");
  if (!access.ok()) return Fail(access.status());
  ingest::IngestOptions options;
  options.expect_key = keyed;
  options.jobs = jobs;
  if (checkpoint_mb > 0) options.checkpoint_bytes = checkpoint_mb << 20;
  auto start = std::chrono::steady_clock::now();
  if (::isatty(STDERR_FILENO)) {
    options.progress = [start](uint64_t records, uint64_t done, uint64_t total) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double rate = secs > 0 ? done / secs : 0;
      double left = rate > 0 && total > done ? (total - done) / rate : 0;
      std::fprintf(stderr, "\r%llu records  %s/s  %.0f%%  %.0f s left   ",
                   static_cast<unsigned long long>(records), HumanBytes(rate).c_str(),
                   total ? 100.0 * done / total : 100.0, left);
      std::fflush(stderr);
    };
  }
  // In the log before anything is stored: a log that cannot be written stores nothing.
  if (Status a = (*access)->Audit("ingest.start", "ingest", -1); !a.ok()) return Fail(a);
  auto report = ingest::Ingest(lake, paths, options);
  if (options.progress) std::fprintf(stderr, "\n");
  if (!report.ok()) return FailAudited(**access, "ingest", report.status());
  const auto& c = report->counters;
  Status audited = (*access)->Audit(
      "ingest",
      fmt::format("run {}: {} files, {} records read, {} stored, {} duplicates, {} quarantined{}",
                  report->run_id, c.files, c.records_read, c.stored, c.duplicates, c.quarantined,
                  c.deleted ? fmt::format(", {} deleted", c.deleted) : ""),
      -1);
  // The run is committed either way: its report is printed, and a log that could not record
  // it is then the command's failure (a review saw a committed run report only the log's error).
  for (const auto& s : report->skipped) {
    std::printf("skipped %s: %s\n", Printable(s.path).c_str(), s.reason.c_str());
  }
  std::printf(
      "run %lld: %llu files, %llu records read: %llu stored, %llu duplicates, %llu quarantined",
      static_cast<long long>(report->run_id), static_cast<unsigned long long>(c.files),
      static_cast<unsigned long long>(c.records_read), static_cast<unsigned long long>(c.stored),
      static_cast<unsigned long long>(c.duplicates),
      static_cast<unsigned long long>(c.quarantined));
  if (c.deleted) std::printf(", %llu deleted", static_cast<unsigned long long>(c.deleted));
  if (c.replaced)
    std::printf(" (%llu replaced earlier versions)", static_cast<unsigned long long>(c.replaced));
  std::printf("\n");
  double secs = report->seconds > 0 ? report->seconds : 1e-9;
  std::printf("%.2f s, %s/s, %.0f records/s\n", report->seconds,
              HumanBytes(c.bytes_read / secs).c_str(), c.records_read / secs);
  if (report->untimed_deletions) {
    std::printf(
        "%llu DELETE requests carried no time (response.lastModified; in a transaction or "
        "batch, the Bundle's meta.lastUpdated or timestamp): each deletes only versions without "
        "meta.lastUpdated read before it\n",
        static_cast<unsigned long long>(report->untimed_deletions));
  }
  if (c.files == 0) {
    std::fprintf(stderr,
                 "medlake: warning: no file of a format ingest reads (%s) was found in the "
                 "paths given\n",
                 std::string(ingest::kKnownFormatNames).c_str());
  }
  if (report->unresolved_references) {
    std::printf("%llu references could not be resolved and were kept as written\n",
                static_cast<unsigned long long>(report->unresolved_references));
  }
  if (c.quarantined) {
    std::printf("see: medlake quarantine --lake %s\n", ShellQuoted(lake).c_str());
  }
  if (!report->warning.empty())
    std::fprintf(stderr, "medlake: warning: %s\n", report->warning.c_str());
  if (!audited.ok()) {
    return Fail(Status(audited.code(), "run " + std::to_string(report->run_id) +
                                           " is committed, but the audit log could not record "
                                           "it: " +
                                           audited.message()));
  }
  return 0;
}

int RunStatus(const std::string& dir, bool as_json, const AccessOptions& access_options) {
  auto lake = Lake::Open(dir);
  if (!lake.ok()) return Fail(lake.status());
  auto access = OpenAccess(dir, access_options, query::OutputKind::kAggregate, "status");
  if (!access.ok()) return Fail(access.status());
  if (Status a = (*access)->Audit("read", "status", -1); !a.ok()) return Fail(a);
  auto s = (*lake)->Status();
  if (!s.ok()) return Fail(s.status());
  if (as_json) {
    nlohmann::ordered_json j;
    j["patients"] = s->patients;
    j["resources"] = nlohmann::ordered_json::object();
    for (const auto& [type, n] : s->resources) j["resources"][type] = n;
    j["total_resources"] = s->total_resources;
    j["quarantined"] = s->quarantined;
    j["segments"] = s->segments;
    j["bytes"] = s->bytes;
    j["runs"] = s->runs;
    j["unfinished_runs"] = s->unfinished_runs;
    j["deleted"] = s->deleted;
    std::printf("%s\n", JsonText(j, 2).c_str());
    return 0;
  }
  std::printf("lake %s\n", dir.c_str());
  std::printf("  patients     %llu\n", static_cast<unsigned long long>(s->patients));
  std::printf("  resources    %llu\n", static_cast<unsigned long long>(s->total_resources));
  for (const auto& [type, n] : s->resources) {
    std::printf("    %-28s %llu\n", type.c_str(), static_cast<unsigned long long>(n));
  }
  std::printf("  quarantined  %llu\n", static_cast<unsigned long long>(s->quarantined));
  std::printf("  segments     %llu (%s)\n", static_cast<unsigned long long>(s->segments),
              HumanBytes(static_cast<double>(s->bytes)).c_str());
  std::printf("  ingest runs  %llu", static_cast<unsigned long long>(s->runs));
  if (s->unfinished_runs) {
    std::printf(
        " (and %llu unfinished: stopped before the end, or still running; what each "
        "committed is kept)",
        static_cast<unsigned long long>(s->unfinished_runs));
  }
  std::printf("\n");
  if (s->deleted) {
    std::printf("  deleted      %llu (by DELETE requests)\n",
                static_cast<unsigned long long>(s->deleted));
  }
  return 0;
}

int RunGet(const std::string& dir, const std::string& ref, const AccessOptions& access_options) {
  auto slash = ref.find('/');
  // The argument is not echoed: what was typed instead may be an identifier's value.
  if (slash == std::string::npos || ref.find_first_of("?=|") != std::string::npos)
    return Fail(InvalidArgument("expected Type/id (a resource type, '/', then the id)"));
  auto lake = Lake::Open(dir);
  if (!lake.ok()) return Fail(lake.status());
  auto access = OpenAccess(dir, access_options, query::OutputKind::kPatientLevel, "get");
  if (!access.ok()) return Fail(access.status());
  std::string type = ref.substr(0, slash), id = ref.substr(slash + 1);
  if (fhir::ResourceTypeIndex(type) < 0) {
    return Fail(
        InvalidArgument("unknown FHIR R4 resource type '" + type + "' (names are case-sensitive)"));
  }
  // A lake holds the latest version of each resource (a new version replaces the old one).
  if (id.ends_with("/_history") || id.find("/_history/") != std::string::npos) {
    return Fail(InvalidArgument("a lake keeps only the latest version of each resource: ask for " +
                                type + "/id without /_history"));
  }
  if (!fhir::IsValidId(id)) {
    return Fail(InvalidArgument("the id after '" + type +
                                "/' is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)"));
  }
  std::string out;
  bool found = false;
  Status missing;  // the lake's answer when it does not hold the resource
  if ((*access)->restricted()) {
    // The caller sees the resource through its policy, which needs the resource's patient.
    Status s = (*lake)->Scan(
        type,
        [&](const ResourceView& r) {
          if (!found && r.id == id) found = (*access)->Transform(r, out);
        },
        nullptr);
    if (!s.ok()) return Fail(s);
  } else {
    auto json = (*lake)->Get(type, id);
    if (!json.ok() && json.status().code() != ErrorCode::kNotFound) return Fail(json.status());
    std::string role = (*access)->role();
    if (!json.ok() && type == "Patient" && (role == "admin" || role == "clinician")) {
      // Roles that may re-identify may also name a Patient by its source id.
      if (auto stored = query::FindStoredPatient(dir, id); stored.ok()) {
        json = (*lake)->Get(type, *stored);
      }
    }
    if (json.ok()) out = std::move(*json), found = true;
    if (!json.ok()) missing = json.status();  // why it is not there, when the lake knows
  }
  if (Status a = (*access)->Audit("read", "get " + type, found ? 1 : 0); !a.ok()) return Fail(a);
  if (!found) return Fail(missing.ok() ? NotFound(ref + " is not in the lake") : missing);
  std::printf("%s\n", out.c_str());
  return 0;
}

int ReportDamage(const std::vector<std::string>& damaged, const char* what = "damaged segment") {
  for (const auto& d : damaged) std::fprintf(stderr, "medlake: %s: %s\n", what, d.c_str());
  return damaged.empty() ? 0 : InfoFor(ErrorCode::kCorruption).exit_code;
}

// The folder an export writes in: `out` itself when it holds files already (none that ingest
// reads), else a staging folder next to it, ".NAME.export-PID", renamed to `out` by Publish.
// Staging folders that a killed export left for the same `out` are removed by Begin.
class StagedOutput {
 public:
  Status Begin(const std::string& out) {
    namespace fs = std::filesystem;
    std::error_code ec;
    // The folder `out` names, its links and dots resolved ("e/.", "." or a link to a folder):
    // the staging folder goes next to it and takes its name.
    out_ = ResolvedPath(out);
    if (out_.empty()) return IoError("cannot resolve " + out);
    const fs::path target = out_;
    // The current folder is written in place: replaced, it would leave the shell that stands in
    // it in a removed folder.
    std::error_code here_ec;
    const bool here = fs::equivalent(target, fs::current_path(here_ec), here_ec) && !here_ec;
    const bool fresh = !here && (!fs::exists(target, ec) ||
                                 (fs::is_directory(target, ec) && fs::is_empty(target, ec) && !ec));
    if (!fresh) {
      folder_ = out;
      fs::create_directories(out, ec);
      if (ec) return IoError("cannot create " + out + ": " + ec.message());
      return Status::Ok();
    }
    fs::path parent = target.parent_path();
    if (parent.empty()) parent = ".";
    fs::create_directories(parent, ec);
    if (ec) return IoError("cannot create " + parent.string() + ": " + ec.message());
    const std::string prefix = "." + target.filename().string() + ".export-";
    RemoveAbandoned(parent, prefix);
    staging_ = (parent / (prefix + std::to_string(::getpid()))).string();
    fs::remove_all(staging_, ec);
    if (!fs::create_directory(staging_, ec) || ec) {
      return IoError("cannot create " + staging_ + ": " + (ec ? ec.message() : "it exists"));
    }
    // An empty folder made for the export keeps its permissions (one only its owner reads).
    if (const fs::file_status made = fs::status(target, ec); !ec && fs::is_directory(made)) {
      fs::permissions(staging_, made.permissions(), ec);
    }
    folder_ = staging_;
    return Status::Ok();
  }
  const std::string& folder() const { return folder_; }
  // Gives the staging folder its name; nothing to do when the files were written in place.
  Status Publish() {
    if (staging_.empty()) return Status::Ok();
    if (std::rename(staging_.c_str(), out_.c_str()) != 0) {
      return IoError("cannot rename " + staging_ + " to " + out_ + ": " + std::strerror(errno));
    }
    staging_.clear();
    return Status::Ok();
  }
  void Discard() {
    std::error_code ec;
    if (!staging_.empty()) std::filesystem::remove_all(staging_, ec);
  }

 private:
  // The staging folders of exports to the same folder whose process is gone (killed).
  static void RemoveAbandoned(const std::filesystem::path& parent, const std::string& prefix) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(parent, ec)) {
      const std::string name = e.path().filename().string();
      if (!name.starts_with(prefix)) continue;
      const std::string pid = name.substr(prefix.size());
      if (pid.empty() || pid.size() > 9 ||
          pid.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) {
        std::error_code remove_ec;
        std::filesystem::remove_all(e.path(), remove_ec);
      }
    }
  }

  std::string out_;
  std::string folder_;
  std::string staging_;  // empty when writing in place, and once published
};

int RunExport(const std::string& dir, const std::string& type, const std::string& out,
              const AccessOptions& access_options) {
  auto lake = Lake::Open(dir);
  if (!lake.ok()) return Fail(lake.status());
  auto access = OpenAccess(dir, access_options, query::OutputKind::kPatientLevel, "export");
  if (!access.ok()) return Fail(access.status());
  // An export inside the lake would lie among its files (and be copied, backed up and erased
  // with them) where no reader of the lake looks.
  if (IsWithin(out, dir)) {
    return Fail(InvalidArgument("--out " + out + " is inside the lake " + dir +
                                ": export to a folder outside it"));
  }
  std::unordered_set<uint32_t> patients;
  std::string visible;
  std::error_code ec;
  // The output is one lake's bulk-export layout: files that ingest reads, left there by another
  // export or anything else, would be read with it by whoever ingests the folder. They are
  // found as ingest finds them (a link by its target's name too).
  if (std::filesystem::exists(out, ec)) {
    auto found = ingest::ExpandInputs({out});
    if (!found.ok()) return Fail(found.status());
    if (!found->files.empty()) {
      return Fail(AlreadyExists(out + " already holds files that ingest reads (" +
                                found->files.front().path + "): export to an empty or new folder"));
    }
  }
  ec.clear();
  // Each type is written as "Type.ndjson.partial" (a name ingest does not read) and renamed
  // when all are complete: a full disk or a kill leaves no cut file under a name that ingest
  // would load as a smaller lake. When `out` is new or empty, the files are written in a
  // folder next to it, renamed to `out` once they all have their names (one atomic rename,
  // which may replace an empty folder): `out` then holds the whole export or nothing, and a
  // kill during the renames of the files leaves a whole export under the staging name.
  StagedOutput staging;
  Status staged = staging.Begin(out);
  if (!staged.ok()) return Fail(staged);
  const std::string& written = staging.folder();
  // Owner-only, as the lake's files are: they hold patient data.
  struct Output {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{nullptr, &std::fclose};
    std::string partial;
  };
  std::map<std::string, Output, std::less<>> files;
  std::map<std::string, uint64_t, std::less<>> counts;
  // A resource longer than an NDJSON line that ingest reads (a Binary of 64 MiB) is written
  // alone, as "Type.N.json" (N from 1 per type), which ingest reads whole: partial, final names.
  std::vector<std::pair<std::string, std::string>> alone;
  std::map<std::string, uint64_t, std::less<>> alone_counts;
  std::vector<std::string> damaged;
  Status write_error;
  auto fail_write = [&](const std::string& path) {
    if (write_error.ok())
      write_error = IoError("cannot write " + path + ": " + std::strerror(errno));
  };
  Status s = (*lake)->Scan(
      type,
      [&](const ResourceView& r) {
        if (!write_error.ok() || !(*access)->Transform(r, visible)) return;
        if (r.patient != 0xFFFFFFFFu) patients.insert(r.patient);
        ++counts[std::string(r.type)];
        if (visible.size() + 1 >= ingest::ChunkSource::kMaxLineBytes) {
          const std::string name =
              fmt::format("{}.{}.json", r.type, ++alone_counts[std::string(r.type)]);
          auto& [partial, final_path] =
              alone.emplace_back(written + "/" + name + ".partial", written + "/" + name);
          std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(OpenPrivateOutput(partial),
                                                            &std::fclose);
          if (f == nullptr ||
              std::fwrite(visible.data(), 1, visible.size(), f.get()) != visible.size() ||
              std::fputc('\n', f.get()) == EOF || std::fclose(f.release()) != 0) {
            fail_write(partial);
          }
          return;
        }
        auto it = files.find(r.type);
        if (it == files.end()) {
          std::string partial = written + "/" + std::string(r.type) + ".ndjson.partial";
          Output o;
          o.file.reset(OpenPrivateOutput(partial));
          o.partial = partial;
          if (o.file == nullptr) fail_write(partial);
          it = files.emplace(std::string(r.type), std::move(o)).first;
        }
        std::FILE* f = it->second.file.get();
        if (f == nullptr || std::fwrite(visible.data(), 1, visible.size(), f) != visible.size() ||
            std::fputc('\n', f) == EOF) {
          fail_write(it->second.partial);
        }
      },
      &damaged);
  for (auto& [t, o] : files) {
    if (o.file != nullptr && std::fclose(o.file.release()) != 0) fail_write(o.partial);
  }
  if (s.ok()) s = write_error;
  // Audited before the files take their names: an export the log cannot record is removed.
  if (s.ok()) {
    s = (*access)->Audit("export", type.empty() ? "export" : "export " + type,
                         static_cast<int64_t>(patients.size()));
  }
  std::vector<std::pair<std::string, std::string>> to_rename = alone;
  for (auto& [t, o] : files) to_rename.emplace_back(o.partial, written + "/" + t + ".ndjson");
  std::vector<std::string> renamed;
  for (const auto& [partial, final_path] : to_rename) {
    if (s.ok() && std::rename(partial.c_str(), final_path.c_str()) != 0) {
      s = IoError("cannot rename " + partial + ": " + std::strerror(errno));
    }
    if (s.ok()) renamed.push_back(final_path);
  }
  if (s.ok()) s = staging.Publish();
  if (!s.ok()) {  // nothing of a failed export stays
    for (const auto& [partial, final_path] : to_rename) std::filesystem::remove(partial, ec);
    for (const auto& path : renamed) std::filesystem::remove(path, ec);
    staging.Discard();
    return Fail(s);
  }
  uint64_t total = 0;
  for (const auto& [t, n] : counts) {
    const auto it = alone_counts.find(t);
    const uint64_t by_itself = it == alone_counts.end() ? 0 : it->second;
    if (n > by_itself) {
      std::printf("%s.ndjson %llu\n", t.c_str(), static_cast<unsigned long long>(n - by_itself));
    }
    if (by_itself > 0) {
      std::printf("%s.N.json %llu (each too long for an NDJSON line)\n", t.c_str(),
                  static_cast<unsigned long long>(by_itself));
    }
    total += n;
  }
  std::printf("exported %llu resources to %s\n", static_cast<unsigned long long>(total),
              out.c_str());
  return ReportDamage(damaged);
}

int RunExportPatient(const std::string& dir, const std::string& patient, const std::string& out,
                     const AccessOptions& access) {
  auto bundle = query::ExportPatient({dir, patient, access.token, access.purpose});
  if (!bundle.ok()) return Fail(bundle.status());
  if (out.empty()) {
    std::printf("%s\n", bundle->bundle_json.c_str());
    return 0;
  }
  Status s = WriteOutputFile(out, bundle->bundle_json);
  if (!s.ok()) return Fail(s);
  std::fprintf(stderr, "%zu resources to %s\n", bundle->resources, out.c_str());
  return 0;
}

int RunErase(const std::string& dir, const std::string& patient, const AccessOptions& access) {
  std::string warning;
  auto erased = query::ErasePatientData(dir, patient, access.token, access.purpose, &warning);
  if (!erased.ok()) return Fail(erased.status());
  if (!warning.empty()) std::fprintf(stderr, "medlake: warning: %s\n", warning.c_str());
  std::printf(
      "erased 1 patient: %zu resources removed from segments; identity removed from the "
      "vault\n",
      *erased);
  return 0;
}

int RunQuarantine(const std::string& dir, int64_t limit, bool as_json,
                  const AccessOptions& access_options) {
  auto lake = Lake::Open(dir);
  if (!lake.ok()) return Fail(lake.status());
  auto access = OpenAccess(dir, access_options, query::OutputKind::kAggregate, "quarantine");
  if (!access.ok()) return Fail(access.status());
  if (Status a = (*access)->Audit("read", "quarantine", -1); !a.ok()) return Fail(a);
  auto entries = (*lake)->Quarantine(limit);
  if (!entries.ok()) return Fail(entries.status());
  // Under disclosure control (researcher, ops) source paths are not shown: a path may name the
  // patient (Synthea names its files after them). Each is a keyed hash of the path instead, so
  // that the entries of one file still group.
  if ((*access)->suppresses_small_counts()) {
    auto keys = privacy::KeyStore::Open(dir);
    if (!keys.ok()) return Fail(keys.status());
    const privacy::Pseudonymizer pseudonymizer(*keys);
    for (auto& e : *entries) e.source = "file " + pseudonymizer.ForSourceId("quarantine", e.source);
  }
  for (const auto& e : *entries) {
    if (as_json) {
      nlohmann::ordered_json j{{"run", e.run_id},        {"source", e.source},
                               {"line", e.line},         {"byte_offset", e.byte_offset},
                               {"location", e.location}, {"reason", e.reason}};
      std::printf("%s\n", JsonText(j).c_str());
    } else {
      std::string where = e.source;
      if (e.line > 0)
        where += fmt::format(":{}", e.line);
      else
        where += fmt::format(" @{}", e.byte_offset);
      if (!e.location.empty()) where += " " + e.location;
      std::printf("%s: %s\n", Printable(where).c_str(), Printable(e.reason).c_str());
    }
  }
  // A list cut at --limit says so (on stderr, so that the entries stay machine-readable).
  if (auto st = (*lake)->Status(); st.ok() && st->quarantined > entries->size()) {
    std::fprintf(stderr,
                 "medlake: %zu of %llu quarantined records listed; --limit %llu lists all\n",
                 entries->size(), static_cast<unsigned long long>(st->quarantined),
                 static_cast<unsigned long long>(st->quarantined));
  }
  return 0;
}

int RunVerify(const std::string& dir, const AccessOptions& access_options) {
  auto lake = Lake::Open(dir);
  if (!lake.ok()) return Fail(lake.status());
  auto access = OpenAccess(dir, access_options, query::OutputKind::kAggregate, "verify");
  if (!access.ok()) return Fail(access.status());
  if (Status a = (*access)->Audit("read", "verify", -1); !a.ok()) return Fail(a);
  auto damaged = (*lake)->Verify();
  if (!damaged.ok()) return Fail(damaged.status());
  if (damaged->empty()) {
    std::printf("catalog and %zu segments verified, no damage\n", (*lake)->segments().size());
  }
  if (const auto unnamed = (*lake)->UnnamedSegmentFiles(); !unnamed.empty()) {
    std::printf(
        "note: %zu segment files are not named by the catalog (first: %s): an interrupted run's "
        "uncommitted files, which the next ingest removes; if no run was interrupted, the "
        "catalog lost commits: copy them aside before writing to the lake\n",
        unnamed.size(), Printable(unnamed.front()).c_str());
  }
  return ReportDamage(*damaged, "damage");
}

// verify --drop-damaged: the damaged segments leave the lake (store/repair.h), so that
// ingesting the sources again stores what they held.
int RunDropDamaged(const std::string& dir, const AccessOptions& access_options) {
  // It deletes data: in a lake with a key, the admin's, and audited (a failure too).
  auto access = OpenAccess(dir, access_options, query::OutputKind::kWrite, "verify --drop-damaged");
  if (!access.ok()) return Fail(access.status());
  if (Status a = (*access)->Audit("repair.start", "damaged segments", -1); !a.ok()) return Fail(a);
  bool recounted = false;
  auto dropped = store::DropDamagedSegments(dir, &recounted);
  if (!dropped.ok()) return FailAudited(**access, "repair", dropped.status());
  uint64_t live = 0;
  for (const auto& d : *dropped) {
    live += d.live;
    std::printf("dropped %s (%s): %llu %s\n", d.file.c_str(), d.problem.c_str(),
                static_cast<unsigned long long>(d.live),
                d.columns_read ? "live resources"
                               : "rows, live or replaced (its columns do not read: which "
                                 "resources it held is unknown)");
  }
  Status audited = (*access)->Audit(
      "repair", fmt::format("{} damaged segments dropped, {} resources", dropped->size(), live),
      -1);
  if (!audited.ok()) return Fail(audited);
  if (recounted) std::printf("live resources per type counted again from the segments\n");
  if (dropped->empty()) {
    std::printf("no damaged segment: nothing dropped\n");
  } else {
    std::printf("%zu damaged segments dropped; ingest the sources again to store what they held\n",
                dropped->size());
  }
  return 0;
}

}  // namespace

void RegisterStoreCommands(CLI::App& app, int& exit_code) {
  struct Options {
    std::string lake;
    std::vector<std::string> paths;
    int jobs = 0;
    uint64_t checkpoint_mb = 0;
    bool json = false;
    bool drop_damaged = false;
    std::string ref, type, out;
    int64_t limit = 1000;
    AccessOptions access;
  };
  auto o = std::make_shared<Options>();

  auto* ingest = app.add_subcommand(
      "ingest",
      "Ingest FHIR R4 (NDJSON, .ndjson.gz, Bundles, resources), HL7 v2 (.hl7) and device "
      "readings into a lake");
  ingest->add_option("--lake", o->lake, "Lake directory (created if absent)")
      ->check(NotEmpty())
      ->required();
  ingest->add_option("--jobs,-j", o->jobs, "Worker threads (default, or 0: all cores)")
      ->check(Threads());
  ingest
      ->add_option("--checkpoint-mb", o->checkpoint_mb,
                   "Commit after about this much input (default 256)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  ingest->add_option("paths", o->paths, "Files or directories")->required();
  AddAccessOptions(ingest, o->access);
  ingest->callback([o, &exit_code] {
    exit_code = RunIngest(o->lake, o->paths, o->jobs, o->checkpoint_mb, o->access);
  });

  auto* status =
      app.add_subcommand("status", "Counts of patients, resources, quarantine and segments");
  status->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  status->add_flag("--json", o->json, "Machine-readable output");
  AddAccessOptions(status, o->access);
  status->callback([o, &exit_code] { exit_code = RunStatus(o->lake, o->json, o->access); });

  auto* get = app.add_subcommand("get", "Print one stored resource");
  get->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  get->add_option("ref", o->ref, "Type/id")->required();
  AddAccessOptions(get, o->access);
  get->callback([o, &exit_code] { exit_code = RunGet(o->lake, o->ref, o->access); });

  auto* exp =
      app.add_subcommand("export", "Write the lake as NDJSON per type (bulk-export layout)");
  exp->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  exp->add_option("--type", o->type, "Only this resource type")->check(FhirResourceType());
  exp->add_option("--out", o->out, "Output directory")->check(NotEmpty())->required();
  AddAccessOptions(exp, o->access);
  exp->callback([o, &exit_code] { exit_code = RunExport(o->lake, o->type, o->out, o->access); });

  auto* xp = app.add_subcommand(
      "export-patient", "All of one patient's data, re-identified, as a FHIR Bundle (audited)");
  xp->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  xp->add_option("patient", o->ref,
                 "Stored pseudonym, source Patient id, or identifier SYSTEM|VALUE")
      ->required();
  xp->add_option("--out", o->out, "Output file (default: standard output)")->check(NotEmpty());
  AddAccessOptions(xp, o->access);
  xp->callback(
      [o, &exit_code] { exit_code = RunExportPatient(o->lake, o->ref, o->out, o->access); });

  auto* erase = app.add_subcommand(
      "erase", "Erase one patient from segments, catalog and vault (admin; audited)");
  erase->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  erase
      ->add_option("--patient", o->ref,
                   "Stored pseudonym, source Patient id, or identifier SYSTEM|VALUE")
      ->required();
  AddAccessOptions(erase, o->access);
  erase->callback([o, &exit_code] { exit_code = RunErase(o->lake, o->ref, o->access); });

  auto* q =
      app.add_subcommand("quarantine", "List quarantined records with their location and reason");
  q->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  q->add_option("--limit", o->limit, "At most this many entries (default 1000)")
      ->check(CLI::Range(int64_t{1}, INT64_MAX));
  q->add_flag("--json", o->json, "One JSON object per line");
  AddAccessOptions(q, o->access);
  q->callback(
      [o, &exit_code] { exit_code = RunQuarantine(o->lake, o->limit, o->json, o->access); });

  auto* verify = app.add_subcommand(
      "verify",
      "Check the catalog, every checksum of every segment, and their row and byte counts");
  verify->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  verify->add_flag("--drop-damaged", o->drop_damaged,
                   "Remove damaged segments from the lake, so that ingesting the sources again "
                   "stores what they held (admin; audited)");
  AddAccessOptions(verify, o->access);
  verify->callback([o, &exit_code] {
    exit_code =
        o->drop_damaged ? RunDropDamaged(o->lake, o->access) : RunVerify(o->lake, o->access);
  });
}

}  // namespace medlake::cli
