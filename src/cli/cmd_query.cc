// view, sql, load-postgres: ViewDefinitions over a lake or files, to text, Parquet, SQL or
// PostgreSQL.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/access_options.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/file_util.h"
#include "privacy/audit_log.h"
#include "query/k_anonymous_rows.h"
#include "query/table_output.h"
#include "query/view_runner.h"
#include "sql/disclosure.h"
#include "sql/postgres.h"
#include "sql/sql_engine.h"

namespace medlake::cli {
namespace {

Result<views::View> LoadView(const std::string& path) {
  MEDLAKE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto view = views::View::Parse(text);
  if (!view.ok()) return InvalidArgument(path + ": " + view.status().message());
  return view;
}

std::vector<sql::ColumnSpec> SqlColumns(const views::View& view) {
  std::vector<sql::ColumnSpec> cols;
  for (const auto& c : view.columns())
    cols.push_back({c.name, sql::FromFhirType(c.type, c.collection)});
  return cols;
}

// Rows of a view from the lake (as `access` lets the caller see it) or from files.
Result<query::RunStats> RunView(const std::string& lake_dir, const std::vector<std::string>& files,
                                const views::View& view, const query::RowSink& sink, int jobs,
                                const query::AccessContext* access) {
  if (!lake_dir.empty()) {
    MEDLAKE_ASSIGN_OR_RETURN(auto lake, Lake::Open(lake_dir));
    return query::RunViewOverLake(*lake, view, sink, jobs, access);
  }
  if (files.empty()) return InvalidArgument("give --lake DIR or input files");
  return query::RunViewOverFiles(files, view, sink);
}

void ReportProblems(const query::RunStats& stats) {
  for (const auto& d : stats.damaged)
    std::fprintf(stderr, "medlake: damaged segment skipped: %s\n", d.c_str());
  for (const auto& e : stats.errors) std::fprintf(stderr, "medlake: view error: %s\n", e.c_str());
}

// A result that misses rows is not a success, even when what was read is printed: a damaged
// segment (kCorruption, 6) or resources the view could not evaluate (kInvalidArgument, 2: the
// view does not fit the data, e.g. a path that yields several values without `collection`).
Status Problems(const query::RunStats& stats) {
  if (!stats.damaged.empty()) {
    return Corruption("the result misses the rows of damaged segments (" + stats.damaged[0] +
                      (stats.damaged.size() > 1 ? ", ..." : "") + ")");
  }
  if (!stats.errors.empty()) {
    return InvalidArgument("the view could not be evaluated on " +
                           std::to_string(stats.errors.size()) +
                           " resources, which the result misses (listed above)");
  }
  return Status::Ok();
}

// What the audit log names a view run by: the sha256 of its definition.
std::string ViewObject(const std::string& view_path) {
  auto text = ReadFile(view_path);
  return text.ok() ? privacy::ObjectHash(*text) : view_path;
}

// Audits a finished view run over a lake.
Status AuditView(query::AccessContext* access, const std::string& object,
                 const query::RunStats& stats, std::string_view action) {
  if (access == nullptr) return Status::Ok();
  return access->Audit(action, object, static_cast<int64_t>(stats.patients));
}

// Research extracts: the declared quasi-identifiers made k-anonymous (query/k_anonymous_rows.h).
struct KAnonymityOptions {
  int k = 0;  // 0: no check
  std::vector<std::string> quasi;
  double max_suppression = 0.0;
};

// The view's rows go to `emit`, streamed, or held and made k-anonymous first (`header` runs
// just before the first row either way, so a refused extract writes nothing).
Result<query::RunStats> RunViewRows(const std::string& lake_dir,
                                    const std::vector<std::string>& files, const views::View& view,
                                    int jobs, query::AccessContext* access,
                                    const KAnonymityOptions& kanon,
                                    const std::function<Status()>& header,
                                    const query::RowSink& emit) {
  if (kanon.k <= 0) {
    // The lake is opened before the header: for a lake that is not there the error alone is
    // printed.
    std::unique_ptr<Lake> lake;
    if (!lake_dir.empty()) {
      MEDLAKE_ASSIGN_OR_RETURN(lake, Lake::Open(lake_dir));
    }
    MEDLAKE_RETURN_IF_ERROR(header());
    if (lake) return query::RunViewOverLake(*lake, view, emit, jobs, access);
    return RunView(lake_dir, files, view, emit, jobs, access);
  }
  query::KAnonymitySpec spec{{}, kanon.k, kanon.max_suppression};
  for (const auto& q : kanon.quasi) {
    MEDLAKE_ASSIGN_OR_RETURN(query::QuasiColumn column, query::ParseQuasiColumn(q));
    spec.columns.push_back(std::move(column));
  }
  std::vector<views::Row> held;
  MEDLAKE_ASSIGN_OR_RETURN(query::RunStats stats, RunView(
                                                      lake_dir, files, view,
                                                      [&](const views::Row& r) {
                                                        held.push_back(r);
                                                        return Status::Ok();
                                                      },
                                                      jobs, access));
  MEDLAKE_ASSIGN_OR_RETURN(query::KAnonymitySummary summary,
                           query::MakeRowsKAnonymous(view.columns(), held, spec));
  std::string levels;
  for (const auto& g : summary.generalizations) levels += (levels.empty() ? "" : ", ") + g;
  std::fprintf(stderr,
               "k-anonymity (k=%d): %s; %zu groups, the smallest of %zu rows; %zu rows withheld\n",
               kanon.k, levels.c_str(), summary.groups, summary.smallest_group, summary.withheld);
  MEDLAKE_RETURN_IF_ERROR(header());
  for (const auto& row : held) MEDLAKE_RETURN_IF_ERROR(emit(row));
  return stats;
}

int RunViewCommand(const std::string& view_path, const std::string& lake_dir,
                   const std::vector<std::string>& files, const std::string& format,
                   const std::string& out_path, int jobs, const AccessOptions& access_options,
                   const KAnonymityOptions& kanon) {
  if (lake_dir.empty() == files.empty()) {
    return Fail(InvalidArgument("give --lake DIR or input files (one of them)"));
  }
  auto view = LoadView(view_path);
  if (!view.ok()) return Fail(view.status());
  const std::string object = ViewObject(view_path);
  std::unique_ptr<query::AccessContext> access;
  if (!lake_dir.empty()) {
    auto opened = OpenAccess(lake_dir, access_options, query::OutputKind::kPatientLevel, "view");
    if (!opened.ok()) return Fail(opened.status());
    access = std::move(*opened);
  }
  auto no_header = [] { return Status::Ok(); };
  if (format == "parquet") {
    if (out_path.empty()) return Fail(InvalidArgument("--format parquet needs --out FILE"));
    auto engine = sql::SqlEngine::Open();
    if (!engine.ok()) return Fail(engine.status());
    std::vector<sql::ColumnSpec> columns = SqlColumns(*view);
    if (kanon.k > 0) {  // generalized values ("45-49", "1990-1994") are text
      for (const auto& q : kanon.quasi) {
        for (auto& c : columns) {
          if (q.starts_with(c.name + "=")) c.type = sql::ColumnType::kVarchar;
        }
      }
    }
    auto table = (*engine)->CreateTable("view", columns);
    if (!table.ok()) return Fail(table.status());
    auto stats = RunViewRows(lake_dir, files, *view, jobs, access.get(), kanon, no_header,
                             [&](const views::Row& r) { return (*table)->AppendJsonRow(r); });
    if (!stats.ok()) return Fail(stats.status());
    Status s = (*table)->Close();
    if (s.ok()) s = AuditView(access.get(), object, *stats, "query");
    if (s.ok()) s = (*engine)->CopyToParquet("SELECT * FROM \"view\"", out_path);
    if (!s.ok()) return Fail(s);
    ReportProblems(*stats);
    std::fprintf(stderr, "%llu rows from %llu resources to %s\n",
                 static_cast<unsigned long long>(stats->rows),
                 static_cast<unsigned long long>(stats->resources), out_path.c_str());
    if (Status problems = Problems(*stats); !problems.ok()) return Fail(problems);
    return 0;
  }
  query::TextFormat text_format;
  if (format == "csv")
    text_format = query::TextFormat::kCsv;
  else if (format == "tsv")
    text_format = query::TextFormat::kTsv;
  else if (format == "ndjson")
    text_format = query::TextFormat::kNdjson;
  else
    return Fail(InvalidArgument("unknown --format " + format + " (csv, tsv, ndjson, parquet)"));
  FILE* out = stdout;
  if (!out_path.empty()) {
    out = OpenPrivateOutput(out_path);
    if (!out) return Fail(IoError("cannot create " + out_path + ": " + std::strerror(errno)));
  }
  // Rows stream out as they are read: the access is in the audit log before the first one
  // (the entry after them adds the counts), so that a log that cannot be written lets
  // nothing out.
  if (access != nullptr) {
    Status started = access->Audit("query.start", object, -1);
    if (!started.ok()) {
      if (out != stdout) std::fclose(out);
      if (!out_path.empty()) std::filesystem::remove(out_path);
      return Fail(started);
    }
  }
  query::RowWriter writer(text_format, view->columns(), out);
  auto stats = RunViewRows(
      lake_dir, files, *view, jobs, access.get(), kanon, [&] { return writer.WriteHeader(); },
      [&](const views::Row& r) { return writer.Write(r); });
  Status s = stats.ok() ? writer.Finish() : Status::Ok();
  if (s.ok() && stats.ok()) s = AuditView(access.get(), object, *stats, "query");
  if (out != stdout) std::fclose(out);
  if (!stats.ok() && !out_path.empty()) std::filesystem::remove(out_path);
  if (!stats.ok()) return Fail(stats.status());
  if (!s.ok()) return Fail(s);
  ReportProblems(*stats);
  if (Status problems = Problems(*stats); !problems.ok()) return Fail(problems);
  return 0;
}

// NAME=VIEW.json pairs, one per --view.
Result<std::vector<std::pair<std::string, views::View>>> LoadNamedViews(
    const std::vector<std::string>& specs) {
  std::vector<std::pair<std::string, views::View>> out;
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument(
          "--view takes NAME=VIEW.json, a table name and a view file (--view "
          "p=views/patients.json), not '" +
          spec + "'; give --view once per view");
    }
    MEDLAKE_ASSIGN_OR_RETURN(views::View view, LoadView(spec.substr(eq + 1)));
    out.emplace_back(spec.substr(0, eq), std::move(view));
  }
  return out;
}

