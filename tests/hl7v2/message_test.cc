// The ER7 parser: delimiters, escapes, repetitions, components, segment ends, BOM, batches.
#include "ingest/hl7v2/message.h"

#include <gtest/gtest.h>

#include <string>

namespace medlake::hl7v2 {
namespace {

constexpr std::string_view kAdt =
    "MSH|^~\\&|APP|FAC|RECV|RFAC|20240102030405||ADT^A01^ADT_A01|CTRL-1|P|2.5.1\r"
    "EVN|A01|20240102030405\r"
    "PID|1||MRN-1^^^HOSP&1.2.3&ISO^MR~999^^^SSA^SS||Doe^Jane^Q||19800101|F\r"
    "ZPI|custom|segment\r"
    "PV1|1|I|WARD-A^101^B^MAIN\r";

TEST(Message, DelimitersAndHeader) {
  auto m = Message::Parse(kAdt);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->delimiters().field, '|');
  EXPECT_EQ(m->delimiters().component, '^');
  EXPECT_EQ(m->delimiters().repetition, '~');
  EXPECT_EQ(m->delimiters().escape, '\\');
  EXPECT_EQ(m->delimiters().subcomponent, '&');
  EXPECT_EQ(m->SegmentCount(), 5u);
  EXPECT_EQ(m->ControlId(), "CTRL-1");
  EXPECT_EQ(m->MessageCode(), "ADT");
  EXPECT_EQ(m->TriggerEvent(), "A01");
  EXPECT_EQ(m->Version(), "2.5.1");
  Segment msh = m->segment(0);
  EXPECT_EQ(msh.Field(1).raw(), "|");
  EXPECT_EQ(msh.Field(2).raw(), "^~\\&");
  EXPECT_EQ(msh.Field(3).raw(), "APP");
  EXPECT_EQ(msh.Field(9).Component(3).raw(), "ADT_A01");
}

TEST(Message, FieldsRepetitionsComponentsSubcomponents) {
  auto m = Message::Parse(kAdt);
  ASSERT_TRUE(m.ok());
  Segment pid = m->segment(m->Find("PID"));
  EXPECT_EQ(pid.Id(), "PID");
  EXPECT_EQ(pid.Field(1).raw(), "1");
  EXPECT_TRUE(pid.Field(2).empty());
  Value ids = pid.Field(3);
  EXPECT_EQ(ids.RepetitionCount(), 2u);
  EXPECT_EQ(ids.Repetition(0).Component(1).raw(), "MRN-1");
  EXPECT_EQ(ids.Repetition(0).Component(4).Subcomponent(2).raw(), "1.2.3");
  EXPECT_EQ(ids.Repetition(1).Component(4).raw(), "SSA");
  EXPECT_EQ(ids.Component(1).raw(), "MRN-1");  // first repetition implied
  EXPECT_TRUE(ids.Repetition(2).empty());
  EXPECT_TRUE(pid.Field(5).Component(9).empty());
  EXPECT_TRUE(pid.Field(40).empty());
  EXPECT_EQ(pid.FieldCount(), 8u);
  EXPECT_EQ(m->Find("ZPI"), 3u);  // Z-segments are kept
  EXPECT_EQ(m->Find("OBX"), m->SegmentCount());
}

TEST(Message, ForEachFieldMatchesField) {
  auto m = Message::Parse(kAdt);
  ASSERT_TRUE(m.ok());
  for (size_t i = 0; i < m->SegmentCount(); ++i) {
    Segment seg = m->segment(i);
    size_t count = 0;
    seg.ForEachField([&](size_t n, const Value& v) {
      ++count;
      EXPECT_EQ(v.raw(), seg.Field(n).raw()) << seg.Id() << "-" << n;
    });
    EXPECT_EQ(count, seg.FieldCount()) << seg.Id();
  }
}

TEST(Message, CustomDelimiters) {
  std::string text = "MSH#*!%$#A#B#C#D#2024##ORU*R01#X9#P#2.4\nPID#1##ID1*x*y*AUTH$OID!ID2\n";
  auto m = Message::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ControlId(), "X9");
  EXPECT_EQ(m->TriggerEvent(), "R01");
  Value ids = m->segment(1).Field(3);
  EXPECT_EQ(ids.RepetitionCount(), 2u);
  EXPECT_EQ(ids.Repetition(0).Component(4).Subcomponent(2).raw(), "OID");
  EXPECT_EQ(ids.Repetition(1).raw(), "ID2");
}

