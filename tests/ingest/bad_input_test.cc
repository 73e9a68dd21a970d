// Every kind of bad input ends in quarantine with its location and reason; counts reconcile.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ingest/chunk_source.h"
#include "ingest/ingest.h"
#include "medlake/lake.h"
#include "quarantine_of.h"
#include "test_util.h"

namespace medlake::ingest {
namespace {

// `text` as one gzip member deflated at `level` (0: stored blocks).
std::string Gzip(const std::string& text, int level) {
  std::string out(compressBound(text.size()) + 64, '\0');
  z_stream zs{};
  deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

using testing::DeepTree;
using testing::TempDir;
using testing::WriteText;

using testing::QuarantineOf;

struct Expected {
  std::string file_suffix;
  int64_t line;
  std::string location;
  std::string reason_part;
};

// A lake at dir/lake, made by the command from dir/in/Patient.ndjson: one Patient, p1.
void IngestOnePatient(const TempDir& dir) {
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                       "\n");
  ASSERT_EQ(testing::RunMedlake("ingest --lake " + (dir / "lake") + " " + (dir / "in")).exit_code,
            0);
}

TEST(BadInputTest, EachKindIsQuarantinedWithItsLocation) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson",
            R"({"resourceType":"Observation","id":"ok1","status":"final","code":{"text":"x"}})"
            "\n"
            R"({"resourceType":"Observation","id":"bad1",)"
            "\n"  // line 2: invalid JSON
            R"({"id":"x2","status":"final"})"
            "\n"         // line 3: no resourceType
            " \t\r\r\n"  // line 4: only JSON whitespace, not a record
            R"({"resourceType":"Banana","id":"b1"})"
            "\n"  // line 5: unknown type
            R"({"resourceType":"Observation","status":"final"})"
            "\n"  // line 6: missing id
            R"({"resourceType":"Observation","id":"has space"})"
            "\n"  // line 7: malformed id
            R"([1,2,3])"
            "\n"  // line 8: not an object
            R"({"resourceType":"Observation","id":"ok2","status":"final","code":{"text":"y"}})"
            "\n");
  WriteText(dir / "in/bundle.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
     {"resource":{"resourceType":"Patient","id":"p1"}},
     {"request":{"method":"DELETE","url":"Patient/p2"}},
     {"resource":{"resourceType":"Patient"}},
     {"request":{"method":"PATCH","url":"Patient/p1"},"resource":{"resourceType":"Parameters",
      "id":"patch1","parameter":[{"name":"operation"}]}},
     {"request":{"method":"DELETE","url":"Patient/d1"},"resource":{"resourceType":"Patient","id":"d1"}}]})");
  WriteText(dir / "in/broken.json", R"({"resourceType":"Patient", "id": )");

  IngestOptions options;
  auto r = Ingest(dir / "lake", {dir / "in"}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& c = r->counters;
  EXPECT_EQ(c.records_read, 14u);
  EXPECT_EQ(c.stored, 3u);
  EXPECT_EQ(c.quarantined, 9u);
  EXPECT_EQ(c.deleted, 2u);  // a transaction's DELETE requests are applied (its resource unread)
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined + c.deleted);

  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto q = (*lake)->Quarantine(100);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 9u);
  std::vector<Expected> expected = {
      {"Observation.ndjson", 2, "", "invalid JSON"},
      {"Observation.ndjson", 3, "", "no resourceType"},
      {"Observation.ndjson", 5, "", "unknown resourceType"},
      {"Observation.ndjson", 6, "", "missing id"},
      {"Observation.ndjson", 7, "", "malformed id"},
      {"Observation.ndjson", 8, "", "not a JSON object"},
      {"bundle.json", 0, "Bundle.entry[2].resource", "missing id"},
      {"bundle.json", 0, "Bundle.entry[3]", "a PATCH request: patches are not applied"},
      {"broken.json", 0, "", "invalid JSON"},
  };
  for (const auto& e : expected) {
    bool found = false;
    for (const auto& got : *q) {
      if (got.source.ends_with(e.file_suffix) && got.line == e.line && got.location == e.location &&
          got.reason.find(e.reason_part) != std::string::npos) {
        found = true;
      }
    }
    EXPECT_TRUE(found) << e.file_suffix << ":" << e.line << " " << e.location << " "
                       << e.reason_part;
  }
  // Reasons never echo record content.
  for (const auto& got : *q) EXPECT_EQ(got.reason.find("has space"), std::string::npos);

  // Re-ingesting does not duplicate quarantine entries.
  auto again = Ingest(dir / "lake", {dir / "in"}, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counters.quarantined, 9u);
  auto lake2 = Lake::Open(dir / "lake");
  EXPECT_EQ((*lake2)->Quarantine(100)->size(), 9u);
  // Nor does the same folder spelled another way.
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in/../in/./"}, options).ok());
  auto lake3 = Lake::Open(dir / "lake");
  EXPECT_EQ((*lake3)->Quarantine(100)->size(), 9u);
  // Neither the patch nor the deleted Patient is stored (a DELETE with a resource deletes).
  EXPECT_FALSE((*lake3)->Get("Parameters", "patch1").ok());
  EXPECT_FALSE((*lake3)->Get("Patient", "d1").ok());
}

