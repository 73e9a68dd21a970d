// Fuzz target: the FHIR reader and fact extraction on arbitrary bytes, read both as NDJSON and
// as one JSON document, whole, an entry at a time, and an entry at a time in parallel ranges,
// stored as read or held until published and read again (which must all give the same
// records). Any crash, hang, sanitizer report or broken invariant
// is a bug.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fhir/r4_model.h"
#include "fhir/resource_facts.h"
#include "ingest/fhir/fhir_reader.h"
#include "json/json.h"
#include "json/scanner.h"

namespace {

class CheckingSink final : public medlake::ingest::FhirRecordSink {
 public:
  void OnResource(medlake::json::Node resource, std::string_view json,
                  const medlake::fhir::ReferenceResolver& resolver,
                  const medlake::ingest::RecordLocation&, medlake::ingest::ParsedText) override {
    medlake::fhir::ResourceFacts facts;
    if (medlake::fhir::ExtractFacts(resource, &resolver, facts).ok()) {
      // A stored resource must be valid JSON with a valid id.
      medlake::json::Parser parser;
      if (!parser.Parse(json).ok() || !medlake::fhir::IsValidId(facts.id)) std::abort();
    }
  }
  void OnReject(std::string_view, const medlake::ingest::RecordLocation&,
                std::string reason) override {
    if (reason.empty()) std::abort();
  }
  void OnExisting(const medlake::ingest::RecordLocation&) override {}
  void OnDelete(std::string_view type, std::string_view id, int64_t,
                const medlake::ingest::RecordLocation&, medlake::json::Node) override {
    // A deletion names a resource the lake could hold.
    if (medlake::fhir::ResourceTypeIndex(type) < 0 || !medlake::fhir::IsValidId(id)) std::abort();
  }
};

// What the reader gives, as lines: a Bundle read an entry at a time must give what a parse of
// the whole document gives (the words for invalid JSON and the whitespace of a document
// refused whole aside).
class RecordingSink final : public medlake::ingest::FhirRecordSink {
 public:
  std::string events;
  void OnResource(medlake::json::Node, std::string_view json,
                  const medlake::fhir::ReferenceResolver&,
                  const medlake::ingest::RecordLocation& loc,
                  medlake::ingest::ParsedText) override {
    events += "stored " + Where(loc) + std::string(json) + "\n";
  }
  void OnReject(std::string_view record, const medlake::ingest::RecordLocation& loc,
                std::string reason) override {
    if (reason.starts_with("invalid JSON")) reason = "invalid JSON";
    std::string kept(record);
    if (loc.location.empty()) {
      std::erase_if(kept, [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
    }
    events += "refused " + Where(loc) + reason + " " + kept + "\n";
  }
  void OnExisting(const medlake::ingest::RecordLocation& loc) override {
    events += "exists " + Where(loc) + "\n";
  }
  void OnDelete(std::string_view type, std::string_view id, int64_t last_updated,
                const medlake::ingest::RecordLocation& loc, medlake::json::Node) override {
    events += "deleted " + Where(loc) + std::string(type) + "/" + std::string(id) + " " +
              std::to_string(last_updated) + "\n";
  }

 private:
  static std::string Where(const medlake::ingest::RecordLocation& loc) {
    return std::to_string(loc.byte_offset) + ":" + std::to_string(loc.entry) + ":" + loc.location +
           " ";
  }
};

// The sinks of a Bundle's entries read in parallel ranges: one per thread that asks.
class ThreadSinks {
 public:
  medlake::ingest::FhirRecordSink& Get() {
    std::lock_guard lock(mu_);
    std::unique_ptr<RecordingSink>& sink = sinks_[std::this_thread::get_id()];
    if (!sink) sink = std::make_unique<RecordingSink>();
    return *sink;
  }
  // Every record of `caller` and of the sinks, as sorted lines.
  std::vector<std::string> Lines(const RecordingSink& caller) const {
    std::vector<std::string> lines = SplitLines(caller.events);
    for (const auto& [thread, sink] : sinks_) {
      for (std::string& line : SplitLines(sink->events)) lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    return lines;
  }
  // A record's line holds no newline: stored text is minified, and a refused Bundle is kept
  // without whitespace.
  static std::vector<std::string> SplitLines(const std::string& events) {
    std::vector<std::string> lines;
    for (size_t at = 0; at < events.size();) {
      const size_t end = std::min(events.find('\n', at), events.size());
      lines.push_back(events.substr(at, end - at));
      at = end + 1;
    }
    return lines;
  }

 private:
  std::mutex mu_;
  std::map<std::thread::id, std::unique_ptr<RecordingSink>> sinks_;
};

// Ranges that hold their records until published (FhirReader::EntryRanges::holds, as a keyed
// lake's): every odd range is refused at its first Publish and read again, and only what its
// last reading gave is kept.
class HeldRanges final : public medlake::ingest::FhirReader::EntryRanges {
 public:
  void Begin(size_t count) override {
    sinks_.assign(count, RecordingSink());
    readings_.assign(count, 0);
    published_ = 0;
  }
  medlake::ingest::FhirRecordSink& Open(size_t range, bool again) override {
    std::lock_guard lock(mu_);
    if (again != (readings_[range] > 0)) std::abort();
    ++readings_[range];
    sinks_[range] = RecordingSink();
    return sinks_[range];
  }
  const medlake::ingest::IdentifierLookup* LookupOf(size_t) override { return nullptr; }
  void Close(size_t) override {}
  bool Publish(size_t range) override {
    std::lock_guard lock(mu_);
    if (range != published_) std::abort();  // in range order
    if (range % 2 == 1 && readings_[range] == 1) return false;
    ++published_;
    return true;
  }
  void Finish(size_t range) override {
    std::lock_guard lock(mu_);
    if (range >= published_) std::abort();
    events_.events += sinks_[range].events;
  }
  bool holds() const override { return true; }
  const RecordingSink& events() const { return events_; }

 private:
  std::mutex mu_;
  std::vector<RecordingSink> sinks_;
  std::vector<int> readings_;
  size_t published_ = 0;
  RecordingSink events_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string buf(reinterpret_cast<const char*>(data), size);
  buf.append(medlake::json::kPadding, '\0');
  medlake::ingest::FhirReader reader([](std::string_view, std::optional<std::string_view>,
                                        std::string_view) { return std::string(); });
  CheckingSink sink;
  reader.ReadNdjson(buf.data(), size, "fuzz.ndjson", 1, 0, sink);
  reader.ReadJson(buf.data(), size, "fuzz.json", 0, sink);

  RecordingSink whole, streamed;
  medlake::ingest::FhirReader whole_reader([](std::string_view, std::optional<std::string_view>,
                                              std::string_view) { return std::string(); });
  whole_reader.ReadJson(buf.data(), size, "fuzz.json", 0, whole);
  const uint64_t unresolved_before = reader.unresolved_references();
  auto read = reader.ReadJsonStreamed(
      medlake::json::ReadAtMemory(std::string_view(buf.data(), size)), size, "fuzz.json", streamed);
  const uint64_t streamed_unresolved = reader.unresolved_references() - unresolved_before;
  if (!read.ok()) std::abort();  // memory gives no I/O error
  if (*read && streamed.events != whole.events) {
    std::fprintf(stderr, "parsed whole:\n%s\nan entry at a time:\n%s\n", whole.events.c_str(),
                 streamed.events.c_str());
    std::abort();
  }
  if (!*read && !streamed.events.empty()) std::abort();
  if (!*read) return 0;
  // Read in parallel ranges from two entries on (FhirReader::set_parallel_entries): the same
  // records, whichever sink they reach.
  medlake::ingest::FhirReader ranges_reader([](std::string_view, std::optional<std::string_view>,
                                               std::string_view) { return std::string(); });
  ThreadSinks sinks;
  ranges_reader.set_parallel_entries(
      [&sinks]() -> medlake::ingest::FhirRecordSink& { return sinks.Get(); }, 2);
  RecordingSink caller;
  auto in_ranges = ranges_reader.ReadJsonStreamed(
      medlake::json::ReadAtMemory(std::string_view(buf.data(), size)), size, "fuzz.json", caller);
  if (!in_ranges.ok() || !*in_ranges) std::abort();
  std::vector<std::string> expected = ThreadSinks::SplitLines(streamed.events);
  std::sort(expected.begin(), expected.end());
  if (sinks.Lines(caller) != expected) {
    std::fprintf(stderr, "an entry at a time:\n%s\nin parallel ranges, other records\n",
                 streamed.events.c_str());
    std::abort();
  }
  if (ranges_reader.unresolved_references() != streamed_unresolved) std::abort();
  // Ranges held until published, odd ones read twice: the same records again, each once.
  medlake::ingest::FhirReader held_reader([](std::string_view, std::optional<std::string_view>,
                                             std::string_view) { return std::string(); });
  HeldRanges held;
  held_reader.set_entry_ranges(&held, 2);
  RecordingSink held_caller;
  auto in_held =
      held_reader.ReadJsonStreamed(medlake::json::ReadAtMemory(std::string_view(buf.data(), size)),
                                   size, "fuzz.json", held_caller);
  if (!in_held.ok() || !*in_held) std::abort();
  std::vector<std::string> held_lines = ThreadSinks::SplitLines(held.events().events);
  for (std::string& line : ThreadSinks::SplitLines(held_caller.events)) {
    held_lines.push_back(std::move(line));
  }
  std::sort(held_lines.begin(), held_lines.end());
  if (held_lines != expected) {
    std::fprintf(stderr, "an entry at a time:\n%s\nin held ranges, other records\n",
                 streamed.events.c_str());
    std::abort();
  }
  if (held_reader.unresolved_references() != streamed_unresolved) std::abort();
  return 0;
}