void PrintResult(const sql::QueryResult& r, const std::string& format) {
  if (format == "json") {
    // Keys as the columns are named, a repeated name numbered ("status", "status_2"): a JSON
    // object holds a key once, and the second column overwrote the first.
    std::vector<std::string> keys;
    for (const auto& name : r.columns) {
      std::string key = name;
      for (int n = 2; std::find(keys.begin(), keys.end(), key) != keys.end(); ++n) {
        key = name + "_" + std::to_string(n);
      }
      keys.push_back(std::move(key));
    }
    for (size_t i = 0; i < r.rows.size(); ++i) {
      nlohmann::ordered_json j;
      for (size_t c = 0; c < r.columns.size(); ++c) {
        const std::string& key = keys[c];
        if (r.nulls[i][c]) {
          j[key] = nullptr;
        } else if (r.column_types[c] == "INTEGER") {
          // Beyond 64 bits (HUGEINT, a hash): the digits as a string rather than an abort.
          const std::string& text = r.rows[i][c];
          errno = 0;
          char* end = nullptr;
          long long v = std::strtoll(text.c_str(), &end, 10);
          if (errno == 0 && end != text.c_str() && *end == '\0') {
            j[key] = v;
          } else {
            errno = 0;
            unsigned long long u = std::strtoull(text.c_str(), &end, 10);
            if (errno == 0 && !text.starts_with("-") && *end == '\0') {
              j[key] = u;
            } else {
              j[key] = text;
            }
          }
        } else if (r.column_types[c] == "DOUBLE") {
          j[key] = std::stod(r.rows[i][c]);
        } else if (r.column_types[c] == "BOOLEAN") {
          j[key] = r.rows[i][c] == "true";
        } else if (r.column_types[c] == "JSON") {  // a collection column: an array, as in view
          auto value = nlohmann::ordered_json::parse(r.rows[i][c], nullptr, false);
          j[key] = value.is_discarded() ? nlohmann::ordered_json(r.rows[i][c]) : value;
        } else {
          j[key] = r.rows[i][c];
        }
      }
      std::printf("%s\n", JsonText(j).c_str());
    }
    return;
  }
  if (format == "csv") {
    std::vector<views::Column> cols;
    for (const auto& c : r.columns) cols.push_back({c, "", false});
    query::RowWriter w(query::TextFormat::kCsv, cols, stdout);
    (void)w.WriteHeader();
    for (size_t i = 0; i < r.rows.size(); ++i) {
      views::Row row;
      for (size_t c = 0; c < r.columns.size(); ++c) {
        std::string quoted;
        json::AppendQuoted(r.rows[i][c], quoted);
        row.push_back(r.nulls[i][c] ? "null" : quoted);
      }
      (void)w.Write(row);
    }
    (void)w.Finish();
    return;
  }
  // Aligned table.
  std::vector<size_t> width(r.columns.size());
  for (size_t c = 0; c < r.columns.size(); ++c) {
    width[c] = r.columns[c].size();
    for (size_t i = 0; i < r.rows.size(); ++i)
      width[c] = std::max(width[c], r.nulls[i][c] ? 4 : r.rows[i][c].size());
  }
  auto line = [&](auto cell) {
    for (size_t c = 0; c < r.columns.size(); ++c)
      std::printf("%s%-*s", c ? " | " : "", static_cast<int>(width[c]), cell(c).c_str());
    std::printf("\n");
  };
  line([&](size_t c) { return r.columns[c]; });
  line([&](size_t c) { return std::string(width[c], '-'); });
  for (size_t i = 0; i < r.rows.size(); ++i)
    line([&](size_t c) { return r.nulls[i][c] ? std::string("NULL") : r.rows[i][c]; });
  std::printf("(%zu rows)\n", r.rows.size());
}

