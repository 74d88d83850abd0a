// SPDX-License-Identifier: MIT
// IR -> Lava-dl netx HDF5: a chain of layers `layer/0 .. layer/N-1`, each with `type`, `shape` (C, H, W),
// synapse parameters and a `neuron` group, as lava.lib.dl.slayer's export_hdf5 writes them and
// lava.lib.dl.netx.hdf5.Network reads them. Values are Loihi fixed point in netx's convention: 8-bit even
// weights (exponent 0) and an integer threshold mantissa per layer.
#include "neurocuda/export/netx.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "hdf5_writer.h"
#include "neurocuda/error.h"
#include "neurocuda/format/atomic_file.h"

namespace neurocuda::exporters {
namespace {

using ir::OpKind;

constexpr int64_t kDecayUnity = 4096;            // netx's iDecay / vDecay scale (du = iDecay - 1)
constexpr int64_t kMaxThreshold = (1 << 17) - 1;  // Loihi 2's threshold mantissa

// Per-layer fixed point: the threshold mantissa V puts the largest weight at the top of the 8-bit even
// range (|W| <= 254), W = 2 round(w V / 2), bias B = round(b V); the float network has threshold 1.
struct Fixed {
  int64_t threshold = 1;
  std::vector<int64_t> weight, bias;
};

Fixed quantize(const std::vector<float> &w, const std::vector<float> &b) {
  double wmax = 0;
  for (float x : w) wmax = std::max(wmax, std::fabs(static_cast<double>(x)));
  Fixed f;
  f.threshold = wmax > 0 ? std::clamp<int64_t>(static_cast<int64_t>(std::floor(254.0 / wmax)), 1, kMaxThreshold)
                         : kMaxThreshold;
  const double v = static_cast<double>(f.threshold);
  for (float x : w) f.weight.push_back(2 * std::llround(static_cast<double>(x) * v / 2.0));
  for (float x : b) f.bias.push_back(std::llround(static_cast<double>(x) * v));
  return f;
}

class NetxBuilder {
public:
  NetxBuilder(const ir::Graph &g, Hdf5Writer &h5) : g_(g), h5_(h5) {}

  ExportNotes build(const std::string &metadata_json) {
    h5_.group("/layer");
    for (const auto &n : g_.nodes()) visit(n);
    if (pending_) fail(*pending_, "its output reaches no IF population or readout");
    h5_.group("/neurocuda");
    h5_.string("/neurocuda/metadata", metadata_json);
    notes_.nodes = layers_;
    if (if_layers_ > 0)
      notes_.warnings.push_back(fmt::format(
          "{} IF layer(s): netx's CUBA neurons reset to zero; neurocuda's IF resets by subtraction and starts at "
          "v = 0.5 threshold. Each neuron group carries resetMode = \"subtract\" and vInit; Lava's LIF ignores them "
          "and loses the overshoot at every spike (docs/export.md)",
          if_layers_));
    if (pools_ > 0)
      notes_.warnings.push_back(fmt::format(
          "{} max-pool(s): netx has no max-pool; each is a 'pool' layer that fires when any spike arrives in its "
          "window (OR-pooling), which fires more often than the CPU backend's max-pool of currents; "
          "Lava-dl's netx loader does not implement 'pool' layers (docs/export.md)",
          pools_));
    return notes_;
  }

private:
  [[noreturn]] void fail(const ir::Node &n, const std::string &why) const {
    throw UserError(fmt::format("export netx: node '{}' ({}){}: {}; netx describes a chain of conv, dense, pool "
                                "and flatten layers; use --format nir, which keeps the graph",
                                n.name, ir::op_name(n.kind), ir::at_source(n), why));
  }

  // The chain: every node reads the value the previous node wrote, and nothing else reads it.
  void check_chain(const ir::Node &n) {
    if (n.inputs.size() != 1) fail(n, fmt::format("it joins {} paths", n.inputs.size()));
    if (n.inputs[0] != last_) fail(n, "it does not read the previous layer's output");
    if (g_.consumers(n.inputs[0]).size() != 1) fail(n, "its input is also read by another node (a branch)");
  }

  std::string begin_layer(const std::string &type, const ir::Shape &shape) {
    const auto path = fmt::format("/layer/{}", layers_++);
    h5_.group(path);
    h5_.string(path + "/type", type);
    h5_.ints(path + "/shape", {static_cast<int64_t>(shape.size())}, shape);
    return path;
  }

  // CUBA neuron group: du = iDecay - 1 = 4095 (the current lasts one step), dv = vDecay.
  void neuron(const std::string &path, int64_t threshold, int64_t v_decay, const std::string &reset, int64_t v_init) {
    h5_.group(path + "/neuron");
    h5_.string(path + "/neuron/type", "CUBA");
    h5_.ints(path + "/neuron/iDecay", {}, {kDecayUnity});
    h5_.ints(path + "/neuron/vDecay", {}, {v_decay});
    h5_.ints(path + "/neuron/vThMant", {}, {threshold});
    h5_.ints(path + "/neuron/refDelay", {}, {1});
    h5_.ints(path + "/neuron/gradedSpike", {}, {0});
    h5_.string(path + "/neuron/resetMode", reset);
    h5_.ints(path + "/neuron/vInit", {}, {v_init});
  }

