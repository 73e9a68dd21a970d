// String functions and regular expressions (FHIRPath N1 §5.6).
#include <gtest/gtest.h>

#include <string>

#include "eval_util.h"

namespace medlake::fhirpath {
namespace {

using testing::EvalText;

// std::regex (libstdc++) recursed per character: '.*allerg' on a 40 KB narrative overflowed
// the stack, and '(a|aa)+b' on 45 a's backtracked for minutes. RE2 matches in linear time.
TEST(RegexTest, LongInputsAndBacktrackingPatternsAreSafe) {
  const std::string narrative = R"({"resourceType": "Patient", "id": "n1", "text": {"status":
      "generated", "div": "<div>)" +
                                std::string(40000, 'a') + R"(allergy</div>"}})";
  EXPECT_EQ(EvalText("text.div.matches('.*allerg')", narrative), "true");
  EXPECT_EQ(EvalText("text.div.matches('.*penicillin')", narrative), "false");
  EXPECT_EQ(EvalText("text.div.replaceMatches('a+', 'a')", narrative), "<div>allergy</div>");
  EXPECT_EQ(EvalText("'" + std::string(45, 'a') + "!'.matches('(a|aa)+b')"), "false");
}

// N1 §5.6.9: regular expressions are case-sensitive, in single-line mode, and allow Unicode
// characters: '.' is one character, not one byte.
TEST(RegexTest, SingleLineModeAndUnicode) {
  EXPECT_EQ(EvalText("'ÄB'.matches('^.B$')"), "true");
  EXPECT_EQ(EvalText("'ÄB'.matchesFull('..')"), "true");
  EXPECT_EQ(EvalText("'a\\nb'.matches('a.b')"), "true");
  EXPECT_EQ(EvalText("'Library'.matches('library')"), "false");
  EXPECT_EQ(EvalText("'Library'.matchesFull('Lib')"), "false");
  EXPECT_EQ(EvalText("'🔥🔥'.matchesFull('🔥+')"), "true");
}

TEST(RegexTest, ReplaceMatchesSubstitutions) {
  EXPECT_EQ(EvalText("'abc'.replaceMatches('(b)', '[$1]')"), "a[b]c");
  EXPECT_EQ(EvalText("'abc'.replaceMatches('b', '<$&>$$')"), "a<b>$c");
  // N1's example of named groups.
  EXPECT_EQ(EvalText("'11/30/1972'.replaceMatches('\\\\b(?<month>\\\\d{1,2})/(?<day>\\\\d{1,2})/"
                     "(?<year>\\\\d{2,4})\\\\b', '${day}-${month}-${year}')"),
            "30-11-1972");
  // Empty matches step over whole characters: no broken UTF-8.
  EXPECT_EQ(EvalText("'äb'.replaceMatches('x*', '-')"), "-ä-b-");
  EXPECT_EQ(EvalText("'abc'.replaceMatches('^', '>')"), ">abc");
  EXPECT_EQ(EvalText("'a1b22'.replaceMatches('[0-9]', '-')"), "a-b--");
}

TEST(RegexTest, UnsupportedPatternsAreErrorsWithoutThePattern) {
  std::string backreference = EvalText("'aa'.matches('(a)\\\\1')");
  EXPECT_TRUE(backreference.starts_with("error: FHIRPath: invalid regular expression"))
      << backreference;
  std::string unbalanced = EvalText("'aa'.matches('(secret')");
  EXPECT_TRUE(unbalanced.starts_with("error: ")) << unbalanced;
  EXPECT_EQ(unbalanced.find("secret"), std::string::npos) << unbalanced;
}

// String functions counted bytes: 'Béa'.length() was 4, substring() and toChars() cut 'é' in
// two (broken UTF-8 in the output), upper() left 'ü' as it was.
TEST(StringTest, FunctionsWorkOnCharactersNotBytes) {
  EXPECT_EQ(EvalText("'Béa'.length()"), "3");
  EXPECT_EQ(EvalText("'Müller'.substring(1, 3)"), "üll");
  EXPECT_EQ(EvalText("'Müller'.substring(1)"), "üller");
  EXPECT_EQ(EvalText("'Ølsen'.substring(0, 1)"), "Ø");
  EXPECT_EQ(EvalText("'Müller'.substring(6)"), "");
  EXPECT_EQ(EvalText("'Müller'.substring(4, 10)"), "er");
  EXPECT_EQ(EvalText("'Müller'.indexOf('l')"), "2");
  EXPECT_EQ(EvalText("'Béa'.toChars()"), "B,é,a");
  EXPECT_EQ(EvalText("'a😀b'.toChars().count()"), "3");
  EXPECT_EQ(EvalText("'Béa'.split('')"), "B,é,a");
  EXPECT_EQ(EvalText("'Béa'.replace('', '-')"), "-B-é-a-");
  EXPECT_EQ(EvalText("'Müller straße'.upper()"), "MÜLLER STRAßE");
  EXPECT_EQ(EvalText("'ÉLODIE Σ'.lower()"), "élodie σ");
  // Decoded bytes that are not UTF-8 are not a String.
  EXPECT_EQ(EvalText("'/w=='.decode('base64')"), "");
  EXPECT_EQ(EvalText("'c3a9'.decode('hex')"), "é");
  EXPECT_EQ(EvalText("'ff'.decode('hex')"), "");
}

// A character beyond U+FFFF written as a JSON surrogate pair is one character (it became two
// replacement characters, so length() was 2 and it did not equal its literal self).
TEST(StringEscapeTest, SurrogatePairsAreOneCharacter) {
  EXPECT_EQ(EvalText("'\\uD83D\\uDE00'.length()"), "1");
  EXPECT_EQ(EvalText("'\\uD83D\\uDE00' = '😀'"), "true");
  EXPECT_EQ(EvalText("'\\uD83D'.length()"), "1");  // a lone one: U+FFFD
  EXPECT_EQ(EvalText("'\\u00e9'"), "é");
}

}  // namespace
}  // namespace medlake::fhirpath
