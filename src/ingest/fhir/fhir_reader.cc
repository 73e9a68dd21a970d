#include "ingest/fhir/fhir_reader.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>

#include "common/fhir_time.h"
#include "common/file_util.h"
#include "common/string_util.h"
#include "fhir/r4_model.h"
#include "store/catalog.h"
#include "store/lake_writer.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MEDLAKE_REFKEY_AVX2 1
#endif

namespace medlake::ingest {
namespace {

// The reason a record that did not parse is refused: the parser's, or what the bytes show
// when that is plainer (a file of another encoding or format under a name medlake reads).
// `document`: a whole .json file, else an NDJSON line.
std::string WhyNotJson(std::string_view text, const std::string& parse_error, bool document) {
  auto starts = [&](std::string_view magic) { return text.starts_with(magic); };
  if (starts("\xFF\xFE") || starts("\xFE\xFF")) {
    return "invalid JSON: UTF-16 text, not UTF-8 (save it as UTF-8)";
  }
  if (starts("\x1F\x8B")) {
    return "invalid JSON: gzip data in a file not named .gz (name it .ndjson.gz)";
  }
  std::string_view trimmed = text.substr(0, text.find_last_not_of(" \t\r\n") + 1);
  if (document && (trimmed.find("}\n{") != std::string_view::npos ||
                   trimmed.find("}\r\n{") != std::string_view::npos)) {
    return parse_error +
           " (several JSON values, one a line: NDJSON, which is read from a "
           "file named .ndjson)";
  }
  if (const size_t first = trimmed.find_first_not_of(" \t"); first != std::string_view::npos) {
    trimmed.remove_prefix(first);
  }
  if (!document && (trimmed == "{" || trimmed == "[" || trimmed.starts_with('}') ||
                    trimmed.starts_with(']') || trimmed.ends_with(',') ||
                    (trimmed.starts_with('"') && trimmed.find("\":") != std::string_view::npos))) {
    return parse_error +
           " (a line that is part of a value written over several lines: a "
           "single resource is read from a file named .json)";
  }
  return parse_error;
}

// A "urn:uuid:" or "urn:oid:" fullUrl or reference with an upper-case letter, in lower case (in
// `buffer`): UUIDs are compared without regard to case (RFC 4122, section 3), and so are the
// "urn", "uuid" and "oid" of the name (RFC 8141; an OID has digits and dots only). Anything else
// is returned as it is.
std::string_view LowerLocalUrn(std::string_view s, std::string& buffer) {
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  if (std::none_of(s.begin(), s.end(), upper)) return s;
  if (!StartsWithAnyCase(s, "urn:uuid:") && !StartsWithAnyCase(s, "urn:oid:")) return s;
  buffer = AsciiLower(s);
  return buffer;
}

constexpr std::string_view kRefKey = "\"reference\":\"";

#ifdef MEDLAKE_REFKEY_AVX2
// The next `"reference":"` in [p, end), or null. glibc's memmem scans about 5 GB/s here; the
// AVX2 kernel tests two of the key's bytes at once for 32 positions ('f' at 3 and ':' at 11
// rarely stand 8 bytes apart in FHIR JSON) and compares the key only there: about 23 GB/s on
// minified Synthea resources, where memmem was 3.6 % of the CPU of ingest.
__attribute__((target("avx2,bmi"))) const char* FindRefKeyAvx2(const char* p, const char* end) {
  static_assert(kRefKey[3] == 'f' && kRefKey[11] == ':');
  const __m256i f = _mm256_set1_epi8('f'), colon = _mm256_set1_epi8(':');
  // The loads end at p + 43 and a candidate's key at p + 44: both inside [p, end).
  while (end - p >= static_cast<ptrdiff_t>(kRefKey.size() + 32)) {
    __m256i at3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 3));
    __m256i at11 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 11));
    auto mask = static_cast<uint32_t>(_mm256_movemask_epi8(
        _mm256_and_si256(_mm256_cmpeq_epi8(at3, f), _mm256_cmpeq_epi8(at11, colon))));
    while (mask != 0) {
      const char* candidate = p + __builtin_ctz(mask);
      if (std::memcmp(candidate, kRefKey.data(), kRefKey.size()) == 0) return candidate;
      mask &= mask - 1;
    }
    p += 32;
  }
  // The last 44 bytes at most (a call of memmem costs more than these few compares).
  for (; end - p >= static_cast<ptrdiff_t>(kRefKey.size()); ++p) {
    if (*p == '"' && std::memcmp(p, kRefKey.data(), kRefKey.size()) == 0) return p;
  }
  return nullptr;
}
#endif

// Whether an entry's resource is stored under `id` (its own, or the one its fullUrl or request
// implies): a known resourceType, a valid id, neither repeated (what ExtractIdentity and
// ExtractFields check), and not a Bundle that is unpacked (all but documents).
bool StoredAs(json::Node resource, std::optional<json::Node> type, std::string_view id) {
  if (!type || !type->IsString() || fhir::ResourceTypeIndex(type->GetString()) < 0) return false;
  if (!fhir::IsValidId(id) || !fhir::IdentityNotRepeated(resource).ok()) return false;
  if (type->GetString() != "Bundle") return true;
  auto bundle_type = resource.Find("type");
  return bundle_type && bundle_type->IsString() && bundle_type->GetString() == "document";
}

// An entry's request.method ("" when none).
std::string_view RequestMethod(json::Node entry) {
  if (auto request = entry.Find("request")) {
    if (auto m = request->Find("method"); m && m->IsString()) return m->GetString();
  }
  return {};
}

// Requests whose entry is not a resource to store: a DELETE (ReadDelete applies those of the
// Bundles that DeletesApplied names) and a PATCH (its resource, a Parameters or Binary, is the
// patch, not the patched resource), except in a `history` Bundle, whose entries hold the version
// each request produced.
// An entry whose request names no method of R4's Bundle.entry.request.method (http-verb,
// required binding) is not applied either.
bool UnknownMethod(std::string_view method) {
  if (method.empty()) return false;  // no request
  for (std::string_view verb : {"POST", "PUT", "GET", "HEAD", "DELETE", "PATCH"}) {
    if (method == verb) return false;
  }
  return true;
}
bool NotApplied(std::string_view method, bool history) {
  return method == "DELETE" || (method == "PATCH" && !history) || UnknownMethod(method);
}

// The Bundles whose DELETE requests delete (R4 http.html, "transaction"; Bulk Data Access'
// `deleted` files hold transaction Bundles of them, one a line; a history Bundle's DELETE entry
// is the deletion among the versions). When the type says none of these, the entry is refused.
bool DeletesApplied(std::string_view bundle_type) {
  return bundle_type == "transaction" || bundle_type == "batch" || bundle_type == "history";
}

// A condition url ("Type?query") as MatchIdentifier reads it. An absolute url
// ("https://server/fhir/Patient?identifier=..."; R4 bundle.html makes it relative to the
// server's root, some clients send it whole) is read by its type and query, as an absolute
// reference is read by its last Type/id; a compartment's search (".../Patient/123/Observation?")
// is not a condition on the type alone, and is left whole (which no type names).
std::string_view ConditionOfUrl(std::string_view url) {
  if (const std::string_view path = url.substr(0, url.find('?'));
      path.find("://") != std::string_view::npos) {
    const size_t type_at = path.rfind('/') + 1;
    const std::string_view before_id = path.substr(0, path.rfind('/', type_at - 2));
    if (fhir::ResourceTypeIndex(before_id.substr(before_id.rfind('/') + 1)) < 0) {
      url.remove_prefix(type_at);
    }
  }
  return url;
}

// A time that is no instant (TimeOf): the DELETE requests it would date are refused.
constexpr int64_t kUnreadableTime = kNoTime + 1;

// An instant member (meta.lastUpdated, Bundle.timestamp, response.lastModified) as ms since the
// epoch; kUnreadableTime when it is no instant, nullopt when it is absent.
std::optional<int64_t> TimeOf(std::optional<json::Node> value) {
  if (!value) return std::nullopt;
  std::optional<int64_t> t;
  if (value->IsString()) t = ParseFhirInstant(value->GetString());
  return t.value_or(kUnreadableTime);
}

// Bundle.meta.lastUpdated as TimeOf reads it.
std::optional<int64_t> MetaTime(json::Node meta) {
  return meta.IsObject() ? TimeOf(meta.Find("lastUpdated")) : std::nullopt;
}

// When the DELETE requests of a transaction or batch Bundle deleted: its meta.lastUpdated,
// else its timestamp (R4: when it was assembled), as TimeOf reads them; kNoTime when it has
// neither.
int64_t DeletionTime(std::optional<int64_t> meta_time, std::optional<int64_t> timestamp_time) {
  return meta_time.value_or(timestamp_time.value_or(kNoTime));
}

const char* FindRefKey(std::string_view text, size_t from) {
  const char* p = text.data() + from;
  const char* end = text.data() + text.size();
#ifdef MEDLAKE_REFKEY_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi");
  if (avx2) return FindRefKeyAvx2(p, end);
#endif
  return static_cast<const char*>(
      ::memmem(p, static_cast<size_t>(end - p), kRefKey.data(), kRefKey.size()));
}

// The end of the JSON string value starting at `start` (its closing quote), or text.size().
// `escaped` tells whether it holds a backslash escape.
size_t StringEnd(std::string_view text, size_t start, bool& escaped) {
  escaped = false;
  size_t end = start;
  while (end < text.size() && text[end] != '"') {
    if (text[end] == '\\') {
      escaped = true;
      ++end;
    }
    ++end;
  }
  return std::min(end, text.size());
}

