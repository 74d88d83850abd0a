// SPDX-License-Identifier: MIT
// IR -> Loihi 2 populations and Dense processes. Every value between two spiking populations is a linear
// function of the source spikes (conv, linear, average pools, flatten, cat, scaled adds), so the mapping
// expands it symbolically into one Dense process per source population; max-pooling is not linear and
// becomes an extra population that fires when any neuron of its window fired and, in subtract mode, inhibits
// the window back by one threshold per spike, so that the window fires as often as its largest input says.
#include "loihi2/mapping.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "loihi2/limits.h"
#include "neurocuda/error.h"

namespace neurocuda::backends::loihi2 {
namespace {

using ir::OpKind;

constexpr int kPixels = kInputPixels;  // source id of the network input (graded, constant over time)

struct Term {
  int32_t src;
  int32_t idx;
  double w;
};
using Row = std::vector<Term>;

// A value as a linear expression of source neurons: one row of terms and a constant per element (CHW).
struct Expr {
  std::vector<Row> rows;
  std::vector<double> constant;
};

struct ValueState {
  enum Kind { None, Linear, OrPool } kind = None;
  Expr expr;
  int pre_pool = -1;        // OrPool: the population whose windows are pooled
  const ir::Node *pool = nullptr;
};

void merge(Row &row) {
  std::sort(row.begin(), row.end(), [](const Term &a, const Term &b) { return a.src != b.src ? a.src < b.src : a.idx < b.idx; });
  size_t out = 0;
  for (size_t i = 0; i < row.size();) {
    Term t = row[i++];
    while (i < row.size() && row[i].src == t.src && row[i].idx == t.idx) t.w += row[i++].w;
    if (t.w != 0.0) row[out++] = t;
  }
  row.resize(out);
}

void add_scaled(Row &dst, const Row &src, double k) {
  for (const Term &t : src) dst.push_back({t.src, t.idx, t.w * k});
}

Expr identity(int src, int64_t n) {
  Expr e;
  e.rows.resize(static_cast<size_t>(n));
  e.constant.assign(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) e.rows[static_cast<size_t>(i)] = {{src, static_cast<int32_t>(i), 1.0}};
  return e;
}

struct Dims {
  int64_t c, h, w;
};
Dims dims(const ir::Shape &s) { return s.size() == 3 ? Dims{s[0], s[1], s[2]} : Dims{ir::numel(s), 1, 1}; }

Expr conv(const ir::Node &n, const Expr &in, const ir::Shape &is, const ir::Shape &os) {
  const Dims a = dims(is), b = dims(os);
  const auto &w = n.attr_tensor("weight");
  const auto &bias = n.attr_tensor("bias").data;
  const auto &st = n.attr_ints("stride"), &pd = n.attr_ints("padding"), &dl = n.attr_ints("dilation");
  const int64_t groups = n.attr_ints("groups").at(0), kh = w.shape[2], kw = w.shape[3];
  const int64_t cig = a.c / groups, opg = b.c / groups;
  Expr out;
  out.rows.resize(static_cast<size_t>(b.c * b.h * b.w));
  out.constant.resize(out.rows.size());
  for (int64_t o = 0; o < b.c; ++o)
    for (int64_t oy = 0; oy < b.h; ++oy)
      for (int64_t ox = 0; ox < b.w; ++ox) {
        const size_t k = static_cast<size_t>((o * b.h + oy) * b.w + ox);
        Row &row = out.rows[k];
        double c = bias[static_cast<size_t>(o)];
        for (int64_t ci = 0; ci < cig; ++ci)
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t y = oy * st[0] - pd[0] + ky * dl[0];
            if (y < 0 || y >= a.h) continue;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t x = ox * st[1] - pd[1] + kx * dl[1];
              if (x < 0 || x >= a.w) continue;
              const double wv = w.data[static_cast<size_t>(((o * cig + ci) * kh + ky) * kw + kx)];
              const size_t src = static_cast<size_t>(((o / opg) * cig + ci) * a.h * a.w + y * a.w + x);
              add_scaled(row, in.rows[src], wv);
              c += wv * in.constant[src];
            }
          }
        merge(row);
        out.constant[k] = c;
      }
  return out;
}

