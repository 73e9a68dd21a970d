// The identity vault's commits (privacy/vault.h, Vault::Stage) as a keyed ingest makes them:
// one per checkpoint, each of the records that de-identification removed from the resources of
// that checkpoint (about 40,000 records of 250 bytes for 10x Synthea), one after the other into
// a growing vault. Baseline, in the same run: a vault of the layout of before 2026-12-01,
// whose records were keyed by their lookup (a WITHOUT ROWID table), so that every commit wrote
// on every page of the table.
//
//   medlake_bench_vault [COMMITS] [RECORDS]
//
// Prints the seconds of each commit of both layouts (sealing included), the total of each, the
// ratio baseline / now, and the size of each file.
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "privacy/key_store.h"
#include "privacy/pseudonymizer.h"
#include "privacy/vault.h"

namespace {

using medlake::privacy::KeyStore;
using medlake::privacy::Vault;

// A removed-elements record of about 250 bytes, distinct per index.
std::string RecordOf(size_t i) {
  char text[300];
  std::snprintf(text, sizeof text,
                R"([{"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/)"
                R"(xhtml\">Observation %zu of the run, with a narrative of some length</div>"}},)"
                R"({"note[0]":{"text":"free text %zu"}}])",
                i, i * 7919);
  return text;
}

// Creates the tables of the layout of before 2026-12-01 in `lake_dir`'s vault file.
bool MakeFormerLayout(const std::string& lake_dir) {
  sqlite3* db = nullptr;
  if (sqlite3_open(Vault::PathFor(lake_dir).c_str(), &db) != SQLITE_OK) return false;
  const int rc = sqlite3_exec(
      db,
      "CREATE TABLE identity(lookup BLOB PRIMARY KEY, nonce BLOB NOT NULL, sealed BLOB NOT "
      "NULL, tag INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
      nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return rc == SQLITE_OK;
}

// Seconds of each of `commits` commits of `per_commit` new records into the vault of `lake_dir`.
std::vector<double> TimeCommits(const std::string& lake_dir, size_t commits, size_t per_commit) {
  auto keys = KeyStore::Open(lake_dir);
  if (!keys.ok()) std::abort();
  auto vault = Vault::Open(*keys);
  if (!vault.ok()) std::abort();
  // The pseudonyms of a first ingest: new ones at each commit, one record each.
  const medlake::privacy::Pseudonymizer pseudonyms(*keys);
  std::vector<double> seconds;
  for (size_t c = 0; c < commits; ++c) {
    std::vector<std::pair<std::string, std::string>> records;
    records.reserve(per_commit);
    for (size_t i = 0; i < per_commit; ++i) {
      const size_t n = c * per_commit + i;
      records.emplace_back(pseudonyms.ForSourceId("Observation", std::to_string(n)), RecordOf(n));
    }
    const auto start = std::chrono::steady_clock::now();
    if (!(*vault)->Stage(c + 1, records).ok()) std::abort();
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    (*vault)->SetCommitted(c + 1);
  }
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t commits = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 8;
  const size_t per_commit = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 40'000;
  if (commits == 0 || per_commit == 0) return 1;
  const std::filesystem::path root = std::filesystem::temp_directory_path() /
                                     ("medlake_bench_vault." + std::to_string(::getpid()));
  const std::string before = (root / "before").string(), now = (root / "now").string();
  for (const std::string& dir : {before, now}) {
    std::filesystem::create_directories(dir);
    if (!KeyStore::Create(dir).ok()) return 1;
  }
  if (!MakeFormerLayout(before)) return 1;
  const std::vector<double> old_layout = TimeCommits(before, commits, per_commit);
  const std::vector<double> new_layout = TimeCommits(now, commits, per_commit);
  std::printf("%zu commits of %zu records each into one vault, seconds per commit\n", commits,
              per_commit);
  std::printf("commit  keyed by lookup (before)  in written order (now)\n");
  double old_total = 0, new_total = 0;
  for (size_t c = 0; c < commits; ++c) {
    std::printf("%6zu  %24.3f  %22.3f\n", c + 1, old_layout[c], new_layout[c]);
    old_total += old_layout[c];
    new_total += new_layout[c];
  }
  std::printf("total   %24.3f  %22.3f   ratio before / now %.2f\n", old_total, new_total,
              old_total / new_total);
  std::printf("file    %21.1f MB  %19.1f MB\n",
              static_cast<double>(std::filesystem::file_size(Vault::PathFor(before))) / 1e6,
              static_cast<double>(std::filesystem::file_size(Vault::PathFor(now))) / 1e6);
  std::filesystem::remove_all(root);
  return 0;
}
