// SPDX-License-Identifier: MIT
// The project's own IR: a topologically ordered list of nodes over per-sample tensors.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace neurocuda::ir {

/// Node kinds, generated from ops.def.
enum class OpKind {
#define NEUROCUDA_OP(e, s, syn) e,
#include "neurocuda/ir/ops.def"
#undef NEUROCUDA_OP
};

/// Printed name of a node kind ("conv2d").
std::string_view op_name(OpKind kind);
/// Kind for a printed name; throws UserError for an unknown name (used by the file reader).
OpKind op_from_name(std::string_view name);
/// True for kinds that carry synapses (weights): conv2d and linear.
bool is_synaptic(OpKind kind);

using Shape = std::vector<int64_t>;

/// Number of elements of a shape (1 for the empty shape).
int64_t numel(const Shape &shape);

/// A dense float tensor owned by a node (weights, biases, thresholds).
struct Tensor {
  Shape shape;
  std::vector<float> data;
};

/// A value flowing between nodes: one sample's tensor, shape without the batch dimension.
struct Value {
  Shape shape;          ///< [C, H, W] or [F]
  std::string name;     ///< TorchScript debug name of the ANN value it equals ("" if none)
  int producer = -1;    ///< index of the producing node
};

/// One operation. Attribute names per kind are documented in docs/ir.md.
struct Node {
  OpKind kind = OpKind::Input;
  std::string name;     ///< TorchScript name (scope or debug name), used in messages and dumps
  std::string source;   ///< Python source location "file.py:42", or ""
  std::vector<int> inputs;
  int output = -1;
  std::map<std::string, std::vector<int64_t>> ints;
  std::map<std::string, double> floats;
  std::map<std::string, Tensor> tensors;

  /// Integer attribute; throws InternalError if missing.
  const std::vector<int64_t> &attr_ints(const std::string &key) const;
  /// Tensor attribute; throws InternalError if missing.
  const Tensor &attr_tensor(const std::string &key) const;
  /// True if the tensor attribute exists.
  bool has_tensor(const std::string &key) const { return tensors.count(key) != 0; }
};

/// " at file.py:42" when the node knows its source line, else "": for error messages naming a node.
inline std::string at_source(const Node &n) { return n.source.empty() ? "" : " at " + n.source; }

/// A network: nodes in topological order, one input value, one output value.
class Graph {
public:
  /// Adds a value and returns its id.
  int add_value(Shape shape, std::string name = "");
  /// Appends a node producing a new value of `out_shape`; returns the node index.
  int add_node(Node node, Shape out_shape);

  std::vector<Node> &nodes() { return nodes_; }
  const std::vector<Node> &nodes() const { return nodes_; }
  std::vector<Value> &values() { return values_; }
  const std::vector<Value> &values() const { return values_; }
  Value &value(int id) { return values_.at(static_cast<size_t>(id)); }
  const Value &value(int id) const { return values_.at(static_cast<size_t>(id)); }

  int input() const { return input_; }
  int output() const { return output_; }
  void set_input(int value) { input_ = value; }
  void set_output(int value) { output_ = value; }

  /// Indices of nodes consuming value `id`, in node order.
  std::vector<int> consumers(int id) const;
  /// Removes nodes marked dead (kind kept, inputs cleared) and renumbers; keeps order.
  void compact(const std::vector<bool> &dead);

private:
  std::vector<Node> nodes_;
  std::vector<Value> values_;
  int input_ = -1;
  int output_ = -1;
};

/// Stable, deterministic text form of a graph (for golden tests and --dump-ir-after).
std::string dump(const Graph &graph);

/// Checks structural invariants (topological order, shapes, attributes); throws InternalError.
void verify(const Graph &graph);

/// Infers the output shape of `node` from its input shapes; throws UserError on mismatch.
Shape infer_shape(const Graph &graph, const Node &node);

/// Per value: true if it depends only on the graph input, not on any IF population. Under direct
/// encoding such values are the same at every timestep, so backends compute them once per sample.
std::vector<bool> time_invariant_values(const Graph &graph);

/// The per-channel coefficients of each input of an add node (`coeffN`), 1 where none is set.
std::vector<std::vector<float>> add_coefficients(const Node &node, int64_t channels);

/// The initial potential of IF node `node` in thresholds: its `v0`, else snn::kDefaultV0.
double if_v0(const Node &node);

/// True if IF node `node` is a graded neuron (ints `graded` = 1; snn/neuron.h), false for DESIGN.md's IF.
bool if_graded(const Node &node);
/// The same test on a node's integer attributes (for copies of them, e.g. quant::QNode::ints).
bool if_graded(const std::map<std::string, std::vector<int64_t>> &ints);

/// One output position of an average pool (avg_pool2d or adaptive_avg_pool2d, PyTorch's rules): the input
/// rows [y0, y1) and columns [x0, x1) it covers, clipped to the input, and the divisor of their sum.
struct PoolWindow {
  int64_t y0, y1, x0, x1, divisor;
};
/// The window of output (oy, ox) of average-pool `node` from input `in` to output `out` ([C, H, W]).
PoolWindow avg_pool_window(const Node &node, const Shape &in, const Shape &out, int64_t oy, int64_t ox);

} // namespace neurocuda::ir