Expr linear(const ir::Node &n, const Expr &in) {
  const auto &w = n.attr_tensor("weight");
  const auto &bias = n.attr_tensor("bias").data;
  const int64_t outs = w.shape[0], ins = w.shape[1];
  Expr out;
  out.rows.resize(static_cast<size_t>(outs));
  out.constant.resize(static_cast<size_t>(outs));
  for (int64_t o = 0; o < outs; ++o) {
    Row &row = out.rows[static_cast<size_t>(o)];
    double c = bias[static_cast<size_t>(o)];
    for (int64_t i = 0; i < ins; ++i) {
      const double wv = w.data[static_cast<size_t>(o * ins + i)];
      if (wv == 0.0) continue;
      add_scaled(row, in.rows[static_cast<size_t>(i)], wv);
      c += wv * in.constant[static_cast<size_t>(i)];
    }
    merge(row);
    out.constant[static_cast<size_t>(o)] = c;
  }
  return out;
}

Expr avg_pool(const ir::Node &n, const Expr &in, const ir::Shape &is, const ir::Shape &os) {
  const Dims a = dims(is), b = dims(os);
  Expr out;
  out.rows.resize(static_cast<size_t>(b.c * b.h * b.w));
  out.constant.resize(out.rows.size());
  for (int64_t c = 0; c < b.c; ++c)
    for (int64_t oy = 0; oy < b.h; ++oy)
      for (int64_t ox = 0; ox < b.w; ++ox) {
        const auto w = ir::avg_pool_window(n, is, os, oy, ox);
        const double divisor = static_cast<double>(w.divisor);
        const size_t k = static_cast<size_t>((c * b.h + oy) * b.w + ox);
        double cst = 0;
        for (int64_t y = w.y0; y < w.y1; ++y)
          for (int64_t x = w.x0; x < w.x1; ++x) {
            const size_t src = static_cast<size_t>((c * a.h + y) * a.w + x);
            add_scaled(out.rows[k], in.rows[src], 1.0 / divisor);
            cst += in.constant[src];
          }
        merge(out.rows[k]);
        out.constant[k] = cst / divisor;
      }
  return out;
}

// Smallest exponent e (>= kWeightExpMin) with max_abs * scale / 2^e <= 254, the largest even mixed mantissa.
int weight_exponent(double max_abs, double scale) {
  if (max_abs <= 0) return 0;
  int e = static_cast<int>(std::ceil(std::log2(max_abs * scale / 254.0)));
  while (max_abs * scale / std::ldexp(1.0, e) > 254.0) ++e;
  return std::max(e, Limits::kWeightExpMin);
}

int32_t mantissa(double w, double scale, int e) {
  return static_cast<int32_t>(2 * std::llround(w * scale / std::ldexp(1.0, e) / 2.0));
}

// Splits a bias in v units into a 13-bit signed mantissa and an exponent 0..7; false if it does not fit.
bool split_bias(double x, int64_t &mant, int64_t &exp) {
  const int64_t max_mant = (int64_t{1} << (Limits::kBiasMantBits - 1)) - 1;
  for (exp = 0; exp <= Limits::kBiasExpMax; ++exp) {
    mant = std::llround(x / std::ldexp(1.0, static_cast<int>(exp)));
    if (std::llabs(mant) <= max_mant) return true;
  }
  return false;
}

class Mapper {
public:
  Mapper(const ir::Graph &g, const MappingOptions &o) : g_(g), opts_(o) {}

  Network run() {
    states_.resize(g_.values().size());
    const auto &in_node = g_.nodes().at(static_cast<size_t>(g_.value(g_.input()).producer));
    const double lo = in_node.floats.count("min") ? in_node.floats.at("min") : 0.0;
    const double hi = in_node.floats.count("max") ? in_node.floats.at("max") : 1.0;
    // Input payloads: 8 bits over the calibration range, as integer mode (docs/integer-mode.md).
    const bool is_signed = lo < 0;
    net_.payload_max = is_signed ? 127 : 255;
    net_.payload_min = is_signed ? -127 : 0;
    const double range = is_signed ? std::max(std::fabs(lo), std::fabs(hi)) : hi;
    net_.input_scale = range > 0 ? range / static_cast<double>(net_.payload_max) : 1.0;
    net_.input_shape = g_.value(g_.input()).shape;
    for (const auto &n : g_.nodes()) visit(n);
    map_readout();
    return std::move(net_);
  }

private:
  [[noreturn]] void fail(const ir::Node &n, const std::string &why) const {
    throw UserError(fmt::format("loihi2: cannot map node '{}' ({}){}: {}", n.name, ir::op_name(n.kind),
                                ir::at_source(n), why));
  }