TEST(BadInputTest, WhitespaceInsideANumberOrLiteralIsInvalidJsonInEveryForm) {
  // Minifying drops whitespace outside strings: "1 000" must not become the value 1000, nor
  // "t rue" true (a review found both stored from .json files).
  TempDir dir;
  WriteText(dir / "in/number.json", R"({"resourceType":"Observation","id":"o1","status":"final",
    "code":{"text":"x"},"valueQuantity":{"value": 1 000}})");
  WriteText(dir / "in/literal.json", R"({"resourceType":"Patient","id":"p1","active":t rue})");
  WriteText(dir / "in/bundle.json", R"({"resourceType":"Bundle","type":"collection","entry":[
    {"resource":{"resourceType":"Patient","id":"p2","active": fal se}}]})");
  WriteText(dir / "in/lines.ndjson", R"({"resourceType":"Patient","id":"p3","active":t rue})"
                                     "\n"
                                     R"({"resourceType":"Patient","id":"p4","active": true })"
                                     "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.records_read, 5u);
  EXPECT_EQ(r->counters.stored, 1u);
  EXPECT_EQ(r->counters.quarantined, 4u);
  EXPECT_TRUE((*Lake::Open(dir / "lake"))->Get("Patient", "p4").ok());
  for (const auto& got : QuarantineOf(dir / "lake", 4)) {
    EXPECT_NE(got.reason.find("invalid JSON"), std::string::npos)
        << got.source << " " << got.reason;
  }
}

TEST(BadInputTest, ANewVersionWithALastUpdatedThatIsNoInstantIsQuarantined) {
  // It was read as having no lastUpdated, lost to the stored version and counted as a
  // duplicate: the newer data vanished without a word (a review).
  TempDir dir;
  WriteText(dir / "a/r.ndjson", R"({"resourceType":"Patient","id":"lu1","gender":"male",)"
                                R"("meta":{"lastUpdated":"2020-01-01T00:00:00Z"}})"
                                "\n");
  WriteText(dir / "b/r.ndjson", R"({"resourceType":"Patient","id":"lu1","gender":"female",)"
                                R"("meta":{"lastUpdated":"2024-05-01T10:00:00.000+0000"}})"
                                "\n");
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "a"}, IngestOptions{}).ok());
  auto r = Ingest(dir / "lake", {dir / "b"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.duplicates, 0u);
  EXPECT_EQ(r->counters.quarantined, 1u);
  for (const auto& got : QuarantineOf(dir / "lake", 1)) {
    EXPECT_EQ(got.line, 1);
    EXPECT_NE(got.reason.find("meta.lastUpdated is not a FHIR instant"), std::string::npos);
    EXPECT_EQ(got.reason.find("2024"), std::string::npos);  // no value echoed
  }
}

TEST(BadInputTest, CorruptGzipIsQuarantinedAndOtherFilesGoOn) {
  TempDir dir;
  WriteText(dir / "in/a.ndjson.gz", std::string("\x1f\x8b\x08\x00garbage-not-deflate", 22));
  WriteText(dir / "in/b.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                 "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 1u);
  EXPECT_EQ(r->counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  auto q = (*lake)->Quarantine(10);
  ASSERT_EQ(q->size(), 1u);
  EXPECT_TRUE((*q)[0].source.ends_with("a.ndjson.gz"));
  EXPECT_NE((*q)[0].reason.find("gzip"), std::string::npos);
}

// A record of any size is accounted for with its location: a line over the 64 MiB limit is
// skipped unread (memory would follow the longest line), and a quarantined record over 1 MiB
// keeps its first MiB (SQLite refused a 1 GiB one, and the entry was lost).
TEST(BadInputTest, RecordsOfAnySizeAreAccountedFor) {
  TempDir dir;
  const std::string first = R"({"resourceType":"Patient","id":"p1"})";
  const std::string too_long =
      R"({"resourceType":"Patient","id":"big","text":")" + std::string(65u << 20, 'x') + R"("})";
  const std::string big_bad = R"({"resourceType":"Patient","text":")" + std::string(2u << 20, 'y');
  WriteText(dir / "in/a.ndjson", first + "\n" + too_long + "\n" + big_bad + "\n" +
                                     R"({"resourceType":"Patient","id":"p2"})" + "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.records_read, 4u);
  EXPECT_EQ(r->counters.stored, 2u);
  EXPECT_EQ(r->counters.quarantined, 2u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 2u);
  std::map<int64_t, QuarantineEntry> by_line;
  for (const auto& e : *q) by_line[e.line] = e;
  ASSERT_TRUE(by_line.count(2) && by_line.count(3));
  EXPECT_EQ(by_line[2].byte_offset, static_cast<int64_t>(first.size() + 1));
  EXPECT_NE(by_line[2].reason.find("longer than 64 MiB"), std::string::npos) << by_line[2].reason;
  EXPECT_EQ(by_line[3].byte_offset, static_cast<int64_t>(first.size() + too_long.size() + 2));
  EXPECT_NE(by_line[3].reason.find("the first 1048576 are kept"), std::string::npos)
      << by_line[3].reason;
  EXPECT_EQ(r->counters.records_read,
            (*lake)->Status()->total_resources + (*lake)->Status()->quarantined);
}

// gzip files member by member: concatenated members are read, a file that is not gzip is read
// as it is, bytes after the last member are reported (zlib's gzread dropped them silently), and
// a member before damage is kept (gzread returned none of the call that met the damage).
// A gzip member whose CRC-32 fails: its content was altered (a stored block passes a changed
// byte through to the check), and a damaged "120" became "190" in the lake, replacing the
// good version. The run fails instead, naming the file, and commits nothing.
TEST(BadInputTest, AGzipMemberFailingItsCheckStopsTheRunAndCommitsNothing) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 3; ++i) {
    text += R"({"resourceType":"Observation","id":"bp)" + std::to_string(i) +
            R"(","status":"final","code":{"text":"x"},"valueQuantity":{"value":120}})" + "\n";
  }
  std::string out = Gzip(text, 0);  // stored blocks: a changed byte passes inflate
  WriteText(dir / "good/o.ndjson.gz", out);
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "good"}, IngestOptions{}).ok());
  size_t at = out.find("120");
  ASSERT_NE(at, std::string::npos);
  out[at + 1] = '9';  // 120 -> 190; the CRC no longer matches
  WriteText(dir / "bad/o.ndjson.gz", out);
  auto r = Ingest(dir / "lake", {dir / "bad"}, IngestOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(r.status().message().find("o.ndjson.gz"), std::string::npos) << r.status().message();
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto bp = (*lake)->Get("Observation", "bp0");
  ASSERT_TRUE(bp.ok());
  EXPECT_NE(bp->find(R"("value":120)"), std::string::npos) << *bp;
}

