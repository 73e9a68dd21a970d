#include "ingest/hl7v2/resource_history.h"

#include <xxhash.h>

#include <algorithm>
#include <vector>

#include "common/fhir_time.h"
#include "json/json.h"

namespace medlake::hl7v2 {
namespace {

struct Entry {
  std::string reference;
  std::string location_json;  // the "location" Reference object
  std::string status;
  std::optional<std::string> start, end;
};

std::optional<std::string> Text(const std::optional<json::Node>& node, std::string_view key) {
  if (!node) return std::nullopt;
  auto v = node->Find(key);
  if (!v || !v->IsString()) return std::nullopt;
  return std::string(v->GetString());
}

std::vector<Entry> Entries(json::Node encounter) {
  std::vector<Entry> out;
  auto list = encounter.Find("location");
  if (!list) return out;
  list->ForEachItem([&](json::Node item) {
    Entry e;
    auto location = item.Find("location");
    if (location) {
      e.location_json = location->ToJson();
      e.reference = Text(location, "reference").value_or("");
    }
    e.status = Text(item, "status").value_or("");
    auto period = item.Find("period");
    e.start = Text(period, "start");
    e.end = Text(period, "end");
    out.push_back(std::move(e));
    return true;
  });
  return out;
}

// Choice elements of the merged types (FHIR R4 Patient): one form replaces the others.
constexpr std::string_view kChoiceElements[] = {"deceased", "multipleBirth"};

std::string_view ChoiceRoot(std::string_view element) {
  for (std::string_view root : kChoiceElements) {
    if (element.size() > root.size() && element.substr(0, root.size()) == root &&
        element[root.size()] >= 'A' && element[root.size()] <= 'Z') {
      return root;
    }
  }
  return element;
}

// Writes `"key":` after a comma unless it is the first member.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += "{"; }
  void Key(std::string_view key) {
    if (!first_) out_ += ",";
    first_ = false;
    json::AppendQuoted(key, out_);
    out_ += ":";
  }
  void Member(std::string_view key, json::Node value) {
    Key(key);
    out_ += value.ToJson();
  }
  void End() { out_ += "}"; }

