// SPDX-License-Identifier: MIT
// Loihi 2 fixed-point equations.
#include "loihi2/equations.h"

#include <algorithm>

#include "loihi2/limits.h"

namespace neurocuda::backends::loihi2 {
namespace {

// Division by 2^12 rounding toward zero.
int64_t trunc0_div4096(int64_t x) { return x >= 0 ? (x >> Limits::kDecayBits) : -((-x) >> Limits::kDecayBits); }

} // namespace

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

int32_t scale_accumulator(int64_t sum, int weight_exp) {
  const int64_t shifted = weight_exp >= 0 ? static_cast<int64_t>(static_cast<uint64_t>(sum) << weight_exp) : (sum >> -weight_exp);
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(shifted)));
}

bool lif_step(int64_t &u, int64_t &v, int64_t a_in, const LifParams &p) {
  constexpr int64_t kLimit = int64_t{1} << (Limits::kStateBits - 1);  // 2^23
  u = trunc0_div4096(u * (Limits::kDecayUnity - (p.du + 1))) + a_in * (int64_t{1} << Limits::kActivationShift);
  if (u > kLimit) u -= 2 * kLimit;
  else if (u <= -kLimit) u += 2 * kLimit;
  v = trunc0_div4096(v * (Limits::kDecayUnity - p.dv)) + u + p.bias_mant * (int64_t{1} << p.bias_exp);
  v = std::clamp(v, -(kLimit - 1), kLimit - 1);
  const bool spike = v > (p.vth << Limits::kThresholdShift);
  if (spike) v = 0;
  return spike;
}

} // namespace neurocuda::backends::loihi2
