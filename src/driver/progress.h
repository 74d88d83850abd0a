// SPDX-License-Identifier: MIT
// A progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace neurocuda::driver {

class Progress {
public:
  Progress(std::string label, int64_t total);
  ~Progress();
  /// Redraws with `done` of `total` finished (at most ten times a second).
  void update(int64_t done);

private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

} // namespace neurocuda::driver
