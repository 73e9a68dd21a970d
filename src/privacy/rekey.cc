#include "privacy/rekey.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <vector>

#include "common/file_util.h"
#include "privacy/audit_log.h"
#include "privacy/principals.h"
#include "privacy/vault.h"

namespace medlake::privacy {
namespace {

constexpr const char* kJournal = "keys/rekey.pending";

// Files rewritten by a rekey, relative to the lake directory. Key files come last.
const std::vector<std::string>& RekeyedFiles() {
  static const std::vector<std::string> kFiles = {"vault.sqlite",  "principals.sqlite",
                                                  "audit.sqlite",  "keys/data.keys",
                                                  "keys/lake.key", "keys/key.check"};
  return kFiles;
}

Status RemoveIfExists(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) return IoError("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

std::string NewKeyText() {
  SecretKey key = SecretKey::Random();
  return ToHex(AsChars(key.data(), key.size()));
}

Status CompletePendingRekey(const std::string& lake_dir) {
  std::string journal = lake_dir + "/" + kJournal;
  if (!std::filesystem::exists(journal)) return Status::Ok();
  MEDLAKE_ASSIGN_OR_RETURN(std::string text, ReadFile(journal));
  std::istringstream lines(text);
  std::string rel;
  while (std::getline(lines, rel)) {
    if (rel.empty()) continue;
    bool known = false;
    for (const auto& f : RekeyedFiles()) known |= f == rel;
    if (!known) return Corruption(journal + ": names an unexpected file");
    std::string path = lake_dir + "/" + rel;
    if (std::filesystem::exists(path + ".new")) {
      std::error_code ec;
      std::filesystem::rename(path + ".new", path, ec);
      if (ec) return IoError("cannot rename " + path + ".new: " + ec.message());
    }
  }
  MEDLAKE_RETURN_IF_ERROR(SyncDir(lake_dir));
  MEDLAKE_RETURN_IF_ERROR(SyncDir(KeyFiles::KeysDir(lake_dir)));
  MEDLAKE_RETURN_IF_ERROR(RemoveIfExists(journal));
  return SyncDir(KeyFiles::KeysDir(lake_dir));
}

Result<RekeyReport> Rekey(const KeyStore& old_keys, const RekeyOptions& options) {
  const std::string& dir = old_keys.lake_dir();
  bool to_file = old_keys.source() == KeySource::kFile;
  if (!to_file && !options.new_key_text) {
    return InvalidArgument("the lake key comes from " + std::string(kKeyEnvironmentVariable) +
                           " or the caller: give the new key");
  }
  // The store's writer lock: no ingest may run while the keys change.
  MEDLAKE_ASSIGN_OR_RETURN(FolderLock lock, FolderLock::Acquire(dir));
  SecretKey new_key;
  if (options.new_key_text) {
    MEDLAKE_ASSIGN_OR_RETURN(new_key, KeyFiles::ParseKey(*options.new_key_text));
  } else {
    new_key = SecretKey::Random();
  }
  // Phase 1: new files beside the old ones.
  for (const auto& rel : RekeyedFiles())
    MEDLAKE_RETURN_IF_ERROR(RemoveIfExists(dir + "/" + rel + ".new"));
  RekeyReport report;
  if (std::filesystem::exists(Vault::PathFor(dir))) {
    MEDLAKE_ASSIGN_OR_RETURN(auto vault, Vault::Open(old_keys));
    MEDLAKE_ASSIGN_OR_RETURN(report.vault_records, vault->Count());
    MEDLAKE_RETURN_IF_ERROR(vault->ReencryptTo(Vault::PathFor(dir) + ".new",
                                               KeyFiles::Derive(new_key, KeyPurpose::kVault),
                                               KeyFiles::Derive(new_key, KeyPurpose::kVaultIndex)));
  }
  if (std::filesystem::exists(Principals::PathFor(dir))) {
    MEDLAKE_ASSIGN_OR_RETURN(auto principals, Principals::Open(old_keys));
    MEDLAKE_ASSIGN_OR_RETURN(report.principals, principals->Count());
    MEDLAKE_RETURN_IF_ERROR(principals->CopyTo(Principals::PathFor(dir) + ".new",
                                               KeyFiles::Derive(new_key, KeyPurpose::kPrincipals)));
  }
  if (std::filesystem::exists(AuditLog::PathFor(dir))) {
    MEDLAKE_ASSIGN_OR_RETURN(auto audit, AuditLog::Open(old_keys));
    MEDLAKE_ASSIGN_OR_RETURN(auto entries, audit->List());
    report.audit_entries = static_cast<int64_t>(entries.size());
    MEDLAKE_RETURN_IF_ERROR(audit->RechainTo(AuditLog::PathFor(dir) + ".new",
                                             KeyFiles::Derive(new_key, KeyPurpose::kAudit)));
  }
  SecretKey pseudonym = old_keys.SubKey(KeyPurpose::kPseudonym);
  SecretKey segment = old_keys.SubKey(KeyPurpose::kSegment);
  MEDLAKE_RETURN_IF_ERROR(KeyFiles::WriteSecretFile(
      KeyFiles::DataKeysPath(dir) + ".new", KeyFiles::SealDataKeys(new_key, pseudonym, segment)));
  if (to_file) {
    std::string hex = ToHex(AsChars(new_key.data(), new_key.size())) + "\n";
    Status s = KeyFiles::WriteSecretFile(KeyFiles::KeyPath(dir) + ".new", hex);
    sodium_memzero(hex.data(), hex.size());
    MEDLAKE_RETURN_IF_ERROR(s);
    report.key_file_written = true;
  }
  MEDLAKE_RETURN_IF_ERROR(
      KeyFiles::WriteSecretFile(KeyFiles::CheckPath(dir) + ".new", KeyFiles::CheckValue(new_key)));
  MEDLAKE_RETURN_IF_ERROR(SyncDir(dir));
  // Commit point.
  std::string journal;
  for (const auto& rel : RekeyedFiles()) journal += rel + "\n";
  MEDLAKE_RETURN_IF_ERROR(KeyFiles::WriteSecretFile(dir + "/" + kJournal, journal));
  // Phase 2.
  MEDLAKE_RETURN_IF_ERROR(CompletePendingRekey(dir));
  return report;
}

}  // namespace medlake::privacy
