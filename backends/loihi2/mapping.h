// SPDX-License-Identifier: MIT
// Mapping a converted network (IF neurons, thresholds folded to 1) onto Loihi 2: populations of CUBA LIF
// compartments (du = 4095, dv = 0) joined by Dense synapses with 8-bit weight mantissas and one shared
// exponent per Dense process. docs/loihi2.md, "Network mapping", explains every choice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "neurocuda/ir/graph.h"

namespace neurocuda::backends::loihi2 {

/// Sources of a Dense process besides spiking populations: the input process sends graded spikes every step,
/// one per pixel (payload: the pixel quantized to 8 bits) and one "bias unit" whose payload is always 1.
inline constexpr int kInputPixels = -1;
inline constexpr int kBiasUnit = -2;

/// Why a graded population (ir::if_graded) has no mapping: the backend's supports() and map_network say it.
inline constexpr const char *kGradedNotMappable =
    "a graded neuron (signed integer spikes and a spike-count memory) is not a Loihi 2 CUBA neuron; "
    "convert with --neuron if for this backend";

/// One Dense process: spikes of `source` into the owning population (or the readout).
/// Stored by source neuron (what an event-driven simulator walks): targets[col_begin[j] .. col_begin[j+1]).
struct DenseHop {
  int source = -1;                 ///< index into Network::populations, or kInputPixels / kBiasUnit
  int weight_exp = 0;              ///< shared exponent, Limits::kWeightExpMin..kWeightExpMax
  std::vector<int64_t> col_begin;  ///< [source neurons + 1]
  std::vector<int32_t> targets;    ///< target neuron (CHW order)
  std::vector<int32_t> weights;    ///< effective weight mantissas (mixed sign mode, 8 bits: even, -256..254)
};

/// How an IF neuron (reset by subtraction) is put on Loihi's LIF (reset to zero). docs/loihi2.md.
enum class ResetMode {
  /// du = 0, dv = 4095, a self-synapse of weight -vth: u integrates the input and loses vth one step after
  /// each spike (reset by subtraction, exact up to u's leak of 1/4096 per step); v follows u and is what
  /// resets to zero. Biases arrive through a Dense process from the input's bias unit.
  Subtract,
  /// du = 4095, dv = 0: v integrates and resets to zero, the overshoot is lost; thresholds are lowered by
  /// `reset_compensation` to make up on average. Biases are the neurons' bias mantissa and exponent.
  Zero,
};

/// A population of LIF compartments (neurons in PyTorch CHW order).
struct Population {
  std::string name;
  int ir_node = -1;                    ///< its IF node, or -1 for a population the mapping added (max-pool)
  ir::Shape shape;
  int64_t neurons = 0;
  int depth = 0;                       ///< hops from the input; its first input arrives at step depth + 1
  int64_t du = 0, dv = 0;
  int64_t vth = 0;                     ///< threshold mantissa (spike if v > vth << 6)
  int64_t u0 = 0, v0 = 0;              ///< initial state
  std::vector<int64_t> bias_mant, bias_exp;  ///< per neuron
  std::vector<DenseHop> hops;
};

/// The readout: Dense processes into the classes, summed over the aligned window, plus a bias each step.
struct Readout {
  int64_t classes = 0;
  int depth = 0;                       ///< hops from the input: the readout window is steps depth+1 .. depth+T
  double unit = 1.0;                   ///< readout integer per unit of the float network's readout
  std::vector<DenseHop> hops;
  std::vector<int64_t> bias;           ///< per class, added once per step of the window
};

/// The mapped network.
struct Network {
  ir::Shape input_shape;
  double input_scale = 1;               ///< pixel value of payload 1
  int64_t payload_min = 0, payload_max = 255;  ///< 8-bit payload range (signed input: -127..127)
  std::vector<Population> populations;  ///< in dependency order
  Readout readout;
};

/// How the mapping is done.
struct MappingOptions {
  ResetMode reset = ResetMode::Subtract;
  /// Zero mode: vth = (1 - reset_compensation) x the threshold the weights are scaled to.
  double reset_compensation = 0.0;
};

/// Maps a converted graph. Throws UserError for an unsupported structure or a value that would leave its
/// Loihi 2 bit range (never wraps silently).
Network map_network(const ir::Graph &graph, const MappingOptions &options = {});

} // namespace neurocuda::backends::loihi2
