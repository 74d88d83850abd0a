// SPDX-License-Identifier: MIT
// Loihi 2 fixed-point equations.
#include "loihi2/equations.h"

#include <algorithm>

#include "loihi2/limits.h"

namespace neurocuda::backends::loihi2 {
SignMode infer_sign_mode(const std::vector<std::vector<int64_t>> &weights) {
  int64_t lo = 0, hi = 0;
  bool first = true;
  for (const auto &row : weights)
    for (int64_t w : row) {
      lo = first ? w : std::min(lo, w);
      hi = first ? w : std::max(hi, w);
      first = false;
    }
  if (lo >= 0) return SignMode::Excitatory;
  if (hi <= 0) return SignMode::Inhibitory;
  return SignMode::Mixed;
}

int32_t effective_weight(int64_t w, SignMode mode, int num_weight_bits) {
  const int bits = Limits::kWeightBits;  // 8-bit mantissa range
  switch (mode) {
  case SignMode::Mixed:
    w = std::clamp<int64_t>(w, -(int64_t{1} << bits), (int64_t{1} << bits) - 1);
    break;
  case SignMode::Excitatory:
    w = std::clamp<int64_t>(w, 0, (int64_t{1} << bits) - 1);
    break;
  case SignMode::Inhibitory:
    w = std::clamp<int64_t>(w, -((int64_t{1} << bits) - 1), 0);
    break;
  }
  const int cut = bits - num_weight_bits + (mode == SignMode::Mixed ? 1 : 0);
  if (cut <= 0) return static_cast<int32_t>(w);
  if (mode == SignMode::Inhibitory) return static_cast<int32_t>(-(((-w) >> cut) << cut));
  return static_cast<int32_t>((w >> cut) << cut);  // arithmetic shift: floors negative weights
}

} // namespace neurocuda::backends::loihi2
