// resolve() over a lake built by ingest: Lake::Get through its shard indexes, LakeResolver,
// views over the lake and the fhirpath command.
#include "query/lake_resolver.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <map>

#include "fhirpath/fhirpath.h"
#include "ingest/ingest.h"
#include "query/view_runner.h"
#include "test_util.h"

namespace medlake::query {
namespace {

constexpr int kPatients = 30;
constexpr int kObservations = 300;

std::string Patient(int i, const std::string& gender) {
  return R"({"resourceType":"Patient","id":"p)" + std::to_string(i) + R"(","gender":")" + gender +
         R"(","birthDate":"19)" + std::to_string(50 + i) + R"(-01-02"})";
}

// Resources in separate files (no Bundle), so only the lake can resolve the references.
class LakeResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string patients, encounters, observations;
    for (int i = 0; i < kPatients; ++i) {
      patients += Patient(i, i % 2 ? "male" : "female") + "\n";
      encounters += R"({"resourceType":"Encounter","id":"e)" + std::to_string(i) +
                    R"(","status":")" + (i % 3 ? "finished" : "in-progress") +
                    R"(","class":{"code":"AMB"},"subject":{"reference":"Patient/p)" +
                    std::to_string(i) + R"("}})" + "\n";
    }
    for (int i = 0; i < kObservations; ++i) {
      const std::string p = std::to_string(i % kPatients);
      observations +=
          R"({"resourceType":"Observation","id":"o)" + std::to_string(i) +
          R"(","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p)" + p +
          R"("},"encounter":{"reference":"Encounter/e)" + p +
          R"("},"performer":[{"reference":"Practitioner/dr1"}]})" + "\n";
    }
    observations +=
        R"({"resourceType":"Observation","id":"dangling","status":"final","code":{"text":"x"},)"
        R"("subject":{"reference":"Patient/nobody"},"encounter":{"reference":"Encounter/none"}})"
        "\n";
    testing::WriteText(dir_ / "in/Practitioner.ndjson",
                       R"({"resourceType":"Practitioner","id":"dr1","name":[{"family":"Osler"}]})"
                       "\n");
    testing::WriteText(dir_ / "in/Patient.ndjson", patients);
    testing::WriteText(dir_ / "in/Encounter.ndjson", encounters);
    testing::WriteText(dir_ / "in/Observation.ndjson", observations);
    ASSERT_TRUE(ingest::Ingest(dir_ / "lake", {dir_ / "in"}, ingest::IngestOptions{}).ok());
    // A second run replaces p3: lookups must find the live version, not the replaced row.
    testing::WriteText(dir_ / "in2/Patient.ndjson", Patient(3, "other") + "\n");
    ASSERT_TRUE(ingest::Ingest(dir_ / "lake", {dir_ / "in2"}, ingest::IngestOptions{}).ok());
  }
  testing::TempDir dir_;
};

TEST_F(LakeResolveTest, GetFindsLiveResourcesWhateverTheHint) {
  auto lake = Lake::Open(dir_ / "lake");
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  ASSERT_GT((*lake)->shard_count(), 1u);
  for (uint32_t hint : {Lake::kNoShard, 0u, 1u, (*lake)->shard_count()}) {
    auto p3 = (*lake)->Get("Patient", "p3", hint);
    ASSERT_TRUE(p3.ok()) << p3.status().ToString();
    EXPECT_NE(p3->find("\"other\""), std::string::npos) << *p3;
    auto e7 = (*lake)->Get("Encounter", "e7", hint);
    ASSERT_TRUE(e7.ok()) << e7.status().ToString();
    EXPECT_NE(e7->find("\"id\":\"e7\""), std::string::npos);
    auto dr = (*lake)->Get("Practitioner", "dr1", hint);
    ASSERT_TRUE(dr.ok()) << dr.status().ToString();
    EXPECT_NE(dr->find("Osler"), std::string::npos);
    auto o = (*lake)->Get("Observation", "o123", hint);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_NE(o->find("\"id\":\"o123\""), std::string::npos);
    EXPECT_EQ((*lake)->Get("Patient", "nobody", hint).status().code(), ErrorCode::kNotFound);
    EXPECT_EQ((*lake)->Get("Encounter", "p3", hint).status().code(), ErrorCode::kNotFound);
  }
}