// Whether a reference value of the minified `text` is a conditional one (holds a '?'): only
// those are changed by the resolvers outside a Bundle.
bool HasConditionalReference(std::string_view text) {
  size_t pos = 0;
  while (const char* found = FindRefKey(text, pos)) {
    size_t start = static_cast<size_t>(found - text.data()) + kRefKey.size();
    bool escaped;
    size_t end = StringEnd(text, start, escaped);
    if (text.substr(start, end - start).find('?') != std::string_view::npos) return true;
    if (end >= text.size()) break;
    pos = end;
  }
  return false;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Inserts "id":"<id>" as the first member of a minified object.
std::string WithId(std::string_view json, std::string_view id) {
  std::string out;
  out.reserve(json.size() + id.size() + 8);
  out.push_back('{');
  out += "\"id\":";
  json::AppendQuoted(id, out);
  if (json.size() > 2) out.push_back(',');
  out.append(json.substr(1));
  return out;
}

// A request url without its query when it names one resource ("Patient/p6?_format=json"); as
// it is when it is a condition ("Patient?identifier=...": a type, then the query), or has none.
std::string_view ResourceUrl(std::string_view url) {
  const size_t q = url.find('?');
  if (q == std::string_view::npos) return url;
  std::string_view path = url.substr(0, q);
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || fhir::ResourceTypeIndex(path.substr(slash + 1)) >= 0) {
    return url;
  }
  return path;
}

// R4 Bundle.entry.search.mode "outcome": an OperationOutcome about the search itself, not a
// match, and not stored.
bool IsSearchOutcome(json::Node entry) {
  auto search = entry.Find("search");
  auto mode = search && search->IsObject() ? search->Find("mode") : std::nullopt;
  return mode && mode->IsString() && mode->GetString() == "outcome";
}

// The id a document Bundle without one takes from its identifier (R4 bdl-9: a document SHALL
// have an identifier with a system and a value; its id is optional): "doc-" and the XXH3-128,
// in hex, of the system's length, the system and the value, the same whenever the document is
// read. "" for a document with an id or without such an identifier.
std::string DocumentId(json::Node bundle) {
  if (!bundle.IsObject() || bundle.Find("id")) return {};
  auto identifier = bundle.Find("identifier");
  auto system = identifier && identifier->IsObject() ? identifier->Find("system") : std::nullopt;
  auto value = identifier && identifier->IsObject() ? identifier->Find("value") : std::nullopt;
  if (!system || !system->IsString() || !value || !value->IsString()) return {};
  std::string key = std::to_string(system->GetString().size());
  key.append(1, ':').append(system->GetString()).append(value->GetString());
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  char id[4 + 32 + 1];
  std::snprintf(id, sizeof id, "doc-%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return id;
}

bool IsDocument(json::Node resource) {
  if (!resource.IsObject()) return false;
  auto rt = resource.Find("resourceType");
  auto type = resource.Find("type");
  return rt && rt->IsString() && rt->GetString() == "Bundle" && type && type->IsString() &&
         type->GetString() == "document";
}

// A document Bundle, a resource of its own, kept whole (under DocumentId when it has no id).
void StoreDocument(json::Node bundle, std::string_view record, const RecordLocation& loc,
                   FhirRecordSink& sink) {
  const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
  const std::string id = DocumentId(bundle);
  if (id.empty()) {
    sink.OnResource(bundle, record, same, loc, ParsedText::kOther);
    return;
  }
  std::string text = WithId(record, id);
  json::Parser local;
  auto node = local.Parse(text);
  if (!node.ok()) {
    sink.OnReject(record, loc, node.status().message());
    return;
  }
  sink.OnResource(*node, text, same, loc, ParsedText::kOther);
}

// The first of `keys` that `object` gives more than once; empty when none does. (Each answer
// is at once in a document whose root was asked for repeated names: json::Node::RepeatedName.)
std::string_view RepeatedOf(json::Node object, std::span<const std::string_view> keys) {
  if (!object.IsObject()) return {};
  for (std::string_view key : keys) {
    if (object.RepeatsAny({key})) return key;
  }
  return {};
}

// The members of a Bundle, an entry, its request and response that decide what they hold or
// do, and that ingest reads: each must be given once (RepeatedBundleMember and
// RepeatedEntryMember; a Bundle read an entry at a time checks kBundleOnce as it scans).
constexpr std::array<std::string_view, 5> kBundleOnce = {"entry", "resourceType", "type",
                                                         "timestamp", "meta"};
constexpr std::array<std::string_view, 1> kMetaOnce = {"lastUpdated"};
constexpr std::array<std::string_view, 4> kEntryOnce = {"resource", "request", "response",
                                                        "fullUrl"};
constexpr std::array<std::string_view, 3> kRequestOnce = {"method", "url", "ifNoneExist"};
constexpr std::array<std::string_view, 1> kResponseOnce = {"lastModified"};

// What a Bundle gives twice of what ingest reads in it ("type", "meta.lastUpdated"); empty when
// nothing. Readers keep one or the other: the type that decides whether a DELETE applies, the
// time it deleted at (R4's JSON: names SHALL be unique; a resource that repeats one anywhere
// is refused by ExtractFields).
std::string RepeatedBundleMember(json::Node bundle) {
  if (auto key = RepeatedOf(bundle, kBundleOnce); !key.empty()) return std::string(key);
  if (auto meta = bundle.Find("meta"); meta && !RepeatedOf(*meta, kMetaOnce).empty()) {
    return "meta.lastUpdated";
  }
  return {};
}

// The same of an entry ("resource", "request.method"): which resource it holds, what its
// request asks (a DELETE or a PUT), when its response says the version was made.
std::string RepeatedEntryMember(json::Node entry) {
  if (auto key = RepeatedOf(entry, kEntryOnce); !key.empty()) return std::string(key);
  if (auto request = entry.Find("request")) {
    if (auto key = RepeatedOf(*request, kRequestOnce); !key.empty()) {
      return "request." + std::string(key);
    }
  }
  if (auto response = entry.Find("response")) {
    if (auto key = RepeatedOf(*response, kResponseOnce); !key.empty()) {
      return "response." + std::string(key);
    }
  }
  return {};
}

// A UTF-8 byte order mark at the start of a file (RFC 8259 lets parsers ignore it; editors on
// Windows write it) is not part of the first record.
size_t ByteOrderMarkSize(std::string_view file_start) {
  return file_start.starts_with("\xEF\xBB\xBF") ? 3 : 0;
}

}  // namespace

FhirReader::FhirReader(IdentifierLookup lookup)
    : lookup_(std::move(lookup)),
      resolver_([this](std::string_view ref, std::string& scratch) -> std::string_view {
        if (ref.find('?') == std::string_view::npos) return ref;
        scratch = ResolveConditional(ref, nullptr);
        return scratch;
      }) {}

namespace {

// The ranges of set_parallel_entries(SinkOfThread): each range's records go to the sink of the
// thread that reads it, as they are read.
class ThreadSinks final : public FhirReader::EntryRanges {
 public:
  explicit ThreadSinks(FhirReader::SinkOfThread sink_of_thread)
      : sink_of_thread_(std::move(sink_of_thread)) {}
  void Begin(size_t) override {}
  FhirRecordSink& Open(size_t, bool) override { return sink_of_thread_(); }
  const IdentifierLookup* LookupOf(size_t) override { return nullptr; }
  void Close(size_t) override {}
  bool Publish(size_t) override { return true; }
  void Finish(size_t) override {}
  bool holds() const override { return false; }

 private:
  FhirReader::SinkOfThread sink_of_thread_;
};

}  // namespace

void FhirReader::set_parallel_entries(SinkOfThread sink_of_thread, size_t min_entries) {
  set_entry_ranges(nullptr, min_entries);
  if (!sink_of_thread) return;
  thread_sinks_ = std::make_unique<ThreadSinks>(std::move(sink_of_thread));
  ranges_ = thread_sinks_.get();
}

std::string SniffFirstResourceType(std::string_view head) {
  constexpr std::string_view kKey = "\"resourceType\"";
  size_t pos = 0;
  while ((pos = head.find(kKey, pos)) != std::string_view::npos) {
    pos += kKey.size();
    size_t q1 = head.find('"', pos);
    if (q1 == std::string_view::npos) return "";
    size_t q2 = head.find('"', q1 + 1);
    if (q2 == std::string_view::npos) return "";
    std::string_view type = head.substr(q1 + 1, q2 - q1 - 1);
    if (type != "Bundle") return std::string(type);
    pos = q2;
  }
  return "";
}

void FhirReader::ReadNdjson(const char* data, size_t size, std::string_view source,
                            int64_t first_line, int64_t base_offset, FhirRecordSink& sink) {
  size_t pos = 0;
  if (base_offset == 0) pos = ByteOrderMarkSize(std::string_view(data, size));
  int64_t line = first_line;
  while (pos < size) {
    const char* nl = static_cast<const char*>(std::memchr(data + pos, '\n', size - pos));
    size_t end = nl ? static_cast<size_t>(nl - data) : size;
    size_t len = end - pos;
    if (len > 0 && data[pos + len - 1] == '\r') --len;
    std::string_view text(data + pos, len);
    bool blank = text.find_first_not_of(" \t\r") == std::string_view::npos;
    if (!blank) {
      RecordLocation loc{source, line, base_offset + static_cast<int64_t>(pos), 0, ""};
      // The bytes after the line (the next lines, or the caller's padding) keep simdjson's
      // read-ahead inside the buffer.
      auto root = parser_.ParsePadded(text.data(), text.size());
      if (!root.ok()) {
        sink.OnReject(text, loc, WhyNotJson(text, root.status().message(), false));
      } else if (auto type = root->Find("resourceType"); type && type->GetString() == "Bundle") {
        ReadJson(text.data(), text.size(), source, loc.byte_offset, sink, line);
      } else if (auto minified = line_.Minify(text); !minified.ok()) {
        sink.OnReject(text, loc, "invalid JSON");
      } else if (HasConditionalReference(*minified)) {
        RewriteReferences(*minified, nullptr, resolver_, rewriting_);
        sink.OnResource(*root, rewriting_.out, resolver_, loc, ParsedText::kUnresolved);
      } else {
        sink.OnResource(*root, *minified, resolver_, loc, ParsedText::kSame);
      }
    }
    pos = end + 1;
    ++line;
  }
}

