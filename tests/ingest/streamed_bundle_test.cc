// A Bundle read an entry at a time (FhirReader::ReadJsonStreamed) gives the records a parse of
// the whole document gives: the same resources, rejections and locations, in the same order;
// for hand-made Bundles of every kind, good and bad, the specification's examples and Synthea.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ingest/fhir/fhir_reader.h"
#include "ingest/ingest.h"
#include "json/json.h"
#include "json/scanner.h"
#include "keyed_lake.h"
#include "medlake/lake.h"
#include "quarantine_of.h"
#include "store/catalog.h"
#include "store/lake_writer.h"
#include "test_util.h"

namespace medlake::ingest {
namespace {

// Every call the reader makes, as a line.
class RecordingSink final : public FhirRecordSink {
 public:
  std::vector<std::string> events;

  void OnResource(json::Node, std::string_view json, const fhir::ReferenceResolver&,
                  const RecordLocation& loc, ParsedText) override {
    events.push_back("stored " + Where(loc) + " " + std::string(json));
  }
  void OnReject(std::string_view record, const RecordLocation& loc, std::string reason) override {
    // What is invalid JSON, each reading may say in its own words.
    if (reason.starts_with("invalid JSON")) reason = "invalid JSON";
    // A Bundle refused whole is kept as read, or minified: the same bytes less whitespace.
    std::string kept(record);
    if (loc.location.empty()) std::erase_if(kept, [](char c) { return std::isspace(c); });
    events.push_back("refused " + Where(loc) + " " + reason + ": " + kept);
  }
  void OnExisting(const RecordLocation& loc) override { events.push_back("exists " + Where(loc)); }
  void OnDelete(std::string_view type, std::string_view id, int64_t last_updated,
                const RecordLocation& loc, json::Node) override {
    events.push_back("deleted " + Where(loc) + " " + std::string(type) + "/" + std::string(id) +
                     " at " + std::to_string(last_updated));
  }

