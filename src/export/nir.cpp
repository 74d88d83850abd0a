// SPDX-License-Identifier: MIT
// IR -> NIR graph (nodes and edges), written with the layout of the `nir` package (root dataset "version",
// group "node" holding the NIRGraph: "type", "nodes/<name>/...", "edges", "metadata").
#include "neurocuda/export/nir.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "hdf5_writer.h"
#include "neurocuda/error.h"
#include "neurocuda/format/atomic_file.h"

namespace neurocuda::exporters {
namespace {

using ir::OpKind;

// The NIR release whose layout this writer follows (nir.write of nir 1.0.x).
constexpr const char *kNirVersion = "1.0.8";

class NirBuilder {
public:
  NirBuilder(const ir::Graph &g, Hdf5Writer &h5) : g_(g), h5_(h5), producers_(g.values().size()) {
    names_ = {"input", "output"};
  }

  ExportNotes build(const std::string &metadata_json) {
    h5_.string("/version", kNirVersion);
    h5_.group("/node");
    h5_.string("/node/type", "NIRGraph");
    h5_.group("/node/nodes");
    for (const auto &n : g_.nodes()) visit(n);
    const auto out_shape = g_.value(g_.output()).shape;
    add_node("output", "Output");
    h5_.ints(node_path("output") + "/shape", {static_cast<int64_t>(out_shape.size())}, out_shape);
    connect(g_.output(), "output");
    std::vector<std::string> flat;
    for (const auto &[a, b] : edges_) {
      flat.push_back(a);
      flat.push_back(b);
    }
    h5_.strings("/node/edges", static_cast<int64_t>(edges_.size()), 2, flat);
    h5_.group("/node/metadata");
    h5_.string("/node/metadata/neurocuda", metadata_json);
    notes_.nodes = static_cast<int>(names_.size());
    notes_.edges = static_cast<int>(edges_.size());
    if (if_nodes_ > 0)
      notes_.warnings.push_back(fmt::format(
          "{} IF node(s): NIR's IF resets to v_reset; neurocuda's resets by subtraction and starts at "
          "v = 0.5 threshold. Each IF node carries metadata reset_mode = \"subtract\" and v_init; a reader that "
          "ignores them runs reset-to-zero from v = 0 (docs/export.md)",
          if_nodes_));
    if (or_pools_ > 0)
      notes_.warnings.push_back(fmt::format(
          "{} max-pool(s): NIR has no max-pool node; each is exported as OR-pooling (IF before the pool, "
          "SumPool2d, an IF that fires when any input spiked), which fires more often than the CPU backend's "
          "max-pool of currents (docs/export.md)",
          or_pools_));
    return notes_;
  }

private:
  [[noreturn]] void fail(const ir::Node &n, const std::string &why) const {
    throw UserError(fmt::format("export nir: node '{}' ({}){}: {}", n.name, ir::op_name(n.kind),
                                ir::at_source(n), why));
  }

  static std::string node_path(const std::string &name) { return "/node/nodes/" + name; }

  std::string unique(const std::string &base) {
    std::string name = base;
    std::replace(name.begin(), name.end(), '/', '_');
    if (name.empty()) name = "node";
    std::string out = name;
    for (int k = 1; names_.count(out); ++k) out = fmt::format("{}_{}", name, k);
    names_.insert(out);
    return out;
  }

  void add_node(const std::string &name, const std::string &type) {
    h5_.group(node_path(name));
    h5_.string(node_path(name) + "/type", type);
  }

  void connect(int value, const std::string &to) {
    for (const auto &p : producers_.at(static_cast<size_t>(value))) edges_.push_back({p, to});
  }

  static std::vector<int64_t> pair(const std::vector<int64_t> &v) { return {v.at(0), v.at(1)}; }