void FhirReader::ReadJson(const char* data, size_t size, std::string_view source,
                          int64_t base_offset, FhirRecordSink& sink, int64_t line) {
  if (base_offset == 0) {
    size_t bom = ByteOrderMarkSize(std::string_view(data, size));
    data += bom;
    size -= bom;
    base_offset += static_cast<int64_t>(bom);
  }
  RecordLocation loc{source, line, base_offset, 0, ""};
  std::string_view text(data, size);
  // Minify once (SIMD, far faster than re-serializing parts later): every slice of the minified
  // document is then a stored form.
  auto document = document_.Minify(text);
  if (!document.ok()) {
    auto root = parser_.ParsePadded(data, size);
    sink.OnReject(text, loc,
                  WhyNotJson(text, root.ok() ? "invalid JSON" : root.status().message(), true));
    return;
  }
  static_assert(json::kMinifySlack >= json::kPadding);
  auto root = parser_.ParsePadded(document->data(), document->size());
  if (!root.ok()) {
    sink.OnReject(text, loc, WhyNotJson(text, root.status().message(), true));
    return;
  }
  if (auto type = root->Find("resourceType"); type && type->GetString() == "Bundle") {
    ReadBundle(*root, *document, loc, sink);
    return;
  }
  RewriteReferences(*document, nullptr, resolver_, rewriting_);
  sink.OnResource(*root, rewriting_.out, resolver_, loc, ParsedText::kUnresolved);
}

size_t FhirReader::IdentifierHash::operator()(
    const std::pair<std::string_view, std::string_view>& k) const {
  return std::hash<std::string_view>()(k.first) * 31 + std::hash<std::string_view>()(k.second);
}

Status FhirReader::IndexIdentifiers(const Entries& entries,
                                    const std::function<std::string_view(size_t)>& stored_id,
                                    BundleIdentifiers& out) {
  size_t at = 0;
  const EntryFn index_entry = [&](json::Node entry, std::string_view) {
    const std::string_view id = stored_id(at++);
    if (id.empty()) return true;
    auto res = entry.Find("resource");
    auto ids = res->Find("identifier");
    if (!ids) return true;
    const std::string_view type = out.strings.Copy(res->Find("resourceType")->GetString());
    ids->ForEachItem([&](json::Node ident) {
      auto v = ident.Find("value");
      if (!v) return true;
      auto s = ident.Find("system");
      out.index.emplace(std::pair(type, out.strings.Copy(v->GetString())),
                        EntryIdentifier{s ? out.strings.Copy(s->GetString()) : std::string_view(),
                                        s.has_value(), id});
      return true;
    });
    return true;
  };
  return entries.ForEach(index_entry, false);
}

FhirReader::ConditionMatch FhirReader::MatchIdentifier(std::string_view condition,
                                                       const BundleIdentifiers* bundle,
                                                       const IdentifierLookup* lookup) {
  size_t q = condition.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view type = condition.substr(0, q);
  std::string_view query = condition.substr(q + 1);
  constexpr std::string_view kParam = "identifier=";
  if (fhir::ResourceTypeIndex(type) < 0 || query.substr(0, kParam.size()) != kParam ||
      query.find('&') != std::string_view::npos) {
    return {};
  }
  std::string token = UrlDecode(query.substr(kParam.size()));
  size_t bar = token.find('|');
  std::string system = bar == std::string::npos ? std::string() : token.substr(0, bar);
  std::string value = bar == std::string::npos ? token : token.substr(bar + 1);
  // Within the Bundle first: every entry of the type whose identifier matches (FHIR's
  // conditional reference semantics: one match resolves, several are an error, none looks
  // further). An entry without an id has the one its fullUrl or request implies.
  ConditionMatch match{ConditionMatch::kNone, {}};
  if (bundle != nullptr) {
    auto [first, last] = bundle->index.equal_range(std::pair(type, std::string_view(value)));
    for (auto it = first; it != last; ++it) {
      const EntryIdentifier& e = it->second;
      // "system|value" matches that system only; "|value" identifiers without a system only.
      if (bar != std::string::npos && (system.empty() ? e.has_system && !e.system.empty()
                                                      : !(e.has_system && e.system == system))) {
        continue;
      }
      if (match.kind == ConditionMatch::kNone) {
        match = {ConditionMatch::kOne, std::string(e.id)};
      } else if (match.id != e.id) {
        return {ConditionMatch::kSeveral, {}};
      }
    }
  }
  const IdentifierLookup& in_lake = lookup != nullptr ? *lookup : lookup_;
  if (match.kind == ConditionMatch::kNone && in_lake) {
    match.id = in_lake(
        type, bar == std::string::npos ? std::nullopt : std::optional<std::string_view>(system),
        value);
    if (match.id == store::kAmbiguousIdentifier) return {ConditionMatch::kSeveral, {}};
    if (!match.id.empty()) match.kind = ConditionMatch::kOne;
  }
  return match;
}

std::string FhirReader::ResolveConditional(std::string_view reference,
                                           const BundleIdentifiers* bundle,
                                           const IdentifierLookup* lookup) {
  // After a base URL ("https://h/fhir/Patient?identifier=s|v") the condition is the same: an
  // identifier names its resource whatever the server (until 2026-12-02 it went unresolved).
  // It resolves to the lake's Type/id, as a relative one does.
  const std::string_view condition = ConditionOfUrl(reference);
  ConditionMatch match = MatchIdentifier(condition, bundle, lookup);
  if (match.kind != ConditionMatch::kOne) return std::string(reference);
  return std::string(condition.substr(0, condition.find('?'))) + "/" + match.id;
}

std::optional<FhirReader::ConditionMatch> FhirReader::MatchCondition(
    json::Node entry, std::string_view method, std::optional<json::Node> type) {
  if (method != "POST" && method != "PUT") return std::nullopt;
  auto request = entry.Find("request");
  if (!request) return std::nullopt;
  std::string condition;
  if (method == "POST") {
    auto if_none_exist = request->Find("ifNoneExist");
    if (!if_none_exist) return std::nullopt;
    if (!if_none_exist->IsString() || !type || !type->IsString()) return ConditionMatch{};
    // The search query alone (R4 Bundle.entry.request.ifNoneExist); "Type?" before it is read.
    std::string_view query = if_none_exist->GetString();
    if (const size_t q = query.find('?');
        q != std::string_view::npos && query.substr(0, q) == type->GetString()) {
      query.remove_prefix(q + 1);
    }
    condition.assign(type->GetString()).append(1, '?').append(query);
  } else {
    auto url = request->Find("url");
    if (!url || !url->IsString() ||
        ResourceUrl(url->GetString()).find('?') == std::string_view::npos) {
      return std::nullopt;  // no condition: a resource's url, with parameters or not
    }
    condition.assign(ConditionOfUrl(url->GetString()));
    if (!type || !type->IsString() ||
        !condition.starts_with(std::string(type->GetString()) + "?")) {
      return ConditionMatch{};
    }
  }
  // The lake only (a Bundle's own entries would match the entry itself).
  return MatchIdentifier(condition, nullptr);
}

std::string_view FhirReader::FullUrls::Typed(uint32_t entry, std::string& out) const {
  out.assign(fhir::ResourceTypeName(types[entry])).append(1, '/').append(ids[entry]);
  return out;
}

std::optional<std::string_view> FhirReader::LookupFullUrl(const FullUrls& full_urls,
                                                          std::string_view ref,
                                                          std::string& scratch) {
  if (const std::optional<uint32_t> entry = full_urls.entries.Find(ref)) {
    return full_urls.Typed(*entry, scratch);
  }
  if (std::string_view lower = LowerLocalUrn(ref, scratch); lower.data() != ref.data()) {
    const std::optional<uint32_t> entry = full_urls.entries.Find(lower);
    if (!entry) return std::nullopt;
    return full_urls.Typed(*entry, scratch);
  }
  const size_t version = ref.find("/_history/");
  if (version == std::string_view::npos) return std::nullopt;
  const std::optional<uint32_t> entry = full_urls.entries.Find(ref.substr(0, version));
  if (!entry) return std::nullopt;
  full_urls.Typed(*entry, scratch);
  scratch.append(ref.substr(version));
  return std::string_view(scratch);
}

void FhirReader::RewriteReferences(std::string_view text, const FullUrls* full_urls,
                                   const fhir::ReferenceResolver& resolver, Rewriting& r) {
  std::string& out = r.out;
  // Appends `resolved` escaped as a JSON string without its quotes (the text has them).
  auto append_escaped = [&out](std::string_view resolved) {
    size_t at = out.size();
    json::AppendQuoted(resolved, out);
    out.pop_back();
    out.erase(at, 1);
  };
  out.clear();
  size_t pos = 0;
  for (;;) {
    const char* found = FindRefKey(text, pos);
    if (!found) break;
    size_t start = static_cast<size_t>(found - text.data()) + kRefKey.size();
    bool escaped;
    size_t end = StringEnd(text, start, escaped);
    if (end >= text.size()) break;
    out.append(text.substr(pos, start - pos));
    const std::string_view value = text.substr(start, end - start);  // as written
    // The reference as JSON means it: escapes decoded ("http:\/\/x" is "http://x", as a
    // serializer that escapes '/' writes it), so that it matches the fullUrl it names.
    std::string_view meant = value;
    if (escaped) {
      r.quoted.assign(1, '"').append(value).push_back('"');
      auto decoded = r.escapes.Parse(r.quoted);
      if (!decoded.ok() || !decoded->IsString()) {
        out.append(value);
        pos = end;
        continue;
      }
      meant = decoded->GetString();
    }
    std::optional<std::string_view> local;
    if (full_urls != nullptr && (local = LookupFullUrl(*full_urls, meant, r.scratch))) {
      append_escaped(*local);
    } else if (meant.find('?') == std::string_view::npos) {
      // A Bundle-local name (urn:uuid:, urn:oid:) that no entry has can never resolve.
      std::string lowered;
      if (const std::string_view local = LowerLocalUrn(meant, lowered);
          full_urls != nullptr &&
          (local.starts_with("urn:uuid:") || local.starts_with("urn:oid:"))) {
        ++r.unresolved;
      }
      out.append(value);  // the resolvers change only conditional references outside a Bundle
    } else if (std::string_view resolved = resolver(meant, r.scratch); resolved == meant) {
      ++r.unresolved;  // a conditional reference with no single match
      out.append(value);
    } else {
      append_escaped(resolved);
    }
    pos = end;
  }
  out.append(text.substr(pos));
}

