#include "json/scanner.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <memory>
#include <system_error>

#include "json/json.h"
#include "json/string_masks.h"

namespace medlake::json {

ReadAt ReadAtFile(int fd, std::string path) {
  return [fd, path = std::move(path)](uint64_t offset, char* out, size_t n) -> Result<size_t> {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return IoError("cannot read " + path + ": " + std::strerror(errno));
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  };
}

ReadAt ReadAtMemory(std::string_view bytes) {
  return [bytes](uint64_t offset, char* out, size_t n) -> Result<size_t> {
    if (offset >= bytes.size()) return size_t{0};
    const size_t take = std::min<uint64_t>(n, bytes.size() - offset);
    std::memcpy(out, bytes.data() + offset, take);
    return take;
  };
}

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

Status Invalid(std::string_view what, uint64_t at) {
  return ParseError("invalid JSON: " + std::string(what) + " (byte " + std::to_string(at) + ")");
}

// The index of the first '"' or '\\' in s[i, n), or n: eight bytes at a time (a string's text
// between them is most of a FHIR document).
size_t QuoteOrBackslash(const char* s, size_t i, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    const uint64_t q = w ^ (kOnes * '"');
    const uint64_t b = w ^ (kOnes * '\\');
    // A zero byte in q or b is a match; the lowest flagged byte is exact.
    const uint64_t found = ((q - kOnes) & ~q & kHigh) | ((b - kOnes) & ~b & kHigh);
    if (found != 0) return i + static_cast<size_t>(__builtin_ctzll(found) / 8);
  }
  for (; i < n; ++i) {
    if (s[i] == '"' || s[i] == '\\') return i;
  }
  return n;
}

// Finds where one JSON value ends when its text comes in pieces: the first piece starts at the
// value's first byte, each next one where the last ended.
class ValueEnd {
 public:
  static constexpr size_t kMore = static_cast<size_t>(-1);
  // The index in s[0, n) one past the value's last byte; kMore when the value goes on past it.
  size_t Feed(const char* s, size_t n) {
    size_t i = 0;
    if (!started_ && n > 0) {
      started_ = true;
      i = 1;
      if (s[0] == '"') {
        in_string_ = true;
      } else if (s[0] == '{' || s[0] == '[') {
        depth_ = 1;
      } else {
        scalar_ = true;  // a number or literal: it ends where a delimiter comes
      }
    }
    if (scalar_) {
      for (; i < n; ++i) {
        const char c = s[i];
        if (c == ',' || c == '}' || c == ']' || IsSpace(c)) return i;
      }
      return kMore;
    }
#ifdef MEDLAKE_STRING_MASKS
    if (HasAvx2Masks()) {
      if (const size_t end = BlocksAvx2(s, i, n); end != kMore) return end;
    }
#endif
    while (i < n) {
      if (in_string_) {
        if (escape_) {
          escape_ = false;
          ++i;
          continue;
        }
        i = QuoteOrBackslash(s, i, n);
        if (i == n) break;
        if (s[i++] == '\\') {
          escape_ = true;
        } else {
          in_string_ = false;
          if (depth_ == 0) return i;
        }
        continue;
      }
      switch (s[i++]) {
        case '"':
          in_string_ = true;
          break;
        case '{':
        case '[':
          ++depth_;
          break;
        case '}':
        case ']':
          if (--depth_ == 0) return i;
          break;
        default:
          break;
      }
    }
    return kMore;
  }
  // The text ended: whether the value ended with it (a number or literal does).
  bool EndsWithText() const {
    return scalar_;
  }