// A Bundle with "entry" twice, or an entry with "resource" twice: the records of the member
// not read were neither stored nor counted. The Bundle is quarantined whole.
TEST(BadInputTest, RepeatedBundleMembersQuarantineTheBundle) {
  TempDir dir;
  WriteText(
      dir / "in/a.json",
      R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"s3"},"resource":{"resourceType":"Patient","id":"s4"}}]})");
  WriteText(
      dir / "in/b.json",
      R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"s5"}}],"entry":[{"resource":{"resourceType":"Patient","id":"s6"}}]})");
  // What decides whether an entry deletes, and what: a DELETE that a reader of the first
  // "method" applies and one of the last does not (an audit); a Bundle type read either way.
  WriteText(
      dir / "in/c.json",
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"s7"},"request":{"method":"DELETE","url":"Patient/s7","method":"PUT"}}]})");
  WriteText(
      dir / "in/d.json",
      R"({"resourceType":"Bundle","type":"collection","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Patient/s8"}}]})");
  WriteText(
      dir / "in/e.json",
      R"({"resourceType":"Bundle","type":"transaction","meta":{"lastUpdated":"2020-01-01T00:00:00Z","lastUpdated":"2030-01-01T00:00:00Z"},"entry":[{"request":{"method":"DELETE","url":"Patient/s9"}}]})");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 0u);
  EXPECT_EQ(r->counters.deleted, 0u);
  EXPECT_EQ(r->counters.quarantined, 5u);
  EXPECT_EQ(r->counters.records_read, 5u);
  std::vector<std::string> reasons;
  for (const auto& q : testing::QuarantineOf(dir / "lake", 5)) reasons.push_back(q.reason);
  std::sort(reasons.begin(), reasons.end());
  EXPECT_EQ(reasons, (std::vector<std::string>{
                         "Bundle.entry appears twice: which one counts is unclear",
                         "Bundle.meta.lastUpdated appears twice: which one counts is unclear",
                         "Bundle.type appears twice: which one counts is unclear",
                         "a Bundle entry has \"request.method\" twice: which one counts is unclear",
                         "a Bundle entry has \"resource\" twice: which one counts is unclear"}));
}

// A file named twice is read once (its records were counted twice: 16 quarantined where the
// lake's list holds 8), and the repetition is listed as skipped.
TEST(BadInputTest, AFileNamedTwiceIsReadOnce) {
  TempDir dir;
  WriteText(dir / "in/a.ndjson",
            std::string("{bad\n{bad\n") + R"({"resourceType":"Patient","id":"p1"})" + "\n");
  // The same file reached by links inside the folder too (it was read once per name).
  std::filesystem::create_symlink("a.ndjson", dir / "in/link_to_a.ndjson");
  std::filesystem::create_hard_link(dir / "in/a.ndjson", dir / "in/hard_a.ndjson");
  auto r =
      Ingest(dir / "lake", {dir / "in/a.ndjson", dir / "in", dir / "in/a.ndjson"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.records_read, 3u);
  EXPECT_EQ(r->counters.quarantined, 2u);
  EXPECT_EQ(r->skipped.size(), 4u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->quarantined, 2u);
}

// A link in a folder is read as the file it names, under that file's name, as a link named on
// the command line is: "current.json" -> "data.ndjson" was read as one JSON document (one
// record, quarantined) and data.ndjson skipped as read. Extensions are read in any case.
TEST(BadInputTest, ALinkIsReadInItsTargetsFormatAndExtensionsInAnyCase) {
  TempDir dir;
  WriteText(dir / "in/data.ndjson", std::string(R"({"resourceType":"Patient","id":"p1"})") + "\n" +
                                        R"({"resourceType":"Patient","id":"p2"})" + "\n");
  std::filesystem::create_symlink("data.ndjson", dir / "in/current.json");
  WriteText(dir / "in/UPPER.NDJSON", std::string(R"({"resourceType":"Patient","id":"p3"})") + "\n");
  WriteText(dir / "in/One.JSON", R"({"resourceType":"Patient","id":"p4"})");
  // A link to a file whose name gives no format (a content-addressed cache) is read in the
  // format its own name gives.
  WriteText(dir / "cache/3f2a9c", std::string(R"({"resourceType":"Patient","id":"p5"})") + "\n");
  std::filesystem::create_symlink("../cache/3f2a9c", dir / "in/cached.ndjson");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.records_read, 5u);
  EXPECT_EQ(r->counters.stored, 5u);
  EXPECT_EQ(r->counters.quarantined, 0u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("named more than once"), std::string::npos);
  // The message names what was found in the folder (here the file, listed after the link).
  EXPECT_TRUE(r->skipped[0].path.ends_with("in/data.ndjson")) << r->skipped[0].path;
}