// Disclosure control on a SQL result for researcher and ops (sql/disclosure.h): small counts
// and their complements masked; for ops, anything but an aggregate query refused.
Status ControlSqlResult(const query::AccessContext& access, sql::SqlEngine& engine,
                        const std::string& query_text, sql::QueryResult& r) {
  if (!access.suppresses_small_counts()) return Status::Ok();
  MEDLAKE_ASSIGN_OR_RETURN(sql::QueryShape shape, sql::AnalyzeQuery(engine, query_text));
  sql::DisclosurePolicy policy;
  policy.aggregates_only = access.role() == "ops";
  policy.threshold = access.small_count_threshold();
  MEDLAKE_ASSIGN_OR_RETURN(sql::DisclosureReport report, sql::ControlResult(shape, policy, r));
  if (report.primary + report.complementary > 0) {
    std::fprintf(stderr,
                 "disclosure control: %zu counts below %lld shown as <%lld, %zu more shown as "
                 "suppressed to protect them, %zu statistics of those groups suppressed\n",
                 report.primary, static_cast<long long>(policy.threshold),
                 static_cast<long long>(policy.threshold), report.complementary, report.statistics);
  }
  return Status::Ok();
}

int RunSql(const std::string& lake_dir, const std::vector<std::string>& view_specs,
           const std::string& query_text, const std::string& format, int jobs,
           const AccessOptions& access_options) {
  auto named = LoadNamedViews(view_specs);
  if (!named.ok()) return Fail(named.status());
  // Computed from patients' data: ops gets the consented patients, shifted dates and ages a
  // researcher gets (docs/privacy.md), as it does from `cohort`.
  auto access = OpenAccess(lake_dir, access_options, query::OutputKind::kAggregate, "sql",
                           /*research=*/true);
  if (!access.ok()) return Fail(access.status());
  uint64_t patients = 0;
  Status problems;  // of the views' runs: the query runs and prints, then the exit says so
  auto engine = sql::SqlEngine::Open();
  if (!engine.ok()) return Fail(engine.status());
  for (auto& [name, view] : *named) {
    auto table = (*engine)->CreateTable(name, SqlColumns(view));
    if (!table.ok()) return Fail(table.status());
    auto stats = RunView(
        lake_dir, {}, view, [&](const views::Row& r) { return (*table)->AppendJsonRow(r); }, jobs,
        access->get());
    if (!stats.ok()) return Fail(stats.status());
    patients = std::max(patients, stats->patients);
    ReportProblems(*stats);
    if (problems.ok()) problems = Problems(*stats);
    Status s = (*table)->Close();
    if (!s.ok()) return Fail(s);
  }
  if (Status sealed = (*engine)->Seal(); !sealed.ok()) return Fail(sealed);
  if (Status one = (*engine)->CheckUserQuery(query_text); !one.ok()) {
    // Refused before it runs: audited as a denial (nothing of the data was read).
    Status audited = (*access)->Audit("denied", privacy::ObjectHash(query_text), 0);
    if (!audited.ok()) return Fail(audited);
    return Fail(one);
  }
  auto result = (*engine)->Query(query_text);
  if (!result.ok()) {
    // A query that fails ran on the data all the same (a failed cast may have read a value):
    // audited like any other.
    Status audited =
        (*access)->Audit("query", privacy::ObjectHash(query_text), static_cast<int64_t>(patients));
    if (!audited.ok()) return Fail(audited);
    return Fail(result.status());
  }
  Status control = ControlSqlResult(**access, **engine, query_text, *result);
  Status audited =
      (*access)->Audit(control.ok() ? "query" : "denied", privacy::ObjectHash(query_text),
                       static_cast<int64_t>(patients));
  if (!control.ok()) return Fail(control);
  if (!audited.ok()) return Fail(audited);
  PrintResult(*result, format);
  if (!problems.ok()) return Fail(problems);
  return 0;
}

