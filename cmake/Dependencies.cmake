# Every third-party dependency is found here, once. Debian 12 packages (scripts/setup.sh).
# Debian's python3 (with the packages setup.sh installs), not a pyenv one.
if(EXISTS /usr/bin/python3 AND NOT Python3_EXECUTABLE)
  set(Python3_EXECUTABLE /usr/bin/python3)
endif()
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(simdjson REQUIRED)
find_package(zstd CONFIG QUIET)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
# RE2: FHIRPath regular expressions, matched in time linear in the input.
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)
find_package(roaring REQUIRED)
find_package(ZLIB REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(TBB REQUIRED)
find_package(Boost 1.74 REQUIRED)
# jemalloc replaces glibc's malloc in medlake's executables: ingest allocates and frees a few
# strings per resource from several threads, and spent about 10 % of its time in glibc's
# allocator (docs/benchmarks.md). Not with the sanitizers, which bring their own allocator.
option(MEDLAKE_JEMALLOC "Link medlake's executables with jemalloc" ON)
add_library(medlake_allocator INTERFACE)
if(MEDLAKE_JEMALLOC AND NOT MEDLAKE_ASAN AND NOT MEDLAKE_LIBFUZZER)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
  target_link_libraries(medlake_allocator INTERFACE PkgConfig::JEMALLOC)
endif()
if(MEDLAKE_DEVELOPER)
  find_package(GTest REQUIRED)
  find_package(benchmark REQUIRED)
endif()

# DuckDB: not a Debian package; scripts/fetch_duckdb.sh puts the official prebuilt library
# and header in third_party/duckdb. Point DUCKDB_ROOT at another copy to use that instead.
set(DUCKDB_ROOT "${PROJECT_SOURCE_DIR}/third_party/duckdb" CACHE PATH "Folder holding include/duckdb.h and lib/libduckdb.so")
find_path(DUCKDB_INCLUDE_DIR duckdb.h PATHS ${DUCKDB_ROOT}/include NO_DEFAULT_PATH)
find_library(DUCKDB_LIBRARY duckdb PATHS ${DUCKDB_ROOT}/lib NO_DEFAULT_PATH)
if(DUCKDB_INCLUDE_DIR AND DUCKDB_LIBRARY)
  add_library(duckdb::duckdb SHARED IMPORTED)
  set_target_properties(duckdb::duckdb PROPERTIES
    IMPORTED_LOCATION ${DUCKDB_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${DUCKDB_INCLUDE_DIR})
elseif(MEDLAKE_DEVELOPER)
  # The tests of `sql`, Parquet and the query commands need it: a developer build without it
  # would pass `make test` without running them.
  message(FATAL_ERROR "DuckDB not found under DUCKDB_ROOT=${DUCKDB_ROOT}: run "
                      "scripts/fetch_duckdb.sh (make setup does)")
else()
  message(WARNING "DuckDB not found under DUCKDB_ROOT=${DUCKDB_ROOT}: `medlake sql` and Parquet "
                  "output are left out (run scripts/fetch_duckdb.sh)")
endif()
