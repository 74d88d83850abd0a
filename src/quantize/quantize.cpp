// SPDX-License-Identifier: MIT
// Integer quantization of a converted network.
//
// Each value carries a per-channel unit u: the SNN (threshold-1) value is u x integer. Spikes have
// u = 1. A conv/linear layer first absorbs its inputs' units into its weights, then picks per
// output channel the integer threshold theta = floor(qmax / max|w|) and stores round(w * theta):
// its output unit is 1/theta, so a downstream IF neuron's threshold is exactly theta. Pools keep
// units (average pools sum, with the divisors folded into an exact integer multiplier); adds scale
// each input by an integer multiplier into the unit of their first input.
#include "neurocuda/quantize/quantize.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "neurocuda/error.h"

namespace neurocuda::quant {
namespace {

int bits_for(double bound) { return bound < 1 ? 1 : static_cast<int>(std::ceil(std::log2(bound + 1))) + 1; }

// Divisor of each output position of an average pool, as the fp32 backends compute it.
std::vector<int64_t> pool_divisors(const ir::Node &n, const ir::Shape &in, const ir::Shape &out) {
  std::vector<int64_t> div(static_cast<size_t>(out[1] * out[2]));
  for (int64_t oy = 0; oy < out[1]; ++oy)
    for (int64_t ox = 0; ox < out[2]; ++ox)
      div[static_cast<size_t>(oy * out[2] + ox)] = ir::avg_pool_window(n, in, out, oy, ox).divisor;
  return div;
}

} // namespace

QGraph quantize(const ir::Graph &g, int weight_bits) {
  if (weight_bits != 8 && weight_bits != 16)
    throw UserError(fmt::format("integer mode supports 8- or 16-bit weights, not {}", weight_bits));
  const double qmax = static_cast<double>((int64_t{1} << (weight_bits - 1)) - 1);
  QGraph q;
  q.weight_bits = weight_bits;
  q.input = g.input();
  q.output = g.output();
  for (const auto &v : g.values()) q.shapes.push_back(v.shape);
  q.time_invariant = ir::time_invariant_values(g);
  std::vector<std::vector<double>> unit(g.values().size());
  std::vector<double> bound(g.values().size(), 0.0);  // largest |integer| a value can hold in one step

  for (const auto &n : g.nodes()) {
    QNode qn;
    qn.kind = n.kind;
    qn.name = n.name;
    qn.inputs = n.inputs;
    qn.output = n.output;
    qn.ints = n.ints;
    const auto &out_shape = g.value(n.output).shape;
    const auto out_ch = static_cast<size_t>(out_shape.at(0));
    auto &u = unit[static_cast<size_t>(n.output)];
    auto in_unit = [&](size_t i) -> const std::vector<double> & { return unit[static_cast<size_t>(n.inputs.at(i))]; };
    auto in_bound = [&](size_t i) { return bound[static_cast<size_t>(n.inputs.at(i))]; };
    double b = 0;
    switch (n.kind) {
    case ir::OpKind::Input: {
      const double lo = n.floats.count("min") ? n.floats.at("min") : 0.0;
      const double hi = n.floats.count("max") ? n.floats.at("max") : 1.0;
      const bool is_signed = lo < 0;
      q.input_max = is_signed ? 127 : 255;
      q.input_min = is_signed ? -127 : 0;
      const double range = std::max(std::fabs(lo), std::fabs(hi));
      q.input_scale = range > 0 ? range / static_cast<double>(q.input_max) : 1.0;
      u.assign(out_ch, q.input_scale);
      b = static_cast<double>(q.input_max);
      break;
    }
    case ir::OpKind::Conv2d:
    case ir::OpKind::Linear: {
      const auto &w = n.attr_tensor("weight");
      const auto &bias = n.attr_tensor("bias").data;
      const int64_t outs = w.shape[0], per_out = ir::numel(w.shape) / outs;
      const int64_t spatial = n.kind == ir::OpKind::Conv2d ? w.shape[2] * w.shape[3] : 1;
      const int64_t cig = per_out / spatial;
      const int64_t groups = n.kind == ir::OpKind::Conv2d ? n.attr_ints("groups")[0] : 1;
      const auto &ui = in_unit(0);
      std::vector<double> scaled(w.data.size());
      for (int64_t o = 0; o < outs; ++o)
        for (int64_t k = 0; k < per_out; ++k) {
          const int64_t channel = (o / (outs / groups)) * cig + k / spatial;
          scaled[static_cast<size_t>(o * per_out + k)] = w.data[static_cast<size_t>(o * per_out + k)] * ui[static_cast<size_t>(channel)];
        }
      const bool readout = n.output == g.output();
      std::vector<double> theta(static_cast<size_t>(outs));
      double layer_max = 0;
      for (double x : scaled) layer_max = std::max(layer_max, std::fabs(x));
      for (int64_t o = 0; o < outs; ++o) {
        double m = 0;
        for (int64_t k = 0; k < per_out; ++k) m = std::max(m, std::fabs(scaled[static_cast<size_t>(o * per_out + k)]));
        if (readout) m = layer_max;  // one unit for all classes: the argmax compares them
        theta[static_cast<size_t>(o)] = m > 0 ? std::max(1.0, std::floor(qmax / m)) : qmax;
      }
      qn.weight_shape = w.shape;
      qn.weight.resize(scaled.size());
      qn.bias.resize(static_cast<size_t>(outs));
      u.assign(static_cast<size_t>(outs), 0.0);
      double worst = 0;
      for (int64_t o = 0; o < outs; ++o) {
        const double t = theta[static_cast<size_t>(o)];
        double sum_abs = 0;
        for (int64_t k = 0; k < per_out; ++k) {
          const auto idx = static_cast<size_t>(o * per_out + k);
          qn.weight[idx] = static_cast<int32_t>(std::lround(scaled[idx] * t));
          sum_abs += std::abs(qn.weight[idx]);
        }
        const double bq = std::round(static_cast<double>(bias[static_cast<size_t>(o)]) * t);
        if (std::fabs(bq) > 4e18) throw UserError(fmt::format("node '{}': bias too large for integer mode", n.name));
        qn.bias[static_cast<size_t>(o)] = static_cast<int64_t>(bq);
        u[static_cast<size_t>(o)] = 1.0 / t;
        worst = std::max(worst, sum_abs * in_bound(0) + std::fabs(bq));
      }
      b = worst;
      if (readout) q.readout_unit = u[0];
      break;
    }
    case ir::OpKind::IF: {
      const auto &ui = in_unit(0);
      const double v0 = ir::if_v0(n);
      qn.threshold.resize(ui.size());
      qn.v0.resize(ui.size());
      for (size_t c = 0; c < ui.size(); ++c) {
        qn.threshold[c] = std::max<int64_t>(1, std::llround(1.0 / ui[c]));
        qn.v0[c] = std::llround(v0 / ui[c]);
      }
      // The potential stays below threshold + one step's current, above -(T x current): checked per run.
      u.assign(ui.size(), 1.0);
      b = ir::if_graded(n) ? static_cast<double>(kMaxGradedPayload) : 1.0;  // a graded payload is at most T
      qn.accumulator_bits = bits_for(std::max(in_bound(0), 1.0) * 2);
      break;
    }
    case ir::OpKind::MaxPool2d:
      u = in_unit(0);
      b = in_bound(0);
      break;
    case ir::OpKind::AvgPool2d:
    case ir::OpKind::AdaptiveAvgPool2d: {
      const auto div = pool_divisors(n, g.value(n.inputs[0]).shape, out_shape);
      int64_t l = 1;
      for (auto d : div) {
        l = std::lcm(l, d);
        if (l > (int64_t{1} << 20))
          throw UserError(fmt::format("node '{}': average pool divisors are too varied for exact integer mode", n.name));
      }
      qn.pool_multiplier.resize(div.size());
      int64_t maxmul = 0;
      for (size_t i = 0; i < div.size(); ++i) {
        qn.pool_multiplier[i] = l / div[i];
        maxmul = std::max(maxmul, qn.pool_multiplier[i] * div[i]);
      }
      u = in_unit(0);
      for (auto &x : u) x /= static_cast<double>(l);
      b = in_bound(0) * static_cast<double>(maxmul);
      break;
    }
    case ir::OpKind::Add: {
      const auto coeff = ir::add_coefficients(n, static_cast<int64_t>(out_ch));
      u.resize(out_ch);
      for (size_t c = 0; c < out_ch; ++c) u[c] = static_cast<double>(coeff[0][c]) * in_unit(0)[c];
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        std::vector<int64_t> m(out_ch);
        for (size_t c = 0; c < out_ch; ++c) m[c] = std::llround(static_cast<double>(coeff[i][c]) * in_unit(i)[c] / u[c]);
        double mm = 0;
        for (auto x : m) mm = std::max(mm, std::fabs(static_cast<double>(x)));
        b += mm * in_bound(i);
        qn.multiplier.push_back(std::move(m));
      }
      break;
    }
    case ir::OpKind::Flatten: {
      const auto &in_shape = g.value(n.inputs[0]).shape;
      const int64_t plane = ir::numel(in_shape) / in_shape[0];
      for (double x : in_unit(0)) u.insert(u.end(), static_cast<size_t>(plane), x);
      b = in_bound(0);
      break;
    }
    case ir::OpKind::Cat:
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        u.insert(u.end(), in_unit(i).begin(), in_unit(i).end());
        b = std::max(b, in_bound(i));
      }
      break;
    case ir::OpKind::BatchNorm:
      throw UserError(fmt::format("node '{}' (batch_norm) could not be folded into a layer; integer mode needs "
                                  "batch norms directly after a conv2d or linear layer",
                                  n.name));
    case ir::OpKind::Relu:
      throw UserError(fmt::format("node '{}' is an unconverted relu; integer mode runs converted networks", n.name));
    }
    bound[static_cast<size_t>(n.output)] = b;
    if (qn.accumulator_bits == 0) qn.accumulator_bits = bits_for(b);
    if (qn.accumulator_bits > 62)
      throw UserError(fmt::format("node '{}' needs {}-bit integers in integer mode; use --precision int8 or fp32",
                                  n.name, qn.accumulator_bits));
    q.nodes.push_back(std::move(qn));
  }
  return q;
}

int64_t quantize_input(const QGraph &q, float x) {
  const double v = std::nearbyint(static_cast<double>(x) / q.input_scale);
  return static_cast<int64_t>(std::clamp(v, static_cast<double>(q.input_min), static_cast<double>(q.input_max)));
}

void check_graded_timesteps(bool graded, int64_t tmax) {
  if (graded && tmax > kMaxGradedPayload)
    throw UserError(fmt::format("T = {}: integer mode runs graded neurons for at most T = {} (their payloads are "
                                "quantized for it); use fewer timesteps or fp32",
                                tmax, kMaxGradedPayload));
}

} // namespace neurocuda::quant