// A folder tree deeper than a path the kernel takes at once (PATH_MAX, 4096 bytes): its files
// are read, whatever their format, and a bad line in one is quarantined under its whole path.
// Opened by their paths, they stopped the run with "File name too long". A link there is
// followed (it was listed as broken), and a file there can be named.
TEST(BadInputTest, FilesDeeperThanAPathTheKernelTakesAreRead) {
  TempDir dir;
  std::string bundle = R"({"resourceType":"Bundle","type":"collection","entry":[)";
  for (int i = 0; i < 60; ++i) {
    bundle += (i > 0 ? "," : "") + std::string(R"({"resource":{"resourceType":"Patient","id":"b)") +
              std::to_string(i) + R"(","gender":"female"}})";
  }
  bundle += "]}";
  const std::string name(100, 'd');
  const DeepTree tree(
      dir.path(), name, 50,  // 5,050 bytes of folders
      {
          {"small.json", R"({"resourceType":"Patient","id":"s1"})"},
          {"large.json", bundle},  // read an entry at a time (streamed_document_bytes below)
          {"lines.ndjson", std::string(R"({"resourceType":"Patient","id":"n1"})") + "\n{\"bad\n"},
          {"packed.ndjson.gz",
           Gzip(std::string(R"({"resourceType":"Patient","id":"g1"})") + "\n", 6)},
      },
      {{"again.json", "small.json"}, {"nowhere.json", "absent.json"}});
  ASSERT_TRUE(tree.ok());
  ASSERT_GT(tree.path().size(), size_t{PATH_MAX});

  IngestOptions options;
  options.checkpoint_bytes = 4096;
  options.streamed_document_bytes = 2048;
  auto r = Ingest(dir / "lake", {dir / name}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString().substr(0, 200);
  EXPECT_EQ(r->counters.records_read, 64u);
  EXPECT_EQ(r->counters.stored, 63u);
  EXPECT_EQ(r->counters.quarantined, 1u);
  // The link to small.json names it a second time; the other names nothing.
  std::map<std::string, std::string> skipped;
  for (const auto& s : r->skipped) skipped[s.path.substr(s.path.rfind('/') + 1)] = s.reason;
  EXPECT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped["small.json"].find("named more than once"), std::string::npos)
      << skipped["small.json"];
  EXPECT_EQ(skipped["nowhere.json"], "broken symbolic link");
  auto q = QuarantineOf(dir / "lake", 1);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].source, tree.path() + "/lines.ndjson");
  EXPECT_EQ(q[0].line, 2);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources.at("Patient"), 63u);

  auto named = Ingest(dir / "lake2", {tree.path() + "/small.json"}, IngestOptions{});
  ASSERT_TRUE(named.ok()) << named.status().ToString().substr(0, 200);
  EXPECT_EQ(named->counters.stored, 1u);
}

// A file that cannot be read stops the run before anything is ingested: found when its turn
// came, it failed a run that had committed the files before it, and again at every retry.
TEST(BadInputTest, AnUnreadableFileStopsTheRunBeforeAnyCommit) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to drop the capabilities over permissions";
  TempDir dir;
  WriteText(dir / "in/a.ndjson", std::string(R"({"resourceType":"Patient","id":"p1"})") + "\n");
  WriteText(dir / "in/b.ndjson", std::string(R"({"resourceType":"Patient","id":"p2"})") + "\n");
  std::filesystem::permissions(dir / "in/b.ndjson", std::filesystem::perms::none);
  auto run = testing::RunMedlake("ingest --lake " + (dir / "lake") + " " + (dir / "in"),
                                 "setpriv --bounding-set=-dac_override,-dac_read_search --");
  EXPECT_EQ(run.exit_code, 7) << run.out;
  EXPECT_NE(run.out.find("cannot read " + (dir / "in/b.ndjson") + ": Permission denied"),
            std::string::npos)
      << run.out;
  auto lake = Lake::Open(dir / "lake");
  if (lake.ok()) {
    EXPECT_EQ((*lake)->Status()->resources.size(), 0u);
  }
}

// What quarantined records keep until the commit brings checkpoints, and gzipped input counts
// inflated toward the bytes that bring one: 600 bad lines of 1 MiB in a 0.6 MB .ndjson.gz were
// held whole until the end (728 MB peak).
TEST(BadInputTest, QuarantinedBytesAndInflatedBytesBringCheckpoints) {
  TempDir dir;
  const std::string bad = R"({"resourceType":"Patient","id":"q","note":")" +
                          std::string(1u << 20, 'x') + "\n";  // an unterminated string
  std::string lines;
  for (int i = 0; i < 100; ++i) lines += bad;
  WriteText(dir / "bad/q.ndjson.gz", Gzip(lines, 6));
  auto r = Ingest(dir / "lake", {dir / "bad"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.quarantined, 100u);
  EXPECT_GE(r->checkpoints, 1u);
  // Valid lines: 40 MiB inflated from a file of a few hundred KiB, with checkpoints of 16 MiB.
  std::string good;
  for (int i = 0; good.size() < (40u << 20); ++i) {
    good += R"({"resourceType":"Basic","id":"b)" + std::to_string(i) + R"(","code":{"text":")" +
            std::string(1000, 'y') + "\"}}\n";
  }
  WriteText(dir / "good/b.ndjson.gz", Gzip(good, 6));
  IngestOptions options;
  options.checkpoint_bytes = 16u << 20;
  auto g = Ingest(dir / "lake2", {dir / "good"}, options);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_GE(g->checkpoints, 2u);
}

