#include "common/string_util.h"

#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace medlake {

size_t StringHash::operator()(std::string_view s) const {
  return XXH3_64bits(s.data(), s.size());
}

HashIndex::Hash HashIndex::HashOf(std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return Hash{h.low64, h.high64 != 0 || h.low64 != 0 ? h.high64 : 1};
}

size_t HashIndex::SlotOf(const Hash& hash) const {
  const size_t n = slots_.size();
  for (size_t i = HomeOf(hash);; i = i + 1 == n ? 0 : i + 1) {
    const Slot& slot = slots_[i];
    if (slot.hash == hash || slot.hash == Hash{}) return i;
  }
}

void HashIndex::Reserve(size_t n) {
  const size_t slots = std::max<size_t>(16, n * 10 / 7 + 1);  // at most 70 % full
  if (slots > slots_.size()) Grow(slots);
}

void HashIndex::Grow(size_t slots) {
  std::vector<Slot> old(slots, Slot());
  old.swap(slots_);
  for (const Slot& slot : old) {
    if (slot.hash != Hash{}) slots_[SlotOf(slot.hash)] = slot;
  }
}

void HashIndex::Set(Hash hash, uint32_t value) {
  const std::pair<Hash, uint32_t> entry(hash, value);
  SetAll({&entry, 1});
}

void HashIndex::SetAll(std::span<const std::pair<Hash, uint32_t>> entries) {
  // Room first (twice what is needed, so that Sets one at a time do not grow the table at every
  // call), so that the slots fetched ahead stay where they are.
  if ((size_ + entries.size()) * 10 > slots_.size() * 7) {
    Reserve(std::max(size_ + entries.size(), 2 * size_));
  }
  constexpr size_t kAhead = 16;
  auto fetch = [&](size_t i) { __builtin_prefetch(&slots_[HomeOf(entries[i].first)], 1); };
  for (size_t i = 0; i < std::min(kAhead, entries.size()); ++i) fetch(i);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i + kAhead < entries.size()) fetch(i + kAhead);
    Slot& slot = slots_[SlotOf(entries[i].first)];
    if (slot.hash == Hash{}) ++size_;
    slot = {entries[i].first, entries[i].second};
  }
}

std::optional<uint32_t> HashIndex::Find(std::string_view key) const {
  if (size_ == 0) return std::nullopt;
  const Slot& slot = slots_[SlotOf(HashOf(key))];
  if (slot.hash == Hash{}) return std::nullopt;
  return slot.value;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWithAnyCase(std::string_view s, std::string_view lower_prefix) {
  return s.size() >= lower_prefix.size() &&
         std::equal(lower_prefix.begin(), lower_prefix.end(), s.begin(), [](char p, char c) {
           return std::tolower(static_cast<unsigned char>(c)) == p;
         });
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::string RedactDataValues(std::string_view message, std::string_view known) {
  std::string out;
  size_t i = 0;
  while (i < message.size()) {
    char q = message[i];
    size_t close = q == '\'' || q == '"' ? message.find(q, i + 1) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out.push_back(message[i++]);
      continue;
    }
    std::string_view inside = message.substr(i + 1, close - i - 1);
    out.push_back(q);
    out += known.find(inside) != std::string_view::npos ? std::string(inside) : "<redacted>";
    out.push_back(q);
    i = close + 1;
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string& out) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t Utf8CharLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t len;
  uint32_t min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8CharLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace medlake