 private:
#ifdef MEDLAKE_STRING_MASKS
  // Feed's loop over the whole 64-byte blocks of s[i, n), with i moved past them. The bytes
  // inside strings come from masks (string_masks.h), and the brackets outside them are counted:
  // only a block where the depth may come back to zero walks its brackets one by one. The
  // value's end, or kMore (also, with i at that block, when a backslash lies outside a string:
  // not JSON, which the byte loop reads exactly as before).
  MEDLAKE_AVX2_TARGET size_t BlocksAvx2(const char* s, size_t& i, size_t n) {
    StringCarry carry{escape_ ? 1u : 0u, in_string_ ? ~uint64_t{0} : 0};
    for (; i + 64 <= n; i += 64) {
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i));
      const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 32));
      const uint64_t backslash = Bits256(Is256(lo, '\\'), Is256(hi, '\\'));
      const StringCarry before = carry;
      const uint64_t quotes =
          Bits256(Is256(lo, '"'), Is256(hi, '"')) & ~EscapedBytes(backslash, carry);
      const uint64_t inside = InString(quotes, carry);
      if ((backslash & ~inside) != 0) {
        carry = before;
        break;
      }
      if (depth_ == 0) {  // the value is a string: it ends at its closing quote
        if (const uint64_t closing = quotes & ~inside; closing != 0) {
          return i + static_cast<size_t>(__builtin_ctzll(closing)) + 1;
        }
        continue;
      }
      const uint64_t open = Bits256(_mm256_or_si256(Is256(lo, '{'), Is256(lo, '[')),
                                    _mm256_or_si256(Is256(hi, '{'), Is256(hi, '['))) &
                            ~inside;
      const uint64_t close = Bits256(_mm256_or_si256(Is256(lo, '}'), Is256(lo, ']')),
                                     _mm256_or_si256(Is256(hi, '}'), Is256(hi, ']'))) &
                             ~inside;
      const auto closes = static_cast<uint64_t>(__builtin_popcountll(close));
      if (closes < depth_) {  // the depth stays above zero in this block
        depth_ = depth_ + static_cast<uint64_t>(__builtin_popcountll(open)) - closes;
        continue;
      }
      for (uint64_t todo = open | close; todo != 0; todo &= todo - 1) {
        const uint64_t bit = todo & (~todo + 1);
        if ((open & bit) != 0) {
          ++depth_;
        } else if (--depth_ == 0) {
          return i + static_cast<size_t>(__builtin_ctzll(bit)) + 1;
        }
      }
    }
    escape_ = carry.escaped != 0;
    in_string_ = carry.in_string != 0;
    return kMore;
  }
#endif

  uint64_t depth_ = 0;
  bool started_ = false;
  bool in_string_ = false;
  bool escape_ = false;
  bool scalar_ = false;
};

// The bytes [base, base + len) of [begin, end) of a source, followed by kPadding readable
// bytes. More() slides it on, keeping the bytes from a given offset.
//
// The next read is made ahead, on a thread of its own, into a second buffer while the scan
// reads this one: the copy out of the page cache was half of a large Bundle's scan, which
// runs alone before the entries are read on every core. The buffers are swapped when the scan
// moves on, with the bytes it keeps (a member name across two reads, rarely more) copied in
// front of the new ones.
class Window {
 public:
  Window(const ReadAt& read, uint64_t begin, uint64_t end, size_t read_bytes)
      : read_(read), read_bytes_(std::max<size_t>(read_bytes, 1)), end_(end), base_(begin) {}
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
  ~Window() { Settle(); }

  const char* At(uint64_t pos) const { return data_ + (pos - base_); }
  uint64_t loaded_end() const { return base_ + len_; }