TEST(Message, EscapeSequences) {
  Delimiters d;
  EXPECT_EQ(Unescape("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", d), "a|b^c&d~e\\f");
  EXPECT_EQ(Unescape("line1\\.br\\line2", d), "line1\nline2");
  EXPECT_EQ(Unescape("\\X4142\\C", d), "ABC");
  EXPECT_EQ(Unescape("\\XC3A9\\", d), "\xC3\xA9");
  EXPECT_EQ(Unescape("\\H\\bold\\N\\", d), "bold");
  EXPECT_EQ(Unescape("no escapes", d), "no escapes");
  EXPECT_EQ(Unescape("trailing\\", d), "trailing\\");  // unterminated: literal
  EXPECT_EQ(Unescape("\\Q\\x", d), "\\Q\\x");          // unknown: literal
  EXPECT_EQ(Unescape("\\X4\\", d), "\\X4\\");          // odd hex: literal
  EXPECT_EQ(Unescape("A\\T\\E (inc.)", d), "A&E (inc.)");
  auto m = Message::Parse("MSH|^~\\&|||||||ADT^A01|1|P|2.5\rNTE|1||x\\F\\y^z\r");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment(1).Field(3).Component(1).Text(), "x|y");
  EXPECT_EQ(m->segment(1).Field(3).Component(2).Text(), "z");
}

TEST(Message, HL7NullIsEmptyText) {
  auto m = Message::Parse("MSH|^~\\&|||||||ADT^A08|1|P|2.5\rPID|1||\"\"\r");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->segment(1).Field(3).IsNull());
  EXPECT_EQ(m->segment(1).Field(3).Text(), "");
}

TEST(Message, SegmentEndingsCrLfCrLf) {
  for (std::string_view sep : {"\r", "\n", "\r\n", "\n\n"}) {
    std::string text = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5";
    text += sep;
    text += "PID|1||X";
    text += sep;
    text += "PV1|1|I";
    text += sep;
    auto m = Message::Parse(text);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->SegmentCount(), 3u);
    EXPECT_EQ(m->segment(2).Field(2).raw(), "I");
  }
}

TEST(Message, ByteOrderMarkAndMllpFraming) {
  std::string text = "\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||X\r";
  auto entries = ReadMessages(text);
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_TRUE(entries[0].message.ok());
  EXPECT_EQ(entries[0].message->SegmentCount(), 2u);
  std::string framed = "\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||X\r\x1c\r";
  auto m = SplitMessages(framed);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].SegmentCount(), 2u);
}

TEST(Message, DoubledEscapeInEncodingCharacters) {
  auto m = Message::Parse("MSH|^~\\\\&|A|B|C|D|2024||ADT^A01|7|P|2.6\rPID|1||A&B^^^X\r");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->delimiters().subcomponent, '&');
  EXPECT_EQ(m->ControlId(), "7");
  EXPECT_EQ(m->segment(1).Field(3).Component(1).Subcomponent(2).raw(), "B");
}

TEST(Message, SeveralMessagesAndBatchEnvelope) {
  std::string file =
      "FHS|^~\\&|A|B\r"
      "BHS|^~\\&|A|B\r"
      "MSH|^~\\&|A|B|C|D|2024||ADT^A01|m1|P|2.5\rPID|1||X\r"
      "MSH|^~\\&|A|B|C|D|2024||ADT^A08|m2|P|2.5\rPID|1||Y\rZZZ|1\r"
      "BTS|2\r"
      "FTS|1\r";
  auto m = SplitMessages(file);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].ControlId(), "m1");
  EXPECT_EQ((*m)[1].ControlId(), "m2");
  EXPECT_EQ((*m)[1].SegmentCount(), 3u);
  EXPECT_EQ((*m)[1].location().message_index, 1u);
  EXPECT_EQ(file.substr((*m)[1].location().byte_offset, 3), "MSH");
}

