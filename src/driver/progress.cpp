// SPDX-License-Identifier: MIT
// Terminal progress bar.
#include "progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace neurocuda::driver {

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_(start_ - std::chrono::seconds(1)) {}

Progress::~Progress() {
  if (enabled_) std::fputs("\r\033[K", stderr);
}

void Progress::update(int64_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const int width = 30, filled = static_cast<int>(frac * width);
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
  fmt::print(stderr, "\r{} [{}{}] {}/{} {:.0f}s, eta {:.0f}s\033[K", label_, std::string(static_cast<size_t>(filled), '#'),
             std::string(static_cast<size_t>(width - filled), '.'), done, total_, secs, eta);
  std::fflush(stderr);
}

} // namespace neurocuda::driver
