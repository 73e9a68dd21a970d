// The JSON the commands print. Text from the lake or the input (file names, quarantine reasons,
// query values) may hold bytes that are not UTF-8: they print as U+FFFD instead of aborting
// the command with a serializer exception.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace medlake::cli {

inline std::string JsonText(const nlohmann::ordered_json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace medlake::cli