int RunLoadPostgres(const std::string& lake_dir, const std::string& url,
                    const std::vector<std::string>& view_specs, int jobs,
                    const AccessOptions& access_options) {
  auto named = LoadNamedViews(view_specs);
  if (!named.ok()) return Fail(named.status());
  auto access =
      OpenAccess(lake_dir, access_options, query::OutputKind::kPatientLevel, "load-postgres");
  if (!access.ok()) return Fail(access.status());
  if (named->empty()) return Fail(InvalidArgument("give at least one --view NAME=VIEW.json"));
  auto loader = sql::PostgresLoader::Connect(url);
  if (!loader.ok()) return Fail(loader.status());
  for (auto& [name, view] : *named) {
    // Rows flow from the view runner straight into the COPY stream.
    auto load = (*loader)->BeginLoad(name, SqlColumns(view));
    if (!load.ok()) return Fail(load.status());
    auto stats = RunView(
        lake_dir, {}, view, [&](const views::Row& r) { return (*load)->Append(r); }, jobs,
        access->get());
    if (!stats.ok()) return Fail(stats.status());
    ReportProblems(*stats);
    // A table that misses rows is not loaded: the transaction is rolled back.
    if (Status problems = Problems(*stats); !problems.ok()) return Fail(problems);
    // Audited before the commit: an export the audit log cannot record is rolled back.
    Status audited =
        (*access)->Audit("export", "load-postgres " + name, static_cast<int64_t>(stats->patients));
    if (!audited.ok()) return Fail(audited);
    auto n = (*load)->Finish();
    if (!n.ok()) return Fail(n.status());
    std::printf("%s: %llu rows\n", name.c_str(), static_cast<unsigned long long>(*n));
  }
  return 0;
}

}  // namespace

