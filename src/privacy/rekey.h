// Rotation of the lake key (medlake rekey).
//
// Crash-safe in two phases. Phase 1 writes every file that depends on the lake key as a new
// file beside the old one (vault.sqlite.new re-encrypted, audit.sqlite.new re-chained,
// principals.sqlite.new re-MACed, keys/data.keys.new re-wrapped, keys/key.check.new and
// keys/lake.key.new), fsyncs them, then writes keys/rekey.pending: the commit point. Phase 2
// renames each .new file over the old one and removes the journal. A crash before the journal
// leaves the old state (stale .new files are removed by the next rekey); a crash after it is
// completed by the next KeyStore::Open (CompletePendingRekey). The old key is kept only until
// phase 2 replaces lake.key.
//
// Pseudonyms and the segment key do not change (they are wrapped, see key_store.h), so the
// analytic store stays valid. Rekey holds the store's writer lock (a flock on DIR) so no
// ingest runs meanwhile; readers in other processes should not run during a rekey either.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "medlake/status.h"
#include "privacy/key_store.h"

namespace medlake::privacy {

struct RekeyOptions {
  // The new key (hex or base64). Required when the current key does not come from the key
  // file (MEDLAKE_KEY): the caller must hand it to the operator. Random when absent otherwise.
  std::optional<std::string> new_key_text;
};

struct RekeyReport {
  bool key_file_written = false;  // DIR/keys/lake.key now holds the new key
  int64_t vault_records = 0;
  int64_t audit_entries = 0;
  int64_t principals = 0;
};

// Re-encrypts everything that depends on the lake key of `old_keys` under a new key.
Result<RekeyReport> Rekey(const KeyStore& old_keys, const RekeyOptions& options = {});

// Finishes a rekey interrupted after its commit point. No-op when none is pending.
Status CompletePendingRekey(const std::string& lake_dir);

// A new random lake key as 64 hex digits, for operators who keep the key in MEDLAKE_KEY.
std::string NewKeyText();

}  // namespace medlake::privacy