 private:
  static std::string Where(const RecordLocation& loc) {
    return std::string(loc.source) + ":" + std::to_string(loc.line) + ":" +
           std::to_string(loc.byte_offset) + ":" + std::to_string(loc.entry) + ":" + loc.location;
  }
};

// The lake's identifiers as a test sees them: Patient urn:mrn|m1 is p-lake, "many" matches
// several.
std::string Lookup(std::string_view type, std::optional<std::string_view> system,
                   std::string_view value) {
  if (value == "many") return store::kAmbiguousIdentifier;
  if (type == "Patient" && value == "m1" && system.value_or("urn:mrn") == "urn:mrn") {
    return "p-lake";
  }
  return "";
}

std::vector<std::string> ReadWhole(const std::string& doc) {
  FhirReader reader(Lookup);
  RecordingSink sink;
  std::string padded = doc + std::string(json::kPadding, '\0');
  reader.ReadJson(padded.data(), doc.size(), "in.json", 0, sink);
  return sink.events;
}

// Streamed when it can be, else whole (as the ingest worker does); `streamed` tells which.
std::vector<std::string> ReadStreamed(const std::string& doc, bool* streamed = nullptr) {
  FhirReader reader(Lookup);
  RecordingSink sink;
  Result<bool> r = reader.ReadJsonStreamed(json::ReadAtMemory(doc), doc.size(), "in.json", sink);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (streamed != nullptr) *streamed = r.ok() && *r;
  if (r.ok() && !*r) {
    EXPECT_TRUE(sink.events.empty());  // nothing read when it says so
    return ReadWhole(doc);
  }
  return sink.events;
}

void ExpectSameRecords(const std::string& doc, bool expect_streamed) {
  SCOPED_TRACE(doc.substr(0, 300));
  bool streamed = false;
  const std::vector<std::string> whole = ReadWhole(doc);
  const std::vector<std::string> entry_by_entry = ReadStreamed(doc, &streamed);
  EXPECT_EQ(streamed, expect_streamed);
  EXPECT_EQ(entry_by_entry, whole);
}

TEST(StreamedBundleTest, HandMadeBundlesGiveTheRecordsOfAWholeParse) {
  // Bundle-local names, ids implied by fullUrl and PUT, conditional references inside the
  // Bundle and to the lake (one, none, several), conditional creates and updates, requests
  // that store nothing, search outcomes, nested Bundles and a document.
  const std::string transaction = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:AAAA0000-0000-4000-8000-000000000001",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"b7"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"fullUrl":"urn:uuid:aaaa0000-0000-4000-8000-000000000002",
     "resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
       "subject":{"reference":"urn:uuid:aaaa0000-0000-4000-8000-000000000001"},
       "performer":[{"reference":"Practitioner?identifier=urn:npi|n1"},
                    {"reference":"Patient?identifier=urn:mrn|m1"},
                    {"reference":"Patient?identifier=many"},
                    {"reference":"Patient?identifier=urn:mrn|b7"},
                    {"reference":"urn:uuid:00000000-0000-4000-8000-00000000dead"}],
       "valueQuantity":{"value":1.50,"unit":"mg"}}},
    {"resource":{"resourceType":"Practitioner","id":"pr1",
       "identifier":[{"system":"urn:npi","value":"n1"}]},"request":{"method":"PUT","url":"Practitioner/pr1"}},
    {"resource":{"resourceType":"Patient","identifier":[{"value":"x"}]},
     "request":{"method":"PUT","url":"Patient/from-url"}},
    {"fullUrl":"urn:uuid:aaaa0000-0000-4000-8000-000000000003",
     "resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"m1"}]},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|m1"}},
    {"resource":{"resourceType":"Patient","id":"p9"},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"name=x"}},
    {"resource":{"resourceType":"Patient","id":"p10"},
     "request":{"method":"PUT","url":"Patient?identifier=many"}},
    {"resource":{"resourceType":"Patient","id":"p11"},
     "request":{"method":"PUT","url":"Patient/other"}},
    {"resource":{"resourceType":"Patient","id":"p12"},
     "request":{"method":"PUT","url":"Patient?identifier=urn:mrn|m1"}},
    {"request":{"method":"DELETE","url":"Patient/p2"}},
    {"request":{"method":"PATCH","url":"Patient/p1"},"resource":{"resourceType":"Parameters","id":"x"}},
    {"request":{"method":"GET","url":"Patient?name=x"}},
    {"response":{"status":"201"}},
    {"search":{"mode":"outcome"},"resource":{"resourceType":"OperationOutcome","id":"oo"}},
    {"resource":{"resourceType":"Banana","id":"b1"}},
    {"resource":{"resourceType":"Patient","id":"bad id"}},
    {"resource":[1,2]},
    7,
    {"resource":{"resourceType":"Bundle","type":"batch","entry":[
      {"fullUrl":"urn:uuid:aaaa0000-0000-4000-8000-000000000004",
       "resource":{"resourceType":"Patient"}},
      {"resource":{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},
       "subject":{"reference":"urn:uuid:aaaa0000-0000-4000-8000-000000000004"}}}]}},
    {"resource":{"resourceType":"Bundle","type":"document","identifier":{"system":"urn:d","value":"1"},
      "entry":[{"fullUrl":"urn:uuid:aaaa0000-0000-4000-8000-000000000001",
                "resource":{"resourceType":"Composition","id":"c1"}}]}},
    {"fullUrl":"Patient/p20","resource":{"resourceType":"Patient","id":"p21"}},
    {"fullUrl":"http://example.org/fhir/Patient/p22","resource":{"resourceType":"Patient","id":"p22"}},
    {"resource":{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"y"},
      "subject":{"reference":"http://example.org/fhir/Patient/p22/_history/3"},
      "hasMember":[{"reference":"urn:uuid:AAAA0000-0000-4000-8000-000000000002"}]}}
  ]})";
  ExpectSameRecords(transaction, true);
  EXPECT_GT(ReadWhole(transaction).size(), 20u);

  // History: newest first, so the entries take their places the other way round.
  ExpectSameRecords(R"({"type":"history","entry":[
      {"resource":{"resourceType":"Patient","id":"h","gender":"male"},"request":{"method":"PUT","url":"Patient/h"}},
      {"resource":{"resourceType":"Patient","id":"h"},"request":{"method":"PATCH","url":"Patient/h"}},
      {"request":{"method":"DELETE","url":"Patient/h"}}],"resourceType":"Bundle"})",
                    true);
  // Names in any order, with escapes, whitespace, numbers as written, a byte order mark.
  ExpectSameRecords(
      "\xEF\xBB\xBF { \"entr\\u0079\" : [ {\"resource\" : {\"resourceType\":"
      "\"Observation\",\"id\":\"o\",\"status\":\"final\",\"code\":{\"text\":\"t\"},"
      "\"valueQuantity\":{\"value\":1.0e0}} } ] , \"type\":\"collection\","
      "\"resourceType\" : \"Bundle\" }\r\n",
      true);
  ExpectSameRecords(R"({"resourceType":"Bundle","type":"searchset","entry":[],"total":0})", true);
  ExpectSameRecords(R"({"resourceType":"Bundle","type":"searchset"})", true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","id":"b","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]})",
      true);

  // Refused whole.
  ExpectSameRecords(R"({"resourceType":"Bundle","entry":{"resource":{}}})", true);
  ExpectSameRecords(R"({"resourceType":"Bundle","entry":"x"})", true);
  ExpectSameRecords(R"({"resourceType":"Bundle","entry":[],"entry":[]})", true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"},
                        "resource":{"resourceType":"Patient","id":"b"}}]})",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"}},
                        {"resource":{"resourceType":"Patient","id":"b",}}]})",
      true);
  // "resource" twice, then an entry that is no JSON: the whole is invalid JSON, first (fuzz).
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":1,"resource":{}},{"resource":{"a":1,}}]})",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"}}]} x)",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"}}]}
{"resourceType":"Bundle","entry":[]})",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"}} {}]})",
      true);
  ExpectSameRecords(R"({"resourceType":"Bundle","meta":{"x":1e999},"entry":[]})", true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"a","valueInteger":1 000}}]})",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a","name":"\x"}}]})",
      true);
  // Entries nested as deep as a whole parse takes, and one level deeper.
  for (int depth : {1020, 1021, 1022, 1023, 1024, 1025, 1026, 1027}) {
    ExpectSameRecords(
        R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Basic","id":"d","x":)" +
            std::string(static_cast<size_t>(depth) - 4, '[') +
            std::string(static_cast<size_t>(depth) - 4, ']') + "}}]}",
        true);
  }

  // Not Bundles to read an entry at a time: each is one record, read whole.
  ExpectSameRecords(R"({"resourceType":"Patient","id":"p"})", false);
  ExpectSameRecords(R"({"resourceType":"Bundle","type":"document","id":"d","entry":[]})", false);
  ExpectSameRecords(R"({"resourceType":7,"entry":[]})", false);
  ExpectSameRecords(R"({"entry":[{"resource":{"resourceType":"Patient","id":"p"}}]})", false);
  // A name that decides what a Bundle or an entry does, given twice: refused alike.
  ExpectSameRecords(
      R"({"resourceType":"Bundle","type":"collection","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Patient/p"}}]})",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","type":"transaction","meta":{"lastUpdated":"2020-01-01T00:00:00Z","lastUpdated":"2030-01-01T00:00:00Z"},"entry":[{"request":{"method":"DELETE","url":"Patient/p"}}]})",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Patient/p","method":"PUT"},"resource":{"resourceType":"Patient","id":"p"}}]})",
      true);
  // ... unless an entry is no JSON, which a parse of the whole finds first (a fuzz target).
  ExpectSameRecords(
      R"({"resourceType":"Bundle","type":"transaction","type":"batch","entry":[{"request":{"method":+"DELETE","url":"Patient/p"}}]})",
      true);
  ExpectSameRecords(
      R"({"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":+"DELETE"}}],"entry":[]})",
      true);
  ExpectSameRecords("", false);
  ExpectSameRecords("\xEF\xBB\xBF", false);
  // Not one object at all: read whole, and refused as ever.
  ExpectSameRecords("[1,2]", false);
  ExpectSameRecords("\xFF\xFE{", false);
  ExpectSameRecords("   ", false);
  ExpectSameRecords(" { ", true);
}

