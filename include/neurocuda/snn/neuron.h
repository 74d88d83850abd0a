// SPDX-License-Identifier: MIT
// The spiking contract every backend implements, as host/device functions.
//
// Summation order (fixed so backends agree bit for bit in fp32; compile without FMA contraction):
//  - conv2d output (o, oy, ox): acc = 0; for ky, for kx, for input channel c (ascending), if the input
//    x at (c, y, x) is non-zero: acc = acc + w * x; finally acc = acc + bias.
//  - linear output o: acc = 0; for input i ascending, if x_i != 0: acc = acc + w * x_i; then + bias.
//    Skipping zero inputs cannot change the sum: acc starts at +0 and x + (+-0) == x.
//  - avg pooling: sum of the window in (ky, kx) order, then divided by the divisor.
//  - add: sum over inputs in order of coeff_k * x_k.
//
// Max-pooling of a time-varying current (a max-pool moved before a neuron): each input keeps a
// running sum S(t) = S(t-1) + I(t); the pool emits M(t) - M(t-1) with M(t) = max over the window
// of S(t), M(0) = 0. Over t steps the neuron integrates exactly max_window S(t), which tends to the
// ANN's max of average currents; pooling instantaneous currents instead would overestimate it.
// For a constant input this equals pooling the current itself.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define NEUROCUDA_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// Always inlined: the CPU backend's AVX2 kernels call these, and an out-of-line copy compiled there
// could be the one the linker keeps for every caller (on CPUs without AVX2 too).
#define NEUROCUDA_HD inline __attribute__((always_inline))
#else
#define NEUROCUDA_HD inline
#endif

namespace neurocuda::snn {

/// Initial membrane potential as a fraction of the threshold (DESIGN.md: v(0) = theta / 2).
constexpr float kDefaultV0 = 0.5f;

/// One synaptic term of a weighted sum, in the order above: acc + w * x, rounded twice (never fused).
NEUROCUDA_HD float accumulate(float acc, float w, float x) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(acc, __fmul_rn(w, x));
#else
  return acc + w * x;  // the CPU build compiles with -ffp-contract=off
#endif
}

/// Integer-mode synaptic term: exact.
NEUROCUDA_HD int64_t accumulate(int64_t acc, int64_t w, int64_t x) { return acc + w * x; }

/// One fp32 integrate-and-fire step with threshold 1 and reset by subtraction;
/// returns whether the neuron spiked.
/// Written without a branch (subtracting 0 leaves v as it is, -0 included) so that loops over a
/// population vectorise (GCC if-converts the int-to-float form, not a bool select).
NEUROCUDA_HD bool if_step(float &v, float current) {
  v = v + current;
  const int fired = v >= 1.0f;
  v = v - static_cast<float>(fired);
  return fired != 0;
}

/// One integer IF step (integer mode) with a per-channel integer threshold, reset by subtraction.
NEUROCUDA_HD bool if_step_int(int64_t &v, int64_t current, int64_t threshold) {
  v += current;
  const bool spike = v >= threshold;
  v -= spike ? threshold : 0;  // no branch, as in if_step
  return spike;
}

// Graded neuron (convert --neuron graded; docs/conversion.md): an IF neuron that remembers its net
// spike count n and may emit an integer payload q of either sign (a graded spike) each step:
//   v <- v + I(t);  q = clamp(floor(v / theta), -n, t - n);  v <- v - q * theta;  n <- n + q.
// n stays in [0, t], so its rate stays in [0, 1] like the ANN's clipped ReLU, and after T steps
// n = clamp(floor((v(0) + sum I) / theta), 0, T) exactly: the count no longer depends on when the
// input arrived (IF's unevenness error). With theta = lambda, v(0) = shift and T = L this is a QCFS
// activation's output. q = 0 is no spike; spike counts count steps with q != 0 (events).

/// One fp32 graded step with threshold 1 at timestep t (1-based); returns the payload q.
/// floor and the clamps are exact; v - q rounds once, identically on every backend.
NEUROCUDA_HD float graded_step(float &v, float &net, float current, float t) {
  v = v + current;
#if defined(__CUDA_ARCH__)
  float q = floorf(v);
#else
  float q = __builtin_floorf(v);
#endif
  const float hi = t - net, lo = -net;
  q = q > hi ? hi : q;
  q = q < lo ? lo : q;
  v = v - q;
  net = net + q;
  return q;
}

/// Integer-mode graded step with a per-channel integer threshold (floor division toward -infinity).
NEUROCUDA_HD int64_t graded_step_int(int64_t &v, int64_t &net, int64_t current, int64_t threshold, int64_t t) {
  v += current;
  int64_t q = v >= 0 ? v / threshold : -((-v + threshold - 1) / threshold);
  const int64_t hi = t - net, lo = -net;
  q = q > hi ? hi : q;
  q = q < lo ? lo : q;
  v -= q * threshold;
  net += q;
  return q;
}

/// Index of the largest value, lowest index on ties (the readout's prediction).
NEUROCUDA_HD int argmax(const float *values, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (values[i] > values[best]) best = i;
  return best;
}

} // namespace neurocuda::snn