// Bundle entries that hold nothing to store, or that FHIR refuses, are quarantined with a
// reason that says what they are: a response, a read request, a search's OperationOutcome, a
// PUT whose url names another resource than its body (R4: 400; it was stored under the body's,
// or without an id under its fullUrl's), a method R4 does not have.
TEST(BadInputTest, BundleEntriesWithNothingToStoreSayWhatTheyAre) {
  TempDir dir;
  WriteText(dir / "in/response.json", R"({"resourceType":"Bundle","type":"transaction-response",
    "entry":[{"response":{"status":"201 Created","location":"Patient/x/_history/1"}}]})");
  WriteText(dir / "in/batch.json", R"({"resourceType":"Bundle","type":"batch","entry":[
    {"request":{"method":"GET","url":"Patient?name=x"}},
    {"resource":{"resourceType":"Patient","id":"p8"},"request":{"method":"PUT","url":"Patient/p9"}},
    {"resource":{"resourceType":"Patient","id":"p8"},"request":{"method":"PUT","url":"Group/p8"}},
    {"resource":{"resourceType":"Patient","id":"p8"},"request":{"method":"PUT","url":"Patient/p8"}},
    {"resource":{"resourceType":"Patient","id":"p6"},"request":{"method":"PUT","url":"Patient/p6?_format=json"}},
    {"fullUrl":"urn:uuid:23232323-0000-0000-0000-000000000001","resource":{"resourceType":"Patient"},
     "request":{"method":"PUT","url":"Observation/o23"}},
    {"resource":{"resourceType":"Patient","id":"p7"},"request":{"method":"FROB","url":"Patient/p7"}}]})");
  WriteText(dir / "in/search.json", R"({"resourceType":"Bundle","type":"searchset","entry":[
    {"resource":{"resourceType":"Patient","id":"s1"},"search":{"mode":"match"}},
    {"resource":{"resourceType":"OperationOutcome","id":"oo","issue":[{"severity":"warning",
      "code":"processing"}]},"search":{"mode":"outcome"}}]})");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.records_read, 10u);
  EXPECT_EQ(r->counters.stored, 3u);  // p8 and p6 (their own urls, one with a parameter) and s1
  EXPECT_EQ(r->counters.quarantined, 7u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_FALSE((*lake)->Get("Patient", "p9").ok());
  EXPECT_FALSE((*lake)->Get("OperationOutcome", "oo").ok());
  // Without an id, the PUT's resource took its fullUrl's under another type than the url's.
  EXPECT_FALSE((*lake)->Get("Patient", "23232323-0000-0000-0000-000000000001").ok());
  EXPECT_FALSE((*lake)->Get("Patient", "p7").ok());
  const std::vector<QuarantineEntry> q = QuarantineOf(dir / "lake", 7);
  std::multiset<std::string> reasons;
  for (const auto& e : q) reasons.insert(e.reason.substr(0, e.reason.find(':')));
  EXPECT_EQ(reasons, (std::multiset<std::string>{
                         "bundle entry without a resource", "bundle entry without a resource",
                         "PUT request whose url names another resource than the entry's (its "
                         "type or id; FHIR",
                         "PUT request whose url names another resource than the entry's (its "
                         "type or id; FHIR",
                         "PUT request whose url names another resource than the entry's (its "
                         "type or id; FHIR",
                         "bundle entry whose request.method is none of R4's (POST, PUT, GET, "
                         "HEAD, DELETE, PATCH, in capitals)",
                         "searchset entry whose search.mode is outcome"}));
  int response = 0, read = 0;
  for (const auto& e : q) {
    response += e.reason.find("a response (of a transaction or batch)") != std::string::npos;
    read += e.reason.find("a read or search request") != std::string::npos;
  }
  EXPECT_EQ(response, 1);
  EXPECT_EQ(read, 1);
}

TEST(BadInputTest, GzipMembersTrailingBytesAndDamage) {
  TempDir dir;
  auto gz = [](const std::string& text) { return Gzip(text, 6); };
  auto patient = [](const std::string& id) {
    return R"({"resourceType":"Patient","id":")" + id + "\"}\n";
  };
  WriteText(dir / "in/two.ndjson.gz", gz(patient("m1")) + gz(patient("m2")));
  WriteText(dir / "in/trailing.ndjson.gz", gz(patient("t1")) + patient("t2"));
  WriteText(dir / "in/damaged.ndjson.gz", gz(patient("d1")) + "\x1f\x8bgarbage");
  WriteText(dir / "in/plain.ndjson.gz", patient("p1"));
  // Zero padding after the stream (backup and transfer tools add it), the content without a
  // final newline: its last line is whole and kept.
  std::string last = patient("z2");
  last.pop_back();
  WriteText(dir / "in/padded.ndjson.gz", gz(patient("z1") + last) + std::string(8, '\0'));
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 7u);  // m1, m2, t1, d1, p1, z1, z2
  EXPECT_EQ(r->counters.quarantined, 3u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  for (const char* id : {"m1", "m2", "t1", "d1", "p1", "z1", "z2"}) {
    EXPECT_TRUE((*lake)->Get("Patient", id).ok()) << id;
  }
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  std::map<std::string, QuarantineEntry> by_file;
  for (const auto& e : *q) by_file[std::filesystem::path(e.source).filename().string()] = e;
  EXPECT_NE(by_file["trailing.ndjson.gz"].reason.find("after the end of the gzip stream"),
            std::string::npos);
  EXPECT_EQ(by_file["trailing.ndjson.gz"].line, 2);
  EXPECT_NE(by_file["damaged.ndjson.gz"].reason.find("gzip stream damaged"), std::string::npos);
  EXPECT_EQ(by_file["damaged.ndjson.gz"].line, 2);
  EXPECT_NE(by_file["padded.ndjson.gz"].reason.find("after the end of the gzip stream"),
            std::string::npos);
}