TEST(StreamedBundleTest, ABundleRefusedWholeKeepsItsHeadAndSaysItsSize) {
  // Over the quarantine's limit: the head is what a whole parse would keep, and the reason
  // says the record's size as AddQuarantine says it.
  std::string doc = R"({"resourceType":"Bundle","entry":[)";
  while (doc.size() <= store::LakeWriter::kQuarantinedRecordBytes) {
    doc += R"({"resource":{"resourceType":"Patient","id":"a"}},)";
  }
  doc += R"({"resource":{"resourceType":"Patient","id":"a"},"resource":{}}]})";
  bool streamed = false;
  const std::vector<std::string> events = ReadStreamed(doc, &streamed);
  EXPECT_TRUE(streamed);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(
      events[0].find("has \"resource\" twice: which one counts is unclear (record of " +
                     std::to_string(doc.size()) + " bytes; the first " +
                     std::to_string(store::LakeWriter::kQuarantinedRecordBytes) +
                     " are kept): " + doc.substr(0, 100)),
      std::string::npos)
      << events[0].substr(0, 300);
  EXPECT_EQ(events[0].size() - events[0].find(": {\"resourceType\"") - 2,
            store::LakeWriter::kQuarantinedRecordBytes);
}

std::string FileText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(StreamedBundleTest, SpecificationExamplesAndSyntheaGiveTheRecordsOfAWholeParse) {
  size_t files = 0, bundles = 0;
  for (const char* dir : {"fhir-r4-spec-examples", "synthea-r4-dev-100"}) {
    if (!testing::HaveSharedData(dir)) continue;
    for (const auto& e : std::filesystem::recursive_directory_iterator(testing::SharedData(dir))) {
      if (!e.is_regular_file() || e.path().extension() != ".json") continue;
      ++files;
      const std::string doc = FileText(e.path());
      bool streamed = false;
      const std::vector<std::string> entry_by_entry = ReadStreamed(doc, &streamed);
      bundles += streamed;
      EXPECT_EQ(entry_by_entry, ReadWhole(doc)) << e.path();
    }
  }
  if (files == 0) GTEST_SKIP() << "../shared/data not present";
  EXPECT_GT(bundles, 0u);
}

// Sinks of parallel tasks: one per thread that asks, all kept.
class SinksOfThreads {
 public:
  FhirRecordSink& Get() {
    std::lock_guard lock(mu_);
    ++calls_;
    std::unique_ptr<RecordingSink>& sink = by_thread_[std::this_thread::get_id()];
    if (!sink) sink = std::make_unique<RecordingSink>();
    return *sink;
  }
  int calls() const { return calls_; }
  std::vector<std::string> Events() const {
    std::vector<std::string> all;
    for (const auto& [thread, sink] : by_thread_) {
      all.insert(all.end(), sink->events.begin(), sink->events.end());
    }
    return all;
  }