  void write_if(const std::string &name, const ir::Shape &shape, double threshold, double v_reset, double v_init,
                const std::string &reset_mode) {
    add_node(name, "IF");
    const int64_t k = ir::numel(shape);
    const auto p = node_path(name);
    h5_.floats(p + "/r", shape, std::vector<float>(static_cast<size_t>(k), 1.0f));
    h5_.floats(p + "/v_threshold", shape, std::vector<float>(static_cast<size_t>(k), static_cast<float>(threshold)));
    h5_.floats(p + "/v_reset", shape, std::vector<float>(static_cast<size_t>(k), static_cast<float>(v_reset)));
    h5_.group(p + "/metadata");
    h5_.string(p + "/metadata/reset_mode", reset_mode);
    h5_.floats(p + "/metadata/v_init", {}, {static_cast<float>(v_init)});
    if_nodes_ += reset_mode == "subtract";
  }

  void visit(const ir::Node &n) {
    const auto &os = g_.value(n.output).shape;
    auto &out = producers_[static_cast<size_t>(n.output)];
    switch (n.kind) {
    case OpKind::Input: {
      add_node("input", "Input");
      h5_.ints(node_path("input") + "/shape", {static_cast<int64_t>(os.size())}, os);
      out = {"input"};
      return;
    }
    case OpKind::Conv2d: {
      const auto name = unique(n.name);
      add_node(name, "Conv2d");
      const auto p = node_path(name);
      const auto &w = n.attr_tensor("weight");
      const auto &is = g_.value(n.inputs[0]).shape;
      h5_.floats(p + "/weight", w.shape, w.data);
      h5_.floats(p + "/bias", n.attr_tensor("bias").shape, n.attr_tensor("bias").data);
      h5_.ints(p + "/stride", {2}, pair(n.attr_ints("stride")));
      h5_.ints(p + "/padding", {2}, pair(n.attr_ints("padding")));
      h5_.ints(p + "/dilation", {2}, pair(n.attr_ints("dilation")));
      h5_.ints(p + "/groups", {}, {n.attr_ints("groups").at(0)});
      h5_.ints(p + "/input_shape", {2}, {is.at(1), is.at(2)});
      connect(n.inputs[0], name);
      out = {name};
      return;
    }
    case OpKind::Linear: {
      const auto name = unique(n.name);
      add_node(name, "Affine");
      const auto &w = n.attr_tensor("weight");
      h5_.floats(node_path(name) + "/weight", w.shape, w.data);
      h5_.floats(node_path(name) + "/bias", n.attr_tensor("bias").shape, n.attr_tensor("bias").data);
      connect(n.inputs[0], name);
      out = {name};
      return;
    }
    case OpKind::IF: {
      const auto name = unique(n.name);
      if (or_pool_inputs_.count(n.inputs[0])) {
        // Fires when any neuron of the window fired: input >= 1 > 0.5, reset to zero, no other input.
        write_if(name, os, 0.5, 0.0, 0.0, "zero");
      } else {
        write_if(name, os, 1.0, 0.0, ir::if_v0(n), "subtract");
      }
      connect(n.inputs[0], name);
      out = {name};
      return;
    }
    case OpKind::MaxPool2d: {
      const auto consumers = g_.consumers(n.output);
      if (consumers.size() != 1 || g_.nodes()[static_cast<size_t>(consumers[0])].kind != OpKind::IF)
        fail(n, "a max-pool must feed one IF population");
      const auto &d = n.attr_ints("dilation");
      if (d.at(0) != 1 || d.at(1) != 1) fail(n, "dilated pooling has no NIR equivalent");
      if (n.attr_ints("ceil_mode").at(0)) fail(n, "ceil_mode pooling has no NIR equivalent");
      const auto &if_node = g_.nodes()[static_cast<size_t>(consumers[0])];
      const auto pre = unique(if_node.name + ".prepool");
      write_if(pre, g_.value(n.inputs[0]).shape, 1.0, 0.0, ir::if_v0(if_node), "subtract");
      connect(n.inputs[0], pre);
      const auto pool = unique(n.name + ".sumpool");
      add_node(pool, "SumPool2d");
      h5_.ints(node_path(pool) + "/kernel_size", {2}, pair(n.attr_ints("kernel")));
      h5_.ints(node_path(pool) + "/stride", {2}, pair(n.attr_ints("stride")));
      h5_.ints(node_path(pool) + "/padding", {2}, pair(n.attr_ints("padding")));
      edges_.push_back({pre, pool});
      out = {pool};
      or_pool_inputs_.insert(n.output);
      ++or_pools_;
      return;
    }
    case OpKind::AvgPool2d:
    case OpKind::AdaptiveAvgPool2d: {
      const auto &is = g_.value(n.inputs[0]).shape;
      std::vector<int64_t> kernel, stride, padding{0, 0};
      if (n.kind == OpKind::AdaptiveAvgPool2d) {
        if (is[1] % os[1] != 0 || is[2] % os[2] != 0)
          fail(n, fmt::format("adaptive pooling from {}x{} to {}x{} has uneven windows; NIR's AvgPool2d needs equal ones",
                              is[1], is[2], os[1], os[2]));
        kernel = {is[1] / os[1], is[2] / os[2]};
        stride = kernel;
      } else {
        kernel = pair(n.attr_ints("kernel"));
        stride = pair(n.attr_ints("stride"));
        padding = pair(n.attr_ints("padding"));
        if (n.attr_ints("ceil_mode").at(0) || n.attr_ints("divisor_override").at(0) ||
            ((padding[0] || padding[1]) && !n.attr_ints("count_include_pad").at(0)))
          fail(n, "ceil_mode, divisor_override and padding that is not counted have no NIR AvgPool2d equivalent");
      }
      const auto name = unique(n.name);
      add_node(name, "AvgPool2d");
      h5_.ints(node_path(name) + "/kernel_size", {2}, kernel);
      h5_.ints(node_path(name) + "/stride", {2}, stride);
      h5_.ints(node_path(name) + "/padding", {2}, padding);
      connect(n.inputs[0], name);
      out = {name};
      return;
    }
    case OpKind::Flatten: {
      const auto name = unique(n.name);
      add_node(name, "Flatten");
      const auto &is = g_.value(n.inputs[0]).shape;
      h5_.ints(node_path(name) + "/start_dim", {}, {0});
      h5_.ints(node_path(name) + "/end_dim", {}, {-1});
      h5_.ints(node_path(name) + "/input_type", {static_cast<int64_t>(is.size())}, is);
      connect(n.inputs[0], name);
      out = {name};
      return;
    }
    case OpKind::Add: {
      // NIR sums every edge into a node: an add is its inputs' edges, each through a Scale node when it has
      // per-channel coefficients other than 1.
      const int64_t c = os.at(0), hw = ir::numel(os) / c;
      const auto coeff = ir::add_coefficients(n, c);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const bool unit = std::all_of(coeff[i].begin(), coeff[i].end(), [](float x) { return x == 1.0f; });
        if (unit) {
          for (const auto &p : producers_[static_cast<size_t>(n.inputs[i])]) out.push_back(p);
          continue;
        }
        const auto name = unique(fmt::format("{}.scale{}", n.name, i));
        add_node(name, "Scale");
        std::vector<float> full(static_cast<size_t>(c * hw));
        for (int64_t k = 0; k < c * hw; ++k) full[static_cast<size_t>(k)] = coeff[i][static_cast<size_t>(k / hw)];
        h5_.floats(node_path(name) + "/scale", os, full);
        connect(n.inputs[i], name);
        out.push_back(name);
      }
      return;
    }
    case OpKind::Cat:
      fail(n, "NIR has no concatenation node (edges into a node are summed)");
    case OpKind::BatchNorm:
      fail(n, "a batch norm left after conversion has no NIR node; convert folds batch norms into convolutions");
    case OpKind::Relu:
      fail(n, "the network is not converted (relu left)");
    }
  }

  const ir::Graph &g_;
  Hdf5Writer &h5_;
  std::vector<std::vector<std::string>> producers_;  // NIR nodes whose outputs sum to each IR value
  std::vector<std::pair<std::string, std::string>> edges_;
  std::set<std::string> names_;
  std::set<int> or_pool_inputs_;
  int if_nodes_ = 0, or_pools_ = 0;
  ExportNotes notes_;
};

} // namespace

ExportNotes write_nir(const ir::Graph &graph, const std::string &path, const std::string &metadata_json) {
  Hdf5Writer h5;
  const auto notes = NirBuilder(graph, h5).build(metadata_json);
  format::write_file_atomic(path, h5.bytes());
  return notes;
}

} // namespace neurocuda::exporters
