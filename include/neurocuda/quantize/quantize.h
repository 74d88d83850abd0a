// SPDX-License-Identifier: MIT
// Integer mode: a converted network with integer weights, potentials and thresholds (docs/integer-mode.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "neurocuda/ir/graph.h"

namespace neurocuda::quant {

/// One node of the integer network. Shapes are per sample; layouts follow the IR (PyTorch order).
struct QNode {
  ir::OpKind kind = ir::OpKind::Input;
  std::string name;
  std::vector<int> inputs;
  int output = -1;
  std::map<std::string, std::vector<int64_t>> ints;  ///< stride, padding, ... copied from the IR
  ir::Shape weight_shape;
  std::vector<int32_t> weight;                       ///< conv/linear: signed integers of `weight_bits` bits
  std::vector<int64_t> bias;                         ///< conv/linear: per output channel
  std::vector<int64_t> threshold;                    ///< IF: per channel
  std::vector<int64_t> v0;                           ///< IF: initial potential per channel
  std::vector<std::vector<int64_t>> multiplier;      ///< add: per input, per channel
  std::vector<int64_t> pool_multiplier;              ///< avg pools: per output position (lcm / divisor)
  int accumulator_bits = 0;                          ///< bits the largest value this node produces needs (signed)

  /// IF: a graded neuron (ints `graded`, ir::if_graded).
  bool graded() const { return ir::if_graded(ints); }
};

/// Graded populations (ir::if_graded) are quantized for payloads up to this magnitude, the most a
/// run of this many timesteps can emit: integer runs of networks with graded neurons need T <= it.
constexpr int64_t kMaxGradedPayload = 256;

/// Throws UserError when an integer run of `tmax` timesteps exceeds kMaxGradedPayload and the network
/// has graded populations (`graded`).
void check_graded_timesteps(bool graded, int64_t tmax);

/// An integer network. Every value is an int64 in the backends; `accumulator_bits` shows no overflow is possible.
struct QGraph {
  std::vector<QNode> nodes;
  std::vector<ir::Shape> shapes;  ///< per value
  std::vector<bool> time_invariant;  ///< per value: ir::time_invariant_values of the source graph
  int input = -1, output = -1;
  int weight_bits = 8;
  double input_scale = 1.0;       ///< x_int = clamp(round(x / input_scale), input_min, input_max)
  int64_t input_min = 0, input_max = 255;
  double readout_unit = 1.0;      ///< readout value = integer readout x readout_unit (ANN logit units)
};

/// Quantizes a converted graph: per-output-channel weights of `weight_bits` (8 or 16) bits, except the
/// readout layer, which is per tensor so its classes share one unit. Throws UserError if the network
/// cannot be represented (unfolded batch_norm, unconverted relu) or could overflow int64.
QGraph quantize(const ir::Graph &graph, int weight_bits);

/// The 8-bit integer a backend feeds for input value x.
int64_t quantize_input(const QGraph &q, float x);

} // namespace neurocuda::quant
