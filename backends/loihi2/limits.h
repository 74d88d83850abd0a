// SPDX-License-Identifier: MIT
// Loihi 2 limits, in one place (DESIGN.md, "Loihi 2 simulator backend"; Intel's Lava bit-accurate models).
#pragma once

#include <cstdint>

namespace neurocuda::backends::loihi2 {

/// Every numeric range and resource limit the Loihi 2 simulator uses.
struct Limits {
  static constexpr int kNeuroCoresPerChip = 128;     ///< neuro-cores on one Loihi 2 chip
  static constexpr int kNeuronsPerCore = 4096;       ///< per core for CUBA LIF (Intel's compiler logs)
  static constexpr int kDecayBits = 12;              ///< du, dv: 12-bit unsigned; decay unity = 2^12
  static constexpr int64_t kDecayUnity = 4096;
  static constexpr int kThresholdBits = 17;          ///< vth: 17-bit unsigned mantissa
  static constexpr int kThresholdShift = 6;          ///< threshold compared as vth << 6
  static constexpr int kActivationShift = 6;         ///< synaptic input enters the current as a_in << 6
  static constexpr int kStateBits = 24;              ///< u and v are 24-bit signed
  static constexpr int kBiasMantBits = 13;           ///< bias mantissa, signed
  static constexpr int kBiasExpMax = 7;              ///< bias exponent 0..7
  static constexpr int kWeightBits = 8;              ///< weight mantissa
  static constexpr int kWeightExpMin = -8;           ///< shared weight exponent range (Lava's Dense accepts these)
  static constexpr int kWeightExpMax = 7;
};

} // namespace neurocuda::backends::loihi2