// The entries of a Bundle parsed whole, with the text of each entry's resource.
class FhirReader::ParsedEntries final : public FhirReader::Entries {
 public:
  ParsedEntries(json::Node entries, const std::vector<std::string_view>& resources)
      : entries_(entries), resources_(resources) {}
  Status ForEachIn(size_t begin, size_t end, const EntryFn& fn, bool) const override {
    size_t index = 0;
    entries_.ForEachItem([&](json::Node entry) {
      const size_t i = index++;
      return i < begin || (i < end && fn(entry, resources_[i]));
    });
    return Status::Ok();
  }
  size_t size() const override { return resources_.size(); }
  uint64_t EndOf(size_t) const override { return 0; }

 private:
  json::Node entries_;
  const std::vector<std::string_view>& resources_;
};

// The entries of a Bundle too large to parse whole, read from its text one at a time where the
// scan of the Bundle found them: each is minified and parsed on its own (as a slice of the
// minified Bundle, its text is the same).
class FhirReader::StreamedEntries final : public FhirReader::Entries {
 public:
  StreamedEntries(const json::ReadAt& read, const std::vector<json::Extent>& items,
                  bool keep_number_text)
      : read_(read), items_(items), keep_number_text_(keep_number_text) {}
  Status ForEachIn(size_t begin, size_t end, const EntryFn& fn,
                   bool with_resources) const override {
    // Each walk has its own buffers: the resolver may walk the entries while a walk runs, and
    // parallel tasks walk ranges of them.
    std::string run;  // the text of consecutive entries, read at once
    json::MinifyBuffer minified;
    json::Parser parser;
    parser.set_keep_number_text(keep_number_text_);
    // An entry is two levels down in its Bundle (its object, the entry array): nested as deep
    // as a parse of the whole Bundle allows, less those two.
    MEDLAKE_RETURN_IF_ERROR(parser.set_max_depth(json::Parser::kDefaultMaxDepth - 2));
    end = std::min(end, items_.size());
    for (size_t first = begin; first < end;) {
      size_t last = first + 1;  // one past the last of the run
      const uint64_t from = items_[first].offset;
      while (last < end && EndOf(last) - from <= json::kScanReadBytes) ++last;
      MEDLAKE_RETURN_IF_ERROR(
          json::ReadExtent(read_, {from, EndOf(last - 1) - from}, run, json::kPadding));
      for (size_t i = first; i < last; ++i) {
        auto invalid = [i](const Status& s) {
          return ParseError(s.message() + " (Bundle.entry[" + std::to_string(i) + "])");
        };
        const std::string_view item(run.data() + (items_[i].offset - from), items_[i].size);
        if (!with_resources) {
          // No text is kept: the entry is parsed as written, without a minified copy (the
          // plan's pass; whitespace changes nothing a parse gives). The run's bytes after the
          // item are its padding. An entry that does not parse is read again below, so that its
          // reason is the one the storing would give.
          if (auto entry = parser.ParsePadded(item.data(), item.size()); entry.ok()) {
            if (!fn(*entry, {})) return Status::Ok();
            continue;
          }
        }
        auto text = minified.Minify(item);
        if (!text.ok()) return invalid(text.status());
        auto entry = parser.ParsePadded(text->data(), text->size());
        if (!entry.ok()) return invalid(entry.status());
        std::string_view resource;
        if (with_resources) {
          if (Status s = json::MemberSlice(*text, "resource", resource); !s.ok()) return invalid(s);
        }
        if (!fn(*entry, resource)) return Status::Ok();
      }
      first = last;
    }
    return Status::Ok();
  }
  size_t size() const override { return items_.size(); }
  uint64_t EndOf(size_t index) const override { return items_[index].offset + items_[index].size; }

 private:
  const json::ReadAt& read_;
  const std::vector<json::Extent>& items_;
  const bool keep_number_text_;
};

// The file of a Bundle read an entry at a time is read three times: the scan of its members,
// the plan of its entries, their storing. Each byte read counts for its pass's share of the
// time (kShare, in percent: on a 715 MB Bundle of Synthea's entries, two threads, the scan took
// 8 % of the reading, the plan 19 % and the storing 73 %; one thread, 5 %, 23 % and 72 %),
// reported as a position in the file that only grows. Reads may come from several threads.
class FhirReader::PassProgress {
 public:
  enum Pass { kScan, kPlan, kStore };
  PassProgress(uint64_t size, const std::function<void(uint64_t position)>& report)
      : size_(std::max<uint64_t>(size, 1)), report_(report) {}
  // `read`, its bytes counted for the pass at hand. `read` must outlive what it returns.
  json::ReadAt Counting(const json::ReadAt& read) {
    return [this, &read](uint64_t offset, char* out, size_t n) -> Result<size_t> {
      Result<size_t> got = read(offset, out, n);
      if (got.ok() && report_) Add(*got);
      return got;
    };
  }
  void Begin(Pass pass) {
    std::lock_guard lock(mu_);
    pass_ = pass;
    read_ = 0;
  }

 private:
  static constexpr uint64_t kShare[] = {8, 19, 73};
  void Add(uint64_t bytes) {
    std::lock_guard lock(mu_);
    read_ += bytes;
    uint64_t before = 0;
    for (int p = kScan; p < pass_; ++p) before += kShare[p];
    const double pass_done = std::min(1.0, static_cast<double>(read_) / size_);
    const auto position = static_cast<uint64_t>(
        (static_cast<double>(before) + static_cast<double>(kShare[pass_]) * pass_done) / 100.0 *
        static_cast<double>(size_));
    if (position <= reported_) return;
    reported_ = position;
    report_(position);
  }

  const uint64_t size_;
  const std::function<void(uint64_t)>& report_;
  std::mutex mu_;
  Pass pass_ = kScan;
  uint64_t read_ = 0;  // in this pass
  uint64_t reported_ = 0;
};

Result<bool> FhirReader::ReadJsonStreamed(const json::ReadAt& file, uint64_t size,
                                          std::string_view source, FhirRecordSink& sink) {
  PassProgress progress(size, document_progress_);
  const json::ReadAt read = progress.Counting(file);
  // The head of the document (after a byte order mark): what the quarantine keeps of it when
  // it is refused whole.
  std::string head;
  MEDLAKE_RETURN_IF_ERROR(json::ReadExtent(read, {0, std::min<uint64_t>(size, 3)}, head));
  const size_t bom = ByteOrderMarkSize(head);
  if (size <= bom) return false;
  const uint64_t record_bytes = size - bom;
  MEDLAKE_RETURN_IF_ERROR(json::ReadExtent(
      read, {bom, std::min<uint64_t>(record_bytes, store::LakeWriter::kQuarantinedRecordBytes)},
      head));
  const RecordLocation loc{source, 0, static_cast<int64_t>(bom), 0, ""};
  const std::string kept_note =
      record_bytes > head.size() ? store::LakeWriter::KeptPartNote(record_bytes) : std::string();
  auto refuse = [&](std::string_view reason) {
    sink.OnReject(head, loc, std::string(reason) + kept_note);
    return true;
  };
  auto refuse_invalid = [&](const Status& s) {
    return refuse(WhyNotJson(head, s.message(), true));
  };
  // What is no object (an array, another encoding, nothing) is read whole, as ever.
  if (const size_t first = head.find_first_not_of(" \t\r\n");
      first == std::string::npos || head[first] != '{') {
    return false;
  }
  std::vector<json::MemberExtent> members;
  std::vector<json::Extent> items;
  if (Status s = json::ScanObjectMembers(read, bom, size, members, "entry", items); !s.ok()) {
    if (s.code() != ErrorCode::kParseError) return s;
    return refuse_invalid(s);
  }
  // The members other than the entries are small: each is parsed (checked) whole, and the
  // first of a name counts, as in a parse of the whole document (json::Node::Find).
  json::Parser parser;
  std::string text;
  int entry_members = 0;
  bool entry_is_array = false;
  std::optional<std::string> resource_type, bundle_type;
  std::optional<int64_t> meta_time, timestamp_time;  // when its DELETE requests deleted
  bool meta_read = false, timestamp_read = false;
  std::array<int, kBundleOnce.size()> given{};  // how often each name of kBundleOnce comes
  bool meta_repeats_time = false;
  for (const json::MemberExtent& m : members) {
    for (size_t k = 0; k < kBundleOnce.size(); ++k) given[k] += m.key == kBundleOnce[k] ? 1 : 0;
    const bool first_entry = m.key == "entry" && entry_members++ == 0;
    if (first_entry && !items.empty()) {
      entry_is_array = true;  // its items are read one at a time
      continue;
    }
    MEDLAKE_RETURN_IF_ERROR(json::ReadExtent(read, m.value, text));
    auto value = parser.Parse(text);
    if (!value.ok()) return refuse_invalid(value.status());
    if (first_entry) entry_is_array = value->IsArray();
    if (m.key == "meta" && !std::exchange(meta_read, true)) {
      meta_time = MetaTime(*value);
      meta_repeats_time = !RepeatedOf(*value, kMetaOnce).empty();
    }
    if (m.key == "timestamp" && !std::exchange(timestamp_read, true)) {
      timestamp_time = TimeOf(*value);
    }
    std::optional<std::string>* wanted = m.key == "resourceType" ? &resource_type
                                         : m.key == "type"       ? &bundle_type
                                                                 : nullptr;
    if (wanted != nullptr && !*wanted) *wanted = value->IsString() ? value->GetString() : "";
  }
  // A single resource, or a document (one resource, kept whole): read whole by the caller.
  if (resource_type != "Bundle" || bundle_type == "document") return false;
  // The checks of ReadBundle, in its order.
  if (entry_members > 0 && !entry_is_array) return refuse("Bundle.entry is not an array");
  // What the Bundle repeats, in RepeatedBundleMember's order.
  std::string repeated;
  for (size_t k = 0; k < kBundleOnce.size() && repeated.empty(); ++k) {
    if (given[k] > 1) repeated = kBundleOnce[k];
  }
  if (repeated.empty() && meta_repeats_time) repeated = "meta.lastUpdated";
  const StreamedEntries entries(read, items, keep_number_text_);
  if (!repeated.empty()) {
    // A parse of the whole document finds its JSON invalid, in an entry too, before it reads
    // what the Bundle repeats: the entries are read for that first (as the fuzz target found).
    const Status walked = entries.ForEachIn(
        0, items.size(), [](json::Node, std::string_view) { return true; }, false);
    if (!walked.ok()) {
      if (walked.code() != ErrorCode::kParseError) return walked;
      return refuse_invalid(walked);
    }
    return refuse("Bundle." + repeated + " appears twice: which one counts is unclear");
  }
  if (items.empty()) return true;  // no resources in it
  // A history Bundle's own time is when the history was read, not when a version was deleted.
  std::optional<int64_t> deleted_at;
  if (DeletesApplied(bundle_type.value_or(""))) {
    deleted_at = bundle_type == "history" ? kNoTime : DeletionTime(meta_time, timestamp_time);
  }
  Status s = ReadEntries(entries, bundle_type == "history", deleted_at, head, loc, sink, 0, nullptr,
                         kept_note, &progress);
  if (!s.ok()) return s;
  return true;
}