TEST(BadInputTest, ByteOrderMarksRepeatedIdentitiesAndOddBundles) {
  TempDir dir;
  // A UTF-8 byte order mark starts the file: not part of the first record.
  WriteText(dir / "in/bom.json",
            "\xEF\xBB\xBF"
            R"({"resourceType":"Patient","id":"bom1"})");
  WriteText(dir / "in/bom.ndjson",
            "\xEF\xBB\xBF"
            R"({"resourceType":"Patient","id":"bom2"})"
            "\n"
            R"({"resourceType":"Patient","id":"dup","id":"other"})"
            "\n"
            R"({"resourceType":"Bundle","type":"collection","entry":[)"
            R"({"resource":{"resourceType":"Patient"}}]})"
            "\n");
  WriteText(dir / "in/entries.json",
            R"({"resourceType":"Bundle","type":"collection","entry":"x"})");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.records_read, 5u);
  EXPECT_EQ(r->counters.stored, 2u);
  EXPECT_EQ(r->counters.quarantined, 3u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)->Get("Patient", "bom1").ok());
  EXPECT_TRUE((*lake)->Get("Patient", "bom2").ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 3u);
  for (const auto& e : *q) {
    if (e.source.ends_with("bom.ndjson") && e.location.empty()) {
      EXPECT_EQ(e.line, 2);
      EXPECT_EQ(e.reason, "resourceType or id appears twice");
    } else if (e.source.ends_with("bom.ndjson")) {
      // An entry of a Bundle on an NDJSON line keeps the line.
      EXPECT_EQ(e.line, 3);
      EXPECT_EQ(e.location, "Bundle.entry[0].resource");
      EXPECT_EQ(e.reason, "missing id");
    } else {
      EXPECT_TRUE(e.source.ends_with("entries.json"));
      EXPECT_EQ(e.reason, "Bundle.entry is not an array");
    }
  }
}

TEST(BadInputTest, QuarantineListsNamesThatAreNotUtf8) {
  TempDir dir;
  // A file name is bytes: the JSON listing must still print (U+FFFD), not abort.
  const std::string name = dir / "in/bad\xFFname.ndjson";
  WriteText(name, R"({"resourceType":"Jane Doe","id":"x"})"
                  "\n");
  auto ingest = testing::RunMedlake("ingest --lake " + (dir / "lake") + " " + (dir / "in"));
  ASSERT_EQ(ingest.exit_code, 0) << ingest.out;
  auto listed = testing::RunMedlake("quarantine --json --lake " + (dir / "lake"));
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_NE(listed.out.find("bad\xEF\xBF\xBDname.ndjson"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(R"("reason":"unknown resourceType")"), std::string::npos);
  EXPECT_EQ(listed.out.find("Jane"), std::string::npos);
}

// Content of another format or encoding than its name says is quarantined with a reason that
// names what it is: UTF-16 text, gzip data, NDJSON in a .json file, a resource written over
// several lines of an .ndjson file.
TEST(BadInputTest, ContentOfAnotherFormatSaysWhatItIs) {
  TempDir dir;
  WriteText(dir / "in/nd.json", std::string(R"({"resourceType":"Patient","id":"a"})") + "\n" +
                                    R"({"resourceType":"Patient","id":"b"})" + "\n");
  WriteText(dir / "in/pretty.ndjson", "{\n  \"resourceType\": \"Patient\",\n  \"id\": \"c\"\n}\n");
  WriteText(dir / "in/gz.ndjson", Gzip(R"({"resourceType":"Patient","id":"g"})", 6));
  WriteText(dir / "in/u16.json", std::string("\xFF\xFE{\0\"\0", 6));
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 0u);
  std::map<std::string, std::string> first;  // file -> reason of its first entry
  for (const auto& e : QuarantineOf(dir / "lake", r->counters.quarantined)) {
    first.emplace(std::filesystem::path(e.source).filename().string(), e.reason);
    EXPECT_TRUE(e.reason.starts_with("invalid JSON")) << e.reason;
  }
  EXPECT_NE(first["nd.json"].find("several JSON values, one a line"), std::string::npos);
  EXPECT_NE(first["pretty.ndjson"].find("written over several lines"), std::string::npos);
  EXPECT_NE(first["gz.ndjson"].find("gzip data in a file not named .gz"), std::string::npos);
  EXPECT_NE(first["u16.json"].find("UTF-16 text"), std::string::npos);
}