 private:
  std::mutex mu_;
  int calls_ = 0;
  std::map<std::thread::id, std::unique_ptr<RecordingSink>> by_thread_;
};

// A Bundle of `n` entries of every kind that planning and storing in ranges must agree on:
// references to Bundle-local names and conditional references to entries in other ranges (and
// before or after), one written with escapes, a fullUrl that entries of every range give, ids
// implied by fullUrls, conditional creates that the lake matches, requests that store nothing,
// invalid ids, names nothing has.
std::string ManyEntries(int n, std::string_view type, bool with_nested_bundle) {
  auto uuid = [](int i) {
    return "urn:uuid:00000000-0000-4000-8000-" + std::to_string(100000000000 + i);
  };
  std::string doc = R"({"resourceType":"Bundle","type":")" + std::string(type) + R"(","entry":[)";
  for (int i = 0; i < n; ++i) {
    if (i > 0) doc += ",\n";
    const int other = (i * 7 + n / 2) % n;  // in another range, mostly
    switch (i % 7) {
      case 0:
        doc +=
            R"({"fullUrl":")" + uuid(i) +
            R"(","resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"m)" +
            std::to_string(i) + R"("}]},"request":{"method":"POST","url":"Patient"}})";
        break;
      case 1:
        doc += R"({"fullUrl":")" + uuid(i) +
               R"(","resource":{"resourceType":"Observation","id":"o)" + std::to_string(i) +
               R"(","status":"final","code":{"text":"x"},"subject":{"reference":")" +
               uuid(other - other % 7) +
               R"("},"performer":[{"reference":"Patient?identifier=urn:mrn|m)" +
               std::to_string(other - other % 7) +
               R"("},{"reference":"urn:uuid:00000000-0000-4000-8000-00000000dead"},)"
               R"({"reference":"urn:uuid:00000000-0000-4000-8000-0000000000ff"}]}})";
        break;
      case 2:
        doc +=
            R"({"fullUrl":")" + uuid(i) +
            R"(","resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"m1"}]},)"
            R"("request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|m1"}})";
        break;
      case 3:
        doc += R"({"request":{"method":"DELETE","url":"Patient/p)" + std::to_string(i) + R"("}})";
        break;
      case 4:
        doc +=
            R"({"resource":{"resourceType":"Patient","id":"bad id )" + std::to_string(i) + R"("}})";
        break;
      case 5:
        doc +=
            R"({"resource":{"resourceType":"Encounter","id":"e)" + std::to_string(i) +
            R"(","status":"finished","subject":{"reference":"\u0075rn:uuid:00000000-0000-4000-8000-)" +
            std::to_string(100000000000 + i - 5) + R"("}}})";
        break;
      default:
        // One fullUrl in every range: the last entry that has it wins.
        doc +=
            R"({"fullUrl":"urn:uuid:00000000-0000-4000-8000-0000000000ff",)"
            R"("resource":{"resourceType":"Observation","id":"o)" +
            std::to_string(other) +
            R"(","status":"amended","code":{"text":"y"}},"request":{"method":"PUT","url":"Observation/o)" +
            std::to_string(other) + R"("}})";
    }
  }
  if (with_nested_bundle) {
    doc += R"(,{"resource":{"resourceType":"Bundle","type":"collection","entry":[)"
           R"({"resource":{"resourceType":"Patient","id":"inner"}}]}})";
  }
  return doc + "]}";
}

TEST(StreamedBundleTest, EntriesReadInParallelRangesGiveTheRecordsOfAReadingInOrder) {
  for (std::string_view type : {"transaction", "history", "collection"}) {
    for (bool nested : {false, true}) {
      SCOPED_TRACE(std::string(type) + (nested ? ", a Bundle inside" : ""));
      const std::string doc = ManyEntries(2000, type, nested);
      FhirReader in_order(Lookup);
      RecordingSink sink;
      ASSERT_TRUE(*in_order.ReadJsonStreamed(json::ReadAtMemory(doc), doc.size(), "in.json", sink));

      FhirReader in_ranges(Lookup);
      SinksOfThreads sinks;
      in_ranges.set_parallel_entries([&sinks]() -> FhirRecordSink& { return sinks.Get(); });
      RecordingSink caller;  // the Bundle's own records only (none here)
      ASSERT_TRUE(
          *in_ranges.ReadJsonStreamed(json::ReadAtMemory(doc), doc.size(), "in.json", caller));
      std::vector<std::string> events = nested ? caller.events : sinks.Events();
      if (nested) {
        EXPECT_EQ(sinks.calls(), 0);
        EXPECT_EQ(events, sink.events);  // stored in order, to the caller's sink
      } else {
        EXPECT_GE(sinks.calls(), 2);  // a task per range
        EXPECT_TRUE(caller.events.empty());
        std::sort(events.begin(), events.end());
        std::vector<std::string> expected = sink.events;
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(events, expected);
      }
      EXPECT_EQ(in_ranges.unresolved_references(), in_order.unresolved_references());
      EXPECT_GT(in_order.unresolved_references(), 0u);
    }
  }
}

