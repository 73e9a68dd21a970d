// DuckDB's C API, loaded when a command first needs it (dlopen) instead of linked into the
// medlake binary: loading libduckdb.so at process start took 26 ms of every command's start
// (46 ms in all, measured with `medlake --version`) and 12-25 MB of its memory, for the few
// commands that run SQL (`sql`, `query`, Parquet output). docs/benchmarks.md, "Twenty-first pass".
//
// The file that calls the API (sql_engine.cc) includes duckdb_calls.h, which makes each of its
// calls one through the pointers LoadDuckDb() found. Call LoadDuckDb() before any of them.
#pragma once

#include <duckdb.h>

#include "medlake/status.h"

namespace medlake::sql {

#define MEDLAKE_DUCKDB_FUNCTIONS(X)       \
  X(duckdb_append_bool)                   \
  X(duckdb_append_double)                 \
  X(duckdb_append_int64)                  \
  X(duckdb_append_null)                   \
  X(duckdb_append_varchar_length)         \
  X(duckdb_appender_close)                \
  X(duckdb_appender_create)               \
  X(duckdb_appender_destroy)              \
  X(duckdb_appender_end_row)              \
  X(duckdb_appender_error)                \
  X(duckdb_bind_add_result_column)        \
  X(duckdb_bind_get_extra_info)           \
  X(duckdb_bind_set_error)                \
  X(duckdb_close)                         \
  X(duckdb_column_count)                  \
  X(duckdb_column_logical_type)           \
  X(duckdb_column_name)                   \
  X(duckdb_column_type)                   \
  X(duckdb_connect)                       \
  X(duckdb_create_table_function)         \
  X(duckdb_data_chunk_get_column_count)   \
  X(duckdb_data_chunk_get_size)           \
  X(duckdb_data_chunk_get_vector)         \
  X(duckdb_data_chunk_set_size)           \
  X(duckdb_destroy_data_chunk)            \
  X(duckdb_destroy_extracted)             \
  X(duckdb_destroy_logical_type)          \
  X(duckdb_destroy_prepare)               \
  X(duckdb_destroy_result)                \
  X(duckdb_destroy_table_function)        \
  X(duckdb_disconnect)                    \
  X(duckdb_extract_statements)            \
  X(duckdb_extract_statements_error)      \
  X(duckdb_fetch_chunk)                   \
  X(duckdb_free)                          \
  X(duckdb_function_get_extra_info)       \
  X(duckdb_function_get_init_data)        \
  X(duckdb_init_set_init_data)            \
  X(duckdb_init_set_max_threads)          \
  X(duckdb_logical_type_get_alias)        \
  X(duckdb_open_ext)                      \
  X(duckdb_prepare_error)                 \
  X(duckdb_prepare_extracted_statement)   \
  X(duckdb_prepared_statement_type)       \
  X(duckdb_query)                         \
  X(duckdb_register_table_function)       \
  X(duckdb_result_error)                  \
  X(duckdb_string_t_data)                 \
  X(duckdb_string_t_length)               \
  X(duckdb_table_function_set_bind)       \
  X(duckdb_table_function_set_extra_info) \
  X(duckdb_table_function_set_function)   \
  X(duckdb_table_function_set_init)       \
  X(duckdb_table_function_set_name)       \
  X(duckdb_validity_row_is_valid)         \
  X(duckdb_vector_get_data)               \
  X(duckdb_vector_get_validity)           \
  X(duckdb_vector_reference_vector)

// The functions of MEDLAKE_DUCKDB_FUNCTIONS, as found in libduckdb.so.
struct DuckDbApi {
#define MEDLAKE_DUCKDB_POINTER(name) decltype(&::name) name = nullptr;
  MEDLAKE_DUCKDB_FUNCTIONS(MEDLAKE_DUCKDB_POINTER)
#undef MEDLAKE_DUCKDB_POINTER
};

// Loads libduckdb.so once (the one the build found, else the system's search) and finds every
// function; an error naming the library and what failed when it cannot (the first call's
// result, every call after it).
Status LoadDuckDb();

// The functions LoadDuckDb() found (null pointers before it succeeds).
const DuckDbApi& DuckDb();

}  // namespace medlake::sql
