// Tree navigation, utility and FHIR-specific functions (extension, resolve, keys).
#include <algorithm>
#include <cctype>

#include "common/fhir_time.h"
#include "fhir/resource_facts.h"
#include "fhirpath/function_util.h"

namespace medlake::fhirpath {
namespace {

MEDLAKE_FP_FN(Children) {
  Collection out;
  for (const Item& item : in) ev.AllChildren(item, out);
  return out;
}

MEDLAKE_FP_FN(Descendants) {
  Collection out;
  Collection frontier = in;
  while (!frontier.empty()) {
    Collection next;
    for (const Item& item : frontier) ev.AllChildren(item, next);
    out.insert(out.end(), next.begin(), next.end());
    frontier = std::move(next);
  }
  return out;
}

DateTimeValue NowValue(const Evaluator& ev) {
  DateTimeValue v;
  int64_t ms = ev.NowMs();
  ValueKind kind;
  auto parsed = ParseTemporal(FormatUtc(ms).substr(0, 23) + "Z", kind);
  if (parsed) v = *parsed;
  return v;
}

MEDLAKE_FP_FN(Now) {
  return One(Item::Temporal(ValueKind::kDateTime, NowValue(ev)));
}

MEDLAKE_FP_FN(Today) {
  DateTimeValue v = NowValue(ev);
  v.precision = Precision::kDay;
  v.has_tz = false;
  return One(Item::Temporal(ValueKind::kDate, v));
}

MEDLAKE_FP_FN(TimeOfDay) {
  DateTimeValue v = NowValue(ev);
  v.has_tz = false;
  return One(Item::Temporal(ValueKind::kTime, v));
}

MEDLAKE_FP_FN(Extension) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> url, StringArg(ev, call, 0, scope));
  if (!url) return Collection{};
  Collection out;
  for (const Item& item : in) {
    Collection exts;
    ev.Member(item, "extension", exts);
    for (Item& e : exts) {
      if (auto u = e.node.Find("url"); u && u->GetString() == *url) out.push_back(std::move(e));
    }
  }
  return out;
}

MEDLAKE_FP_FN(HasValue) {
  if (in.size() != 1) return Bool(false);
  const Item& item = in[0];
  return Bool(item.type != nullptr && item.type->kind == TypeKind::kPrimitive &&
              item.kind != ValueKind::kNode);
}

MEDLAKE_FP_FN(GetValue) {
  if (in.size() != 1 || in[0].kind == ValueKind::kNode) return Collection{};
  Item r = in[0];
  r.type = nullptr;
  r.has_ext = false;
  return One(r);
}

// "Patient/123" (or a full URL ending so) -> {"Patient", "123"}.
std::pair<std::string, std::string> SplitReference(std::string_view ref) {
  size_t hist = ref.find("/_history/");
  if (hist != std::string_view::npos) ref = ref.substr(0, hist);
  size_t slash = ref.rfind('/');
  if (slash == std::string_view::npos) return {"", std::string(ref)};
  std::string_view id = ref.substr(slash + 1);
  std::string_view rest = ref.substr(0, slash);
  size_t prev = rest.rfind('/');
  std::string_view type = prev == std::string_view::npos ? rest : rest.substr(prev + 1);
  return {std::string(type), std::string(id)};
}

std::optional<std::string> ReferenceText(const Item& item) {
  if (item.kind == ValueKind::kString) return std::string(item.Text());
  if (item.kind == ValueKind::kNode) {
    if (auto r = item.node.Find("reference")) return std::string(r->GetString());
  }
  return std::nullopt;
}

// The resource of the evaluation's Bundle that `ref` names: the entry whose fullUrl it is, else
// the entry of that type and id.
std::optional<json::Node> BundleEntry(const Evaluator& ev, const std::string& ref,
                                      const std::string& type, const std::string& id) {
  if (!ev.env().bundle) return std::nullopt;
  auto entries = ev.env().bundle->Find("entry");
  if (!entries) return std::nullopt;
  std::optional<json::Node> found;
  entries->ForEachItem([&](json::Node entry) {
    auto resource = entry.Find("resource");
    if (!resource) return true;
    bool match = false;
    if (auto full = entry.Find("fullUrl"); full && full->GetString() == ref) match = true;
    if (!match) {
      auto rt = resource->Find("resourceType");
      auto rid = resource->Find("id");
      match = rt && rid && rt->GetString() == type && rid->GetString() == id;
    }
    if (match) found = *resource;
    return !match;
  });
  return found;
}