// Ranges that hold their records until published, as a keyed lake's (FhirReader::EntryRanges):
// each odd range is refused at its first Publish and read again; each range looks up the lake
// through a lookup of its own.
class HeldRanges final : public FhirReader::EntryRanges {
 public:
  void Begin(size_t count) override {
    sinks_.resize(count);
    readings_.assign(count, 0);
    lookups_.clear();
    for (size_t r = 0; r < count; ++r) {
      lookups_.emplace_back([this](std::string_view type, std::optional<std::string_view> system,
                                   std::string_view value) {
        ++range_lookups_;
        return value == "lake-only" ? std::string("p-range") : Lookup(type, system, value);
      });
    }
  }
  FhirRecordSink& Open(size_t range, bool again) override {
    std::lock_guard lock(mu_);
    EXPECT_EQ(again, readings_[range] > 0) << range;
    ++readings_[range];
    sinks_[range] = RecordingSink();  // what a reading before held is dropped
    return sinks_[range];
  }
  const IdentifierLookup* LookupOf(size_t range) override { return &lookups_[range]; }
  void Close(size_t) override {}
  bool Publish(size_t range) override {
    std::lock_guard lock(mu_);
    published_.push_back(range);
    return range % 2 == 0 || readings_[range] > 1;
  }
  void Finish(size_t range) override {
    std::lock_guard lock(mu_);
    finished_.push_back(range);
    events_.insert(events_.end(), sinks_[range].events.begin(), sinks_[range].events.end());
    first_events_.push_back(sinks_[range].events.front());
  }
  bool holds() const override { return true; }

  std::vector<RecordingSink> sinks_;
  std::vector<int> readings_;
  std::vector<IdentifierLookup> lookups_;
  std::atomic<int> range_lookups_{0};
  std::vector<size_t> published_, finished_;
  std::vector<std::string> events_, first_events_;
  std::mutex mu_;
};

