// Calls of DuckDB's C API through the functions LoadDuckDb() found (duckdb_api.h): each name
// is a macro for its pointer (a name in its own expansion is not expanded again), so the calls
// read as DuckDB documents them. Include in the one file that calls the API, after every other
// header: a member or variable of one of these names would be replaced too. The list below and
// MEDLAKE_DUCKDB_FUNCTIONS must agree, and the build holds them to it: a macro without its
// member does not compile, and a function called without its macro is an undefined symbol
// (libduckdb.so is not linked).
#pragma once

#include "sql/duckdb_api.h"

// Each call `duckdb_query(...)` becomes `(::medlake::sql::DuckDb().duckdb_query)(...)`.
#define duckdb_append_bool (::medlake::sql::DuckDb().duckdb_append_bool)
#define duckdb_append_double (::medlake::sql::DuckDb().duckdb_append_double)
#define duckdb_append_int64 (::medlake::sql::DuckDb().duckdb_append_int64)
#define duckdb_append_null (::medlake::sql::DuckDb().duckdb_append_null)
#define duckdb_append_varchar_length (::medlake::sql::DuckDb().duckdb_append_varchar_length)
#define duckdb_appender_close (::medlake::sql::DuckDb().duckdb_appender_close)
#define duckdb_appender_create (::medlake::sql::DuckDb().duckdb_appender_create)
#define duckdb_appender_destroy (::medlake::sql::DuckDb().duckdb_appender_destroy)
#define duckdb_appender_end_row (::medlake::sql::DuckDb().duckdb_appender_end_row)
#define duckdb_appender_error (::medlake::sql::DuckDb().duckdb_appender_error)
#define duckdb_bind_add_result_column (::medlake::sql::DuckDb().duckdb_bind_add_result_column)
#define duckdb_bind_get_extra_info (::medlake::sql::DuckDb().duckdb_bind_get_extra_info)
#define duckdb_bind_set_error (::medlake::sql::DuckDb().duckdb_bind_set_error)
#define duckdb_close (::medlake::sql::DuckDb().duckdb_close)
#define duckdb_column_count (::medlake::sql::DuckDb().duckdb_column_count)
#define duckdb_column_logical_type (::medlake::sql::DuckDb().duckdb_column_logical_type)
#define duckdb_column_name (::medlake::sql::DuckDb().duckdb_column_name)
#define duckdb_column_type (::medlake::sql::DuckDb().duckdb_column_type)
#define duckdb_connect (::medlake::sql::DuckDb().duckdb_connect)
#define duckdb_create_table_function (::medlake::sql::DuckDb().duckdb_create_table_function)
#define duckdb_data_chunk_get_column_count \
  (::medlake::sql::DuckDb().duckdb_data_chunk_get_column_count)
#define duckdb_data_chunk_get_size (::medlake::sql::DuckDb().duckdb_data_chunk_get_size)
#define duckdb_data_chunk_get_vector (::medlake::sql::DuckDb().duckdb_data_chunk_get_vector)
#define duckdb_data_chunk_set_size (::medlake::sql::DuckDb().duckdb_data_chunk_set_size)
#define duckdb_destroy_data_chunk (::medlake::sql::DuckDb().duckdb_destroy_data_chunk)
#define duckdb_destroy_extracted (::medlake::sql::DuckDb().duckdb_destroy_extracted)
#define duckdb_destroy_logical_type (::medlake::sql::DuckDb().duckdb_destroy_logical_type)
#define duckdb_destroy_prepare (::medlake::sql::DuckDb().duckdb_destroy_prepare)
#define duckdb_destroy_result (::medlake::sql::DuckDb().duckdb_destroy_result)
#define duckdb_destroy_table_function (::medlake::sql::DuckDb().duckdb_destroy_table_function)
#define duckdb_disconnect (::medlake::sql::DuckDb().duckdb_disconnect)
#define duckdb_extract_statements (::medlake::sql::DuckDb().duckdb_extract_statements)
#define duckdb_extract_statements_error (::medlake::sql::DuckDb().duckdb_extract_statements_error)
#define duckdb_fetch_chunk (::medlake::sql::DuckDb().duckdb_fetch_chunk)
#define duckdb_free (::medlake::sql::DuckDb().duckdb_free)
#define duckdb_function_get_extra_info (::medlake::sql::DuckDb().duckdb_function_get_extra_info)
#define duckdb_function_get_init_data (::medlake::sql::DuckDb().duckdb_function_get_init_data)
#define duckdb_init_set_init_data (::medlake::sql::DuckDb().duckdb_init_set_init_data)
#define duckdb_init_set_max_threads (::medlake::sql::DuckDb().duckdb_init_set_max_threads)
#define duckdb_logical_type_get_alias (::medlake::sql::DuckDb().duckdb_logical_type_get_alias)
#define duckdb_open_ext (::medlake::sql::DuckDb().duckdb_open_ext)
#define duckdb_prepare_error (::medlake::sql::DuckDb().duckdb_prepare_error)
#define duckdb_prepare_extracted_statement \
  (::medlake::sql::DuckDb().duckdb_prepare_extracted_statement)
#define duckdb_prepared_statement_type (::medlake::sql::DuckDb().duckdb_prepared_statement_type)
#define duckdb_query (::medlake::sql::DuckDb().duckdb_query)
#define duckdb_register_table_function (::medlake::sql::DuckDb().duckdb_register_table_function)
#define duckdb_result_error (::medlake::sql::DuckDb().duckdb_result_error)
#define duckdb_string_t_data (::medlake::sql::DuckDb().duckdb_string_t_data)
#define duckdb_string_t_length (::medlake::sql::DuckDb().duckdb_string_t_length)
#define duckdb_table_function_set_bind (::medlake::sql::DuckDb().duckdb_table_function_set_bind)
#define duckdb_table_function_set_extra_info \
  (::medlake::sql::DuckDb().duckdb_table_function_set_extra_info)
#define duckdb_table_function_set_function \
  (::medlake::sql::DuckDb().duckdb_table_function_set_function)
#define duckdb_table_function_set_init (::medlake::sql::DuckDb().duckdb_table_function_set_init)
#define duckdb_table_function_set_name (::medlake::sql::DuckDb().duckdb_table_function_set_name)
#define duckdb_validity_row_is_valid (::medlake::sql::DuckDb().duckdb_validity_row_is_valid)
#define duckdb_vector_get_data (::medlake::sql::DuckDb().duckdb_vector_get_data)
#define duckdb_vector_get_validity (::medlake::sql::DuckDb().duckdb_vector_get_validity)
#define duckdb_vector_reference_vector (::medlake::sql::DuckDb().duckdb_vector_reference_vector)
