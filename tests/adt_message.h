// ADT messages with a ward/bed movement, for the HL7 v2 ingest and stream tests.
#pragma once

#include <string>
#include <vector>

namespace medlake::testing {

// An HL7 v2.5 ADT^`event` for one visit: PV1-3 the current location, PV1-6 the prior one,
// PV1-44 the admission (2024-03-01 10:10), PV1-45 the discharge; `time` is MSH-7 and EVN-2/6.
inline std::string AdtMessage(const std::string& event, const std::string& control,
                              const std::string& time, const std::string& current,
                              const std::string& prior, const std::string& discharge,
                              const std::string& visit, const std::string& mrn) {
  std::vector<std::string> pv1(46);
  pv1[0] = "PV1";
  pv1[1] = "1";
  pv1[2] = "I";
  pv1[3] = current;
  pv1[6] = prior;
  pv1[19] = visit + "^^^GHH^VN";
  pv1[44] = "20240301101000";
  pv1[45] = discharge;
  std::string segment;
  for (size_t i = 0; i < pv1.size(); ++i) segment += (i ? "|" : "") + pv1[i];
  return "MSH|^~\\&|A|F|L|L|" + time + "||ADT^" + event + "|" + control + "|P|2.5\rEVN|" + event +
         "|" + time + "||||" + time + "\rPID|1||" + mrn + "^^^GHH^MR\r" + segment + "\r";
}

}  // namespace medlake::testing
