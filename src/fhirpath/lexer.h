// Tokenizer for FHIRPath source text. Columns are 1-based.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::fhirpath {

enum class TokenKind : uint8_t {
  kIdentifier,  // plain identifier or keyword
  kDelimited,   // `identifier`
  kString,      // 'text' (unescaped)
  kNumber,      // 12 or 1.5
  kTemporal,    // @2020-01-01 (text without '@')
  kVariable,    // %name (name without '%', unquoted)
  kSpecial,     // $this, $index, $total (without '$')
  kSymbol,      // operators and punctuation
  kEnd,
};

struct Token {
  TokenKind kind;
  std::string text;
  int column;
};

// Splits `source` into tokens; syntax errors (unterminated strings or comments, stray
// characters) carry their column.
Result<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace medlake::fhirpath
