// SPDX-License-Identifier: MIT
// Splitting comma-separated flag values.
#pragma once

#include <string>
#include <vector>

namespace neurocuda::util {

/// Splits "a,b,,c" into {"a", "b", "", "c"}; an empty text gives {""}. Callers reject bad items.
inline std::vector<std::string> split_commas(const std::string &text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t comma = text.find(',', pos);
    out.push_back(text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

} // namespace neurocuda::util