Result<bool> FhirReader::ReadJsonFileStreamed(const std::string& path, std::string_view source,
                                              FhirRecordSink& sink) {
  const int fd = OpenAnyLength(path, O_RDONLY);
  if (fd < 0) return IoError("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  Result<bool> read = false;
  if (::fstat(fd, &st) == 0) {
    read = ReadJsonStreamed(json::ReadAtFile(fd, path), static_cast<uint64_t>(st.st_size), source,
                            sink);
  } else {
    read = IoError("cannot read the size of " + path + ": " + std::strerror(errno));
  }
  ::close(fd);
  return read;
}

FhirReader::DeleteTarget FhirReader::PlanDelete(json::Node entry, int& type_index,
                                                std::string& id) {
  auto request = entry.Find("request");
  auto url = request ? request->Find("url") : std::nullopt;
  if (!url || !url->IsString()) return DeleteTarget::kNoUrl;
  std::string_view target = ResourceUrl(url->GetString());
  std::string_view type, named;
  if (target.find('?') != std::string_view::npos) {
    // A conditional delete (R4 http.html, "Conditional delete"), matched in the lake as a
    // conditional update is (the lake as the batch began), an absolute url alike.
    target = ConditionOfUrl(target);
    type = target.substr(0, target.find('?'));
    type_index = fhir::ResourceTypeIndex(type);
    // The lake keeps the identifiers of Patients and shared-area resources only; in a lake
    // with a key a Patient's are pseudonym links, whose match is a pseudonym.
    if (type_index >= 0 && type != "Patient" && !fhir::PatientCompartmentPaths(type).empty()) {
      return DeleteTarget::kCompartmentCondition;
    }
    if (!conditional_patient_writes_ && type == "Patient") return DeleteTarget::kKeyedPatient;
    ConditionMatch match = MatchIdentifier(target, nullptr);
    switch (match.kind) {
      case ConditionMatch::kNone:
        return DeleteTarget::kNoMatch;
      case ConditionMatch::kUnsupported:
        return DeleteTarget::kUnsupported;
      case ConditionMatch::kSeveral:
        return DeleteTarget::kSeveral;
      case ConditionMatch::kOne:
        id = std::move(match.id);
        return DeleteTarget::kResource;
    }
    return DeleteTarget::kUnsupported;
  }
  if (target.find("/_history/") != std::string_view::npos ||
      !fhir::SplitReference(target, type, named)) {
    return DeleteTarget::kNoResource;
  }
  type_index = fhir::ResourceTypeIndex(type);
  id.assign(named);
  return DeleteTarget::kResource;
}

void FhirReader::ReadDelete(json::Node entry, DeleteTarget target, int type_index,
                            std::string_view id, const RecordLocation& loc, FhirRecordSink& sink,
                            int64_t deleted_at) {
  const char* why = nullptr;
  switch (target) {
    case DeleteTarget::kNone:
    case DeleteTarget::kResource:
      break;
    case DeleteTarget::kNoMatch:  // after the time is checked, as for the others
      break;
    case DeleteTarget::kNoUrl:
      why = "bundle entry with a DELETE request without a url: what it deletes is unknown";
      break;
    case DeleteTarget::kNoResource:
      why =
          "bundle entry with a DELETE request whose url names no resource (Type/id, or "
          "Type?identifier=...; not a version): not applied";
      break;
    case DeleteTarget::kUnsupported:
      why =
          "conditional delete whose condition medlake does not evaluate (only "
          "identifier=[system|]value, alone, of one type, outside a compartment): not applied";
      break;
    case DeleteTarget::kSeveral:
      why =
          "conditional delete whose condition matches several resources in the lake (FHIR: 412 "
          "Precondition Failed): not applied";
      break;
    case DeleteTarget::kKeyedPatient:
      why =
          "conditional delete of a Patient in a lake with a key, where the match is a "
          "pseudonym: not applied; send DELETE Patient/<id>";
      break;
    case DeleteTarget::kCompartmentCondition:
      why =
          "conditional delete of a resource of the patient compartment: the lake keeps the "
          "identifiers of Patients and shared-area resources only; not applied";
      break;
  }
  // When: the entry's response.lastModified (a history Bundle's), else the Bundle's time.
  int64_t at = deleted_at;
  if (auto response = entry.Find("response"); !why && response && response->IsObject()) {
    if (std::optional<int64_t> modified = TimeOf(response->Find("lastModified"))) {
      at = *modified;
      if (at == kUnreadableTime) {
        why = "bundle entry whose response.lastModified is not a FHIR instant";
      }
    }
  }
  if (!why && at == kUnreadableTime) {
    why =
        "bundle entry with a DELETE request in a Bundle whose meta.lastUpdated or timestamp is "
        "not a FHIR instant: when it deleted is unknown";
  }
  if (why != nullptr) {
    sink.OnReject(entry.ToJson(), loc, why);
    return;
  }
  if (target == DeleteTarget::kNoMatch) {
    sink.OnExisting(loc);  // nothing matches: nothing to delete (R4: 200 OK)
    return;
  }
  sink.OnDelete(fhir::ResourceTypeName(type_index), id, at, loc, entry);
}

void FhirReader::ReadBundle(json::Node bundle, std::string_view record, const RecordLocation& base,
                            FhirRecordSink& sink, int depth, uint32_t* next_entry) {
  auto bundle_type = bundle.Find("type");
  if (bundle_type && bundle_type->GetString() == "document") {
    StoreDocument(bundle, record, base, sink);
    return;
  }
  auto entries = bundle.Find("entry");
  if (entries && !entries->IsArray()) {
    sink.OnReject(record, base, "Bundle.entry is not an array");
    return;
  }
  // One walk of the whole file for a name given twice: when none is (nearly always), the checks
  // of each entry and resource below answer at once (json::Node::RepeatedName). When one is,
  // they find it where it is.
  if (depth == 0) (void)bundle.RepeatedName();
  if (const std::string repeated = RepeatedBundleMember(bundle); !repeated.empty()) {
    sink.OnReject(record, base,
                  "Bundle." + repeated + " appears twice: which one counts is unclear");
    return;
  }
  if (!entries || entries->Size() == 0) return;  // no resources in it
  std::vector<std::string_view> slices;
  if (!json::MemberSlices(record, "entry", "resource", slices).ok() ||
      slices.size() != entries->Size()) {
    sink.OnReject(record, base, "bundle entries could not be read");
    return;
  }
  const bool history = bundle_type && bundle_type->GetString() == "history";
  const bool deletes =
      bundle_type && bundle_type->IsString() && DeletesApplied(bundle_type->GetString());
  // A history Bundle's own time is when the history was read, not when a version was deleted.
  std::optional<int64_t> deleted_at;
  if (deletes) {
    const std::optional<json::Node> meta = bundle.Find("meta");
    deleted_at = history ? kNoTime
                         : DeletionTime(meta ? MetaTime(*meta) : std::nullopt,
                                        TimeOf(bundle.Find("timestamp")));
  }
  // A parsed Bundle was read whole: walking its entries fails in no way.
  (void)ReadEntries(ParsedEntries(*entries, slices), history, deleted_at, record, base, sink, depth,
                    next_entry, "");
}

Status FhirReader::ReadEntries(const Entries& entries, bool history,
                               std::optional<int64_t> deleted_at, std::string_view record,
                               const RecordLocation& base, FhirRecordSink& sink, int depth,
                               uint32_t* next_entry, std::string_view kept_note,
                               PassProgress* streamed) {
  uint32_t entries_seen = 0;
  if (next_entry == nullptr) next_entry = &entries_seen;
  // Per entry: what a conditional create or update decided (R4 http.html, "Conditional
  // create" and "Conditional update"), against the lake as the batch began.
  enum class Conditional : uint8_t {
    kNone,
    kExists,
    kOtherId,
    kKeyedPatient,
    kUnsupported,
    kSeveral,
    kPutOtherResource
  };
  // Why an entry whose request is refused is quarantined; null for the others.
  auto refused_request = [](Conditional c) -> const char* {
    switch (c) {
      case Conditional::kKeyedPatient:
        return "conditional create or update (without an id) of a Patient the lake holds: not "
               "applied in a lake with a key, where the match is a pseudonym; send the Patient "
               "with its id";
      case Conditional::kUnsupported:
        return "conditional create or update whose condition medlake does not evaluate (only "
               "identifier=[system|]value, alone, of the entry's type): not applied";
      case Conditional::kSeveral:
        return "conditional create or update whose condition matches several resources in the "
               "lake (FHIR: 412 Precondition Failed): not applied";
      case Conditional::kPutOtherResource:
        return "PUT request whose url names another resource than the entry's (its type or id; "
               "FHIR: 400 Bad Request): not applied";
      case Conditional::kOtherId:
        return "conditional update: its condition matches a resource with another id than the "
               "entry's";
      case Conditional::kNone:
      case Conditional::kExists:
        return nullptr;
    }
    return nullptr;
  };
  // The ranges of entries read by one task each (one when they are read in order): up to 32 a
  // thread, so that the last ones to finish leave no core idle for long (with four a thread,
  // a 715 MB Bundle ended on one core for about 0.4 s of its 4 s).
  const size_t entry_count = entries.size();
  const bool parallel = streamed != nullptr && ranges_ != nullptr && depth == 0 &&
                        entry_count >= parallel_min_entries_;
  const size_t ranges =
      parallel
          ? std::clamp<size_t>(entry_count / (parallel_min_entries_ / 2), 1,
                               32 * static_cast<size_t>(tbb::this_task_arena::max_concurrency()))
          : 1;
  auto range_begin = [&](size_t range) { return range * entry_count / ranges; };
  // Runs task(range) for every range: in parallel tasks (isolated: a thread waiting for them
  // takes up no other work of the pipeline, whose worker state is its caller's) or in order.
  auto for_each_range = [&](const std::function<void(size_t)>& task) {
    if (ranges == 1) return task(0);
    tbb::this_task_arena::isolate(
        [&] { tbb::parallel_for(size_t{0}, ranges, [&](size_t range) { task(range); }); });
  };
  // What planning a range of entries makes, besides its entries' plans: the fullUrls they name
  // (a later one wins), in entry order, hashed.
  struct Planned {
    StringArena strings;                                      // the entries' ids
    std::vector<std::pair<HashIndex::Hash, uint32_t>> names;  // fullUrl, entry
    std::string repeated;  // what the first entry to repeat a member repeats (RepeatedEntryMember)
    bool holds_bundle = false;  // an entry's resource is a Bundle
    Status walked;
  };
  std::vector<Planned> plans(ranges);  // never resized: the views of their strings stay valid
  // Per entry (with full_urls.ids and .types): what its request decided, whether its resource
  // is given its id (it has none, or a conditional request matched one in the lake) and
  // whether it is stored under it.
  struct EntryPlan {
    Conditional conditional = Conditional::kNone;
    bool given = false;
    bool stored = false;
    // In waves: its resource is a Patient or of a type of the patient compartment (waves of
    // entries without one are larger, EntryRanges::Waves).
    bool patient_data = false;
    // A DELETE request (of a Bundle that applies them): what its url names; with kResource,
    // the type in full_urls.types and the id in full_urls.ids.
    DeleteTarget deletion = DeleteTarget::kNone;
  };
  std::vector<EntryPlan> entry_plans(entry_count);
  // Per entry, whether its resource is a Patient: where ranges that hold their records begin.
  std::vector<uint8_t> patient_entry(parallel && ranges_->holds() ? entry_count : 0);
  // Whether the ranges are stored in waves, with commits between them (EntryRanges::Waves).
  const bool in_waves = parallel && ranges_->waves().bytes > 0;
  // In waves, per entry, a hash of the type and id its resource is stored as (0: not stored):
  // the versions of one resource are then stored in one wave (below).
  std::vector<uint64_t> identities(in_waves ? entry_count : 0);
  // fullUrl -> entry (a later fullUrl wins), of the entries whose resource is stored under
  // its id, or that a conditional create finds in the lake.
  FullUrls full_urls;
  full_urls.entries.Reserve(entry_count);
  full_urls.types.resize(entry_count);
  full_urls.ids.resize(entry_count);
  auto given_id = [&](size_t at) {
    return entry_plans[at].given ? full_urls.ids[at] : std::string_view();
  };
  auto stored_id = [&](size_t at) {
    return entry_plans[at].stored ? full_urls.ids[at] : std::string_view();
  };
  // Entry `at` is named by `full_url`, its resource of type `type` (a FHIR type).
  auto name = [&](Planned& p, size_t at, std::string_view full_url, std::string_view type) {
    const int type_index = fhir::ResourceTypeIndex(type);  // below 255 (json::FieldSet)
    if (type_index < 0) return;                            // no resource the lake holds or stores
    std::string lower;
    p.names.emplace_back(HashIndex::HashOf(LowerLocalUrn(full_url, lower)),
                         static_cast<uint32_t>(at));
    full_urls.types[at] = static_cast<uint8_t>(type_index);
  };
  // What entry `at` is stored under and what its request decided: `implied` an id the resource
  // is given, `stored` the id it is stored under ("" when it is not stored; the same as
  // `implied` when both are given), a view valid while the entry is; and the rest in `e`.
  auto plan = [&](Planned& p, size_t at, json::Node entry, std::string& implied,
                  std::string_view& stored, EntryPlan& e) {
    Conditional& cond = e.conditional;
    auto res = entry.Find("resource");
    const std::string_view method = RequestMethod(entry);
    if (method == "DELETE" && deleted_at) {
      // What it deletes, decided with the other entries' conditions: the lake as the batch
      // began, before any wave of the Bundle commits. Its id is kept as an implied one is, and
      // hashed as a stored entry's, so that it meets the resource's versions in one wave.
      int type_index = -1;
      std::string id;
      e.deletion = PlanDelete(entry, type_index, id);
      if (e.deletion != DeleteTarget::kResource) return;
      full_urls.types[at] = static_cast<uint8_t>(type_index);
      full_urls.ids[at] = p.strings.Copy(id);
      const std::string_view type = fhir::ResourceTypeName(type_index);
      e.patient_data = type == "Patient" || !fhir::PatientCompartmentPaths(type).empty();
      if (!identities.empty()) {
        identities[at] = std::max<uint64_t>(
            XXH3_64bits_withSeed(id.data(), id.size(), static_cast<XXH64_hash_t>(type_index)), 1);
      }
      return;
    }
    if (!res || NotApplied(method, history) || IsSearchOutcome(entry)) return;
    auto full = entry.Find("fullUrl");
    std::string_view full_url = full ? full->GetString() : std::string_view();
    auto rt = res->Find("resourceType");
    if (in_waves && rt && rt->IsString()) {
      e.patient_data =
          rt->GetString() == "Patient" || !fhir::PatientCompartmentPaths(rt->GetString()).empty();
    }
    // An entry this far is one the storing reads as a Bundle when its type says so (the others
    // are refused before).
    p.holds_bundle = p.holds_bundle || (rt && rt->IsString() && rt->GetString() == "Bundle");
    auto rid = res->Find("id");
    // A conditional create whose condition matches one resource in the lake is not stored:
    // references to its fullUrl name that resource. A conditional update stores the entry as
    // a new version of the resource its condition matches.
    std::optional<ConditionMatch> condition = MatchCondition(entry, method, rt);
    if (condition && condition->kind == ConditionMatch::kUnsupported) {
      cond = Conditional::kUnsupported;
      return;
    }
    if (condition && condition->kind == ConditionMatch::kSeveral) {
      cond = Conditional::kSeveral;
      return;
    }
    std::string match = condition ? std::move(condition->id) : std::string();
    if (!match.empty() && !conditional_patient_writes_ && rt->GetString() == "Patient") {
      // A keyed lake: the match is a pseudonym, under which the entry can be neither stored
      // nor referred to. A PUT with the Patient's own id is a plain update; the rest is
      // refused (stored as a create, it replaced the matched Patient through its identifier
      // links).
      if (method == "POST" || !rid) {
        cond = Conditional::kKeyedPatient;
        return;
      }
      match.clear();
    }
    if (!match.empty()) {
      if (method == "POST") {
        cond = Conditional::kExists;
        implied = std::move(match);
        if (!full_url.empty()) name(p, at, full_url, rt->GetString());
        return;
      }
      if (rid && !(rid->IsString() && rid->GetString() == match)) {
        cond = Conditional::kOtherId;  // R4: 400, the body names another resource
        return;
      }
      if (!rid) implied = std::move(match);
    }
    if (method == "PUT" && (!rid || rid->IsString()) && rt && rt->IsString()) {
      // R4 http.html (update): the id in the URL SHALL match the resource's, else 400; a
      // resource without one is stored under the URL's id, when the URL names its type.
      auto req = entry.Find("request");
      auto url = req ? req->Find("url") : std::nullopt;
      std::string_view t, i;
      if (url && url->IsString() &&
          ResourceUrl(url->GetString()).find('?') == std::string_view::npos &&
          fhir::SplitReference(ResourceUrl(url->GetString()), t, i) &&
          (t != rt->GetString() || (rid && i != rid->GetString()))) {
        cond = Conditional::kPutOtherResource;
        return;
      }
    }
    std::string_view id;
    if (!implied.empty()) {
      id = implied;
    } else if (rid == std::nullopt) {
      // The id a PUT's url gives (R4 http.html); else a document's identifier; else the one a
      // Bundle-local name implies: a UUID (in lower case, RFC 4122's form), or an OID (both
      // valid FHIR ids).
      if (auto req = entry.Find("request")) {
        auto method = req->Find("method");
        auto url = req->Find("url");
        std::string_view t, i;
        if (method && method->GetString() == "PUT" && url &&
            fhir::SplitReference(ResourceUrl(url->GetString()), t, i) && rt &&
            t == rt->GetString()) {
          id = i;
        }
      }
      std::string document_id;
      if (id.empty() && IsDocument(*res)) {
        document_id = DocumentId(*res);  // its identifier names it, wherever it is read
        id = document_id;
      }
      std::string lowered;
      const std::string_view local = LowerLocalUrn(full_url, lowered);
      // Views of `lowered` or of the Bundle, copied below.
      if (id.empty() && local.starts_with("urn:uuid:")) id = local.substr(9);
      if (id.empty() && local.starts_with("urn:oid:")) id = local.substr(8);
      implied = id;
      id = implied;
    } else if (rid->IsString()) {
      id = rid->GetString();
    }
    // A fullUrl or identifier names the entry's resource only when that resource is stored
    // under that id: a reference rewritten to one that is quarantined, or to a Bundle that is
    // unpacked, would name nothing.
    if (!StoredAs(*res, rt, id)) return;
    stored = id;
    if (!identities.empty()) {  // the id hashed with its type as the seed: no string made
      const auto type = static_cast<XXH64_hash_t>(fhir::ResourceTypeIndex(rt->GetString()));
      identities[at] = std::max<uint64_t>(XXH3_64bits_withSeed(id.data(), id.size(), type), 1);
    }
    // A RESTful fullUrl names its type and id (R4: "fullUrl SHALL NOT disagree with the id in
    // the resource"): one that names another resource would retarget references to it.
    std::string_view url_type, url_id;
    if (!full_url.empty() && !full_url.starts_with("urn:") &&
        fhir::SplitReference(full_url, url_type, url_id) &&
        (url_type != rt->GetString() || url_id != id)) {
      full_url = {};
    }
    if (!full_url.empty()) name(p, at, full_url, rt->GetString());
  };
  if (streamed != nullptr) streamed->Begin(PassProgress::kPlan);
  for_each_range([&](size_t range) {
    Planned& p = plans[range];
    size_t index = range_begin(range);
    const EntryFn plan_entry = [&](json::Node entry, std::string_view) {
      const size_t at = index++;
      // A member twice: readers keep one or the other, so the record of the one not read would
      // be neither stored nor counted. The walk goes on: an entry after it that is not valid
      // JSON (only a streamed Bundle's) makes the reason "invalid JSON", as a parse of the
      // whole says.
      if (p.repeated.empty()) p.repeated = RepeatedEntryMember(entry);
      if (!p.repeated.empty()) return true;
      if (!patient_entry.empty()) {
        auto res = entry.Find("resource");
        auto rt = res ? res->Find("resourceType") : std::nullopt;
        patient_entry[at] = rt && rt->IsString() && rt->GetString() == "Patient";
      }
      std::string implied;
      std::string_view stored;
      EntryPlan& e = entry_plans[at];
      plan(p, at, entry, implied, stored, e);
      e.given = !implied.empty();
      e.stored = !stored.empty();
      if (e.given || e.stored) full_urls.ids[at] = p.strings.Copy(e.stored ? stored : implied);
      return true;
    };
    p.walked = entries.ForEachIn(range_begin(range), range_begin(range + 1), plan_entry, false);
  });
  std::string repeated;
  bool holds_bundle = false;
  for (Planned& p : plans) {
    if (!p.walked.ok()) {
      if (p.walked.code() != ErrorCode::kParseError) return p.walked;
      sink.OnReject(record, base,
                    WhyNotJson(record, p.walked.message(), true) + std::string(kept_note));
      return Status::Ok();
    }
    if (repeated.empty()) repeated = std::move(p.repeated);
    holds_bundle = holds_bundle || p.holds_bundle;
    full_urls.entries.SetAll(p.names);
    std::vector<std::pair<HashIndex::Hash, uint32_t>>().swap(p.names);  // not needed again
  }
  if (!repeated.empty()) {
    sink.OnReject(record, base,
                  "a Bundle entry has \"" + repeated + "\" twice: which one counts is unclear" +
                      std::string(kept_note));
    return Status::Ok();
  }
  std::optional<BundleIdentifiers> identifiers;  // made at the first conditional reference
  std::once_flag identifiers_made;
  Status walk_error;  // of a walk of the entries that the resolver began
  // The resolver of the Bundle's references, the lake looked up through `lookup` (null:
  // lookup_).
  auto resolver_with = [&](const IdentifierLookup* lookup) -> fhir::ReferenceResolver {
    return [&, lookup](std::string_view ref, std::string& scratch) -> std::string_view {
      if (auto local = LookupFullUrl(full_urls, ref, scratch)) return *local;
      if (ref.find('?') == std::string_view::npos) return ref;
      std::call_once(identifiers_made, [&] {
        identifiers.emplace();
        walk_error = IndexIdentifiers(entries, stored_id, *identifiers);
      });
      scratch = ResolveConditional(ref, &*identifiers, lookup);
      return scratch;
    };
  };
  const fhir::ReferenceResolver resolver = resolver_with(nullptr);
  const std::string prefix = base.location.empty() ? "Bundle" : base.location;
  // A history Bundle lists a resource's versions newest first (R4 Bundle: "sorted with oldest
  // versions last"): its entries take their places in the input order the other way round, so
  // that between versions that lastUpdated does not tell apart the newest still wins. Entries
  // stored in parallel hold no Bundle: each takes one place.
  const bool newest_first = history;
  const bool parallel_store = parallel && !holds_bundle;
  const uint32_t first_entry = *next_entry;
  const auto entry_places = static_cast<uint32_t>(entry_count);
  if (newest_first || parallel_store) *next_entry += entry_places;
  // Stores entry `index` into `to`, its references rewritten with `rewriting` and `resolver`;
  // `loc` keeps the capacity of its location string from entry to entry.
  auto store_entry = [&](json::Node entry, std::string_view slice, size_t index, FhirRecordSink& to,
                         const fhir::ReferenceResolver& resolver, Rewriting& rewriting,
                         RecordLocation& loc) {
    const auto place = static_cast<uint32_t>(index);
    loc.entry = newest_first     ? first_entry + (entry_places - 1 - place)
                : parallel_store ? first_entry + place
                                 : (*next_entry)++;
    loc.location.assign(prefix).append(".entry[").append(std::to_string(index)).push_back(']');
    const std::string_view implied = given_id(index);
    const Conditional cond = entry_plans[index].conditional;
    if (cond == Conditional::kExists) {
      to.OnExisting(loc);  // read, not stored: the lake holds the resource it would create
      return true;
    }
    if (const char* why = refused_request(cond)) {
      to.OnReject(slice, loc, why);
      return true;
    }
    auto res = entry.Find("resource");
    const std::string_view method = RequestMethod(entry);
    if (const EntryPlan& e = entry_plans[index]; e.deletion != DeleteTarget::kNone) {
      ReadDelete(entry, e.deletion, full_urls.types[index], full_urls.ids[index], loc, to,
                 *deleted_at);
      return true;
    }
    if (!res || slice.empty() || NotApplied(method, history)) {
      to.OnReject(
          !res || slice.empty() ? entry.ToJson() : std::string(slice), loc,
          method == "DELETE"
              ? "bundle entry with a DELETE request in a Bundle of another type than "
                "transaction, batch or history: not applied"
          : method == "PATCH"
              ? "bundle entry with a PATCH request: patches are not applied (its resource is "
                "the patch, not the patched resource)"
          : UnknownMethod(method)
              ? "bundle entry whose request.method is none of R4's (POST, PUT, GET, HEAD, "
                "DELETE, PATCH, in capitals): not applied"
          : entry.Find("response")
              ? "bundle entry without a resource: a response (of a transaction or batch), "
                "nothing to store"
          : method == "GET" || method == "HEAD"
              ? "bundle entry without a resource: a read or search request, nothing to store"
              : "bundle entry without a resource");
      return true;
    }
    if (IsSearchOutcome(entry)) {
      to.OnReject(slice, loc,
                  "searchset entry whose search.mode is outcome: an OperationOutcome about "
                  "the search, not data");
      return true;
    }
    loc.location += ".resource";
    // A document is a resource of its own, kept whole, as at the top level: its references
    // name its own entries, which the outer Bundle's fullUrls must not rewrite (a review saw a
    // document's subject become another patient of the transaction that carried it).
    bool document = false;
    if (auto rt = res->Find("resourceType"); rt && rt->IsString() && rt->GetString() == "Bundle") {
      auto type = res->Find("type");
      document = type && type->IsString() && type->GetString() == "document";
      if (!document && depth + 1 > kMaxBundleDepth) {
        to.OnReject(slice, loc, "Bundle nested more than 4 deep");
        return true;
      }
      if (!document) {
        ReadBundle(*res, slice, loc, to, depth + 1, next_entry);  // never in parallel
        return true;
      }
    }
    static const fhir::ReferenceResolver as_written = fhir::ReferenceAsWritten;
    const fhir::ReferenceResolver& resolves = document ? as_written : resolver;
    if (!implied.empty() && res->IsObject()) {
      // Give the resource the id its fullUrl or request implies, and re-parse so that the facts
      // see it. (What is no object is refused as such below.)
      std::string text = WithId(slice, implied);
      std::string copy;
      if (document) {
        copy = text;
      } else {
        RewriteReferences(text, &full_urls, resolver, rewriting);
        copy = rewriting.out;
      }
      json::Parser local;
      auto node = local.Parse(copy);
      if (!node.ok()) {
        to.OnReject(text, loc, node.status().message());
        return true;
      }
      to.OnResource(*node, copy, resolves, loc, ParsedText::kOther);
      return true;
    }
    if (document) {
      StoreDocument(*res, slice, loc, to);
      return true;
    }
    RewriteReferences(slice, &full_urls, resolver, rewriting);
    to.OnResource(*res, rewriting.out, resolver, loc, ParsedText::kUnresolved);
    return true;
  };
  if (streamed != nullptr) streamed->Begin(PassProgress::kStore);
  if (!parallel_store) {
    size_t index = 0;
    RecordLocation loc = base;
    Status read = entries.ForEach(
        [&](json::Node entry, std::string_view slice) {
          return store_entry(entry, slice, index++, sink, resolver, rewriting_, loc);
        },
        true);
    // The entries were read whole before (a streamed Bundle's file changed, or could no longer
    // be read): the run fails, as for any I/O error.
    return read.ok() ? walk_error : read;
  }
  // The ranges stored: those planned, or, when they hold their records, as many as keep each
  // to about kHeldRangeEntries, each begun at the first Patient entry of its span (its range
  // before is then at most twice as long). Range r is [bounds[r], bounds[r + 1]).
  // In waves, about 32 ranges a wave, so that each keeps the cores busy, and as many whatever
  // the threads: the ranges, hence the waves and what is committed between them, fall at the
  // same entries.
  const EntryRanges::Waves waves = ranges_->waves();
  size_t count = ranges;
  if (waves.bytes > 0) {
    count = std::clamp<size_t>(
        entries.EndOf(entry_count - 1) / std::max<uint64_t>(waves.bytes / 32, 1), 1, entry_count);
  }
  if (!patient_entry.empty()) {
    count = std::max(count, (entry_count + kHeldRangeEntries - 1) / kHeldRangeEntries);
  }
  std::vector<size_t> bounds(count + 1);
  for (size_t r = 0; r <= count; ++r) bounds[r] = r * entry_count / count;
  if (!patient_entry.empty()) {
    for (size_t r = 1; r < count; ++r) {
      for (size_t i = bounds[r]; i < bounds[r + 1]; ++i) {
        if (patient_entry[i] != 0) {
          bounds[r] = i;
          break;
        }
      }
    }
  }
  // In waves, per range, whether an entry of it holds patient data: a wave of ranges without
  // may take waves.shared_bytes of the file.
  std::vector<uint8_t> range_patient_data(in_waves ? count : 0);
  for (size_t r = 0; r < range_patient_data.size(); ++r) {
    range_patient_data[r] = std::any_of(entry_plans.begin() + static_cast<ptrdiff_t>(bounds[r]),
                                        entry_plans.begin() + static_cast<ptrdiff_t>(bounds[r + 1]),
                                        [](const EntryPlan& e) { return e.patient_data; });
  }
  // A resource given more than once (versions in one Bundle), in ranges that different waves
  // store, a commit between them: every version but the last is stored by the range of the
  // last, after its own entries, so that they meet in one batch, as in a Bundle read at once.
  // Else, when the lake holds the last version (the Bundle ingested again), an earlier one
  // without meta.lastUpdated would replace it at one commit and be replaced back at a later
  // one (docs/format.md). A hash that two resources share moves an entry for nothing: it is
  // still stored, in a later batch. In a lake with a key, only a version that neither makes
  // nor reads a pseudonym link moves, as those must be made in the order of the entries: a
  // resource outside the patient compartment whose text names no Patient and whose references
  // all resolve to Type/id of a type outside the compartment (an Organization, its partOf).
  std::vector<std::vector<uint32_t>> moved_in(count);  // per range: entries it stores besides
  std::vector<uint8_t> moved_out(identities.empty() ? 0 : entry_count);  // per entry
  if (!identities.empty()) {
    std::vector<std::pair<uint64_t, uint32_t>> versions;  // (identity, entry), stored entries
    for (size_t i = 0; i < entry_count; ++i) {
      if (identities[i] != 0) versions.emplace_back(identities[i], static_cast<uint32_t>(i));
    }
    std::vector<uint64_t>().swap(identities);
    std::sort(versions.begin(), versions.end());
    auto range_of = [&](size_t entry) {
      return static_cast<size_t>(std::upper_bound(bounds.begin(), bounds.end(), entry) -
                                 bounds.begin() - 1);
    };
    auto may_move = [&](uint32_t at) {
      if (!ranges_->holds()) return true;
      if (entry_plans[at].patient_data) return false;
      bool safe = false;
      std::string scratch;
      const Status read = entries.ForEachIn(
          at, at + 1,
          [&](json::Node, std::string_view text) {
            if (text.find("Patient") != std::string_view::npos) return true;
            safe = true;
            size_t pos = 0;
            while (const char* found = FindRefKey(text, pos)) {
              const size_t start = static_cast<size_t>(found - text.data()) + kRefKey.size();
              bool escaped;
              pos = StringEnd(text, start, escaped);
              const std::string_view ref = text.substr(start, pos - start);
              const std::optional<std::string_view> local = LookupFullUrl(full_urls, ref, scratch);
              std::string_view type, id;
              if (escaped || ref.find('?') != std::string_view::npos ||
                  !fhir::SplitReference(local ? *local : ref, type, id) || type == "Patient" ||
                  !fhir::PatientCompartmentPaths(type).empty()) {
                safe = false;
                break;
              }
            }
            return true;
          },
          true);
      return read.ok() && safe;
    };
    for (size_t first = 0; first < versions.size();) {
      size_t end = first + 1;
      while (end < versions.size() && versions[end].first == versions[first].first) ++end;
      const size_t last_range = range_of(versions[end - 1].second);
      for (size_t v = first; v + 1 < end; ++v) {
        if (range_of(versions[v].second) == last_range || !may_move(versions[v].second)) continue;
        moved_in[last_range].push_back(versions[v].second);
        moved_out[versions[v].second] = 1;
      }
      first = end;
    }
    for (std::vector<uint32_t>& in : moved_in) std::sort(in.begin(), in.end());
  }
  // Each range with buffers of its own, into the sink EntryRanges::Open gives.
  struct Stored {
    Status read;
    uint64_t unresolved = 0;
  };
  std::vector<Stored> stored(count);
  ranges_->Begin(count);
  auto read_range = [&](size_t range, bool again) {
    FhirRecordSink& to = ranges_->Open(range, again);
    const fhir::ReferenceResolver range_resolver = resolver_with(ranges_->LookupOf(range));
    Rewriting rewriting;
    RecordLocation loc = base;
    size_t index = bounds[range];
    stored[range].read = entries.ForEachIn(
        bounds[range], bounds[range + 1],
        [&](json::Node entry, std::string_view slice) {
          const size_t at = index++;
          if (!moved_out.empty() && moved_out[at] != 0) return true;  // stored by a later range
          return store_entry(entry, slice, at, to, range_resolver, rewriting, loc);
        },
        true);
    for (const uint32_t at : moved_in[range]) {
      if (!stored[range].read.ok()) break;
      stored[range].read = entries.ForEachIn(
          at, at + 1,
          [&](json::Node entry, std::string_view slice) {
            return store_entry(entry, slice, at, to, range_resolver, rewriting, loc);
          },
          true);
    }
    stored[range].unresolved = rewriting.unresolved;  // of its last reading
    ranges_->Close(range);
  };
  // Read in parallel, published in order (read again as Publish asks), finished in parallel;
  // isolated, as the plan. In waves, one such pipeline a wave.
  size_t next_range = 0;
  size_t wave_end = count;
  const auto next = tbb::make_filter<void, size_t>(tbb::filter_mode::serial_in_order,
                                                   [&](tbb::flow_control& fc) -> size_t {
                                                     if (next_range < wave_end) return next_range++;
                                                     fc.stop();
                                                     return 0;
                                                   });
  const auto read = tbb::make_filter<size_t, size_t>(tbb::filter_mode::parallel, [&](size_t r) {
    read_range(r, false);
    return r;
  });
  const auto publish =
      tbb::make_filter<size_t, size_t>(tbb::filter_mode::serial_in_order, [&](size_t r) {
        while (stored[r].read.ok() && !ranges_->Publish(r)) read_range(r, true);
        return r;
      });
  const auto finish = tbb::make_filter<size_t, void>(tbb::filter_mode::parallel, [&](size_t r) {
    if (stored[r].read.ok()) ranges_->Finish(r);
  });
  const auto in_flight = 4 * static_cast<size_t>(tbb::this_task_arena::max_concurrency());
  auto begin_of = [&](size_t range) { return range == 0 ? 0 : entries.EndOf(bounds[range] - 1); };
  while (next_range < count) {
    wave_end = count;
    if (waves.bytes > 0) {
      // The ranges that fit from next_range on (one at least): waves.bytes of the file, or
      // waves.shared_bytes while no range of the wave holds patient data.
      wave_end = next_range + 1;
      bool shared = range_patient_data[next_range] == 0;
      while (wave_end < count) {
        const bool still_shared = shared && range_patient_data[wave_end] == 0;
        const uint64_t limit =
            still_shared ? std::max(waves.shared_bytes, waves.bytes) : waves.bytes;
        if (entries.EndOf(bounds[wave_end + 1] - 1) - begin_of(next_range) > limit ||
            bounds[wave_end + 1] - bounds[next_range] > waves.entries) {
          break;
        }
        shared = still_shared;
        ++wave_end;
      }
    }
    tbb::this_task_arena::isolate(
        [&] { tbb::parallel_pipeline(in_flight, next & read & publish & finish); });
    if (next_range == count) break;
    const bool failed = std::any_of(stored.begin(), stored.begin() + next_range,
                                    [](const Stored& range) { return !range.read.ok(); });
    if (failed) break;  // its error is returned below
    if (Status paused = ranges_->Pause(); !paused.ok()) return paused;
  }
  for (const Stored& range : stored) {
    unresolved_ += range.unresolved;
    if (!range.read.ok()) return range.read;
  }
  return walk_error;
}

}  // namespace medlake::ingest
