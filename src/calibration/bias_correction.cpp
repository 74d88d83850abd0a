// SPDX-License-Identifier: MIT
// Layer-wise bias correction: match each population's mean SNN rate to the ANN's mean activation.
//
// Converted networks under-fire at small T: early timesteps are transients and errors of
// earlier layers accumulate. Adding the per-channel gap e = E[clip(a / theta, 0, 1)] - E[rate]
// to the bias feeding a channel raises its rate by about e. Populations are corrected in
// topological order, re-running the SNN after each, because correcting a layer changes the
// input of the next. No labels and no weight retraining are used.
#include "neurocuda/calibration/bias_correction.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <spdlog/spdlog.h>

#include "neurocuda/backend.h"
#include "neurocuda/error.h"

namespace neurocuda::calibration {
namespace {

// The conv/linear whose bias feeds `value` through channel-preserving ops, and the factor the
// bias is multiplied by on the way (add coefficients); nullptr if there is none.
ir::Node *bias_source(ir::Graph &g, int value, std::vector<float> *factor) {
  const int p = g.value(value).producer;
  if (p < 0) return nullptr;
  auto &n = g.nodes()[static_cast<size_t>(p)];
  switch (n.kind) {
  case ir::OpKind::Conv2d:
  case ir::OpKind::Linear:
    return g.consumers(value).size() == 1 ? &n : nullptr;
  case ir::OpKind::MaxPool2d:
  case ir::OpKind::AvgPool2d:
  case ir::OpKind::AdaptiveAvgPool2d:
    return g.consumers(value).size() == 1 ? bias_source(g, n.inputs[0], factor) : nullptr;
  case ir::OpKind::Add: {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const auto *src = &g.nodes()[static_cast<size_t>(std::max(g.value(n.inputs[i]).producer, 0))];
      if (src->kind != ir::OpKind::Conv2d && src->kind != ir::OpKind::Linear) continue;
      auto *found = bias_source(g, n.inputs[i], factor);
      if (!found) continue;
      const auto key = fmt::format("coeff{}", i);
      if (n.has_tensor(key))
        for (size_t c = 0; c < factor->size(); ++c) (*factor)[c] *= n.attr_tensor(key).data[c];
      return found;
    }
    return nullptr;
  }
  default:
    return nullptr;
  }
}

} // namespace