  const Expr &linear_input(const ir::Node &n, size_t i = 0) {
    auto &st = states_.at(static_cast<size_t>(n.inputs.at(i)));
    if (st.kind != ValueState::Linear) fail(n, "its input is a max-pool that does not feed an IF population directly");
    return st.expr;
  }

  void visit(const ir::Node &n) {
    const auto &os = g_.value(n.output).shape;
    auto &out = states_[static_cast<size_t>(n.output)];
    switch (n.kind) {
    case OpKind::Input:
      out.kind = ValueState::Linear;
      out.expr = identity(kPixels, ir::numel(os));
      return;
    case OpKind::Conv2d:
      out.expr = conv(n, linear_input(n), g_.value(n.inputs[0]).shape, os);
      break;
    case OpKind::Linear:
      out.expr = linear(n, linear_input(n));
      break;
    case OpKind::AvgPool2d:
    case OpKind::AdaptiveAvgPool2d:
      out.expr = avg_pool(n, linear_input(n), g_.value(n.inputs[0]).shape, os);
      break;
    case OpKind::Flatten:
      out.expr = linear_input(n);  // CHW order is already the flattened order
      break;
    case OpKind::BatchNorm: {
      out.expr = linear_input(n);
      const auto &sc = n.attr_tensor("scale").data, &sh = n.attr_tensor("shift").data;
      const Dims d = dims(os);
      for (size_t k = 0; k < out.expr.rows.size(); ++k) {
        const size_t c = k / static_cast<size_t>(d.h * d.w);
        for (auto &t : out.expr.rows[k]) t.w *= sc[c];
        out.expr.constant[k] = out.expr.constant[k] * sc[c] + sh[c];
      }
      break;
    }
    case OpKind::Add: {
      const Dims d = dims(os);
      const auto coeff = ir::add_coefficients(n, d.c);
      out.expr.rows.assign(static_cast<size_t>(ir::numel(os)), {});
      out.expr.constant.assign(out.expr.rows.size(), 0.0);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const Expr &e = linear_input(n, i);
        for (size_t k = 0; k < out.expr.rows.size(); ++k) {
          const double c = coeff[i][k / static_cast<size_t>(d.h * d.w)];
          add_scaled(out.expr.rows[k], e.rows[k], c);
          out.expr.constant[k] += c * e.constant[k];
        }
      }
      for (auto &r : out.expr.rows) merge(r);
      break;
    }
    case OpKind::Cat:
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const Expr &e = linear_input(n, i);
        out.expr.rows.insert(out.expr.rows.end(), e.rows.begin(), e.rows.end());
        out.expr.constant.insert(out.expr.constant.end(), e.constant.begin(), e.constant.end());
      }
      break;
    case OpKind::MaxPool2d:
      map_max_pool(n);
      return;
    case OpKind::IF:
      if (ir::if_graded(n)) fail(n, kGradedNotMappable);
      map_if(n);
      return;
    case OpKind::Relu:
      fail(n, "the network is not converted (relu left); convert it first");
    }
    out.kind = ValueState::Linear;
    // Values are used once in these networks; free inputs nobody else reads to keep memory bounded.
    for (int v : n.inputs)
      if (g_.consumers(v).back() == static_cast<int>(&n - g_.nodes().data()) && v != n.output) {
        states_[static_cast<size_t>(v)].expr = Expr{};
        states_[static_cast<size_t>(v)].kind = ValueState::None;
      }
  }

  // Threshold scale of a Zero-mode population (a-units per threshold): the largest weight lands near the top
  // of the 8-bit mantissa with vth in [2048, 4096), lowered until every bias fits.
  double zero_mode_scale(const std::map<int, double> &hop_max, double bias_bound, const ir::Node &n) {
    double s = 4096;
    double wmax = 0;
    for (const auto &[src, m] : hop_max)
      if (src >= 0) wmax = std::max(wmax, m);
    if (wmax > 0) {
      const int e0 = std::clamp(static_cast<int>(std::ceil(std::log2(2048.0 * wmax / 254.0))), Limits::kWeightExpMin,
                                Limits::kWeightExpMax);
      s = std::floor(254.0 * std::ldexp(1.0, e0) / wmax);
    }
    const double bias_limit = ((int64_t{1} << (Limits::kBiasMantBits - 1)) - 1) * std::ldexp(1.0, Limits::kBiasExpMax);
    if (bias_bound > 0) s = std::min(s, std::floor(bias_limit / (bias_bound * 64.0)));
    s = std::min(s, static_cast<double>((int64_t{1} << Limits::kThresholdBits) - 1));
    if (s < 1)
      fail(n, fmt::format("a bias of {:.3g} thresholds does not fit Loihi 2's 13-bit bias mantissa with exponent <= 7 "
                          "at any threshold >= 1; use --reset-mode subtract",
                          bias_bound));
    return s;
  }

  DenseHop make_hop(int src, const std::vector<std::vector<std::pair<int32_t, double>>> &cols, double scale,
                    double wmax, const ir::Node &n) {
    DenseHop h;
    h.source = src;
    h.weight_exp = weight_exponent(wmax, scale);
    if (h.weight_exp > Limits::kWeightExpMax)
      fail(n, fmt::format("its weights need a weight exponent of {} (Loihi 2 allows {}..{})", h.weight_exp,
                          Limits::kWeightExpMin, Limits::kWeightExpMax));
    h.col_begin.assign(cols.size() + 1, 0);
    for (size_t j = 0; j < cols.size(); ++j) {
      for (const auto &[target, w] : cols[j]) {
        const int32_t m = mantissa(w, scale, h.weight_exp);
        if (m == 0) continue;
        h.targets.push_back(target);
        h.weights.push_back(m);
      }
      h.col_begin[j + 1] = static_cast<int64_t>(h.targets.size());
    }
    return h;
  }

  // Splits rows into per-source columns (transposed); pixel weights are scaled to payload units.
  struct Split {
    std::map<int, std::vector<std::vector<std::pair<int32_t, double>>>> cols;
    std::map<int, double> wmax;
  };
  Split split_rows(const Expr &e) {
    Split s;
    for (size_t i = 0; i < e.rows.size(); ++i)
      for (const auto &t : e.rows[i]) {
        auto &cols = s.cols[t.src];
        const double w = t.src == kPixels ? t.w * net_.input_scale : t.w;
        if (cols.empty())
          cols.resize(static_cast<size_t>(t.src == kPixels ? ir::numel(net_.input_shape)
                                                           : net_.populations[static_cast<size_t>(t.src)].neurons));
        cols[static_cast<size_t>(t.idx)].push_back({static_cast<int32_t>(i), w});
        s.wmax[t.src] = std::max(s.wmax[t.src], std::fabs(w));
      }
    return s;
  }

  int source_depth(int src) const { return src >= 0 ? net_.populations[static_cast<size_t>(src)].depth : 0; }

  // The source whose Dense output first arrives at step depth + 1, when a population `depth` hops from the
  // input first receives spikes: the input's bias unit for depth <= 1, else a chain of one-neuron relays that
  // fire at every step from step k + 1 on. Without it a deep population would integrate its bias alone for
  // depth - 1 steps before any input arrives, a transient the CPU backend does not have.
  int bias_relay(int depth, const ir::Node &n) {
    int src = kBiasUnit;
    for (int k = 1; k < depth; ++k) {
      if (static_cast<int>(relays_.size()) < k) {
        Population r;
        r.name = fmt::format("bias_relay.{}", k);
        r.shape = {1};
        r.neurons = 1;
        r.depth = k;
        r.du = r.dv = Limits::kDecayUnity - 1;
        r.vth = 0;  // fires whenever its one input arrives
        r.bias_mant.assign(1, 0);
        r.bias_exp.assign(1, 0);
        r.hops.push_back(make_hop(src, {{{0, 1.0}}}, 2.0, 1.0, n));
        net_.populations.push_back(std::move(r));
        relays_.push_back(static_cast<int>(net_.populations.size()) - 1);
      }
      src = relays_[static_cast<size_t>(k - 1)];
    }
    return src;
  }

  int add_population(const ir::Node &n, const std::string &name, const Expr &e, const ir::Shape &shape, double v0) {
    Split s = split_rows(e);
    Population p;
    p.name = name;
    p.shape = shape;
    p.neurons = ir::numel(shape);
    double bias_bound = 0;
    for (double c : e.constant) bias_bound = std::max(bias_bound, std::fabs(c));
    const bool subtract = opts_.reset == ResetMode::Subtract;
    // Subtract mode: vth = 2^9, exactly the self-synapse's -128 << 2, and u has 2^8 thresholds of room.
    const double scale = subtract ? 512.0 : zero_mode_scale(s.wmax, bias_bound, n);
    for (auto &[src, cols] : s.cols) {
      p.hops.push_back(make_hop(src, cols, scale, s.wmax[src], n));
      p.depth = std::max(p.depth, source_depth(src) + 1);
    }
    const double v_unit = scale * std::ldexp(1.0, Limits::kActivationShift);  // v (or u) per threshold
    p.bias_mant.assign(static_cast<size_t>(p.neurons), 0);
    p.bias_exp.assign(static_cast<size_t>(p.neurons), 0);
    if (subtract) {
      p.du = 0;
      p.dv = Limits::kDecayUnity - 1;
      p.vth = static_cast<int64_t>(scale);
      p.u0 = std::llround(v0 * v_unit);
      const int bias_source = bias_relay(p.depth, n);  // may add relay populations: before `self` is known
      const int self = static_cast<int>(net_.populations.size());
      std::vector<std::vector<std::pair<int32_t, double>>> diag(static_cast<size_t>(p.neurons));
      for (int64_t k = 0; k < p.neurons; ++k) diag[static_cast<size_t>(k)] = {{static_cast<int32_t>(k), -1.0}};
      p.hops.push_back(make_hop(self, diag, scale, 1.0, n));
      if (bias_bound > 0) {
        std::vector<std::vector<std::pair<int32_t, double>>> bias(1);
        for (size_t k = 0; k < e.constant.size(); ++k)
          if (e.constant[k] != 0.0) bias[0].push_back({static_cast<int32_t>(k), e.constant[k]});
        p.hops.push_back(make_hop(bias_source, bias, scale, bias_bound, n));
        p.depth = std::max(p.depth, 1);
      }
    } else {
      p.du = Limits::kDecayUnity - 1;
      p.dv = 0;
      p.vth = std::llround(scale * (1.0 - opts_.reset_compensation));
      p.v0 = std::llround(v0 * v_unit);
      for (size_t k = 0; k < e.constant.size(); ++k)
        if (!split_bias(e.constant[k] * v_unit, p.bias_mant[k], p.bias_exp[k]))
          fail(n, fmt::format("the bias of neuron {} ({:.4g} thresholds) does not fit a 13-bit mantissa with "
                              "exponent <= 7", k, e.constant[k]));
    }
    if (std::llabs(p.u0) >= (int64_t{1} << (Limits::kStateBits - 1)) || std::llabs(p.v0) >= (int64_t{1} << (Limits::kStateBits - 1)))
      fail(n, "its initial potential does not fit the 24-bit state");
    net_.populations.push_back(std::move(p));
    return static_cast<int>(net_.populations.size()) - 1;
  }

  void map_max_pool(const ir::Node &n) {
    const auto consumers = g_.consumers(n.output);
    if (consumers.size() != 1 || g_.nodes()[static_cast<size_t>(consumers[0])].kind != OpKind::IF)
      fail(n, "a max-pool must feed one IF population");
    const auto &if_node = g_.nodes()[static_cast<size_t>(consumers[0])];
    const Expr &in = linear_input(n);
    for (const auto &r : in.rows)
      for (const auto &t : r)
        if (t.src == kPixels) fail(n, "max-pooling the input current is not supported on loihi2");
    auto &st = states_[static_cast<size_t>(n.output)];
    st.kind = ValueState::OrPool;
    st.pool = &n;
    st.pre_pool = add_population(n, if_node.name + ".prepool", in, g_.value(n.inputs[0]).shape, ir::if_v0(if_node));
    states_[static_cast<size_t>(n.inputs[0])] = ValueState{};
  }

  void map_if(const ir::Node &n) {
    const auto &st = states_.at(static_cast<size_t>(n.inputs[0]));
    const auto &shape = g_.value(n.output).shape;
    int id;
    if (st.kind == ValueState::OrPool) {
      id = or_pool(n, *st.pool, st.pre_pool);
    } else {
      id = add_population(n, n.name, linear_input(n), shape, ir::if_v0(n));
    }
    net_.populations[static_cast<size_t>(id)].ir_node = static_cast<int>(&n - g_.nodes().data());
    auto &out = states_[static_cast<size_t>(n.output)];
    out.kind = ValueState::Linear;
    out.expr = identity(id, ir::numel(shape));
    states_[static_cast<size_t>(n.inputs[0])] = ValueState{};
  }

  // A population that fires whenever any neuron of its max-pool window fired at the previous step (and, in
  // subtract mode, resets that window).
  int or_pool(const ir::Node &if_node, const ir::Node &pool, int pre) {
    const Dims a = dims(g_.value(pool.inputs[0]).shape), b = dims(g_.value(pool.output).shape);
    const auto &k = pool.attr_ints("kernel"), &s = pool.attr_ints("stride"), &p = pool.attr_ints("padding"),
               &d = pool.attr_ints("dilation");
    std::vector<std::vector<std::pair<int32_t, double>>> cols(static_cast<size_t>(a.c * a.h * a.w));
    for (int64_t c = 0; c < b.c; ++c)
      for (int64_t oy = 0; oy < b.h; ++oy)
        for (int64_t ox = 0; ox < b.w; ++ox)
          for (int64_t ky = 0; ky < k[0]; ++ky)
            for (int64_t kx = 0; kx < k[1]; ++kx) {
              const int64_t y = oy * s[0] - p[0] + ky * d[0], x = ox * s[1] - p[1] + kx * d[1];
              if (y < 0 || x < 0 || y >= a.h || x >= a.w) continue;
              cols[static_cast<size_t>((c * a.h + y) * a.w + x)].push_back(
                  {static_cast<int32_t>((c * b.h + oy) * b.w + ox), 1.0});
            }
    Population q;
    q.name = if_node.name;
    q.shape = g_.value(if_node.output).shape;
    q.neurons = ir::numel(q.shape);
    q.du = Limits::kDecayUnity - 1;  // forgets everything each step: fires iff an input spike arrived
    q.dv = Limits::kDecayUnity - 1;
    q.vth = 0;  // one input spike (a_in = 2, u = v = 128) is enough: v > 0
    q.hops.push_back(make_hop(pre, cols, 2.0, 1.0, if_node));
    q.depth = net_.populations[static_cast<size_t>(pre)].depth + 1;
    const int self = static_cast<int>(net_.populations.size());
    auto &p_pre = net_.populations[static_cast<size_t>(pre)];
    if (opts_.reset == ResetMode::Subtract) {
      // Max, not OR: each pooled spike subtracts one threshold from every neuron of its window (instead of
      // each neuron's own reset), so the window fires about max_i (sum of its current) / threshold times,
      // which is what the CPU's max-pool of running sums followed by IF computes.
      std::vector<std::vector<std::pair<int32_t, double>>> back(static_cast<size_t>(q.neurons));
      for (size_t j = 0; j < cols.size(); ++j)
        for (const auto &[target, w] : cols[j]) back[static_cast<size_t>(target)].push_back({static_cast<int32_t>(j), -1.0});
      auto &hops = p_pre.hops;
      hops.erase(std::remove_if(hops.begin(), hops.end(), [&](const DenseHop &h) { return h.source == pre; }), hops.end());
      hops.push_back(make_hop(self, back, static_cast<double>(p_pre.vth), 1.0, pool));
    }
    q.bias_mant.assign(static_cast<size_t>(q.neurons), 0);
    q.bias_exp.assign(static_cast<size_t>(q.neurons), 0);
    net_.populations.push_back(std::move(q));
    return static_cast<int>(net_.populations.size()) - 1;
  }

  void map_readout() {
    const auto &st = states_.at(static_cast<size_t>(g_.output()));
    const auto &out_node = g_.nodes().at(static_cast<size_t>(g_.value(g_.output()).producer));
    if (st.kind != ValueState::Linear) fail(out_node, "the readout must be a linear function of spikes");
    Split s = split_rows(st.expr);
    if (s.cols.count(kPixels)) fail(out_node, "the readout depends directly on the input");
    if (s.cols.empty()) fail(out_node, "the readout does not depend on any spiking population");
    auto &r = net_.readout;
    r.classes = static_cast<int64_t>(st.expr.rows.size());
    double wmax = 0;
    for (const auto &[src, m] : s.wmax) wmax = std::max(wmax, m);
    r.unit = std::floor(254.0 * 64.0 / wmax);  // weights land near the top of the 8-bit mantissa (exponent 6)
    for (auto &[src, cols] : s.cols) {
      r.hops.push_back(make_hop(src, cols, r.unit, s.wmax[src], out_node));
      r.depth = std::max(r.depth, source_depth(src) + 1);
    }
    for (double c : st.expr.constant) r.bias.push_back(std::llround(c * r.unit));
  }

  const ir::Graph &g_;
  MappingOptions opts_;
  Network net_;
  std::vector<ValueState> states_;
  std::vector<int> relays_;  // bias relay populations by depth - 1
};

} // namespace

Network map_network(const ir::Graph &graph, const MappingOptions &options) { return Mapper(graph, options).run(); }

} // namespace neurocuda::backends::loihi2