TEST(StreamedBundleTest, RangesThatHoldTheirRecordsArePublishedInOrderAndReadAgainOnRequest) {
  // References that only the lake resolves: through the range's lookup, not the reader's.
  std::string doc = ManyEntries(3000, "transaction", false);
  const std::string dead = "urn:uuid:00000000-0000-4000-8000-00000000dead";
  for (size_t at; (at = doc.find(dead)) != std::string::npos;) {
    doc.replace(at, dead.size(), "Patient?identifier=urn:other|lake-only");
  }
  auto lake_only = [](std::string found) {
    return [found](std::string_view type, std::optional<std::string_view> system,
                   std::string_view value) {
      return value == "lake-only" ? found : Lookup(type, system, value);
    };
  };
  FhirReader in_order(lake_only("p-range"));
  RecordingSink sink;
  ASSERT_TRUE(*in_order.ReadJsonStreamed(json::ReadAtMemory(doc), doc.size(), "in.json", sink));
  ASSERT_TRUE(std::any_of(sink.events.begin(), sink.events.end(), [](const std::string& e) {
    return e.find("\"Patient/p-range\"") != std::string::npos;
  }));

  FhirReader in_ranges(lake_only("p-reader"));  // the reader's own lookup: for the plan only
  HeldRanges ranges;
  in_ranges.set_entry_ranges(&ranges);
  RecordingSink caller;
  ASSERT_TRUE(*in_ranges.ReadJsonStreamed(json::ReadAtMemory(doc), doc.size(), "in.json", caller));
  EXPECT_TRUE(caller.events.empty());
  const size_t count = ranges.readings_.size();
  ASSERT_GE(count, 4u);
  EXPECT_GT(ranges.range_lookups_.load(), 0);
  // Published in range order, each odd one twice (refused, then read again), each finished once.
  std::vector<size_t> expected_published;
  for (size_t r = 0; r < count; ++r) {
    expected_published.push_back(r);
    if (r % 2 == 1) expected_published.push_back(r);
    EXPECT_EQ(ranges.readings_[r], r % 2 == 1 ? 2 : 1) << r;
  }
  EXPECT_EQ(ranges.published_, expected_published);
  std::vector<size_t> finished = ranges.finished_;
  std::sort(finished.begin(), finished.end());
  std::vector<size_t> all(count);
  std::iota(all.begin(), all.end(), size_t{0});
  EXPECT_EQ(finished, all);
  // The records of a reading in order, each once.
  std::vector<std::string> events = ranges.events_;
  std::vector<std::string> expected = sink.events;
  std::sort(events.begin(), events.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(events, expected);
  EXPECT_EQ(in_ranges.unresolved_references(), in_order.unresolved_references());
  // Every range but the first begins at a Patient's entry (every seventh entry from 0 and
  // from 2 and 4 has one).
  for (const std::string& first : ranges.first_events_) {
    const size_t at = first.find("Bundle.entry[");
    ASSERT_NE(at, std::string::npos) << first;
    const int index = std::stoi(first.substr(at + 13));
    EXPECT_TRUE(index % 7 == 0 || index % 7 == 2 || index % 7 == 4) << first;
  }
}

TEST(StreamedBundleTest, IngestReadsALargeBundleAnEntryAtATime) {
  // The same files, with and without streaming: the same lake.
  testing::TempDir dir;
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  for (int i = 0; i < 300; ++i) {
    if (i > 0) bundle += ",";
    bundle +=
        R"({"fullUrl":"urn:uuid:00000000-0000-4000-8000-)" + std::to_string(100000000000 + i) +
        R"(","resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"m)" +
        std::to_string(i) + R"("}]},"request":{"method":"POST","url":"Patient"}},)" +
        R"({"resource":{"resourceType":"Observation","id":"o)" + std::to_string(i) +
        R"(","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:00000000-0000-4000-8000-)" +
        std::to_string(100000000000 + i) +
        R"("},"performer":[{"reference":"Patient?identifier=urn:mrn|m)" +
        std::to_string((i + 7) % 300) + R"("}]}})";
  }
  bundle += R"(,{"resource":{"resourceType":"Patient","id":"bad id"}}]})";
  testing::WriteText(dir / "in/big.json", bundle);
  testing::WriteText(dir / "in/small.json",
                     R"({"resourceType":"Bundle","type":"batch","entry":[{"resource":)"
                     R"({"resourceType":"Patient","id":"s1"}}]})");
  std::vector<std::vector<std::string>> exports;
  // Parsed whole; an entry at a time; an entry at a time in a batch of its own that commits
  // every 8 KiB of entries (the Bundle is larger than a checkpoint).
  const std::pair<uint64_t, uint64_t> readings[] = {
      {uint64_t{16} << 20, uint64_t{256} << 20}, {1000, uint64_t{256} << 20}, {1000, 8192}};
  for (const auto& [streamed_bytes, checkpoint_bytes] : readings) {
    const std::string lake =
        dir / ("lake" + std::to_string(streamed_bytes) + "-" + std::to_string(checkpoint_bytes));
    IngestOptions options;
    options.streamed_document_bytes = streamed_bytes;
    options.checkpoint_bytes = checkpoint_bytes;
    auto r = Ingest(lake, {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (checkpoint_bytes == 8192) {
      EXPECT_GE(r->checkpoints, bundle.size() / 8192 - 1);
      // The commits inside fall at the same entries whatever the threads.
      options.jobs = 1;
      auto one = Ingest(lake + "-1", {dir / "in"}, options);
      ASSERT_TRUE(one.ok()) << one.status().ToString();
      EXPECT_EQ(one->checkpoints, r->checkpoints);
    } else {
      EXPECT_EQ(r->checkpoints, 0u);
    }
    EXPECT_EQ(r->counters.records_read, 602u);
    EXPECT_EQ(r->counters.stored, 601u);
    EXPECT_EQ(r->counters.quarantined, 1u);
    EXPECT_EQ(r->unresolved_references, 0u);
    auto opened = Lake::Open(lake);
    ASSERT_TRUE(opened.ok());
    std::vector<std::string> rows;
    ASSERT_TRUE((*opened)
                    ->Scan(
                        "", [&](const ResourceView& v) { rows.emplace_back(v.json); }, nullptr)
                    .ok());
    std::sort(rows.begin(), rows.end());
    exports.push_back(std::move(rows));
  }
  EXPECT_EQ(exports[0], exports[1]);
  EXPECT_EQ(exports[0], exports[2]);
}

// A collection Bundle of `organizations` Organizations then `patients` Patients (each managed by
// one of them), as its text.
std::string OrganizationsThenPatients(int organizations, int patients) {
  std::string bundle = R"({"resourceType":"Bundle","type":"collection","entry":[)";
  for (int i = 0; i < organizations; ++i) {
    bundle += std::string(i > 0 ? "," : "") +
              R"({"resource":{"resourceType":"Organization","id":"org)" + std::to_string(i) +
              R"(","name":"Hospital )" + std::to_string(i) + R"("}})";
  }
  for (int i = 0; i < patients; ++i) {
    bundle += R"(,{"resource":{"resourceType":"Patient","id":"p)" + std::to_string(i) +
              R"(","gender":"female","managingOrganization":{"reference":"Organization/org)" +
              std::to_string(i % organizations) + R"("}}})";
  }
  return bundle + "]}";
}

// Ingests the folder `in` (its Bundles read an entry at a time) into `lake`, with a checkpoint
// every 4 KiB; `keyed`: a lake with a key, whose large Bundles are read by the serial stage.
Result<IngestReport> IngestWithSmallCheckpoints(const std::string& lake, const std::string& in,
                                                bool keyed = false) {
  IngestOptions options;
  options.streamed_document_bytes = 1000;
  options.checkpoint_bytes = 4096;
  if (keyed) {
    options.in_order_document_bytes = 1000;
    options.expect_key = true;
  }
  return Ingest(lake, {in}, options);
}

