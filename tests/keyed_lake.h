// A keyed lake as `medlake init` leaves it, for tests that make one without the CLI: the key,
// and the audit log begun with its init entry (a log without it takes no other entry).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "privacy/audit_log.h"
#include "privacy/key_store.h"

namespace medlake::testing {

inline privacy::KeyStore CreateKeyedLake(const std::string& dir) {
  auto keys = privacy::KeyStore::Create(dir);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  auto log = privacy::AuditLog::Open(*keys);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  privacy::AuditEntry init;
  init.principal = "local";
  init.role = "admin";
  init.action = std::string(privacy::AuditLog::kFirstAction);
  EXPECT_TRUE((*log)->Append(init).ok());
  return std::move(*keys);
}

}  // namespace medlake::testing
