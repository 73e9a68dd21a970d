// Device readings to FHIR R4 vital-sign Observations.
//
// Two payload shapes are read:
// - medlake monitor readings (what `medlake synth` writes for bedside monitors):
//   {"time":"2022-02-07T01:49:47Z","device":"mon-1","patient":"p1","vital":"heart_rate",
//    "value":80,"unit":"/min"}; vital is heart_rate, respiratory_rate, spo2, temperature,
//   systolic_bp or diastolic_bp;
// - Open mHealth bodies or data points ({"header":{"schema_id":{"name":...}}, "body":{...}})
//   of the schemas heart-rate, respiratory-rate, oxygen-saturation (with its
//   supplemental_oxygen_flow_rate), body-temperature and blood-pressure. Their patient is
//   the payload's "patient" member, else the last level of the MQTT topic.
// The Observation's time is the reading's: OMH effective_time_frame date_time as
// effectiveDateTime, time_interval as effectivePeriod (start and end; an end from a duration
// in seconds to weeks; a date with a part of the day as that day); without one, the time the
// reading was received (`received_ms`; kNoTime when unknown, as for files, makes such a
// reading an error). An OMH descriptive_statistic (a maximum over a day) is written as FHIR
// R4's Observation $stats operation returns one: the vital's code, the interval, and the value
// in a component coded with the statistic (http://terminology.hl7.org/CodeSystem/
// observation-statistics), one Observation per vital; no top-level value, so that no reader
// takes it for a measurement. Sum and variance are not mapped (errors). Ids are derived from
// patient, device, code and time (and a statistic and its interval's end), so a replayed
// reading is a duplicate, not a new resource.
// Codes: LOINC vital signs (8867-4, 9279-1, 59408-5, 8310-5, 85354-9 with 8480-6/8462-4,
// 3151-8), units UCUM. Invalid readings are errors naming the problem, never the values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::ingest {

struct DeviceResource {
  std::string id;
  std::string json;  // minified FHIR R4 Observation
};

Result<std::vector<DeviceResource>> DeviceReadingToFhir(std::string_view payload,
                                                        std::string_view topic,
                                                        int64_t received_ms);

}  // namespace medlake::ingest