// Names print with their control bytes escaped: a newline in a file name split a line of the
// listing, and an escape sequence reached the terminal.
TEST(BadInputTest, ControlBytesInNamesAreEscapedWhenPrinted) {
  TempDir dir;
  WriteText(dir / "in/evil\x1b[31m.ndjson", "{bad\n");
  WriteText(dir / "in/rlo\xE2\x80\xAEnosj.ndjson", "{bad\n");  // U+202E
  WriteText(dir /
                "in/csi\xC2\x9B"
                "31m.ndjson",
            "{bad\n");  // U+009B
  WriteText(dir / "in/two\nlines.txt", "x");
  WriteText(dir /
                "in/lone\x9b"
                "31m.txt",
            "x");
  WriteText(dir / "in/caf\xC3\xA9-\xE6\x97\xA5.txt", "x");
  auto ingest = testing::RunMedlake("ingest --lake " + (dir / "lake") + " " + (dir / "in"));
  ASSERT_EQ(ingest.exit_code, 0) << ingest.out;
  EXPECT_NE(ingest.out.find("two\\x0alines.txt: unknown format"), std::string::npos) << ingest.out;
  auto listed = testing::RunMedlake("quarantine --lake " + (dir / "lake"));
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_NE(listed.out.find("evil\\x1b[31m.ndjson:1: "), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find('\x1b'), std::string::npos);
  EXPECT_NE(listed.out.find("rlo\\u{202E}nosj.ndjson:1: "), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("csi\\u{009B}31m.ndjson:1: "), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("\xE2\x80\xAE"), std::string::npos);
  // Not UTF-8: a lone 8-bit CSI; other scripts print as they are.
  EXPECT_NE(ingest.out.find("lone\\x9b31m.txt"), std::string::npos) << ingest.out;
  EXPECT_NE(ingest.out.find("caf\xC3\xA9-\xE6\x97\xA5.txt"), std::string::npos) << ingest.out;
  EXPECT_EQ(ingest.out.find("two\nlines"), std::string::npos);
}

// Mistaken folders: an export into its own lake, a lake made among other files or in a file,
// an empty path, a run that finds nothing to read, a misspelt number of jobs. Each is told
// with the code of a wrong argument (exit 2), or a warning, as what it is (an audit).
TEST(BadInputTest, MistakenFoldersAreRefusedAsWrongArguments) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(IngestOnePatient(dir));
  for (const std::string out : {"lake", "lake/", "lake/export", "lake/segments/../x"}) {
    auto inside = testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / out));
    EXPECT_EQ(inside.exit_code, 2) << out << ": " << inside.out;
    EXPECT_NE(inside.out.find("is inside the lake"), std::string::npos) << inside.out;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "lake/Patient.ndjson"));
  EXPECT_FALSE(std::filesystem::exists(dir / "lake/export"));
  // A sibling whose name starts with the lake's is outside it.
  EXPECT_EQ(testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "lake2"))
                .exit_code,
            0);

  // The input folder named as the lake by mistake: refused, and left as it was.
  auto among = testing::RunMedlake("ingest --lake " + (dir / "in") + " " + (dir / "lake2"));
  EXPECT_EQ(among.exit_code, 2) << among.out;
  EXPECT_NE(among.out.find("holds other files and no lake"), std::string::npos) << among.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "in/catalog.sqlite"));
  EXPECT_FALSE(std::filesystem::exists(dir / "in/segments"));
  auto file =
      testing::RunMedlake("ingest --lake " + (dir / "in/Patient.ndjson") + " " + (dir / "lake2"));
  EXPECT_EQ(file.exit_code, 2) << file.out;
  EXPECT_NE(file.out.find("is not a folder"), std::string::npos) << file.out;
  // An existing empty folder, and one `medlake init` would have prepared, are fine.
  std::filesystem::create_directories(dir / "empty");
  EXPECT_EQ(
      testing::RunMedlake("ingest --lake " + (dir / "empty") + " " + (dir / "lake2")).exit_code, 0);

  auto empty = testing::RunMedlake("ingest --lake '' " + (dir / "in"));
  EXPECT_EQ(empty.exit_code, 2) << empty.out;
  EXPECT_NE(empty.out.find("medlake: invalid_argument: --lake: must not be empty"),
            std::string::npos)
      << empty.out;
  auto jobs = testing::RunMedlake("ingest --jobs 2x --lake " + (dir / "lake") + " " + (dir / "in"));
  EXPECT_EQ(jobs.exit_code, 2) << jobs.out;
  EXPECT_NE(jobs.out.find("must be a whole number from 0 (all cores) to 1024"), std::string::npos)
      << jobs.out;

  std::filesystem::create_directories(dir / "nothing");
  WriteText(dir / "nothing/notes.txt", "x");
  auto nothing = testing::RunMedlake("ingest --lake " + (dir / "lake") + " " + (dir / "nothing"));
  EXPECT_EQ(nothing.exit_code, 0) << nothing.out;
  EXPECT_NE(nothing.out.find("warning: no file of a format ingest reads"), std::string::npos)
      << nothing.out;
}