  // Loads bytes after loaded_end(), keeping those from `keep` (<= loaded_end()) on; false at
  // the end of the range.
  Result<bool> More(uint64_t keep) {
    if (loaded_end() >= end_) return false;
    const size_t kept = static_cast<size_t>(loaded_end() - keep);
    const uint64_t at = loaded_end();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(read_bytes_, end_ - at));
    size_t got = 0;
    if (ahead_.valid() && ahead_at_ == at && kept <= kFront) {
      Result<size_t> read = ahead_.get();
      if (!read.ok()) return read.status();
      got = *read;
      char* front = spare_.get() + (kFront - kept);
      if (kept > 0) std::memcpy(front, At(keep), kept);
      std::swap(buf_, spare_);
      std::swap(cap_, spare_cap_);
      data_ = front;
      base_ = keep;
      len_ = kept;
    } else {
      Settle();  // the read ahead is not the one wanted: its buffer is free again
      if (kept + want + kPadding > cap_) {
        const size_t cap = std::max(cap_ * 2, kept + want + kPadding);
        std::unique_ptr<char[]> grown(new char[cap]);
        if (kept > 0) std::memcpy(grown.get(), At(keep), kept);
        buf_ = std::move(grown);
        cap_ = cap;
      } else if (kept > 0) {
        std::memmove(buf_.get(), At(keep), kept);
      }
      data_ = buf_.get();
      base_ = keep;
      len_ = kept;
      MEDLAKE_ASSIGN_OR_RETURN(got, read_(at, data_ + kept, want));
    }
    if (got == 0) {
      return Internal("the file ended at byte " + std::to_string(at) +
                      ", before its size when the read began: it changed while it was read");
    }
    len_ += got;
    std::memset(data_ + len_, 0, kPadding);
    ReadAhead();
    return true;
  }

 private:
  // Room kept in front of a read ahead for the bytes the scan keeps.
  static constexpr size_t kFront = 4096;

  // Starts reading the bytes after loaded_end() into the spare buffer.
  void ReadAhead() {
    const uint64_t at = loaded_end();
    if (at >= end_) return;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(read_bytes_, end_ - at));
    if (kFront + want + kPadding > spare_cap_) {
      spare_cap_ = kFront + want + kPadding;
      spare_.reset(new char[spare_cap_]);
    }
    char* into = spare_.get() + kFront;
    try {
      ahead_ = std::async(std::launch::async,
                          [&read = read_, at, into, want] { return read(at, into, want); });
    } catch (const std::system_error&) {
      return;  // no thread to spare: the next load reads in line
    }
    ahead_at_ = at;
  }
  // Waits for a read ahead still running (its buffer may be reused or freed after).
  void Settle() {
    if (ahead_.valid()) ahead_.wait();
    ahead_ = {};
  }

  const ReadAt& read_;
  const size_t read_bytes_;
  const uint64_t end_;
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  char* data_ = nullptr;  // the byte at base_, in buf_
  uint64_t base_;
  size_t len_ = 0;
  // The read ahead: into spare_ + kFront, at `ahead_at_` (as many bytes as a load there wants).
  std::unique_ptr<char[]> spare_;
  size_t spare_cap_ = 0;
  std::future<Result<size_t>> ahead_;
  uint64_t ahead_at_ = 0;
};

// Moves `pos` to the next byte that is not whitespace, into `c`; false at the end of the range.
Result<bool> SkipSpace(Window& w, uint64_t& pos, char& c) {
  for (;;) {
    for (; pos < w.loaded_end(); ++pos) {
      c = *w.At(pos);
      if (!IsSpace(c)) return true;
    }
    MEDLAKE_ASSIGN_OR_RETURN(bool more, w.More(pos));
    if (!more) return false;
  }
}

// SkipSpace where the text must go on: `what` names what the end came before.
Status NextByte(Window& w, uint64_t& pos, char& c, std::string_view what) {
  MEDLAKE_ASSIGN_OR_RETURN(bool found, SkipSpace(w, pos, c));
  if (!found) return Invalid(std::string("the text ends before ") + std::string(what), pos);
  return Status::Ok();
}

// The end of the value starting at `start` (a byte that is loaded). With `keep_value`, its
// bytes stay loaded (the window grows to hold them); otherwise only those from the last load.
Result<uint64_t> FindValueEnd(Window& w, uint64_t start, bool keep_value) {
  if (std::string_view("\"{[-0123456789tfn").find(*w.At(start)) == std::string_view::npos) {
    return Invalid("a value was expected", start);
  }
  ValueEnd scan;
  uint64_t pos = start;
  for (;;) {
    const size_t at = scan.Feed(w.At(pos), static_cast<size_t>(w.loaded_end() - pos));
    if (at != ValueEnd::kMore) return pos + at;
    pos = w.loaded_end();
    MEDLAKE_ASSIGN_OR_RETURN(bool more, w.More(keep_value ? start : pos));
    if (!more) {
      if (scan.EndsWithText()) return pos;
      return Invalid("the text ends inside a value", start);
    }
  }
}

// After the value that ended at `pos`: nothing but whitespace to the end of the range.
Status OnlySpaceAfter(Window& w, uint64_t pos, std::string_view what) {
  char c;
  MEDLAKE_ASSIGN_OR_RETURN(bool found, SkipSpace(w, pos, c));
  if (found) return Invalid(std::string("text after ") + std::string(what), pos);
  return Status::Ok();
}

