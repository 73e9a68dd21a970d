// Reading a JSON document too large to parse whole: one scan, which holds a window of the text
// and not the text, finds the members of its top-level object and the items of one array
// member, each then read and parsed on its own (json::Parser). Used for FHIR Bundles of any
// size (ingest/fhir/fhir_reader.h, FhirReader::ReadJsonStreamed).
//
// The scan checks the structure between the values it finds (braces, brackets, colons, commas,
// what follows the document) and where each value ends; it does not check the values
// themselves: a caller that parses each of them has checked the whole document.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::json {

// Reads up to `n` bytes at `offset` of a source into `out`; returns how many were read, fewer
// than `n` only at the source's end.
using ReadAt = std::function<Result<size_t>(uint64_t offset, char* out, size_t n)>;

// ReadAt over an open file (pread; the descriptor must outlive it).
ReadAt ReadAtFile(int fd, std::string path);
// ReadAt over bytes in memory (the view must outlive it).
ReadAt ReadAtMemory(std::string_view bytes);

// Where a value's text lies in a source.
struct Extent {
  uint64_t offset = 0;  // of its first byte
  uint64_t size = 0;
};

// One member of an object: its name (escapes decoded) and where its value's text lies.
struct MemberExtent {
  std::string key;
  Extent value;
};

// The scans read this many bytes at a time (tests use fewer, to put the end of a read at
// every place in a document).
inline constexpr size_t kScanReadBytes = 4u << 20;

// The members of the JSON object that [begin, end) of `read` holds, in document order (a name
// given twice is listed twice). Whitespace may surround the object, nothing else. When the
// value of the first member named `items_of` is an array, the extent of each of its items goes
// to `items` (cleared first), and the array's commas and brackets are checked. kParseError
// ("invalid JSON: ...", with a byte offset and no content) when the text is not one object of
// well-formed members; I/O errors as `read` gives them. Memory: a window of the text (it grows
// only to hold one member name) and the next one, read ahead on a thread of its own.
Status ScanObjectMembers(const ReadAt& read, uint64_t begin, uint64_t end,
                         std::vector<MemberExtent>& out, std::string_view items_of,
                         std::vector<Extent>& items, size_t read_bytes = kScanReadBytes);

// Reads `extent` of `read` whole into `out`, then `padding` zero bytes (out.size() is
// extent.size + padding).
Status ReadExtent(const ReadAt& read, Extent extent, std::string& out, size_t padding = 0);

// MemberSlices and MemberSlice of json.h over a text in memory that a parse has found valid,
// with the scan's blocks (json.h's read them with simdjson's On-Demand API, which the system's
// simdjson builds only for its portable, byte-at-a-time kernel). The same slices, or
// std::nullopt where a name on the way has an escape (only a decoding compares it right) or the
// text is not as valid JSON would be: the caller then reads it as json.h does.
std::optional<Status> PlainMemberSlices(std::string_view text, std::string_view array_key,
                                        std::string_view member_key,
                                        std::vector<std::string_view>& out);
std::optional<Status> PlainMemberSlice(std::string_view text, std::string_view key,
                                       std::string_view& out);

}  // namespace medlake::json
