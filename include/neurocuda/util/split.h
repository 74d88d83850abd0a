// SPDX-License-Identifier: MIT
// Splitting comma-separated flag values, and parsing their items.
#pragma once

#include <exception>
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

/// Parses a whole item as a decimal int; false if it is empty, not a number, has trailing characters
/// or does not fit an int.
inline bool parse_int(const std::string &item, int *out) {
  try {
    size_t used = 0;
    const int v = std::stoi(item, &used);
    if (used != item.size()) return false;
    *out = v;
    return true;
  } catch (const std::exception &) {
    return false;
  }
}

} // namespace neurocuda::util