// The items of the array at `pos` ('['): their extents into `items`; `pos` ends past the array.
Status ScanArrayItems(Window& w, uint64_t& pos, std::vector<Extent>& items) {
  char c = 0;
  ++pos;
  MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "the array closes"));
  if (c == ']') {
    ++pos;
    return Status::Ok();
  }
  for (;;) {
    const uint64_t item_at = pos;
    MEDLAKE_ASSIGN_OR_RETURN(uint64_t item_end, FindValueEnd(w, item_at, false));
    items.push_back({item_at, item_end - item_at});
    pos = item_end;
    MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "the array closes"));
    if (c == ']') {
      ++pos;
      return Status::Ok();
    }
    if (c != ',') return Invalid("',' or ']' was expected after an array item", pos);
    ++pos;
    MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "the array closes"));
  }
}

// A text in memory that a parse has found valid, walked with ValueEnd's blocks. Each step
// returns kNotPlain where the text is not as it expects (a member name with an escape, which
// only a decoding compares right, or text that is not valid JSON): the caller then reads the
// text another way.
class PlainText {
 public:
  static constexpr size_t kNotPlain = static_cast<size_t>(-1);

  explicit PlainText(std::string_view text) : s_(text.data()), n_(text.size()) {}

  // The first byte at or after `i` that is not whitespace (n_ at the end).
  size_t Skip(size_t i) const {
    while (i < n_ && IsSpace(s_[i])) ++i;
    return i;
  }
  char At(size_t i) const { return i < n_ ? s_[i] : '\0'; }
  std::string_view Slice(size_t begin, size_t end) const { return {s_ + begin, end - begin}; }

  // One past the value that starts at `i`.
  size_t ValueEndAt(size_t i) const {
    if (i >= n_) return kNotPlain;
    ValueEnd scan;
    const size_t end = scan.Feed(s_ + i, n_ - i);
    if (end != ValueEnd::kMore) return i + end;
    return scan.EndsWithText() ? n_ : kNotPlain;
  }

  // Walks the members of the object at `i` ('{'): `on_member(name, value_at)` returns one past
  // the value (or kNotPlain), or kStop to end the walk there. One past the object, kStop, or
  // kNotPlain.
  static constexpr size_t kStop = static_cast<size_t>(-2);
  template <typename OnMember>
  size_t Members(size_t i, OnMember&& on_member) const {
    i = Skip(i + 1);
    if (At(i) == '}') return i + 1;
    for (;;) {
      if (At(i) != '"') return kNotPlain;
      const size_t name_end = ValueEndAt(i);
      if (name_end == kNotPlain || name_end < i + 2) return kNotPlain;
      const std::string_view name = Slice(i + 1, name_end - 1);
      if (name.find('\\') != std::string_view::npos) return kNotPlain;
      i = Skip(name_end);
      if (At(i) != ':') return kNotPlain;
      i = Skip(i + 1);
      const size_t value_end = on_member(name, i);
      if (value_end == kNotPlain || value_end == kStop) return value_end;
      i = Skip(value_end);
      if (At(i) == '}') return i + 1;
      if (At(i) != ',') return kNotPlain;
      i = Skip(i + 1);
    }
  }

  // The first member `key` of the object at `i` into `out` (left as is when there is none),
  // walking on to the object's end: one past the object, or kNotPlain.
  size_t MemberOf(size_t i, std::string_view key, std::string_view& out) const {
    bool found = false;
    return Members(i, [&](std::string_view name, size_t value_at) {
      const size_t end = ValueEndAt(value_at);
      if (!found && name == key && end != kNotPlain) {
        found = true;
        out = Slice(value_at, end);
      }
      return end;
    });
  }

 private:
  const char* s_;
  size_t n_;
};

}  // namespace