// How many checkpoints ingesting `bundle` (read an entry at a time) takes with 4 KiB ones.
uint64_t CheckpointsOf(const std::string& bundle, uint64_t expected_stored) {
  testing::TempDir dir;
  testing::WriteText(dir / "in/bundle.json", bundle);
  auto r = IngestWithSmallCheckpoints(dir / "lake", dir / "in");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return 0;
  EXPECT_EQ(r->counters.stored, expected_stored);
  return r->checkpoints;
}

// A Bundle of shared-area resources (read first, and repeating their versions) commits inside
// only every four checkpoint sizes, as the shared-area files do between them.
TEST(StreamedBundleTest, ASharedAreaBundleCommitsInsideEveryFourCheckpoints) {
  const std::string bundle = OrganizationsThenPatients(2000, 0);
  const uint64_t checkpoints = CheckpointsOf(bundle, 2000);
  EXPECT_GE(checkpoints, bundle.size() / (4 * 4096) - 1);
  EXPECT_LE(checkpoints, bundle.size() / (4 * 4096) + 1);
}

// A Bundle that begins with shared-area resources (which makes it a shared-area file, read
// first) and goes on with patient data commits inside every checkpoint size past them: the
// waves that hold patient data are of the plain size, as in any other file.
TEST(StreamedBundleTest, ABundleThatBeginsWithOrganizationsCommitsEveryCheckpointPastThem) {
  const std::string bundle = OrganizationsThenPatients(200, 2000);
  const uint64_t checkpoints = CheckpointsOf(bundle, 2200);
  // The Organizations' 14 KB (under 4 x 4 KiB) are one wave, the Patients' about one every
  // 4 KiB; every four checkpoint sizes, they would be a quarter as many.
  const size_t patient_bytes = bundle.size() - OrganizationsThenPatients(200, 0).size();
  EXPECT_GE(checkpoints, patient_bytes / 4096 - 1);
  EXPECT_LE(checkpoints, patient_bytes / 4096 + 3);
}

// A resource given twice in a Bundle that commits inside, its versions (without
// meta.lastUpdated) in waves far apart: ingested again, the Bundle stores nothing, with a key or
// without. Every version is stored in the wave of the last one, so that they meet in one
// batch; stored where they stand, the first replaced the lake's (the last) at one commit and
// was replaced back at a later one (in a lake with a key, only versions that touch no pseudonym
// link move: an Organization's do).
class VersionsFarApartTest : public ::testing::TestWithParam<bool> {};

TEST_P(VersionsFarApartTest, StoreNothingWhenIngestedAgain) {
  const bool keyed = GetParam();
  testing::TempDir dir;
  if (keyed) testing::CreateKeyedLake(dir / "lake");
  auto organization = [](const std::string& name) {
    return R"({"resource":{"resourceType":"Organization","id":"org1","name":")" + name + R"("}})";
  };
  std::string bundle = R"({"resourceType":"Bundle","type":"collection","entry":[)" +
                       organization("First name") + ",";
  for (int i = 0; i < 2000; ++i) {
    bundle += R"({"resource":{"resourceType":"Patient","id":"p)" + std::to_string(i) +
              R"(","gender":"female"}},)";
  }
  bundle += organization("Second name") + "]}";
  testing::WriteText(dir / "in/bundle.json", bundle);
  auto first = IngestWithSmallCheckpoints(dir / "lake", dir / "in", keyed);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_GE(first->checkpoints, 10u);  // the versions are waves apart
  EXPECT_EQ(first->counters.records_read, 2002u);
  auto again = IngestWithSmallCheckpoints(dir / "lake", dir / "in", keyed);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->counters.stored, 0u);
  EXPECT_EQ(again->counters.duplicates, 2002u);
  if (!keyed) {
    auto lake = Lake::Open(dir / "lake");
    ASSERT_TRUE(lake.ok());
    auto org = (*lake)->Get("Organization", "org1");
    ASSERT_TRUE(org.ok());
    EXPECT_NE(org->find("Second name"), std::string::npos) << *org;
  }
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutAKey, VersionsFarApartTest, ::testing::Bool());