MEDLAKE_FP_FN(Resolve) {
  Collection out;
  for (const Item& item : in) {
    auto ref = ReferenceText(item);
    if (!ref || ref->empty()) continue;
    if ((*ref)[0] == '#') {
      for (const Item& res : ev.resource()) {
        if (auto contained = res.node.Find("contained")) {
          contained->ForEachItem([&](json::Node c) {
            if (auto id = c.Find("id"); id && id->GetString() == ref->substr(1)) {
              out.push_back(ev.MakeItem(c, nullptr, std::nullopt));
            }
            return true;
          });
        }
      }
      continue;
    }
    const auto [type, id] = SplitReference(*ref);
    if (auto entry = BundleEntry(ev, *ref, type, id)) {
      out.push_back(ev.MakeItem(*entry, nullptr, std::nullopt));
    } else if (ev.env().resolver && !type.empty() && !id.empty()) {
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<json::Node> found, ev.env().resolver(type, id));
      if (found) out.push_back(ev.MakeItem(*found, nullptr, std::nullopt));
    }
  }
  return out;
}

MEDLAKE_FP_FN(GetResourceKey) {
  Collection out;
  for (const Item& item : in) {
    if (item.kind != ValueKind::kNode) continue;
    if (auto id = item.node.Find("id")) out.push_back(Item::String(std::string(id->GetString())));
  }
  return out;
}

// Whether `type`/`id` can name a resource: an R4 resource type and a FHIR id.
bool IsResourceKeyPart(const Evaluator& ev, const std::string& type, const std::string& id) {
  const TypeInfo* t = ev.model().Find(type);
  return t != nullptr && t->kind == TypeKind::kResource && fhir::IsValidId(id);
}

MEDLAKE_FP_FN(GetReferenceKey) {
  Collection out;
  for (const Item& item : in) {
    auto ref = ReferenceText(item);
    if (!ref || ref->empty() || (*ref)[0] == '#') continue;
    auto [type, id] = SplitReference(*ref);
    if (type.empty()) {
      // A fullUrl of the Bundle being read (urn:uuid:...): the key of the entry it names, as
      // ingest rewrites such a reference to Type/id.
      if (auto entry = BundleEntry(ev, *ref, type, id)) {
        if (auto rt = entry->Find("resourceType")) type = std::string(rt->GetString());
        if (auto rid = entry->Find("id")) {
          id = std::string(rid->GetString());
        } else if (ref->starts_with("urn:uuid:")) {
          id = ref->substr(9);
        }
      }
    }
    // SQL-on-FHIR v2, getReferenceKey(): the key of the resource the reference names, empty
    // when it names none it can tell: a urn:uuid that no Bundle entry has, "Observation/"
    // (no id), a URL whose last segments are not a resource type and an id, or a type other
    // than the one asked for. (Such references gave "urn:uuid:...", "" or a URL segment.)
    if (!IsResourceKeyPart(ev, type, id)) continue;
    if (call.has_type_arg && type != call.type.name) continue;
    out.push_back(Item::String(id));
  }
  return out;
}

MEDLAKE_FP_FN(ConformsTo) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> url, StringArg(ev, call, 0, scope));
  if (!url) return Collection{};
  static constexpr std::string_view kBase = "http://hl7.org/fhir/StructureDefinition/";
  if (url->rfind(kBase, 0) != 0) return InvalidArgument("FHIRPath: unknown profile " + *url);
  const TypeInfo* t = ev.model().Find(url->substr(kBase.size()));
  if (t == nullptr) return InvalidArgument("FHIRPath: unknown profile " + *url);
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> item, Input(in, call));
  if (!item) return Collection{};
  return Bool(TypeModel::IsA(item->type, t));
}

MEDLAKE_FP_FN(Comparable) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> a, Input(in, call));
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> b, SingleArg(ev, call, 0, scope));
  if (!a || !b) return Collection{};
  if (a->kind != ValueKind::kQuantity || b->kind != ValueKind::kQuantity) return Bool(false);
  return Bool(ConvertUnit(1, b->str, a->str).has_value());
}

MEDLAKE_FP_FN(TypeFn) {
  Collection out;
  for (const Item& item : in) {
    Item t;
    t.kind = ValueKind::kTypeInfo;
    t.str = item.type != nullptr ? "FHIR." + item.type->name
                                 : "System." + std::string(SystemTypeName(item.kind));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

void AddNavigationFunctions(std::vector<FunctionDef>& t) {
  t.push_back({"children", 0, 0, Children});
  t.push_back({"descendants", 0, 0, Descendants});
  t.push_back({"now", 0, 0, Now});
  t.push_back({"today", 0, 0, Today});
  t.push_back({"timeOfDay", 0, 0, TimeOfDay});
  t.push_back({"extension", 1, 1, Extension});
  t.push_back({"hasValue", 0, 0, HasValue});
  t.push_back({"getValue", 0, 0, GetValue});
  t.push_back({"resolve", 0, 0, Resolve});
  t.push_back({"getResourceKey", 0, 0, GetResourceKey});
  t.push_back({"getReferenceKey", 0, 1, GetReferenceKey, true});
  t.push_back({"conformsTo", 1, 1, ConformsTo});
  t.push_back({"comparable", 1, 1, Comparable});
  t.push_back({"type", 0, 0, TypeFn});
}

}  // namespace medlake::fhirpath
