// SPDX-License-Identifier: MIT
// IR graph: construction, shape inference, dump and verification.
#include "neurocuda/ir/graph.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

#include "neurocuda/error.h"
#include "neurocuda/snn/neuron.h"

namespace neurocuda::ir {
namespace {

struct OpInfo {
  OpKind kind;
  std::string_view name;
  bool synaptic;
};

constexpr std::array kOps = {
#define NEUROCUDA_OP(e, s, syn) OpInfo{OpKind::e, s, syn},
#include "neurocuda/ir/ops.def"
#undef NEUROCUDA_OP
};

std::string shape_str(const Shape &s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const int64_t eff = d * (k - 1) + 1;
  int64_t num = in + 2 * p - eff;
  int64_t out = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
  // PyTorch: the last pooling window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

} // namespace

std::string_view op_name(OpKind kind) { return kOps.at(static_cast<size_t>(kind)).name; }

OpKind op_from_name(std::string_view name) {
  for (const auto &op : kOps)
    if (op.name == name) return op.kind;
  throw UserError(fmt::format("unknown node kind '{}' in network file; was it written by a newer neurocuda?", name));
}

bool is_synaptic(OpKind kind) { return kOps.at(static_cast<size_t>(kind)).synaptic; }

int64_t numel(const Shape &shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const std::vector<int64_t> &Node::attr_ints(const std::string &key) const {
  auto it = ints.find(key);
  NEUROCUDA_CHECK(it != ints.end()) << "node '" << name << "' has no int attribute '" << key << "'";
  return it->second;
}

const Tensor &Node::attr_tensor(const std::string &key) const {
  auto it = tensors.find(key);
  NEUROCUDA_CHECK(it != tensors.end()) << "node '" << name << "' has no tensor attribute '" << key << "'";
  return it->second;
}

int Graph::add_value(Shape shape, std::string name) {
  Value v;
  v.shape = std::move(shape);
  v.name = std::move(name);
  values_.push_back(std::move(v));
  return static_cast<int>(values_.size()) - 1;
}

int Graph::add_node(Node node, Shape out_shape) {
  const int idx = static_cast<int>(nodes_.size());
  node.output = add_value(std::move(out_shape));
  values_[static_cast<size_t>(node.output)].producer = idx;
  nodes_.push_back(std::move(node));
  return idx;
}

std::vector<int> Graph::consumers(int id) const {
  std::vector<int> out;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (std::find(nodes_[i].inputs.begin(), nodes_[i].inputs.end(), id) != nodes_[i].inputs.end())
      out.push_back(static_cast<int>(i));
  return out;
}

void Graph::compact(const std::vector<bool> &dead) {
  std::vector<Node> kept;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (!dead[i]) kept.push_back(std::move(nodes_[i]));
  nodes_ = std::move(kept);
  // Renumber values densely in order of first definition so dumps stay stable.
  std::vector<int> remap(values_.size(), -1);
  std::vector<Value> vals;
  auto keep = [&](int id) {
    if (remap[static_cast<size_t>(id)] < 0) {
      remap[static_cast<size_t>(id)] = static_cast<int>(vals.size());
      vals.push_back(values_[static_cast<size_t>(id)]);
    }
    return remap[static_cast<size_t>(id)];
  };
  for (auto &n : nodes_) {
    for (auto &in : n.inputs) in = keep(in);
    n.output = keep(n.output);
  }
  input_ = input_ >= 0 ? keep(input_) : -1;
  output_ = output_ >= 0 ? keep(output_) : -1;
  values_ = std::move(vals);
  for (auto &v : values_) v.producer = -1;
  for (size_t i = 0; i < nodes_.size(); ++i) values_[static_cast<size_t>(nodes_[i].output)].producer = static_cast<int>(i);
}

Shape infer_shape(const Graph &g, const Node &n) {
  auto in = [&](size_t i) -> const Shape & { return g.value(n.inputs.at(i)).shape; };
  auto fail = [&](const std::string &what) {
    return UserError(fmt::format("node '{}' ({}){}: {}", n.name, op_name(n.kind),
                                 at_source(n), what));
  };
  switch (n.kind) {
  case OpKind::Input:
    return g.value(n.output).shape;
  case OpKind::Conv2d: {
    const auto &x = in(0);
    const auto &w = n.attr_tensor("weight").shape;
    if (x.size() != 3)
      throw fail(fmt::format("expects a [C, H, W] input per sample, got {}", shape_str(x)));
    const auto &st = n.attr_ints("stride"), &pd = n.attr_ints("padding"), &dl = n.attr_ints("dilation");
    const int64_t groups = n.attr_ints("groups").at(0);
    if (x[0] != w[1] * groups)
      throw fail(fmt::format("weight {} with groups={} expects {} input channels, but the input has shape {}",
                             shape_str(w), groups, w[1] * groups, shape_str(x)));
    Shape out{w[0], pool_out(x[1], w[2], st[0], pd[0], dl[0], false), pool_out(x[2], w[3], st[1], pd[1], dl[1], false)};
    if (out[1] <= 0 || out[2] <= 0)
      throw fail(fmt::format("input {} is too small for kernel {}", shape_str(x), shape_str(w)));
    return out;
  }
  case OpKind::Linear: {
    const auto &x = in(0);
    const auto &w = n.attr_tensor("weight").shape;
    if (x.size() != 1 || x[0] != w[1])
      throw fail(fmt::format("weight {} expects {} input features, but the input has shape {}", shape_str(w), w[1],
                             shape_str(x)));
    return {w[0]};
  }
  case OpKind::BatchNorm:
  case OpKind::Relu:
  case OpKind::IF:
    return in(0);
  case OpKind::MaxPool2d:
  case OpKind::AvgPool2d: {
    const auto &x = in(0);
    if (x.size() != 3) throw fail(fmt::format("expects a [C, H, W] input, got {}", shape_str(x)));
    const auto &k = n.attr_ints("kernel"), &st = n.attr_ints("stride"), &pd = n.attr_ints("padding");
    std::vector<int64_t> dl{1, 1};
    if (n.ints.count("dilation")) dl = n.attr_ints("dilation");
    const bool ceil_mode = n.attr_ints("ceil_mode").at(0) != 0;
    Shape out{x[0], pool_out(x[1], k[0], st[0], pd[0], dl[0], ceil_mode), pool_out(x[2], k[1], st[1], pd[1], dl[1], ceil_mode)};
    if (out[1] <= 0 || out[2] <= 0) throw fail(fmt::format("input {} is too small for the pooling window", shape_str(x)));
    return out;
  }
  case OpKind::AdaptiveAvgPool2d: {
    const auto &x = in(0);
    if (x.size() != 3) throw fail(fmt::format("expects a [C, H, W] input, got {}", shape_str(x)));
    const auto &os = n.attr_ints("output_size");
    return {x[0], os[0], os[1]};
  }
  case OpKind::Add: {
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (in(i) != in(0))
        throw fail(fmt::format("adds tensors of different shapes {} and {} (broadcasting is not supported)",
                               shape_str(in(0)), shape_str(in(i))));
    return in(0);
  }
  case OpKind::Flatten:
    return {numel(in(0))};
  case OpKind::Cat: {
    Shape out = in(0);
    for (size_t i = 1; i < n.inputs.size(); ++i) {
      const auto &s = in(i);
      if (s.size() != out.size() || !std::equal(s.begin() + 1, s.end(), out.begin() + 1))
        throw fail(fmt::format("concatenates {} and {} along channels; other dimensions differ", shape_str(out),
                               shape_str(s)));
      out[0] += s[0];
    }
    return out;
  }
  }
  NEUROCUDA_CHECK(false) << "unhandled op kind";
  return {};
}

std::vector<bool> time_invariant_values(const Graph &g) {
  std::vector<bool> invariant(g.values().size(), false);
  for (const auto &n : g.nodes()) {
    bool v = n.kind != OpKind::IF;
    for (int in : n.inputs) v = v && invariant[static_cast<size_t>(in)];
    invariant[static_cast<size_t>(n.output)] = v;
  }
  return invariant;
}

std::vector<std::vector<float>> add_coefficients(const Node &n, int64_t channels) {
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const auto key = fmt::format("coeff{}", i);
    out.push_back(n.has_tensor(key) ? n.attr_tensor(key).data : std::vector<float>(static_cast<size_t>(channels), 1.0f));
  }
  return out;
}

double if_v0(const Node &n) {
  const auto it = n.floats.find("v0");
  return it != n.floats.end() ? it->second : static_cast<double>(snn::kDefaultV0);
}

bool if_graded(const std::map<std::string, std::vector<int64_t>> &ints) {
  const auto it = ints.find("graded");
  return it != ints.end() && !it->second.empty() && it->second[0] != 0;
}

bool if_graded(const Node &n) { return if_graded(n.ints); }

PoolWindow avg_pool_window(const Node &n, const Shape &in, const Shape &out, int64_t oy, int64_t ox) {
  PoolWindow w{};
  if (n.kind == OpKind::AdaptiveAvgPool2d) {
    w.y0 = oy * in[1] / out[1], w.y1 = ((oy + 1) * in[1] + out[1] - 1) / out[1];
    w.x0 = ox * in[2] / out[2], w.x1 = ((ox + 1) * in[2] + out[2] - 1) / out[2];
    w.divisor = (w.y1 - w.y0) * (w.x1 - w.x0);
    return w;
  }
  const auto &k = n.attr_ints("kernel"), &s = n.attr_ints("stride"), &p = n.attr_ints("padding");
  const int64_t y0 = oy * s[0] - p[0], x0 = ox * s[1] - p[1];
  const int64_t yend = std::min(y0 + k[0], in[1] + p[0]), xend = std::min(x0 + k[1], in[2] + p[1]);
  w.y0 = std::max<int64_t>(y0, 0), w.x0 = std::max<int64_t>(x0, 0);
  w.y1 = std::min(yend, in[1]), w.x1 = std::min(xend, in[2]);
  const int64_t over = n.attr_ints("divisor_override").at(0);
  w.divisor = over ? over : (n.attr_ints("count_include_pad").at(0) ? (yend - y0) * (xend - x0) : (w.y1 - w.y0) * (w.x1 - w.x0));
  return w;
}

std::string dump(const Graph &g) {
  std::string out = fmt::format("graph(%{} : {}) -> %{}\n", g.input(), shape_str(g.value(g.input()).shape), g.output());
  for (const auto &n : g.nodes()) {
    std::vector<std::string> ins;
    for (int i : n.inputs) ins.push_back(fmt::format("%{}", i));
    out += fmt::format("  %{} : {} = {}({})", n.output, shape_str(g.value(n.output).shape), op_name(n.kind),
                       fmt::join(ins, ", "));
    for (const auto &[k, v] : n.ints) out += fmt::format(" {}={}", k, shape_str(v));
    for (const auto &[k, v] : n.floats) out += fmt::format(" {}={}", k, v);
    for (const auto &[k, t] : n.tensors) out += fmt::format(" {}:{}", k, shape_str(t.shape));
    out += fmt::format("  # {}\n", n.name);
  }
  return out;
}

void verify(const Graph &g) {
  const int nv = static_cast<int>(g.values().size());
  NEUROCUDA_CHECK(g.input() >= 0 && g.input() < nv) << "graph input not set";
  NEUROCUDA_CHECK(g.output() >= 0 && g.output() < nv) << "graph output not set";
  std::vector<bool> defined(static_cast<size_t>(nv), false);
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const auto &n = g.nodes()[i];
    for (int in : n.inputs) {
      NEUROCUDA_CHECK(in >= 0 && in < nv && defined[static_cast<size_t>(in)])
          << "node '" << n.name << "' uses value %" << in << " before it is defined";
    }
    NEUROCUDA_CHECK(n.output >= 0 && n.output < nv && !defined[static_cast<size_t>(n.output)])
        << "node '" << n.name << "' redefines %" << n.output;
    NEUROCUDA_CHECK(g.value(n.output).producer == static_cast<int>(i)) << "value %" << n.output << " producer mismatch";
    defined[static_cast<size_t>(n.output)] = true;
    if (n.kind == OpKind::Input) {
      NEUROCUDA_CHECK(n.output == g.input()) << "stray input node";
      continue;
    }
    NEUROCUDA_CHECK(!n.inputs.empty()) << "node '" << n.name << "' has no inputs";
    NEUROCUDA_CHECK(infer_shape(g, n) == g.value(n.output).shape) << "node '" << n.name << "' shape is stale";
    if (n.kind == OpKind::Conv2d || n.kind == OpKind::Linear) {
      const auto &w = n.attr_tensor("weight");
      NEUROCUDA_CHECK(static_cast<int64_t>(w.data.size()) == numel(w.shape)) << "weight size of '" << n.name << "'";
      const auto &b = n.attr_tensor("bias");
      NEUROCUDA_CHECK(b.shape.size() == 1 && b.shape[0] == w.shape[0]) << "bias shape of '" << n.name << "'";
    }
  }
  NEUROCUDA_CHECK(defined[static_cast<size_t>(g.output())]) << "graph output is never computed";
}

} // namespace neurocuda::ir