// The entries a helper of the ingest worker stores count toward the checkpoints as the worker's
// own do: a Bundle of Patients with identifiers brings the same checkpoint read in parallel
// ranges as parsed whole.
TEST(StreamedBundleTest, EntriesStoredInParallelCountTowardCheckpoints) {
  testing::TempDir dir;
  std::string bundle = R"({"resourceType":"Bundle","type":"collection","entry":[)";
  for (int i = 0; i < 1000; ++i) {
    if (i > 0) bundle += ",";
    bundle += R"({"resource":{"resourceType":"Patient","id":"p)" + std::to_string(i) +
              R"(","identifier":[{"system":"urn:mrn","value":"m)" + std::to_string(i) + R"("}]}})";
  }
  bundle += "]}";
  testing::WriteText(dir / "in/a.json", bundle);
  // A checkpoint falls kCheckpointDelay chunks after the one that brings it (ingest.cc).
  for (int i = 0; i < 20; ++i) {
    testing::WriteText(dir / ("in/b" + std::to_string(100 + i) + ".json"),
                       R"({"resourceType":"Patient","id":"after)" + std::to_string(i) + R"("})");
  }
  for (uint64_t streamed_bytes : {UINT64_MAX, uint64_t{1000}}) {
    IngestOptions options;
    options.streamed_document_bytes = streamed_bytes;
    options.checkpoint_identifiers = 500;
    auto r = Ingest(dir / ("lake" + std::to_string(streamed_bytes)), {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->counters.stored, 1020u);
    EXPECT_EQ(r->checkpoints, 1u) << "streamed over " << streamed_bytes << " bytes";
  }
}

TEST(StreamedBundleTest, ProgressMovesThroughTheThreeReadingsOfTheFile) {
  std::string doc = R"({"resourceType":"Bundle","type":"collection","entry":[)";
  for (int i = 0; i < 1000; ++i) {
    doc += std::string(i > 0 ? "," : "") + R"({"resource":{"resourceType":"Patient","id":"p)" +
           std::to_string(i) + R"("}})";
  }
  doc += "]}";
  // The reader: positions in the document that grow as the file is read three times (its 45 KB
  // at once each time), and count for 8 %, 19 % and 73 % of it.
  FhirReader reader(Lookup);
  RecordingSink sink;
  std::vector<uint64_t> positions;
  reader.set_document_progress([&](uint64_t position) { positions.push_back(position); });
  ASSERT_TRUE(*reader.ReadJsonStreamed(json::ReadAtMemory(doc), doc.size(), "in.json", sink));
  EXPECT_EQ(sink.events.size(), 1000u);
  ASSERT_EQ(positions.size(), 3u);
  const double size = static_cast<double>(doc.size());
  EXPECT_NEAR(positions[0] / size, 0.08, 0.001);  // the scan read it all
  EXPECT_NEAR(positions[1] / size, 0.27, 0.01);   // the plan read its entries
  EXPECT_NEAR(positions[2] / size, 1.00, 0.01);   // and so did their storing
  EXPECT_LE(positions[2], doc.size());

  // Ingest: the bytes read never go back, and end at the input's size.
  testing::TempDir dir;
  testing::WriteText(dir / "in/big.json", doc);
  const std::string ndjson = R"({"resourceType":"Patient","id":"s"})"
                             "\n";
  testing::WriteText(dir / "in/small.ndjson", ndjson);
  std::vector<std::pair<uint64_t, uint64_t>> calls;  // bytes read, bytes in all
  IngestOptions options;
  options.streamed_document_bytes = 1000;
  options.progress = [&](uint64_t, uint64_t done, uint64_t total) {
    calls.emplace_back(done, total);
  };
  auto r = Ingest(dir / "lake", {dir / "in"}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(calls.empty());
  const uint64_t total = doc.size() + ndjson.size();
  EXPECT_EQ(calls.back(), std::pair(total, total));
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].second, total);
    EXPECT_LE(calls[i].first, total);
    if (i > 0) {
      EXPECT_GE(calls[i].first, calls[i - 1].first);
    }
  }
}

TEST(StreamedBundleTest, AKeyedLakeReadsALargeBundleAnEntryAtATimeToo) {
  // In a keyed lake a large document is read by the pipeline's serial stage: it streams too.
  // Witness: a Bundle refused whole while read an entry at a time says the size of its file
  // (2 MiB of it whitespace); parsed whole, of its minified text (under 1 MiB: no note).
  testing::TempDir dir;
  const std::string doc =
      R"({"resourceType":"Bundle","entry":[],"entry":[])" + std::string(2u << 20, ' ') + "}";
  testing::WriteText(dir / "in/big.json", doc);
  const std::string note = "(record of " + std::to_string(doc.size()) + " bytes";
  for (uint64_t streamed_bytes : {uint64_t{1} << 20, UINT64_MAX}) {
    const std::string lake = dir / ("lake" + std::to_string(streamed_bytes));
    testing::CreateKeyedLake(lake);
    IngestOptions options;
    options.in_order_document_bytes = 1u << 20;
    options.streamed_document_bytes = streamed_bytes;
    options.expect_key = true;
    auto r = Ingest(lake, {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->counters.quarantined, 1u);
    auto q = testing::QuarantineOf(lake, 1);
    ASSERT_EQ(q.size(), 1u);
    EXPECT_NE(q[0].reason.find("Bundle.entry appears twice"), std::string::npos) << q[0].reason;
    EXPECT_EQ(q[0].reason.find(note) != std::string::npos, streamed_bytes != UINT64_MAX)
        << q[0].reason;
  }
}

}  // namespace
}  // namespace medlake::ingest