TEST_F(LakeResolveTest, FhirPathResolvesReferencesInTheLake) {
  auto lake = Lake::Open(dir_ / "lake");
  ASSERT_TRUE(lake.ok());
  auto obs = (*lake)->Get("Observation", "o33");
  ASSERT_TRUE(obs.ok());
  json::Parser parser;
  auto node = parser.Parse(*obs);
  ASSERT_TRUE(node.ok());
  LakeResolver resolver(**lake, 1);
  fhirpath::Environment env;
  env.resolver = resolver.AsResolver();
  auto expr = fhirpath::Expression::Compile(
      "subject.resolve().gender | encounter.resolve().status | performer.resolve().name.family");
  ASSERT_TRUE(expr.ok());
  auto r = expr->Evaluate(*node, env);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(fhirpath::CollectionToJson(*r), R"(["other","in-progress","Osler"])");
  // Twice the same: served from the cache; then EndEvaluation lets it shrink to 1 entry.
  ASSERT_TRUE(expr->Evaluate(*node, env).ok());
  EXPECT_EQ(resolver.lookups(), 3u);
  resolver.EndEvaluation();
  auto again = expr->Evaluate(*node, env);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(fhirpath::CollectionToJson(*again), R"(["other","in-progress","Osler"])");
  EXPECT_EQ(resolver.lookups(), 6u);

  // Without a resolver, resolve() of a plain reference is empty, as before.
  auto alone = expr->Evaluate(*node);
  ASSERT_TRUE(alone.ok());
  EXPECT_TRUE(alone->empty());
  // A resolver's error fails the evaluation.
  fhirpath::Environment failing;
  failing.resolver = [](std::string_view, std::string_view) -> Result<std::optional<json::Node>> {
    return IoError("lake unavailable");
  };
  auto failed = expr->Evaluate(*node, failing);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kIoError);
}

TEST_F(LakeResolveTest, ViewOverTheLakeResolvesReferences) {
  auto view = views::View::Parse(
      R"v({"resourceType":"ViewDefinition","name":"obs","status":"active","resource":"Observation",
  "select":[{"column":[{"name":"id","path":"getResourceKey()"},
  {"name":"gender","path":"subject.resolve().ofType(Patient).gender"},
  {"name":"birth","path":"subject.resolve().birthDate"},
  {"name":"encounter_status","path":"encounter.resolve().status"},
  {"name":"performer","path":"performer.resolve().name.family.first()"}]}]})v");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  auto lake = Lake::Open(dir_ / "lake");
  ASSERT_TRUE(lake.ok());
  std::map<std::string, views::Row> rows;
  auto stats = RunViewOverLake(
      **lake, *view,
      [&](const views::Row& r) {
        rows[r[0]] = r;
        return Status::Ok();
      },
      2);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_TRUE(stats->errors.empty()) << stats->errors.front();
  ASSERT_EQ(rows.size(), static_cast<size_t>(kObservations + 1));
  for (int i = 0; i < kObservations; ++i) {
    const int p = i % kPatients;
    const views::Row& r = rows["\"o" + std::to_string(i) + "\""];
    const std::string gender = p == 3 ? "other" : p % 2 ? "male" : "female";
    EXPECT_EQ(r[1], "\"" + gender + "\"") << i;
    EXPECT_EQ(r[2], "\"19" + std::to_string(50 + p) + "-01-02\"") << i;
    EXPECT_EQ(r[3], p % 3 ? "\"finished\"" : "\"in-progress\"") << i;
    EXPECT_EQ(r[4], "\"Osler\"") << i;
  }
  const views::Row& dangling = rows["\"dangling\""];
  EXPECT_EQ(dangling[1], "null");
  EXPECT_EQ(dangling[3], "null");
}

TEST_F(LakeResolveTest, FhirPathCommandResolvesOverTheLake) {
  std::string cmd = std::string(MEDLAKE_BINARY) +
                    " fhirpath \"subject.resolve().gender\" --type Observation --lake " +
                    (dir_ / "lake") + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  int rc = pclose(p);
  ASSERT_EQ(WEXITSTATUS(rc), 0) << out;
  EXPECT_NE(out.find(R"({"resource":"Observation/o63","result":["other"]})"), std::string::npos)
      << out.substr(0, 500);
  EXPECT_NE(out.find(R"({"resource":"Observation/o65","result":["male"]})"), std::string::npos);
  EXPECT_NE(out.find(R"({"resource":"Observation/dangling","result":[]})"), std::string::npos);
}

}  // namespace
}  // namespace medlake::query
