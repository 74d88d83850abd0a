// SPDX-License-Identifier: MIT
// Lowering of a frozen TorchScript graph to the neurocuda IR.
//
// Tensors become IR values; everything else (constants, shape arithmetic, the shape
// guards scripted models carry, prim::If on known conditions) is evaluated here with
// the batch size kept symbolic, so no-op control flow never reaches the IR.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/jit/frontend/source_range.h>

#include <cmath>
#include <optional>
#include <set>
#include <unordered_map>

#include "neurocuda/error.h"
#include "torch_model_impl.h"

namespace neurocuda::frontend {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// What a TorchScript value is known to be during lowering.
struct Meta {
  enum class Kind { None, Tensor, Const, Int, Double, Bool, String, List, Other } kind = Kind::Other;
  int ir = -1;            // Tensor: IR value id
  at::Tensor constant;    // Const: a frozen parameter
  int64_t i = 0;          // Int
  bool is_batch = false;  // Int equal to the (unknown) batch size
  double d = 0;           // Double
  bool b = false;         // Bool
  std::string s;          // String
  std::vector<Meta> list; // List / tuple
};

Meta make_int(int64_t v, bool batch = false) {
  Meta m;
  m.kind = Meta::Kind::Int;
  m.i = v;
  m.is_batch = batch;
  return m;
}
Meta make_double(double v) {
  Meta m;
  m.kind = Meta::Kind::Double;
  m.d = v;
  return m;
}
Meta make_bool(bool v) {
  Meta m;
  m.kind = Meta::Kind::Bool;
  m.b = v;
  return m;
}

Meta from_ivalue(const c10::IValue &v) {
  Meta m;
  if (v.isNone()) m.kind = Meta::Kind::None;
  else if (v.isTensor()) {
    m.kind = Meta::Kind::Const;
    m.constant = v.toTensor();
  } else if (v.isInt()) return make_int(v.toInt());
  else if (v.isDouble()) return make_double(v.toDouble());
  else if (v.isBool()) return make_bool(v.toBool());
  else if (v.isString()) {
    m.kind = Meta::Kind::String;
    m.s = v.toStringRef();
  } else if (v.isList()) {
    m.kind = Meta::Kind::List;
    for (const auto &e : v.toListRef()) m.list.push_back(from_ivalue(e));
  } else if (v.isTuple()) {
    m.kind = Meta::Kind::List;
    for (const auto &e : v.toTupleRef().elements()) m.list.push_back(from_ivalue(e));
  }
  return m;
}

ir::Tensor to_ir(const at::Tensor &t) {
  auto c = t.detach().to(torch::kFloat32).contiguous();
  ir::Tensor out;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

class Lowerer {
public:
  Lowerer(const TorchModel::Impl &impl, ir::Shape input_shape) : impl_(impl), input_shape_(std::move(input_shape)) {}

  ir::Graph run() {
    auto graph = impl_.frozen.get_method("forward").graph();
    const auto inputs = graph->inputs();
    if (inputs.size() != 2)
      throw UserError(fmt::format("model '{}' forward takes {} arguments; neurocuda converts models with one input tensor",
                                  impl_.name, inputs.size() - 1));
    ir::Node in;
    in.kind = ir::OpKind::Input;
    in.name = "input";
    const int idx = graph_.add_node(in, input_shape_);
    graph_.set_input(graph_.nodes()[static_cast<size_t>(idx)].output);
    graph_.value(graph_.input()).name = inputs[1]->debugName();
    Meta x;
    x.kind = Meta::Kind::Tensor;
    x.ir = graph_.input();
    env_[inputs[1]] = x;
    lower_block(graph->block());
    const auto outs = graph->outputs();
    Meta result = get(outs.at(0));
    if (result.kind == Meta::Kind::List && !result.list.empty()) result = result.list[0];
    if (result.kind != Meta::Kind::Tensor)
      throw UserError(fmt::format("model '{}' does not return a tensor computed from its input", impl_.name));
    graph_.set_output(result.ir);
    if (graph_.value(result.ir).shape.size() != 1)
      throw UserError(fmt::format("model '{}' returns per-sample shape [{}]; a classifier returns [batch, classes]",
                                  impl_.name, fmt::join(graph_.value(result.ir).shape, ", ")));
    return std::move(graph_);
  }

private:
  void lower_block(torch::jit::Block *block) {
    for (auto *node : block->nodes()) lower_node(node);
  }

  // Source ranges of the node and of the calls it was inlined through, outermost first.
  static std::vector<torch::jit::SourceRange> ranges(Node *n) {
    std::vector<torch::jit::SourceRange> out;
    if (auto cs = n->callstack())
      for (const auto &e : (*cs)->vec()) out.push_back(std::get<1>(e));
    out.push_back(n->sourceRange());
    // A loaded archive points into its serialized code; the debug tables lead back to the user's source.
    for (auto &r : out)
      if (auto orig = r.findSourceRangeThatGenerated()) r = *orig;
    return out;
  }

  // The deepest source location in the user's code (not inside the torch package), as "file.py:LINE".
  static std::string where(Node *n) {
    std::string fallback;
    const auto rs = ranges(n);
    for (auto it = rs.rbegin(); it != rs.rend(); ++it) {
      auto loc = it->file_line_col();
      if (!loc) continue;
      const auto &[file, line, col] = *loc;
      if (file.empty()) return "";  // user code without a file (compiled from a string): location unknown
      const std::string here = fmt::format("{}:{}", file, line);
      if (fallback.empty()) fallback = here;
      if (file.find("/torch/") == std::string::npos) return here;
    }
    return fallback;
  }

  // Module path such as "features.3" (scripted: inlined call stack; traced: scope), else the value name.
  static std::string node_name(Node *n) {
    std::string path;
    if (auto cs = n->callstack())
      for (const auto &e : (*cs)->vec())
        if (const auto &info = std::get<2>(e); info && !info->instance_name().empty() && info->instance_name() != "SELF") {
          if (!path.empty()) path += ".";
          path += info->instance_name();
        }
    if (!path.empty()) return path;
    if (n->scope() && !n->scope()->isBlank()) {
      std::string s = n->scope()->namesFromRoot();
      const auto slash = s.rfind('/');
      if (slash != std::string::npos) s = s.substr(slash + 1);
      if (s.rfind("__module.", 0) == 0) s = s.substr(9);
      if (!s.empty()) return s;
    }
    return n->outputs().empty() ? std::string(n->kind().toQualString()) : n->output(0)->debugName();
  }

  // The only user of a node's output, or nullptr.
  static Node *single_user(Node *n) {
    const auto &uses = n->output(0)->uses();
    return uses.size() == 1 && uses[0].offset == 0 ? uses[0].user : nullptr;
  }
  static bool is(Node *n, const char *kind) { return n && std::string(n->kind().toQualString()) == kind; }
  // A constant number argument, or nullopt (no throw) if it is anything else.
  std::optional<double> try_scalar(Node *n, size_t i) {
    if (i >= n->inputs().size()) return std::nullopt;
    Meta m = get(n->input(i));
    if (m.kind == Meta::Kind::Double) return m.d;
    if (m.kind == Meta::Kind::Int && !m.is_batch) return static_cast<double>(m.i);
    if (m.kind == Meta::Kind::Const && m.constant.numel() == 1) return m.constant.item<double>();
    return std::nullopt;
  }

  // QCFS (Bu et al., ICLR 2022): x / lam -> clamp(0, 1) -> * L -> + shift -> floor -> / L -> * lam, or with
  // round for + 0.5 and floor (the straight-through form freezes to this in eval mode). It is exactly an IF
  // neuron with threshold lam and v(0) = shift thresholds at T = L (docs/conversion.md). Freezing usually
  // folds "/ lam" into the conv or linear layer before it; then the chain starts at the clamp and that
  // layer's weights are scaled back by lam. Returns false if the chain at `n` is not that pattern.
  bool lower_qcfs(Node *n) {
    std::vector<Node *> chain;
    std::optional<double> lam_in;
    Node *clamp = n;
    if (is(n, "aten::div") || is(n, "aten::mul")) {
      const auto c = try_scalar(n, 1);
      if (!c || *c == 0) return false;
      lam_in = is(n, "aten::div") ? *c : 1.0 / *c;
      chain.push_back(n);
      clamp = single_user(n);
    }
    if (!is(clamp, "aten::clamp") || try_scalar(clamp, 1) != 0.0 || try_scalar(clamp, 2) != 1.0) return false;
    Node *mul_l = single_user(clamp);
    if (!is(mul_l, "aten::mul")) return false;
    const auto levels = try_scalar(mul_l, 1);
    if (!levels || *levels < 1 || std::floor(*levels) != *levels) return false;
    chain.push_back(clamp);
    chain.push_back(mul_l);
    Node *next = single_user(mul_l);
    double shift = 0;
    if (is(next, "aten::add") || is(next, "aten::sub")) {
      const auto c = try_scalar(next, 1);
      if (!c || (next->inputs().size() > 2 && try_scalar(next, 2) != 1.0)) return false;
      shift = is(next, "aten::add") ? *c : -*c;
      chain.push_back(next);
      next = single_user(next);
    }
    if (is(next, "aten::round")) shift += 0.5;
    else if (!is(next, "aten::floor")) return false;
    chain.push_back(next);
    Node *div_l = single_user(next);
    if (!is(div_l, "aten::div") || try_scalar(div_l, 1) != *levels) return false;
    Node *mul_lam = single_user(div_l);
    const auto lam = try_scalar(mul_lam, 1);
    if (!is(mul_lam, "aten::mul") || !lam) return false;
    if (lam_in && std::fabs(*lam - *lam_in) > 1e-6 * std::fabs(*lam)) return false;
    chain.push_back(div_l);
    chain.push_back(mul_lam);
    if (!(*lam > 0)) throw unsupported(n, fmt::format("is a QCFS activation with threshold {}; it must be positive", *lam));
    if (shift < 0 || shift >= 1)
      throw unsupported(n, fmt::format("is a QCFS activation with shift {}; it must be in [0, 1)", shift));
    const int x = tensor_in(n, 0);
    if (!lam_in) {
      // "/ lam" was folded into the producer: scale it back so that the neuron sees x, not x / lam.
      const int producer = graph_.value(x).producer;
      auto &p = graph_.nodes().at(static_cast<size_t>(producer));
      if ((p.kind != ir::OpKind::Conv2d && p.kind != ir::OpKind::Linear) || n->input(0)->uses().size() != 1 ||
          !graph_.consumers(x).empty())
        throw unsupported(n, "is a QCFS activation whose division by its threshold was folded into something other "
                             "than the conv2d or linear layer before it");
      for (auto *t : {&p.tensors.at("weight"), &p.tensors.at("bias")})
        for (auto &w : t->data) w = static_cast<float>(static_cast<double>(w) * *lam);
    }
    ir::Node node;
    node.kind = ir::OpKind::Relu;
    node.inputs = {x};
    node.floats["bound"] = *lam;
    node.floats["v0"] = shift;
    node.floats["qcfs_levels"] = *levels;
    emit(n, std::move(node), mul_lam);
    for (Node *c : chain) absorbed_.insert(c);
    return true;
  }

  // A scalar argument (int or double constant), or nullopt for None.
  std::optional<double> scalar_in(Node *n, size_t i) {
    if (get(n->input(i)).kind == Meta::Kind::None) return std::nullopt;
    if (auto v = try_scalar(n, i)) return v;
    throw unsupported(n, fmt::format("needs a constant number as argument {}", i));
  }

  // relu, with an upper clip when `bound` is set (relu6, hardtanh(0, a), clamp(0, a)).
  void bounded_relu(Node *n, std::optional<double> bound) {
    ir::Node node;
    node.kind = ir::OpKind::Relu;
    node.inputs = {tensor_in(n, 0)};
    if (bound) node.floats["bound"] = *bound;
    return emit(n, std::move(node));
  }

  UserError unsupported(Node *n, const std::string &why) const {
    const std::string loc = where(n);
    return UserError(fmt::format("node '{}' ({}){} {}", node_name(n), n->kind().toQualString(),
                                 loc.empty() ? "" : " at " + loc, why));
  }

  Meta get(Value *v) {
    auto it = env_.find(v);
    if (it != env_.end()) return it->second;
    if (v->node()->kind() == c10::prim::Constant) {
      auto iv = torch::jit::toIValue(v);
      Meta m = iv ? from_ivalue(*iv) : Meta{};
      env_[v] = m;
      return m;
    }
    NEUROCUDA_CHECK(false) << "value '" << v->debugName() << "' used before lowering";
    return {};
  }

  int tensor_in(Node *n, size_t i) {
    Meta m = get(n->input(i));
    if (m.kind != Meta::Kind::Tensor)
      throw unsupported(n, fmt::format("has a non-input-derived tensor as argument {}; only weights may be constants", i));
    return m.ir;
  }

  int64_t int_in(Node *n, size_t i) {
    Meta m = get(n->input(i));
    if (m.kind != Meta::Kind::Int && m.kind != Meta::Kind::Bool)
      throw unsupported(n, fmt::format("needs a constant integer as argument {}", i));
    return m.kind == Meta::Kind::Bool ? m.b : m.i;
  }

  std::vector<int64_t> ints_in(Node *n, size_t i, size_t want) {
    Meta m = get(n->input(i));
    std::vector<int64_t> out;
    if (m.kind == Meta::Kind::Int) out.assign(want, m.i);
    else if (m.kind == Meta::Kind::List) {
      for (auto &e : m.list) {
        if (e.kind != Meta::Kind::Int) throw unsupported(n, fmt::format("needs constant integers as argument {}", i));
        out.push_back(e.i);
      }
      if (out.size() == 1 && want > 1) out.assign(want, out[0]);
    } else throw unsupported(n, fmt::format("needs a constant integer list as argument {}", i));
    return out;
  }

  std::optional<at::Tensor> const_in(Node *n, size_t i) {
    Meta m = get(n->input(i));
    if (m.kind == Meta::Kind::None) return std::nullopt;
    if (m.kind != Meta::Kind::Const) throw unsupported(n, fmt::format("needs a constant (frozen) tensor as argument {}", i));
    return m.constant;
  }

  void set_tensor(Node *n, int ir_value) {
    Meta m;
    m.kind = Meta::Kind::Tensor;
    m.ir = ir_value;
    env_[n->output(0)] = m;
  }

  // Appends `node`, named and located after TorchScript node `n`; its value stands for `out`'s output
  // (by default n itself; a pattern lowered as a whole ends at another node).
  void emit(Node *n, ir::Node node, Node *out = nullptr) {
    if (!out) out = n;
    node.name = node_name(n);
    node.source = where(n);
    ir::Shape shape;
    try {
      shape = ir::infer_shape(graph_, node);
    } catch (const UserError &e) {
      throw UserError(fmt::format("{} (the data's per-sample shape is [{}])", e.what(), fmt::join(input_shape_, ", ")));
    }
    const int idx = graph_.add_node(std::move(node), shape);
    const int value = graph_.nodes()[static_cast<size_t>(idx)].output;
    graph_.value(value).name = out->output(0)->debugName();
    set_tensor(out, value);
  }

  const ir::Shape &shape_of(int v) const { return graph_.value(v).shape; }

  void check_inplace(Node *n) {
    // In-place ops are lowered functionally; that is only sound if the overwritten value is not read later.
    for (const auto &use : n->input(0)->uses())
      if (use.user != n && use.user->isAfter(n))
        throw unsupported(n, "modifies a tensor in place that is used again later; use the out-of-place form");
  }

  void conv(Node *n, std::vector<int64_t> stride, std::vector<int64_t> padding, std::vector<int64_t> dilation,
            int64_t groups) {
    const int x = tensor_in(n, 0);
    auto w = const_in(n, 1);
    if (!w || w->dim() != 4) throw unsupported(n, "needs a constant 4-d weight (only 2-d convolutions are supported)");
    ir::Node node;
    node.kind = ir::OpKind::Conv2d;
    node.inputs = {x};
    node.tensors["weight"] = to_ir(*w);
    auto b = const_in(n, 2);
    node.tensors["bias"] = b ? to_ir(*b) : ir::Tensor{{w->size(0)}, std::vector<float>(static_cast<size_t>(w->size(0)), 0.f)};
    node.ints = {{"stride", stride}, {"padding", padding}, {"dilation", dilation}, {"groups", {groups}}};
    emit(n, std::move(node));
  }

  void linear(Node *n, int x, const at::Tensor &w, const std::optional<at::Tensor> &b) {
    if (w.dim() != 2) throw unsupported(n, "needs a 2-d weight");
    ir::Node node;
    node.kind = ir::OpKind::Linear;
    node.inputs = {x};
    node.tensors["weight"] = to_ir(w);
    node.tensors["bias"] = b ? to_ir(b->reshape({-1})) : ir::Tensor{{w.size(0)}, std::vector<float>(static_cast<size_t>(w.size(0)), 0.f)};
    if (shape_of(x).size() != 1)
      throw unsupported(n, fmt::format("applies a linear layer to per-sample shape [{}]; flatten first",
                                       fmt::join(shape_of(x), ", ")));
    emit(n, std::move(node));
  }

  void pool_node(Node *n, ir::OpKind kind, ir::Node node) {
    node.kind = kind;
    node.inputs = {tensor_in(n, 0)};
    emit(n, std::move(node));
  }

  Meta int_binary(Node *n, const std::string &op) {
    Meta a = get(n->input(0)), b = get(n->input(1));
    auto num = [](const Meta &m) { return m.kind == Meta::Kind::Double ? m.d : static_cast<double>(m.kind == Meta::Kind::Bool ? m.b : m.i); };
    auto known = [](const Meta &m) {
      return (m.kind == Meta::Kind::Int && !m.is_batch) || m.kind == Meta::Kind::Double || m.kind == Meta::Kind::Bool;
    };
    if (op == "eq" || op == "ne") {
      if (a.kind == Meta::Kind::String || b.kind == Meta::Kind::String) return make_bool((a.s == b.s) == (op == "eq"));
      if (a.kind == Meta::Kind::None || b.kind == Meta::Kind::None)
        return make_bool((a.kind == b.kind) == (op == "eq"));
    }
    if (a.is_batch || b.is_batch) {
      if (op == "mul" || op == "floordiv") return make_int(0, true);  // still "some batch-derived number"
      throw unsupported(n, "makes a decision that depends on the batch size; neurocuda cannot lower it");
    }
    if (!known(a) || !known(b)) throw unsupported(n, "is applied to values neurocuda cannot evaluate during lowering");
    const double x = num(a), y = num(b);
    const bool ints = a.kind != Meta::Kind::Double && b.kind != Meta::Kind::Double;
    if (op == "eq") return make_bool(x == y);
    if (op == "ne") return make_bool(x != y);
    if (op == "lt") return make_bool(x < y);
    if (op == "gt") return make_bool(x > y);
    if (op == "le") return make_bool(x <= y);
    if (op == "ge") return make_bool(x >= y);
    double v = 0;
    if (op == "add") v = x + y;
    else if (op == "sub") v = x - y;
    else if (op == "mul") v = x * y;
    else if (op == "floordiv") v = std::floor(x / y);
    else if (op == "div") return make_double(x / y);
    return ints ? make_int(static_cast<int64_t>(v)) : make_double(v);
  }

  void lower_node(Node *n) {
    if (absorbed_.count(n)) return;  // part of a pattern lowered as a whole (QCFS)
    const std::string kind = n->kind().toQualString();
    auto out = [&](Meta m) { env_[n->output(0)] = std::move(m); };

    // ---- values and control flow that never reach the IR ----
    if (kind == "prim::Constant") {
      if (n->outputs().size() == 1) get(n->output(0));
      return;
    }
    if (kind == "prim::ListConstruct" || kind == "prim::TupleConstruct") {
      Meta m;
      m.kind = Meta::Kind::List;
      for (auto *v : n->inputs()) m.list.push_back(get(v));
      return out(m);
    }
    if (kind == "prim::ListUnpack" || kind == "prim::TupleUnpack") {
      Meta m = get(n->input(0));
      if (m.kind != Meta::Kind::List || m.list.size() != n->outputs().size())
        throw unsupported(n, "unpacks a value neurocuda cannot evaluate");
      for (size_t i = 0; i < n->outputs().size(); ++i) env_[n->output(i)] = m.list[i];
      return;
    }
    if (kind == "prim::TupleIndex" || kind == "aten::__getitem__") {
      Meta m = get(n->input(0));
      int64_t i = int_in(n, 1);
      if (m.kind != Meta::Kind::List) throw unsupported(n, "indexes a value neurocuda cannot evaluate");
      if (i < 0) i += static_cast<int64_t>(m.list.size());
      return out(m.list.at(static_cast<size_t>(i)));
    }
    if (kind == "aten::len") {
      Meta m = get(n->input(0));
      if (m.kind != Meta::Kind::List) throw unsupported(n, "takes the length of a value neurocuda cannot evaluate");
      return out(make_int(static_cast<int64_t>(m.list.size())));
    }
    if (kind == "aten::dim") {
      Meta m = get(n->input(0));
      if (m.kind == Meta::Kind::Tensor) return out(make_int(static_cast<int64_t>(shape_of(m.ir).size()) + 1));
      if (m.kind == Meta::Kind::Const) return out(make_int(m.constant.dim()));
      throw unsupported(n, "asks the rank of a value neurocuda cannot evaluate");
    }
    if (kind == "aten::size") {
      Meta m = get(n->input(0));
      if (m.kind != Meta::Kind::Tensor) throw unsupported(n, "asks the size of a value neurocuda cannot evaluate");
      const auto &s = shape_of(m.ir);
      std::vector<Meta> dims{make_int(0, true)};
      for (auto d : s) dims.push_back(make_int(d));
      if (n->inputs().size() == 1) {
        Meta l;
        l.kind = Meta::Kind::List;
        l.list = dims;
        return out(l);
      }
      int64_t d = int_in(n, 1);
      if (d < 0) d += static_cast<int64_t>(dims.size());
      return out(dims.at(static_cast<size_t>(d)));
    }
    if (kind == "prim::NumToTensor" || kind == "aten::Int" || kind == "aten::IntImplicit" || kind == "aten::Float" ||
        kind == "aten::ScalarImplicit" || kind == "aten::FloatImplicit")
      return out(get(n->input(0)));
    if (kind == "prim::dtype" || kind == "prim::device" || kind == "prim::layout" || kind == "aten::format" ||
        kind == "prim::Uninitialized" || kind == "aten::str") {
      Meta m;
      m.kind = kind == "prim::Uninitialized" ? Meta::Kind::None : Meta::Kind::Other;
      return out(m);
    }
    if (kind == "aten::warn") return;
    if (kind == "aten::__is__" || kind == "aten::__isnot__") {
      const bool same = get(n->input(0)).kind == Meta::Kind::None && get(n->input(1)).kind == Meta::Kind::None;
      const bool either_none = get(n->input(0)).kind == Meta::Kind::None || get(n->input(1)).kind == Meta::Kind::None;
      if (!either_none) throw unsupported(n, "compares object identity of values neurocuda cannot evaluate");
      return out(make_bool((kind == "aten::__is__") == same));
    }
    if (kind == "aten::__not__") return out(make_bool(!get(n->input(0)).b));
    if (kind == "aten::__and__" || kind == "aten::__or__") {
      const bool a = get(n->input(0)).b, b = get(n->input(1)).b;
      return out(make_bool(kind == "aten::__and__" ? (a && b) : (a || b)));
    }
    if (kind == "aten::_unwrap_optional" || kind == "prim::unchecked_cast") return out(get(n->input(0)));
    for (const char *op : {"eq", "ne", "lt", "gt", "le", "ge", "floordiv", "div", "sub", "mul"}) {
      if (kind == std::string("aten::") + op) {
        if (get(n->input(0)).kind == Meta::Kind::Tensor) break;
        return out(int_binary(n, op));
      }
    }
    if (kind == "prim::RaiseException")
      throw unsupported(n, fmt::format("raises an exception for per-sample input shape [{}]; does the data fit the model?",
                                       fmt::join(input_shape_, ", ")));
    if (kind == "prim::If") {
      Meta c = get(n->input(0));
      if (c.kind != Meta::Kind::Bool) throw unsupported(n, "branches on a value neurocuda cannot evaluate during lowering");
      auto *block = n->blocks().at(c.b ? 0 : 1);
      lower_block(block);
      for (size_t i = 0; i < n->outputs().size(); ++i) {
        Meta m = get(block->outputs()[i]);
        // Calibration taps the graph by value name; only names visible at the top level can be tapped.
        if (m.kind == Meta::Kind::Tensor && graph_.value(m.ir).producer >= 0)
          graph_.value(m.ir).name = n->output(i)->debugName();
        env_[n->output(i)] = m;
      }
      return;
    }
    if (kind == "prim::GetAttr")
      throw unsupported(n, "reads a module attribute that freezing did not inline; is the model in eval mode?");

    // ---- tensor operators ----
    if (kind == "aten::add" || kind == "aten::add_") {
      Meta a = get(n->input(0)), b = get(n->input(1));
      if (a.kind == Meta::Kind::Int || a.kind == Meta::Kind::Double) return out(int_binary(n, "add"));
      if (kind == "aten::add_") check_inplace(n);
      if (n->inputs().size() > 2) {
        Meta alpha = get(n->input(2));
        if (!((alpha.kind == Meta::Kind::Int && alpha.i == 1) || (alpha.kind == Meta::Kind::Double && alpha.d == 1.0)))
          throw unsupported(n, "has alpha != 1, which is not supported");
      }
      if (a.kind == Meta::Kind::Tensor && b.kind == Meta::Kind::Const) return add_bias(n, a.ir, b.constant, n->input(0));
      if (a.kind == Meta::Kind::Const && b.kind == Meta::Kind::Tensor) return add_bias(n, b.ir, a.constant, n->input(1));
      ir::Node node;
      node.kind = ir::OpKind::Add;
      node.inputs = {tensor_in(n, 0), tensor_in(n, 1)};
      return emit(n, std::move(node));
    }
    if (kind == "aten::conv2d") {
      if (get(n->input(4)).kind == Meta::Kind::String)
        throw unsupported(n, "uses string padding ('same'/'valid'); pass integer padding");
      return conv(n, ints_in(n, 3, 2), ints_in(n, 4, 2), ints_in(n, 5, 2), int_in(n, 6));
    }
    if (kind == "aten::_convolution" || kind == "aten::convolution") {
      if (int_in(n, 6)) throw unsupported(n, "is a transposed convolution, which is not supported");
      return conv(n, ints_in(n, 3, 2), ints_in(n, 4, 2), ints_in(n, 5, 2), int_in(n, 8));
    }
    if (kind == "aten::linear") {
      auto w = const_in(n, 1);
      if (!w) throw unsupported(n, "needs a constant weight");
      return linear(n, tensor_in(n, 0), *w, const_in(n, 2));
    }
    if (kind == "aten::t") {
      auto w = const_in(n, 0);
      Meta m;
      m.kind = Meta::Kind::Const;
      m.constant = w->t();
      return out(m);
    }
    if (kind == "aten::addmm") {
      auto wt = const_in(n, 2);
      if (!wt) throw unsupported(n, "needs a constant weight");
      for (size_t i = 3; i < 5 && i < n->inputs().size(); ++i) {
        Meta s = get(n->input(i));
        if (!((s.kind == Meta::Kind::Int && s.i == 1) || (s.kind == Meta::Kind::Double && s.d == 1.0)))
          throw unsupported(n, "has beta or alpha != 1, which is not supported");
      }
      return linear(n, tensor_in(n, 1), wt->t(), const_in(n, 0));
    }
    if (kind == "aten::matmul" || kind == "aten::mm") {
      auto wt = const_in(n, 1);
      if (!wt || wt->dim() != 2) throw unsupported(n, "needs a constant 2-d right-hand side");
      return linear(n, tensor_in(n, 0), wt->t(), std::nullopt);
    }
    if (kind == "aten::relu" || kind == "aten::relu_") {
      if (kind == "aten::relu_") check_inplace(n);
      return bounded_relu(n, std::nullopt);
    }
    if ((kind == "aten::div" || kind == "aten::mul" || kind == "aten::clamp") &&
        get(n->input(0)).kind == Meta::Kind::Tensor && lower_qcfs(n))
      return;
    // Clipped activations with a lower bound of 0 become IF neurons whose threshold is the upper bound
    // (docs/conversion.md); anything that can output negative values has no spiking mapping.
    if (kind == "aten::relu6" || kind == "aten::relu6_") {
      if (kind == "aten::relu6_") check_inplace(n);
      return bounded_relu(n, 6.0);
    }
    if (kind == "aten::hardtanh" || kind == "aten::hardtanh_" || kind == "aten::clamp" || kind == "aten::clamp_" ||
        kind == "aten::clamp_min" || kind == "aten::clamp_min_") {
      if (kind.back() == '_') check_inplace(n);
      const bool min_only = kind.rfind("aten::clamp_min", 0) == 0;
      const auto lo = scalar_in(n, 1), hi = min_only ? std::nullopt : scalar_in(n, 2);
      if (!lo || *lo != 0.0)
        throw unsupported(n, fmt::format("has a lower bound of {} (negative outputs); only a lower bound of 0 "
                                         "(relu, relu6, hardtanh(0, a), clamp(0, a)) has a spiking mapping",
                                         lo ? fmt::format("{}", *lo) : std::string("none")));
      if (hi && !(*hi > 0.0)) throw unsupported(n, fmt::format("has an upper bound of {}; it must be positive", *hi));
      return bounded_relu(n, hi);
    }
    if (kind == "aten::max_pool2d") {
      ir::Node node;
      auto k = ints_in(n, 1, 2);
      auto s = ints_in(n, 2, 2);
      node.ints = {{"kernel", k}, {"stride", s.empty() ? k : s}, {"padding", ints_in(n, 3, 2)},
                   {"dilation", ints_in(n, 4, 2)}, {"ceil_mode", {int_in(n, 5)}}};
      return pool_node(n, ir::OpKind::MaxPool2d, std::move(node));
    }
    if (kind == "aten::avg_pool2d") {
      ir::Node node;
      auto k = ints_in(n, 1, 2);
      auto s = ints_in(n, 2, 2);
      Meta div = get(n->input(6));
      node.ints = {{"kernel", k}, {"stride", s.empty() ? k : s}, {"padding", ints_in(n, 3, 2)},
                   {"ceil_mode", {int_in(n, 4)}}, {"count_include_pad", {int_in(n, 5)}},
                   {"divisor_override", {div.kind == Meta::Kind::Int ? div.i : 0}}};
      return pool_node(n, ir::OpKind::AvgPool2d, std::move(node));
    }
    if (kind == "aten::adaptive_avg_pool2d") {
      ir::Node node;
      node.ints = {{"output_size", ints_in(n, 1, 2)}};
      return pool_node(n, ir::OpKind::AdaptiveAvgPool2d, std::move(node));
    }
    if (kind == "aten::flatten") {
      const int x = tensor_in(n, 0);
      const int64_t rank = static_cast<int64_t>(shape_of(x).size()) + 1;
      int64_t start = int_in(n, 1), end = int_in(n, 2);
      if (start < 0) start += rank;
      if (end < 0) end += rank;
      if (start == 0) throw unsupported(n, "flattens the batch dimension, which is not supported");
      if (end != rank - 1 || start != 1)
        throw unsupported(n, "flattens only some dimensions; neurocuda supports flatten(x, 1)");
      if (rank == 2) return set_tensor(n, x);
      ir::Node node;
      node.kind = ir::OpKind::Flatten;
      node.inputs = {x};
      return emit(n, std::move(node));
    }
    if (kind == "aten::view" || kind == "aten::reshape") {
      const int x = tensor_in(n, 0);
      Meta sizes = get(n->input(1));
      if (sizes.kind != Meta::Kind::List || sizes.list.empty())
        throw unsupported(n, "reshapes to sizes neurocuda cannot evaluate");
      const auto &first = sizes.list[0];
      const bool batch_first = first.is_batch || (first.kind == Meta::Kind::Int && first.i == -1);
      ir::Shape per;
      for (size_t i = 1; i < sizes.list.size(); ++i) per.push_back(sizes.list[i].i);
      const int64_t total = ir::numel(shape_of(x));
      if (batch_first && per.size() == 1 && (per[0] == -1 || per[0] == total)) {
        if (shape_of(x).size() == 1) return set_tensor(n, x);
        ir::Node node;
        node.kind = ir::OpKind::Flatten;
        node.inputs = {x};
        return emit(n, std::move(node));
      }
      if (batch_first && per == shape_of(x)) return set_tensor(n, x);
      throw unsupported(n, fmt::format("reshapes per-sample shape [{}] to [{}]; only flattening to [batch, -1] is "
                                       "supported",
                                       fmt::join(shape_of(x), ", "), fmt::join(per, ", ")));
    }
    if (kind == "aten::cat") {
      Meta list = get(n->input(0));
      int64_t dim = int_in(n, 1);
      ir::Node node;
      node.kind = ir::OpKind::Cat;
      for (auto &m : list.list) {
        if (m.kind != Meta::Kind::Tensor) throw unsupported(n, "concatenates a constant tensor");
        node.inputs.push_back(m.ir);
      }
      const int64_t rank = static_cast<int64_t>(shape_of(node.inputs.at(0)).size()) + 1;
      if (dim < 0) dim += rank;
      if (dim != 1) throw unsupported(n, "concatenates along a dimension other than channels (dim=1)");
      return emit(n, std::move(node));
    }
    if (kind == "aten::batch_norm") {
      auto w = const_in(n, 1), b = const_in(n, 2), mean = const_in(n, 3), var = const_in(n, 4);
      if (!mean || !var) throw unsupported(n, "has no running statistics; export the model in eval mode");
      const double eps = get(n->input(7)).d;
      auto inv = (var->to(torch::kFloat64) + eps).rsqrt();
      auto scale = w ? inv * w->to(torch::kFloat64) : inv;
      auto shift = (b ? b->to(torch::kFloat64) : torch::zeros_like(scale)) - mean->to(torch::kFloat64) * scale;
      ir::Node node;
      node.kind = ir::OpKind::BatchNorm;
      node.inputs = {tensor_in(n, 0)};
      node.tensors["scale"] = to_ir(scale);
      node.tensors["shift"] = to_ir(shift);
      return emit(n, std::move(node));
    }
    if (kind == "aten::dropout" || kind == "aten::dropout_" || kind == "aten::feature_dropout" ||
        kind == "aten::alpha_dropout" || kind == "aten::contiguous" || kind == "aten::detach" ||
        kind == "aten::clone" || kind == "aten::to") {
      Meta m = get(n->input(0));
      if (m.kind != Meta::Kind::Tensor) return out(m);
      return set_tensor(n, m.ir);
    }
    throw unsupported(n, "is not supported by neurocuda; supported operators: conv2d, linear, relu, max_pool2d, "
                         "avg_pool2d, adaptive_avg_pool2d, add, flatten/view/reshape, cat, dropout, batch_norm");
  }

  void add_bias(Node *n, int x, const at::Tensor &bias, const Value *jit_x) {
    const int p = graph_.value(x).producer;
    const auto &shape = shape_of(x);
    if (p >= 0 && bias.numel() == shape.at(0) && jit_x->uses().size() == 1) {
      auto &layer = graph_.nodes()[static_cast<size_t>(p)];
      if (layer.kind == ir::OpKind::Linear || layer.kind == ir::OpKind::Conv2d) {
        auto flat = to_ir(bias.reshape({-1}));
        auto &b = layer.tensors.at("bias").data;
        for (size_t i = 0; i < b.size(); ++i) b[i] += flat.data[i];
        graph_.value(x).name = n->output(0)->debugName();
        return set_tensor(n, x);
      }
    }
    throw unsupported(n, "adds a constant tensor that is not the bias of the preceding linear/conv layer");
  }

  const TorchModel::Impl &impl_;
  ir::Shape input_shape_;
  ir::Graph graph_;
  std::unordered_map<const Value *, Meta> env_;
  std::set<Node *> absorbed_;  // nodes lowered as part of a pattern (QCFS)
};

} // namespace

ir::Graph lower_graph(const TorchModel::Impl &impl, const ir::Shape &input_shape) {
  return Lowerer(impl, input_shape).run();
}

} // namespace neurocuda::frontend