 private:
  std::string& out_;
  bool first_ = true;
};

void AppendEntry(const Entry& e, std::string& out) {
  ObjectWriter entry(out);
  entry.Key("location");
  out += e.location_json.empty() ? "{}" : e.location_json;
  if (!e.status.empty()) {
    entry.Key("status");
    json::AppendQuoted(e.status, out);
  }
  if (e.start || e.end) {
    entry.Key("period");
    ObjectWriter period(out);
    for (const auto& [key, value] : {std::pair{"start", &e.start}, std::pair{"end", &e.end}}) {
      if (*value) {
        period.Key(key);
        json::AppendQuoted(**value, out);
      }
    }
    period.End();
  }
  entry.End();
}

Result<std::pair<json::Node, json::Node>> ParseObjects(json::Parser& previous_parser,
                                                       std::string_view previous,
                                                       json::Parser& next_parser,
                                                       std::string_view next) {
  previous_parser.set_keep_number_text(true);  // decimals are written back as they were
  next_parser.set_keep_number_text(true);
  MEDLAKE_ASSIGN_OR_RETURN(json::Node old_node, previous_parser.Parse(previous));
  MEDLAKE_ASSIGN_OR_RETURN(json::Node new_node, next_parser.Parse(next));
  if (!old_node.IsObject() || !new_node.IsObject()) {
    return ParseError("versions to merge are not JSON objects");
  }
  return std::pair{old_node, new_node};
}

// meta.lastUpdated in epoch milliseconds; nullopt when absent or not a valid time.
std::optional<int64_t> LastUpdated(json::Node resource) {
  auto meta = resource.Find("meta");
  if (!meta) return std::nullopt;
  auto t = Text(meta, "lastUpdated");
  if (!t) return std::nullopt;
  auto range = ParseFhirTime(*t);
  if (!range) return std::nullopt;
  return range->start;
}

// `node` as JSON with the members of every object in key order: two versions that say the
// same in another member order (a merge appends what it keeps) compare equal.
void AppendCanonical(json::Node node, std::string& out, bool skip_meta = false) {
  if (node.IsObject()) {
    std::vector<std::pair<std::string_view, json::Node>> members;
    node.ForEachField([&](std::string_view k, json::Node v) {
      if (!(skip_meta && k == "meta")) members.emplace_back(k, v);
      return true;
    });
    std::sort(members.begin(), members.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    out += '{';
    for (size_t i = 0; i < members.size(); ++i) {
      if (i) out += ',';
      json::AppendQuoted(members[i].first, out);
      out += ':';
      AppendCanonical(members[i].second, out);
    }
    out += '}';
  } else if (node.IsArray()) {
    out += '[';
    bool first = true;
    node.ForEachItem([&](json::Node item) {
      if (!first) out += ',';
      first = false;
      AppendCanonical(item, out);
      return true;
    });
    out += ']';
  } else {
    out += node.ToJson();
  }
}

// A hash of the resource's members but `meta`, canonical: what a version says, whenever it
// was sent. (A hash, not the text: the history holds one per resource.)
uint64_t Content(json::Node resource) {
  std::string out;
  AppendCanonical(resource, out, /*skip_meta=*/true);
  return XXH3_64bits(out.data(), out.size());
}

// Whether a DocumentReference's content holds a document: an attachment with data or a url.
// A notification message (MDM T01, T03, T05, T07, T09, T11: a status or an event, no OBX)
// maps to a title-only attachment, which says nothing about the document.
bool HoldsDocument(json::Node content) {
  bool found = false;
  content.ForEachItem([&](json::Node item) {
    auto attachment = item.Find("attachment");
    found = attachment && (attachment->Find("data") || attachment->Find("url"));
    return !found;
  });
  return found;
}

// The items of both arrays, `old_items` first, each once (by its JSON text).
std::string UnionOfArrays(json::Node old_items, json::Node new_items) {
  std::vector<std::string> items;
  for (json::Node list : {old_items, new_items}) {
    list.ForEachItem([&](json::Node item) {
      std::string text = item.ToJson();
      if (std::find(items.begin(), items.end(), text) == items.end()) items.push_back(text);
      return true;
    });
  }
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

std::string MergeElementNodes(json::Node old_node, json::Node new_node,
                              const std::vector<std::string>& cleared, std::string_view type = {}) {
  std::vector<std::string_view> present;  // elements of `next`, choice elements by their root
  std::string out;
  ObjectWriter object(out);
  // A partial correction (ORU with the changed OBX only) lists the results it carries: the
  // report keeps the others. A notification keeps the document the stored version holds.
  std::optional<json::Node> old_results =
      type == "DiagnosticReport" ? old_node.Find("result") : std::nullopt;
  std::optional<json::Node> old_content =
      type == "DocumentReference" ? old_node.Find("content") : std::nullopt;
  // PID-30 "Y" alone (deceasedBoolean true) says less than a date of death already known
  // (PID-29 left empty: no change): the date stays.
  std::optional<json::Node> known_death = old_node.Find("deceasedDateTime");
  std::optional<json::Node> flag = new_node.Find("deceasedBoolean");
  const bool keep_death_date = known_death && flag && flag->IsBool() && flag->GetBool();
  new_node.ForEachField([&](std::string_view k, json::Node v) {
    present.push_back(ChoiceRoot(k));
    if (k == "deceasedBoolean" && keep_death_date) {
      object.Member("deceasedDateTime", *known_death);
    } else if (k == "result" && old_results && old_results->IsArray() && v.IsArray()) {
      object.Key(k);
      out += UnionOfArrays(*old_results, v);
    } else if (k == "content" && old_content && !HoldsDocument(v) && HoldsDocument(*old_content)) {
      object.Member(k, *old_content);
    } else {
      object.Member(k, v);
    }
    return true;
  });
  old_node.ForEachField([&](std::string_view k, json::Node v) {
    std::string_view root = ChoiceRoot(k);
    bool replaced = std::find(present.begin(), present.end(), root) != present.end();
    bool nulled = std::find(cleared.begin(), cleared.end(), root) != cleared.end();
    if (!replaced && !nulled) object.Member(k, v);
    return true;
  });
  object.End();
  return out;
}

// Milliseconds of a FHIR time's start, nullopt when absent or malformed.
std::optional<int64_t> Millis(const std::optional<std::string>& time) {
  if (!time) return std::nullopt;
  auto range = ParseFhirTime(*time);
  return range ? std::optional<int64_t>(range->start) : std::nullopt;
}

// Locations still open end: all of them when the stay has ended (`stay_end`), else those the
// patient left for the location entered last (a transfer whose message did not name the
// prior location, PV1-6 empty, closed nothing: the bed looked occupied after the discharge).
void CloseLeftLocations(std::vector<Entry>& entries, const std::optional<std::string>& stay_end) {
  const std::optional<int64_t> ended = Millis(stay_end);
  size_t current = entries.size();  // the open entry with the latest start
  for (size_t i = 0; i < entries.size(); ++i) {
    auto start = Millis(entries[i].start);
    if (!entries[i].end && start &&
        (current == entries.size() || *start > *Millis(entries[current].start))) {
      current = i;
    }
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    if (e.end) continue;
    auto start = Millis(e.start);
    if (stay_end) {
      if (!start || !ended || *start <= *ended) {
        e.end = stay_end;
        e.status = "completed";
      }
      continue;
    }
    if (current == entries.size() || i == current || e.reference == entries[current].reference) {
      continue;
    }
    if (start ? *start < *Millis(entries[current].start) : i < current) {
      e.end = entries[current].start;
      e.status = "completed";
    }
  }
}

// Whether CloseLeftLocations would change the locations of `encounter`: an open one with the
// stay ended, or two open ones. (Most first versions, an admission, have neither: the merge
// that normalizes them is skipped.)
bool LeavesLocationsOpen(json::Node encounter) {
  size_t open = 0;
  for (const Entry& e : Entries(encounter)) open += !e.end;
  return open > 1 || (open == 1 && Text(encounter.Find("period"), "end"));
}

std::string MergeEncounterNodes(json::Node old_node, json::Node new_node,
                                std::string_view trigger) {
  std::vector<Entry> merged = Entries(old_node);
  for (Entry& e : Entries(new_node)) {
    if (e.reference.empty()) {
      merged.push_back(std::move(e));
      continue;
    }
    // An update (A08, A13) does not say since when the patient is where it names. Naming the
    // last location of a stay that has ended: a cancelled discharge (A13) reopens it, any
    // other update leaves it as it is.
    const bool timeless = !e.start && !e.end;
    if (timeless && !merged.empty() && merged.back().reference == e.reference &&
        merged.back().end) {
      Entry& last = merged.back();
      last.location_json = e.location_json;
      if (trigger == "A13") {
        last.end.reset();
        last.status = e.status;
      }
      continue;
    }
    Entry* match = nullptr;
    for (auto it = merged.rbegin(); it != merged.rend(); ++it) {
      if (it->reference != e.reference) continue;
      bool same_start = it->start && e.start && *it->start == *e.start;
      bool same_end = it->end && e.end && *it->end == *e.end;
      if (!it->end || same_start || same_end) {
        match = &*it;
        break;
      }
    }
    if (!match) {
      merged.push_back(std::move(e));
      continue;
    }
    match->location_json = e.location_json;
    if (!match->start) match->start = e.start;
    if (e.end) match->end = e.end;
    match->status = match->end ? "completed" : e.status;
  }

  // The stay's period: start kept when the message has none; an update that leaves the
  // discharge date empty (A08) keeps the discharge, which only an A13 cancels.
  std::optional<json::Node> new_period = new_node.Find("period");
  std::optional<std::string> start = Text(new_period, "start");
  std::optional<std::string> end = Text(new_period, "end");
  if (!start) start = Text(old_node.Find("period"), "start");
  std::optional<std::string> old_status = Text(old_node, "status");
  const bool keep_discharge = trigger == "A08" && !end && old_status == "finished";
  if (keep_discharge) end = Text(old_node.Find("period"), "end");
  CloseLeftLocations(merged, end);

  std::string out;
  ObjectWriter object(out);
  bool wrote_location = false, wrote_period = false;
  auto write_location = [&] {
    object.Key("location");
    out += "[";
    for (size_t i = 0; i < merged.size(); ++i) {
      if (i) out += ",";
      AppendEntry(merged[i], out);
    }
    out += "]";
    wrote_location = true;
  };
  auto write_period = [&] {
    object.Key("period");
    ObjectWriter period(out);
    if (start) {
      period.Key("start");
      json::AppendQuoted(*start, out);
    }
    if (end) {
      period.Key("end");
      json::AppendQuoted(*end, out);
    }
    if (new_period) {
      new_period->ForEachField([&](std::string_view k, json::Node v) {
        if (k != "start" && k != "end") period.Member(k, v);
        return true;
      });
    }
    period.End();
    wrote_period = true;
  };
  // HL7 v2.5 section 2.5.3 for the rest of the Encounter: what the message leaves empty stays.
  // PV1-2 empty maps to the required class as NullFlavor UNK, which a known class outranks;
  // hospitalization is merged one level down (an A08 keeps the discharge disposition).
  std::optional<json::Node> old_class = old_node.Find("class");
  std::optional<json::Node> old_stay = old_node.Find("hospitalization");
  std::vector<std::string_view> present;
  new_node.ForEachField([&](std::string_view k, json::Node v) {
    present.push_back(k);
    if (k == "location") {
      write_location();
    } else if (k == "period") {
      write_period();
    } else if (k == "status" && keep_discharge) {
      object.Key("status");
      json::AppendQuoted(*old_status, out);
    } else if (k == "class" && old_class && Text(v, "code") == "UNK") {
      object.Member(k, *old_class);
    } else if (k == "hospitalization" && old_stay) {
      object.Key(k);
      out += MergeElementNodes(*old_stay, v, {});
    } else {
      object.Member(k, v);
    }
    return true;
  });
  if (!wrote_period && (start || end)) write_period();
  if (!wrote_location && !merged.empty()) write_location();
  old_node.ForEachField([&](std::string_view k, json::Node v) {
    if (k != "location" && k != "period" &&
        std::find(present.begin(), present.end(), k) == present.end()) {
      object.Member(k, v);
    }
    return true;
  });
  object.End();
  return out;
}

}  // namespace

bool IsPartial(std::string_view type, json::Node version) {
  auto status = version.Find("status");
  const std::string_view s = status && status->IsString() ? status->GetString() : "";
  if (type == "ServiceRequest") return s != "active" && s != "draft";
  if (type == "DiagnosticReport") return s != "final" && s != "registered";
  if (type == "DocumentReference") {
    auto content = version.Find("content");
    return !content || !HoldsDocument(*content);
  }
  return true;
}

bool HasHistory(std::string_view type) {
  return type == "Encounter" || type == "Patient" || type == "ServiceRequest" ||
         type == "DiagnosticReport" || type == "DocumentReference";
}

Result<std::string> MergeEncounterLocations(std::string_view previous, std::string_view next,
                                            std::string_view trigger) {
  json::Parser previous_parser, next_parser;
  MEDLAKE_ASSIGN_OR_RETURN(auto nodes, ParseObjects(previous_parser, previous, next_parser, next));
  return MergeEncounterNodes(nodes.first, nodes.second, trigger);
}

Result<std::string> MergeElements(std::string_view previous, std::string_view next,
                                  const std::vector<std::string>& cleared) {
  json::Parser previous_parser, next_parser;
  MEDLAKE_ASSIGN_OR_RETURN(auto nodes, ParseObjects(previous_parser, previous, next_parser, next));
  return MergeElementNodes(nodes.first, nodes.second, cleared);
}

namespace {
bool Settles(std::string_view key) {  // "Type/id" of an order, report or document
  return !key.starts_with("Patient/") && !key.starts_with("Encounter/");
}
}  // namespace

ResourceHistory::HeldMap::iterator ResourceHistory::Hold(std::string key, Held held) {
  if (Settles(key)) bytes_ += key.size() + held.json.size() + kBytesPerHeld;
  return latest_.insert_or_assign(std::move(key), std::move(held)).first;
}

void ResourceHistory::ForgetSettled() {
  std::erase_if(latest_, [](const auto& entry) { return Settles(entry.first); });
  bytes_ = 0;
}

Result<std::optional<std::string>> ResourceHistory::Add(std::string_view type,
                                                        const std::string& id, std::string json,
                                                        std::string_view trigger,
                                                        const std::vector<std::string>& cleared) {
  using Version = std::optional<std::string>;
  std::string key = std::string(type) + "/" + id;
  auto it = latest_.find(key);
  if (it == latest_.end() && type != "Patient" && type != "Encounter") {
    // An order, report or document that says all it is (a new order, a final report, a
    // document with its text) is stored as mapped, without looking for the stored version:
    // held, unmeasured, for a partial message later in the run.
    auto node = next_parser_.Parse(json);
    if (node.ok() && node->IsObject() && !IsPartial(type, *node)) {
      Hold(std::move(key), Held{json, 0, std::nullopt, /*measured=*/false});
      return Version(std::move(json));
    }
  }
  if (it == latest_.end()) {
    Version stored;
    if (lookup_) {
      MEDLAKE_ASSIGN_OR_RETURN(stored, lookup_(type, id));
    }
    if (!stored) {  // the first version: stored as mapped
      auto node = next_parser_.Parse(json);
      if (!node.ok() || !node->IsObject()) return Version(std::move(json));
      if (type == "Encounter" && LeavesLocationsOpen(*node)) {
        // As a merge would leave it (merged with itself: locations the stay's end closes are
        // closed), so that the same message merged later with it changes nothing.
        std::string normal = MergeEncounterNodes(*node, *node, trigger);
        auto normal_node = merged_parser_.Parse(normal);
        if (normal_node.ok() && normal_node->IsObject()) {
          Hold(std::move(key), Held{normal, Content(*normal_node), LastUpdated(*normal_node)});
          return Version(std::move(normal));
        }
      }
      Hold(std::move(key), Held{json, Content(*node), LastUpdated(*node)});
      return Version(std::move(json));
    }
    auto node = previous_parser_.Parse(*stored);
    if (!node.ok() || !node->IsObject()) return Version(std::move(json));
    it = Hold(std::move(key), Held{*stored, Content(*node), LastUpdated(*node)});
  }
  Held& held = it->second;
  if (!held.measured) {
    auto node = previous_parser_.Parse(held.json);
    if (!node.ok() || !node->IsObject()) return Version(std::move(json));
    held.content = Content(*node);
    held.time = LastUpdated(*node);
    held.measured = true;
  }
  auto new_node = next_parser_.Parse(json);
  if (!new_node.ok() || !new_node->IsObject()) return Version(std::move(json));
  // A message older than the last change of the resource is a replay (the same files ingested
  // again) or a late arrival: it does not undo the newer state (which merging it would: an
  // A01 replayed over a finished stay reopened it). The same content again (most messages
  // repeat the PID they sent before) changes nothing either.
  auto now = LastUpdated(*new_node);
  if (held.time && now && *now < *held.time) return Version();
  const uint64_t content = Content(*new_node);
  if (cleared.empty() && content == held.content) return Version();
  auto old_node = previous_parser_.Parse(held.json);
  if (!old_node.ok() || !old_node->IsObject()) return Version(std::move(json));
  std::string merged = type == "Encounter" ? MergeEncounterNodes(*old_node, *new_node, trigger)
                                           : MergeElementNodes(*old_node, *new_node, cleared, type);
  // A message that changes nothing leaves the version as it was, its lastUpdated included:
  // the time of the last change is what orders later messages. (The held version may be the
  // stored form, de-identified in a keyed lake, which must not go through ingest again.)
  auto merged_node = merged_parser_.Parse(merged);
  if (!merged_node.ok()) return Version(std::move(json));
  const uint64_t merged_content = Content(*merged_node);
  if (merged_content == held.content) return Version();
  if (Settles(it->first)) {
    bytes_ += merged.size();
    bytes_ -= std::min<size_t>(bytes_, held.json.size());
  }
  held = Held{merged, merged_content, LastUpdated(*merged_node)};
  return Version(std::move(merged));
}

}  // namespace medlake::hl7v2
