#include "ingest/hl7v2/encounter_history.h"

#include <vector>

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

void AppendEntry(const Entry& e, std::string& out) {
  out += R"({"location":)";
  out += e.location_json.empty() ? "{}" : e.location_json;
  if (!e.status.empty()) {
    out += R"(,"status":)";
    json::AppendQuoted(e.status, out);
  }
  if (e.start || e.end) {
    out += R"(,"period":{)";
    if (e.start) {
      out += R"("start":)";
      json::AppendQuoted(*e.start, out);
    }
    if (e.end) {
      out += e.start ? R"(,"end":)" : R"("end":)";
      json::AppendQuoted(*e.end, out);
    }
    out += "}";
  }
  out += "}";
}

}  // namespace

Result<std::string> MergeEncounterLocations(std::string_view previous, std::string_view next) {
  json::Parser previous_parser, next_parser;
  MEDLAKE_ASSIGN_OR_RETURN(json::Node old_node, previous_parser.Parse(previous));
  MEDLAKE_ASSIGN_OR_RETURN(json::Node new_node, next_parser.Parse(next));
  if (!old_node.IsObject() || !new_node.IsObject())
    return ParseError("Encounter versions to merge are not JSON objects");

  std::vector<Entry> merged = Entries(old_node);
  for (Entry& e : Entries(new_node)) {
    Entry* match = nullptr;
    for (auto it = merged.rbegin(); it != merged.rend(); ++it) {
      if (it->reference != e.reference || e.reference.empty()) continue;
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

  // The new version, field by field, with the merged location[] and the stay's start.
  std::optional<std::string> old_start = Text(old_node.Find("period"), "start");
  std::string out = "{";
  bool first = true, wrote_location = false;
  auto key = [&](std::string_view k) {
    if (!first) out += ",";
    first = false;
    json::AppendQuoted(k, out);
    out += ":";
  };
  auto write_location = [&] {
    key("location");
    out += "[";
    for (size_t i = 0; i < merged.size(); ++i) {
      if (i) out += ",";
      AppendEntry(merged[i], out);
    }
    out += "]";
    wrote_location = true;
  };
  new_node.ForEachField([&](std::string_view k, json::Node v) {
    if (k == "location") {
      write_location();
    } else if (k == "period" && old_start && !Text(v, "start")) {
      key("period");
      out += R"({"start":)";
      json::AppendQuoted(*old_start, out);
      v.ForEachField([&](std::string_view pk, json::Node pv) {
        if (pk == "start") return true;
        out += ",";
        json::AppendQuoted(pk, out);
        out += ':';
        out += pv.ToJson();
        return true;
      });
      out += "}";
    } else {
      key(k);
      out += v.ToJson();
    }
    return true;
  });
  if (!wrote_location && !merged.empty()) write_location();
  out += "}";
  return out;
}

Result<std::string> EncounterHistory::Add(const std::string& id, std::string json) {
  auto it = latest_.find(id);
  std::optional<std::string> previous;
  if (it != latest_.end()) {
    previous = it->second;
  } else if (lookup_) {
    MEDLAKE_ASSIGN_OR_RETURN(previous, lookup_(id));
  }
  if (previous) {
    if (auto merged = MergeEncounterLocations(*previous, json); merged.ok()) json = *merged;
  }
  latest_[id] = json;
  return json;
}

}  // namespace medlake::hl7v2