// Each entry knows its bytes: a message that cannot be parsed is quarantined whole and with
// nothing of the next (a 4 KiB window cut long messages and took the next patient's); text
// outside messages is not counted as one.
TEST(Message, EntriesKnowTheirBytesAndTextOutsideIsNoMessage) {
  const std::string first = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|m1|P|2.5\rPID|1||X\rpv1|bad\r";
  const std::string second = "MSH|^~\\&|A|B|C|D|2024||ADT^A08|m2|P|2.5\rPID|1||Y\r";
  const std::string file = "junk line\r" + first + second;
  auto entries = ReadMessages(file);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_TRUE(entries[0].location.outside_message);
  EXPECT_EQ(file.substr(entries[0].location.byte_offset, entries[0].location.byte_length),
            "junk line");
  EXPECT_FALSE(entries[1].message.ok());
  EXPECT_EQ(entries[1].location.message_index, 0u);
  EXPECT_EQ(file.substr(entries[1].location.byte_offset, entries[1].location.byte_length) + "\r",
            first);
  EXPECT_EQ(entries[2].location.message_index, 1u);
}

// MLLP framing in a file: the end byte right after the last segment is not data (the
// discharge time PV1-45 read "20240302100000\x1c" and was lost).
TEST(Message, AFramingByteEndsTheLastSegment) {
  const std::string file =
      "\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A03|f1|P|2.5\rPID|1||X\rPV1|1|I|4E|||||||||||||||||V1|||||"
      "||||||||||||||||||||20240301100000|20240302100000\x1c\r";
  auto m = SplitMessages(file);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 1u);
  const std::string_view pv1 = (*m)[0].segment(2).raw();
  EXPECT_TRUE(pv1.ends_with("|20240301100000|20240302100000")) << pv1;
}

TEST(Message, ErrorsNameLocationNotContent) {
  auto bad = Message::Parse("PID|1||SECRET-MRN\r");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kParseError);
  auto bad_segment = Message::Parse("MSH|^~\\&|||||||ADT^A01|C-9|P|2.5\rPID|1\rsecret data here\r");
  ASSERT_FALSE(bad_segment.ok());
  EXPECT_NE(bad_segment.status().message().find("C-9"), std::string::npos);
  EXPECT_NE(bad_segment.status().message().find("segment 3"), std::string::npos);
  EXPECT_EQ(bad_segment.status().message().find("secret"), std::string::npos);
  auto bad_delims = Message::Parse("MSH|^^\\&|||||||ADT^A01|1|P|2.5\r");
  EXPECT_FALSE(bad_delims.ok());
  auto junk = ReadMessages("hello\rworld\rMSH|^~\\&|||||||ADT^A01|1|P|2.5\r");
  ASSERT_EQ(junk.size(), 2u);
  EXPECT_FALSE(junk[0].message.ok());
  EXPECT_EQ(junk[0].message.status().message().find("hello"), std::string::npos);
  EXPECT_TRUE(junk[1].message.ok());
  EXPECT_FALSE(SplitMessages("hello\rMSH|^~\\&|||||||ADT^A01|1|P|2.5\r").ok());
  EXPECT_TRUE(SplitMessages("").ok());
}

TEST(Message, TruncatedInnerMshSegment) {
  auto m = Message::Parse("MSH|^~\\&|||||||ADT^A01|1|P|2.5\rMSH\rMSH|\r");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  for (size_t i = 1; i < m->SegmentCount(); ++i) {
    EXPECT_TRUE(m->segment(i).Field(2).empty());
    EXPECT_TRUE(m->segment(i).Field(3).empty());
    m->segment(i).ForEachField([](size_t, const Value&) {});
  }
}

TEST(Message, ViewsOutliveTheMessageObject) {
  std::string text(kAdt);
  Segment pid;
  {
    auto m = Message::Parse(text);
    ASSERT_TRUE(m.ok());
    pid = m->segment(2);
  }
  EXPECT_EQ(pid.Field(5).Component(2).Text(), "Jane");
}

}  // namespace
}  // namespace medlake::hl7v2