Status ScanObjectMembers(const ReadAt& read, uint64_t begin, uint64_t end,
                         std::vector<MemberExtent>& out, std::string_view items_of,
                         std::vector<Extent>& items, size_t read_bytes) {
  out.clear();
  items.clear();
  bool items_found = false;
  Window w(read, begin, end, read_bytes);
  Parser names;
  uint64_t pos = begin;
  char c = 0;
  MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "any value"));
  if (c != '{') return Invalid("the document is not a JSON object", pos);
  ++pos;
  MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "the object closes"));
  if (c == '}') return OnlySpaceAfter(w, pos + 1, "the JSON object");
  for (;;) {
    if (c != '"') return Invalid("a member name was expected", pos);
    const uint64_t name_at = pos;
    MEDLAKE_ASSIGN_OR_RETURN(uint64_t name_end, FindValueEnd(w, name_at, true));
    // Parsed, so that escapes are decoded and a name JSON does not allow is refused.
    auto name = names.Parse(std::string_view(w.At(name_at), name_end - name_at));
    if (!name.ok() || !name->IsString()) return Invalid("a member name is not valid", name_at);
    std::string key(name->GetString());
    pos = name_end;
    MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "the object closes"));
    if (c != ':') return Invalid("':' was expected after a member name", pos);
    ++pos;
    MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "a member's value"));
    const uint64_t value_at = pos;
    uint64_t value_end = 0;
    if (c == '[' && !items_found && key == items_of) {
      items_found = true;
      MEDLAKE_RETURN_IF_ERROR(ScanArrayItems(w, pos, items));
      value_end = pos;
    } else {
      MEDLAKE_ASSIGN_OR_RETURN(value_end, FindValueEnd(w, value_at, false));
    }
    if (key == items_of) items_found = true;
    out.push_back({std::move(key), {value_at, value_end - value_at}});
    pos = value_end;
    MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "the object closes"));
    if (c == '}') return OnlySpaceAfter(w, pos + 1, "the JSON object");
    if (c != ',') return Invalid("',' or '}' was expected after a member", pos);
    ++pos;
    MEDLAKE_RETURN_IF_ERROR(NextByte(w, pos, c, "the object closes"));
  }
}

Status ReadExtent(const ReadAt& read, Extent extent, std::string& out, size_t padding) {
  out.resize(extent.size + padding);
  MEDLAKE_ASSIGN_OR_RETURN(size_t got, read(extent.offset, out.data(), extent.size));
  if (got != extent.size) {
    return Internal("the file ended at byte " + std::to_string(extent.offset + got) +
                    ", before its size when the read began: it changed while it was read");
  }
  std::memset(out.data() + extent.size, 0, padding);
  return Status::Ok();
}

std::optional<Status> PlainMemberSlices(std::string_view text, std::string_view array_key,
                                        std::string_view member_key,
                                        std::vector<std::string_view>& out) {
  out.clear();
  const PlainText t(text);
  const size_t root = t.Skip(0);
  if (t.At(root) != '{') return std::nullopt;
  bool walked = false;  // the items of the first `array_key`
  const size_t end = t.Members(root, [&](std::string_view name, size_t value_at) -> size_t {
    if (name != array_key) return t.ValueEndAt(value_at);
    if (t.At(value_at) != '[') return PlainText::kNotPlain;
    walked = true;
    size_t i = t.Skip(value_at + 1);
    if (t.At(i) == ']') return PlainText::kStop;
    for (;;) {
      std::string_view& slice = out.emplace_back();
      const size_t item_end = t.At(i) == '{' ? t.MemberOf(i, member_key, slice) : t.ValueEndAt(i);
      if (item_end == PlainText::kNotPlain) return PlainText::kNotPlain;
      i = t.Skip(item_end);
      if (t.At(i) == ']') return PlainText::kStop;
      if (t.At(i) != ',') return PlainText::kNotPlain;
      i = t.Skip(i + 1);
    }
  });
  if (end == PlainText::kNotPlain || (end == PlainText::kStop) != walked) return std::nullopt;
  return Status::Ok();
}

std::optional<Status> PlainMemberSlice(std::string_view text, std::string_view key,
                                       std::string_view& out) {
  out = {};
  const PlainText t(text);
  const size_t root = t.Skip(0);
  if (t.At(root) != '{') return std::nullopt;
  if (t.MemberOf(root, key, out) == PlainText::kNotPlain) return std::nullopt;
  return Status::Ok();
}

}  // namespace medlake::json