  // Writes the pending conv / linear with the neuron that follows it; `readout` = the network output.
  void synapse_layer(const ir::Node &syn, const ir::Shape &shape, const ir::Node *if_node) {
    const auto &w = syn.attr_tensor("weight");
    const auto f = quantize(w.data, syn.attr_tensor("bias").data);
    const bool conv = syn.kind == OpKind::Conv2d;
    const auto path = begin_layer(conv ? "conv" : "dense", shape);
    h5_.ints(path + "/weight", w.shape, f.weight);
    h5_.ints(path + "/bias", {static_cast<int64_t>(f.bias.size())}, f.bias);
    if (conv) {
      h5_.ints(path + "/inChannels", {}, {w.shape[1] * syn.attr_ints("groups")[0]});
      h5_.ints(path + "/outChannels", {}, {w.shape[0]});
      h5_.ints(path + "/kernelSize", {2}, {w.shape[2], w.shape[3]});
      for (const char *k : {"stride", "padding", "dilation"}) h5_.ints(path + "/" + k, {2}, syn.attr_ints(k));
      h5_.ints(path + "/groups", {}, {syn.attr_ints("groups")[0]});
    } else {
      h5_.ints(path + "/inFeatures", {}, {w.shape[1]});
      h5_.ints(path + "/outFeatures", {}, {w.shape[0]});
    }
    if (if_node) {
      // IF: v integrates (vDecay 0) and spikes at the threshold; v(0) = v_init x threshold.
      neuron(path, f.threshold, 0, "subtract",
             std::llround(ir::if_v0(*if_node) * static_cast<double>(f.threshold)));
      ++if_layers_;
    } else {
      // Readout: v sums the layer's input over the timesteps and never spikes; the class is argmax v.
      neuron(path, kMaxThreshold, 0, "none", 0);
      h5_.string(path + "/neuron/readout", "argmax of v after T steps (v sums the input; no spikes)");
    }
  }

  void visit(const ir::Node &n) {
    switch (n.kind) {
    case OpKind::Input:
      begin_layer("input", g_.value(n.output).shape);  // graded input, presented at every step
      last_ = n.output;
      return;
    case OpKind::Conv2d:
    case OpKind::Linear:
      check_chain(n);
      if (pending_) fail(n, "two synapse layers with no IF population between them");
      pending_ = &n;
      last_ = n.output;
      if (n.output == g_.output()) {
        if (n.kind != OpKind::Linear) fail(n, "the readout must be a linear layer");
        synapse_layer(n, g_.value(n.output).shape, nullptr);
        pending_ = nullptr;
      }
      return;
    case OpKind::MaxPool2d:
      check_chain(n);
      if (!pending_ || pool_) fail(n, "netx's pool layer needs a conv layer before it");
      if (n.attr_ints("ceil_mode")[0] != 0) fail(n, "ceil_mode pools are not supported");
      pool_ = &n;
      last_ = n.output;
      return;
    case OpKind::IF: {
      check_chain(n);
      if (!pending_) fail(n, "an IF population must follow a conv or linear layer");
      // Before a pool, the conv layer's neurons are the IF population at full resolution.
      synapse_layer(*pending_, g_.value(pool_ ? pool_->inputs[0] : n.output).shape, &n);
      pending_ = nullptr;
      if (pool_) {
        const auto path = begin_layer("pool", g_.value(n.output).shape);
        h5_.ints(path + "/kernelSize", {2}, pool_->attr_ints("kernel"));
        for (const char *k : {"stride", "padding"}) h5_.ints(path + "/" + k, {2}, pool_->attr_ints(k));
        h5_.ints(path + "/dilation", {2}, pool_->ints.count("dilation") ? pool_->attr_ints("dilation") : std::vector<int64_t>{1, 1});
        h5_.ints(path + "/weight", {}, {2});
        neuron(path, 1, kDecayUnity, "zero", 0);  // forgets each step: fires iff a window spike arrived
        ++pools_;
        pool_ = nullptr;
      }
      last_ = n.output;
      return;
    }
    case OpKind::Flatten:
      check_chain(n);
      if (pending_) fail(n, "a flatten between a synapse layer and its neurons");
      begin_layer("flatten", g_.value(n.output).shape);
      last_ = n.output;
      return;
    case OpKind::Add:
      fail(n, "a residual add");
    case OpKind::Cat:
      fail(n, "a concatenation");
    case OpKind::AvgPool2d:
    case OpKind::AdaptiveAvgPool2d:
      fail(n, "an average pool (Lava-dl has no netx layer for it)");
    case OpKind::BatchNorm:
      fail(n, "a batch norm left after conversion");
    case OpKind::Relu:
      fail(n, "the network is not converted (relu left)");
    }
  }

  const ir::Graph &g_;
  Hdf5Writer &h5_;
  int last_ = -1;                      // the value the chain has reached
  const ir::Node *pending_ = nullptr;  // conv / linear waiting for its neurons
  const ir::Node *pool_ = nullptr;     // max-pool between them
  int layers_ = 0, if_layers_ = 0, pools_ = 0;
  ExportNotes notes_;
};

} // namespace

ExportNotes write_netx(const ir::Graph &graph, const std::string &path, const std::string &metadata_json) {
  Hdf5Writer h5;
  const auto notes = NetxBuilder(graph, h5).build(metadata_json);
  format::write_file_atomic(path, h5.bytes());
  return notes;
}

} // namespace neurocuda::exporters
