// SPDX-License-Identifier: MIT
// The Loihi 2 fixed-point equations (Dense synapse + current-based LIF), as in Lava's bit-accurate models.
#pragma once

#include <cstdint>
#include <vector>

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
int32_t scale_accumulator(int64_t sum, int weight_exp);

/// Neuron parameters of one compartment.
struct LifParams {
  int64_t du = 0, dv = 0, vth = 0, bias_mant = 0, bias_exp = 0;
};

/// One timestep of the bit-accurate CUBA LIF: updates u and v with input a_in; returns the spike.
/// u <- trunc0(u (4096 - (du + 1)) / 4096) + (a_in << 6), wrapped once into 24 bits;
/// v <- clip(trunc0(v (4096 - dv) / 4096) + u + (bias_mant << bias_exp), +-(2^23 - 1));
/// spike if v > vth << 6, then v = 0 (u is not reset).
bool lif_step(int64_t &u, int64_t &v, int64_t a_in, const LifParams &p);

} // namespace neurocuda::backends::loihi2
