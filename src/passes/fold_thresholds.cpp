// SPDX-License-Identifier: MIT
// Pass fold_thresholds.
//
// Every value carries a per-channel scale s: the ANN activation is s * (SNN value).
// Spikes of an IF population with thresholds theta have s = theta. A weighted layer
// that (through pooling and adds) feeds a population with thresholds theta is rescaled
// so its output has s = theta; its weights absorb the scale of their inputs. Adds carry
// per-input coefficients for inputs that arrive at another scale (residual shortcuts).
#include "neurocuda/passes/fold_thresholds.h"

#include <fmt/format.h>

#include <optional>

#include "neurocuda/error.h"

namespace neurocuda::passes {
namespace {

using Scale = std::vector<float>;

class ThresholdFolder {
public:
  explicit ThresholdFolder(ir::Graph &graph) : graph_(graph), scale_(graph.values().size()) {}

  void run() {
    for (auto &n : graph_.nodes()) fold(n);
  }

private:
  // The thresholds of the population this value drives through channel-preserving ops.
  std::optional<Scale> target(int value) const {
    if (graph_.output() == value) return std::nullopt;
    const auto uses = graph_.consumers(value);
    if (uses.size() != 1) return std::nullopt;
    const auto &c = graph_.nodes()[static_cast<size_t>(uses[0])];
    switch (c.kind) {
    case ir::OpKind::IF:
      return c.attr_tensor("threshold").data;
    case ir::OpKind::MaxPool2d:
    case ir::OpKind::AvgPool2d:
    case ir::OpKind::AdaptiveAvgPool2d:
    case ir::OpKind::Add:
      return target(c.output);
    default:
      return std::nullopt;
    }
  }

  Scale ones(int value) const { return Scale(static_cast<size_t>(graph_.value(value).shape.at(0)), 1.0f); }

  void fold(ir::Node &n) {
    const auto &out_shape = graph_.value(n.output).shape;
    Scale &s_out = scale_[static_cast<size_t>(n.output)];
    auto s_in = [&](size_t i) -> const Scale & { return scale_[static_cast<size_t>(n.inputs.at(i))]; };
    switch (n.kind) {
    case ir::OpKind::Input:
      s_out = ones(n.output);
      return;
    case ir::OpKind::Conv2d:
    case ir::OpKind::Linear: {
      s_out = target(n.output).value_or(ones(n.output));
      auto &w = n.tensors.at("weight");
      auto &b = n.tensors.at("bias");
      const int64_t out_ch = w.shape[0], in_per_group = w.shape[1];
      const int64_t spatial = n.kind == ir::OpKind::Conv2d ? w.shape[2] * w.shape[3] : 1;
      const int64_t groups = n.kind == ir::OpKind::Conv2d ? n.attr_ints("groups")[0] : 1;
      const int64_t out_per_group = out_ch / groups;
      for (int64_t o = 0; o < out_ch; ++o) {
        const int64_t g = o / out_per_group;
        for (int64_t ci = 0; ci < in_per_group; ++ci) {
          const float si = s_in(0)[static_cast<size_t>(g * in_per_group + ci)];
          for (int64_t k = 0; k < spatial; ++k) {
            float &x = w.data[static_cast<size_t>((o * in_per_group + ci) * spatial + k)];
            x = x * si / s_out[static_cast<size_t>(o)];
          }
        }
        b.data[static_cast<size_t>(o)] /= s_out[static_cast<size_t>(o)];
      }
      return;
    }
    case ir::OpKind::BatchNorm: {
      s_out = target(n.output).value_or(ones(n.output));
      auto &scale = n.tensors.at("scale").data;
      auto &shift = n.tensors.at("shift").data;
      for (size_t c = 0; c < scale.size(); ++c) {
        scale[c] = scale[c] * s_in(0)[c] / s_out[c];
        shift[c] /= s_out[c];
      }
      return;
    }
    case ir::OpKind::Add: {
      s_out = target(n.output).value_or(ones(n.output));
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        Scale coeff(s_out.size());
        for (size_t c = 0; c < coeff.size(); ++c) coeff[c] = s_in(i)[c] / s_out[c];
        n.tensors[fmt::format("coeff{}", i)] = ir::Tensor{{static_cast<int64_t>(coeff.size())}, coeff};
      }
      return;
    }
    case ir::OpKind::IF: {
      const auto theta = n.attr_tensor("threshold").data;
      const auto &in = s_in(0);
      for (size_t c = 0; c < theta.size(); ++c)
        if (in[c] != theta[c])
          throw UserError(fmt::format(
              "node '{}': cannot fold its threshold into weights because its input does not come from a conv2d, "
              "linear, batch_norm or add layer; insert a weighted layer before this activation",
              n.name));
      s_out = theta;
      n.tensors["calibrated_threshold"] = n.tensors.at("threshold");
      n.tensors.erase("threshold");
      return;
    }
    case ir::OpKind::MaxPool2d:
    case ir::OpKind::AvgPool2d:
    case ir::OpKind::AdaptiveAvgPool2d:
    case ir::OpKind::Relu:
      s_out = s_in(0);
      return;
    case ir::OpKind::Flatten: {
      const auto &in_shape = graph_.value(n.inputs[0]).shape;
      const int64_t per_ch = ir::numel(in_shape) / in_shape[0];
      s_out.clear();
      for (float s : s_in(0)) s_out.insert(s_out.end(), static_cast<size_t>(per_ch), s);
      return;
    }
    case ir::OpKind::Cat:
      s_out.clear();
      for (size_t i = 0; i < n.inputs.size(); ++i) s_out.insert(s_out.end(), s_in(i).begin(), s_in(i).end());
      return;
    }
    NEUROCUDA_CHECK(static_cast<int64_t>(s_out.size()) == out_shape.at(0)) << "scale size";
  }

  ir::Graph &graph_;
  std::vector<Scale> scale_;
};

} // namespace

void fold_thresholds(ir::Graph &graph, const PassContext & /*ctx*/) {
  const auto &out = graph.value(graph.output());
  NEUROCUDA_CHECK(out.producer >= 0) << "graph output has no producer";
  const auto &last = graph.nodes()[static_cast<size_t>(out.producer)];
  if (last.kind != ir::OpKind::Linear && last.kind != ir::OpKind::Conv2d && last.kind != ir::OpKind::Add &&
      last.kind != ir::OpKind::AvgPool2d && last.kind != ir::OpKind::AdaptiveAvgPool2d &&
      last.kind != ir::OpKind::Flatten && last.kind != ir::OpKind::BatchNorm)
    throw UserError(fmt::format("the model's output is produced by '{}' ({}); the readout must be a linear or "
                                "convolution layer (the SNN accumulates its current over time)",
                                last.name, ir::op_name(last.kind)));
  ThresholdFolder(graph).run();
}

} // namespace neurocuda::passes