void RegisterQueryCommands(CLI::App& app, int& exit_code) {
  struct Options {
    std::string view, lake, format = "csv", out, query, url, output = "table";
    std::vector<std::string> files, views;
    int jobs = 0;
    AccessOptions access;
    KAnonymityOptions kanon;
  };
  auto o = std::make_shared<Options>();

  auto* view =
      app.add_subcommand("view", "Run a SQL-on-FHIR v2 ViewDefinition over a lake or files");
  view->add_option("view", o->view, "ViewDefinition JSON file")->required();
  view->add_option("files", o->files, "NDJSON, JSON or Bundle files (instead of --lake)");
  view->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty());
  view->add_option("--format", o->format, "csv (default), tsv, ndjson or parquet");
  view->add_option("--out", o->out, "Output file (default: standard output; required for parquet)")
      ->check(NotEmpty());
  view->add_option("--jobs,-j", o->jobs, "Worker threads (default, or 0: all cores)")
      ->check(Threads());
  view->add_option("--k-anonymity", o->kanon.k,
                   "Research extract: generalize the --quasi columns until every combination "
                   "is shared by at least K rows, or refuse")
      ->check(CLI::Range(2, 1000000));
  // One value per occurrence (allow_extra_args(false)), for this option and every repeatable
  // one below: a vector option otherwise takes every argument up to the next option, so that
  // the input files, or the SQL query, after it became more of its values.
  view->add_option("--quasi", o->kanon.quasi,
                   "COLUMN=KIND quasi-identifier for --k-anonymity (KIND: age, sex, postcode, "
                   "date; repeat --quasi for each)")
      ->allow_extra_args(false);
  view->add_option("--max-suppression", o->kanon.max_suppression,
                   "Fraction of rows that may be withheld as outliers (default 0)")
      ->check(Share());
  view->callback([o, &exit_code] {
    if ((o->kanon.k > 0) != !o->kanon.quasi.empty()) {
      exit_code = Fail(InvalidArgument("--k-anonymity and --quasi go together"));
      return;
    }
    exit_code =
        RunViewCommand(o->view, o->lake, o->files, o->format, o->out, o->jobs, o->access, o->kanon);
  });
  AddAccessOptions(view, o->access);

  auto* sqlc = app.add_subcommand("sql", "SQL (DuckDB) over views of a lake");
  sqlc->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  sqlc->add_option("--view", o->views,
                   "NAME=VIEW.json: a table named NAME from the view (repeat --view for each)")
      ->allow_extra_args(false);
  sqlc->add_option("--format", o->output, "table (default), csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  sqlc->add_option("--jobs,-j", o->jobs, "Worker threads (default, or 0: all cores)")
      ->check(Threads());
  sqlc->add_option("query", o->query, "SQL query")->required();
  AddAccessOptions(sqlc, o->access);
  sqlc->callback([o, &exit_code] {
    exit_code = RunSql(o->lake, o->views, o->query, o->output, o->jobs, o->access);
  });

  auto* pg =
      app.add_subcommand("load-postgres", "Load views of a lake into PostgreSQL tables (COPY)");
  pg->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  pg->add_option("--url", o->url, "libpq connection string or URI")->required();
  pg->add_option("--view", o->views,
                 "NAME=VIEW.json: table NAME from the view (repeat --view for each)")
      ->allow_extra_args(false)
      ->required();
  pg->add_option("--jobs,-j", o->jobs, "Worker threads (default, or 0: all cores)")
      ->check(Threads());
  AddAccessOptions(pg, o->access);
  pg->callback([o, &exit_code] {
    exit_code = RunLoadPostgres(o->lake, o->url, o->views, o->jobs, o->access);
  });
}

}  // namespace medlake::cli