// An export goes to a folder without files that ingest reads (at any depth): one left by
// another export would be re-ingested with it (the lakes mixed).
TEST(BadInputTest, ExportRefusesAFolderHoldingFilesIngestReads) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(IngestOnePatient(dir));
  WriteText(dir / "out/Observation.ndjson", "{}\n");
  auto refused = testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "out"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.out.find("already holds files that ingest reads"), std::string::npos)
      << refused.out;
  WriteText(dir / "out2/sub/Old.ndjson.gz", "x");
  EXPECT_NE(
      testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "out2")).exit_code,
      0);
  EXPECT_FALSE(std::filesystem::exists(dir / "out/Patient.ndjson"));
  // A link is read by its target's name: "zlink" to an NDJSON file is one (an audit).
  WriteText(dir / "old.ndjson", R"({"resourceType":"Patient","id":"p1","gender":"male"})"
                                "\n");
  std::filesystem::create_directories(dir / "out3");
  std::filesystem::create_symlink(dir / "old.ndjson", dir / "out3/zlink");
  auto linked = testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "out3"));
  EXPECT_EQ(linked.exit_code, 5) << linked.out;
  EXPECT_NE(linked.out.find("already holds files that ingest reads"), std::string::npos)
      << linked.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "out3/Patient.ndjson"));
  auto fresh = testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "new"));
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "new/Patient.ndjson"));
  // Owner-only whatever the umask, as the lake's files: they hold patient data.
  EXPECT_EQ(std::filesystem::status(dir / "new/Patient.ndjson").permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // `get` does not echo what it was given instead of Type/id (an identifier's value, here).
  auto conditional = testing::RunMedlake("get --lake " + (dir / "lake") +
                                         " 'Patient?identifier=urn:ssn|999-99-9999'");
  EXPECT_NE(conditional.exit_code, 0);
  EXPECT_NE(conditional.out.find("expected Type/id"), std::string::npos) << conditional.out;
  EXPECT_EQ(conditional.out.find("999-99"), std::string::npos) << conditional.out;
  // What cannot name a stored resource is a wrong argument (exit 2), not a missing resource
  // (exit 4): a version, an id FHIR does not allow.
  auto version = testing::RunMedlake("get --lake " + (dir / "lake") + " Patient/p1/_history/1");
  EXPECT_EQ(version.exit_code, 2) << version.out;
  EXPECT_NE(version.out.find("only the latest version"), std::string::npos) << version.out;
  auto invalid = testing::RunMedlake("get --lake " + (dir / "lake") + " 'Patient/p 1'");
  EXPECT_EQ(invalid.exit_code, 2) << invalid.out;
  EXPECT_NE(invalid.out.find("not a FHIR id"), std::string::npos) << invalid.out;
  EXPECT_EQ(invalid.out.find("p 1"), std::string::npos) << invalid.out;
  auto absent = testing::RunMedlake("get --lake " + (dir / "lake") + " Patient/p2");
  EXPECT_EQ(absent.exit_code, 4) << absent.out;
  EXPECT_EQ(testing::RunMedlake("get --lake " + (dir / "lake") + " Patient/p1").exit_code, 0);
}

// An export goes to the folder its name resolves to: the current folder ("."), "e/.", a link to
// an empty folder (each failed to rename its staging folder over the name as written: an
// audit).
TEST(BadInputTest, ExportGoesToTheFolderItsNameResolvesTo) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(IngestOnePatient(dir));
  // The current folder is written in place, not replaced (the shell in it would stand in a
  // removed folder): the same inode before and after.
  std::filesystem::create_directories(dir / "here");
  struct stat before {};
  ASSERT_EQ(::stat((dir / "here").c_str(), &before), 0);
  auto here =
      testing::RunMedlake("export --lake " + (dir / "lake") + " --out .", "-C " + (dir / "here"));
  EXPECT_EQ(here.exit_code, 0) << here.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "here/Patient.ndjson"));
  struct stat after {};
  ASSERT_EQ(::stat((dir / "here").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  std::filesystem::create_directories(dir / "dot");
  auto dot = testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "dot/."));
  EXPECT_EQ(dot.exit_code, 0) << dot.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "dot/Patient.ndjson"));
  std::filesystem::create_directories(dir / "target");
  std::filesystem::create_directory_symlink(dir / "target", dir / "link");
  auto link = testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "link"));
  EXPECT_EQ(link.exit_code, 0) << link.out;
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "link"));
  EXPECT_TRUE(std::filesystem::exists(dir / "target/Patient.ndjson"));
}

// A resource longer than an NDJSON line that ingest reads (64 MiB) is exported alone, as a JSON
// file ingest reads whole: the export re-ingests to the same lake (it was quarantined: an
// audit).
TEST(BadInputTest, AResourceLongerThanAnNdjsonLineIsExportedAlone) {
  TempDir dir;
  const size_t size = ChunkSource::kMaxLineBytes + 100;
  WriteText(dir / "in/big.json",
            R"({"resourceType":"Binary","id":"b","contentType":"x/y","data":")" +
                std::string(size, 'A') + "\"}");
  ASSERT_NO_FATAL_FAILURE(IngestOnePatient(dir));
  auto exported =
      testing::RunMedlake("export --lake " + (dir / "lake") + " --out " + (dir / "out"));
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  EXPECT_NE(exported.out.find("Binary.N.json 1"), std::string::npos) << exported.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "out/Binary.1.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "out/Binary.ndjson"));
  auto again = Ingest(dir / "lake2", {dir / "out"}, IngestOptions{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->counters.stored, 2u);
  EXPECT_EQ(again->counters.quarantined, 0u);
  auto same = Ingest(dir / "lake", {dir / "out"}, IngestOptions{});
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(same->counters.duplicates, 2u);
}

// A Bundle entry's resource that is no object is refused as such, with or without a fullUrl
// (with one, it was given the fullUrl's id first and refused as unreadable JSON).
TEST(BadInputTest, AnEntryResourceThatIsNoObject) {
  TempDir dir;
  WriteText(dir / "in/b.json", R"({"resourceType":"Bundle","type":"collection","entry":[
    {"fullUrl":"urn:uuid:33333333-3333-3333-3333-333333333333","resource":"notanobject"},
    {"resource":[1]}]})");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.quarantined, 2u);
  for (const auto& got : QuarantineOf(dir / "lake", 2)) {
    EXPECT_NE(got.reason.find("not a JSON object"), std::string::npos) << got.reason;
  }
}

}  // namespace
}  // namespace medlake::ingest
