#include "sql/duckdb_api.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace medlake::sql {
namespace {

DuckDbApi api;

}  // namespace

Status LoadDuckDb() {
  static std::once_flag once;
  static Status loaded;
  std::call_once(once, [] {
    // The library the build found (its absolute path), else wherever the loader finds one;
    // the loader's reason for each that failed.
    std::string why;
    auto open = [&why](const char* path) {
      void* opened = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (opened == nullptr) {
        const char* error = ::dlerror();
        why += (why.empty() ? "" : "; ") + std::string(error ? error : path);
      }
      return opened;
    };
    void* library = nullptr;
#ifdef MEDLAKE_DUCKDB_LIBRARY
    library = open(MEDLAKE_DUCKDB_LIBRARY);
#endif
    if (library == nullptr) library = open("libduckdb.so");
    if (library == nullptr) {
      loaded = Unsupported(
          "DuckDB cannot be loaded (scripts/fetch_duckdb.sh installs it; `sql`, "
          "`query` and Parquet output need it): " +
          why);
      return;
    }
    DuckDbApi found;
    std::string missing;
#define MEDLAKE_DUCKDB_FIND(name)                                               \
  found.name = reinterpret_cast<decltype(found.name)>(::dlsym(library, #name)); \
  if (found.name == nullptr && missing.empty()) missing = #name;
    MEDLAKE_DUCKDB_FUNCTIONS(MEDLAKE_DUCKDB_FIND)
#undef MEDLAKE_DUCKDB_FIND
    if (!missing.empty()) {
      loaded = Unsupported("the DuckDB library found lacks " + missing +
                           " (another version than third_party/duckdb's)");
      return;
    }
    api = found;
  });
  return loaded;
}

const DuckDbApi& DuckDb() {
  return api;
}

}  // namespace medlake::sql
