// The quarantine list of a lake, for the ingest tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "medlake/lake.h"

namespace medlake::testing {

// The quarantine list of the lake at `lake_dir`, which must hold `expected` entries.
inline std::vector<QuarantineEntry> QuarantineOf(const std::string& lake_dir, size_t expected) {
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok()) << lake.status().ToString();
  if (!lake.ok()) return {};
  auto q = lake.value()->Quarantine(100);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  if (!q.ok()) return {};
  EXPECT_EQ(q->size(), expected);
  return *q;
}

}  // namespace medlake::testing