int correct_biases(ir::Graph &graph, const frontend::TorchModel &model, data::Dataset &data,
                   const BiasCorrectionOptions &options, const std::function<void(int, int)> &progress) {
  if (options.timesteps <= 0) return 0;
  const ir::Shape shape = graph.value(graph.input()).shape;
  const int64_t per = ir::numel(shape);
  const int64_t n_max = std::min(options.samples, data.size());
  std::vector<float> x(static_cast<size_t>(n_max * per));
  std::vector<int32_t> labels(static_cast<size_t>(n_max));
  data.rewind();
  int64_t n = 0;
  while (n < n_max) {
    const int64_t got = data.next(n_max - n, x.data() + n * per, labels.data() + n);
    if (got == 0) break;
    n += got;
  }
  if (n == 0) throw UserError("bias correction needs calibration samples, but the data set is empty");

  std::vector<int> pops;
  std::vector<std::string> taps;
  for (size_t i = 0; i < graph.nodes().size(); ++i)
    if (graph.nodes()[i].kind == ir::OpKind::IF) {
      pops.push_back(static_cast<int>(i));
      taps.push_back(graph.value(graph.nodes()[i].output).name);
    }
  // ANN targets per channel: mean of clip(a / theta, 0, 1), i.e. the rate a perfect IF neuron would have.
  const auto acts = model.forward_taps(x.data(), n, shape, taps);
  std::vector<std::vector<double>> target(pops.size());
  for (size_t l = 0; l < pops.size(); ++l) {
    const auto &node = graph.nodes()[static_cast<size_t>(pops[l])];
    const auto &theta = node.attr_tensor("calibrated_threshold").data;
    const auto &s = graph.value(node.output).shape;
    const int64_t channels = s[0], plane = ir::numel(s) / channels;
    target[l].assign(static_cast<size_t>(channels), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t k = 0; k < plane; ++k) {
          const float a = acts[l][static_cast<size_t>((i * channels + c) * plane + k)];
          target[l][static_cast<size_t>(c)] += std::clamp(a / theta[static_cast<size_t>(c)], 0.0f, 1.0f);
        }
    for (auto &t : target[l]) t /= static_cast<double>(n * plane);
  }

  const Backend &cpu = get_backend("cpu");
  RunOptions run;
  run.checkpoints = {options.timesteps};
  run.threads = options.threads;
  run.channel_spikes = true;
  int corrected = 0;
  const int rounds = std::max(options.rounds, 1);
  for (size_t l = 0; l < pops.size(); ++l) {
    auto &node = graph.nodes()[static_cast<size_t>(pops[l])];
    const auto &s = graph.value(node.output).shape;
    const int64_t channels = s[0], plane = ir::numel(s) / channels;
    std::vector<float> factor(static_cast<size_t>(channels), 1.0f);
    ir::Node *src = bias_source(graph, node.inputs[0], &factor);
    if (!src) continue;
    // A bias shift of d moves a channel's rate by less than d (its neurons that stay below zero do
    // not respond), so each round after the first divides the gap by the slope the previous round
    // measured (a secant step), kept in [1/4, 1] so a flat channel cannot take a wild step. A
    // channel's rate depends only on its own bias once the layers before are fixed, so with more
    // than one round a last run measures the final step and each channel keeps the bias whose
    // measured gap was smallest (rates of constant-input layers move in jumps; a step can overshoot).
    const int runs = rounds == 1 ? 1 : rounds + 1;
    auto &bias = src->tensors.at("bias").data;
    std::vector<double> last_gap(static_cast<size_t>(channels), 0.0), last_step(static_cast<size_t>(channels), 0.0);
    std::vector<double> best_abs(static_cast<size_t>(channels), std::numeric_limits<double>::infinity());
    std::vector<float> best_bias(static_cast<size_t>(channels), 0.0f);
    for (int round = 0; round < runs; ++round) {
      CompileOptions copts;
      copts.precision = options.precision;
      auto program = cpu.compile(graph, copts);
      const auto r = program->run(Batch{x.data(), n, shape}, run);
      double sum_gap = 0, sum_abs = 0, sum_target = 0;
      for (int64_t c = 0; c < channels; ++c) {
        const size_t ch = static_cast<size_t>(c);
        const double rate = static_cast<double>(r.channel_spikes[l][ch]) / static_cast<double>(n * plane * options.timesteps);
        const double gap = target[l][ch] - rate;
        sum_gap += gap;
        sum_abs += std::abs(gap);
        sum_target += target[l][ch];
        if (std::abs(gap) < best_abs[ch]) {
          best_abs[ch] = std::abs(gap);
          best_bias[ch] = bias[ch];
        }
        if (round == rounds) continue;  // the measuring run
        double slope = 1.0;
        if (round > 0 && last_step[ch] != 0.0) slope = std::clamp((last_gap[ch] - gap) / last_step[ch], 0.25, 1.0);
        const double step = gap / slope;
        last_gap[ch] = gap;
        last_step[ch] = factor[ch] != 0.0f ? step : 0.0;
        if (factor[ch] != 0.0f) bias[ch] += static_cast<float>(step / factor[ch]);
      }
      if (auto log = spdlog::get("calibration"))
        log->debug("bias correction '{}' run {}: mean ANN rate {:.4f}, mean SNN gap {:+.4f}, mean |gap| {:.4f}",
                   node.name, round + 1, sum_target / static_cast<double>(channels),
                   sum_gap / static_cast<double>(channels), sum_abs / static_cast<double>(channels));
    }
    if (runs > 1) {
      bias = best_bias;
      double kept = 0;
      for (double g : best_abs) kept += g;
      if (auto log = spdlog::get("calibration"))
        log->debug("bias correction '{}' kept: mean |gap| {:.4f}", node.name, kept / static_cast<double>(channels));
    }
    ++corrected;
    if (progress) progress(static_cast<int>(l + 1), static_cast<int>(pops.size()));
  }
  return corrected;
}

} // namespace neurocuda::calibration
