// SPDX-License-Identifier: MIT
// The Loihi 2 fixed-point equations (Dense synapse + current-based LIF), as in Lava's bit-accurate models.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "loihi2/limits.h"

namespace neurocuda::backends::loihi2 {

/// Dense weight sign mode.
enum class SignMode { Mixed, Excitatory, Inhibitory };

/// Lava's inference when no sign mode is given: all >= 0 excitatory, all <= 0 inhibitory, else mixed.
SignMode infer_sign_mode(const std::vector<std::vector<int64_t>> &weights);

/// The weight the synapse really uses: clipped to the sign mode's 8-bit range, then the low
/// 8 - num_weight_bits (+1 if mixed) bits cleared (flooring; inhibitory weights floor their magnitude).
int32_t effective_weight(int64_t weight, SignMode mode, int num_weight_bits);

/// The synaptic output stored for the next step: `sum` shifted left by weight_exp (arithmetic right,
/// rounding toward -infinity, when negative), as int32 (two's complement wrap, as numpy's astype).
inline int32_t scale_accumulator(int64_t sum, int weight_exp) {
  const int64_t shifted =
      weight_exp >= 0 ? static_cast<int64_t>(static_cast<uint64_t>(sum) << weight_exp) : (sum >> -weight_exp);
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(shifted)));
}

/// Neuron parameters of one compartment.
struct LifParams {
  int64_t du = 0, dv = 0, vth = 0, bias_mant = 0, bias_exp = 0;
};

/// One timestep of the bit-accurate CUBA LIF: updates u and v with input a_in; returns the spike.
/// u <- trunc0(u (4096 - (du + 1)) / 4096) + (a_in << 6), wrapped once into 24 bits;
/// v <- clip(trunc0(v (4096 - dv) / 4096) + u + (bias_mant << bias_exp), +-(2^23 - 1));
/// spike if v > vth << 6, then v = 0 (u is not reset). `wrapped`, if given, says whether u wrapped.
inline bool lif_step(int64_t &u, int64_t &v, int64_t a_in, const LifParams &p, bool *wrapped = nullptr) {
  constexpr int64_t kLimit = int64_t{1} << (Limits::kStateBits - 1);  // 2^23
  const auto trunc0_div4096 = [](int64_t x) {  // division by 2^12 rounding toward zero
    return x >= 0 ? (x >> Limits::kDecayBits) : -((-x) >> Limits::kDecayBits);
  };
  u = trunc0_div4096(u * (Limits::kDecayUnity - (p.du + 1))) + a_in * (int64_t{1} << Limits::kActivationShift);
  const bool wrap = u > kLimit || u <= -kLimit;
  if (u > kLimit) u -= 2 * kLimit;
  else if (u <= -kLimit) u += 2 * kLimit;
  if (wrapped) *wrapped = wrap;
  v = trunc0_div4096(v * (Limits::kDecayUnity - p.dv)) + u + p.bias_mant * (int64_t{1} << p.bias_exp);
  v = std::clamp(v, -(kLimit - 1), kLimit - 1);
  const bool spike = v > (p.vth << Limits::kThresholdShift);
  if (spike) v = 0;
  return spike;
}

} // namespace neurocuda::backends::loihi2
