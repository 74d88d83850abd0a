// SPDX-License-Identifier: MIT
// The CPU backend: per-sample event-driven simulation, parallel over the batch.
//
// Activations are stored channels-last (HWC) so that one input event updates a
// contiguous run of output channels. Values computed only from the input are
// time-invariant under direct encoding and are evaluated once per sample.
#include "cpu/cpu_backend.h"

#include "cpu/int_program.h"
#include "cpu/layout.h"
#include "cpu/sparse.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <limits>
#include <cmath>
#include <cstring>

#include "neurocuda/error.h"
#include "neurocuda/snn/neuron.h"

namespace neurocuda::backends::cpu {
namespace {

using ir::OpKind;

// One node, laid out for execution.
struct Step {
  OpKind kind;
  std::string name;
  std::vector<int> in;
  int out = -1;
  Dims in_dims, out_dims;
  bool is_static = false;  // depends only on the input: computed once per sample
  // conv / linear
  std::vector<float> packed;  // conv: [ky][kx][c_in][o_in_group]; linear: [in][out]
  std::vector<float> bias;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
  // pooling
  bool ceil_mode = false, count_include_pad = true;
  int64_t divisor_override = 0;
  std::vector<int64_t> out_size;
  // add / batch_norm
  std::vector<std::vector<float>> coeff;
  std::vector<float> scale, shift;
  // conv scatter tables: for input row y, the (ky, oy) pairs it reaches (likewise for columns)
  Taps row_taps, col_taps;
  // max-pool over time-varying input: index of its running-sum state
  int pool_state = -1;
  // IF
  int layer = -1;
  float v0 = snn::kDefaultV0;
  bool graded = false;  // graded neuron (snn/neuron.h) instead of IF
  // relu (ANN check of lowering): upper clip of relu6 / hardtanh / clamp, +inf for plain relu
  float bound = std::numeric_limits<float>::infinity();
  // fast path (sparse.h) for a time-varying conv or linear; reference scatter otherwise
  bool fast = false;
  bool fast_pool = false;  // a running max-pool whose windows tile its input, in one pass (sparse.h)
  sparse::ConvShape geom;
};

struct Workspace {
  std::vector<std::vector<float>> values;
  std::vector<std::vector<float>> membrane;  // per IF layer
  std::vector<std::vector<float>> net;       // per graded layer: net spike count so far (empty for IF)
  std::vector<std::vector<float>> pool_sum;  // per stateful max-pool: running sum of its input
  std::vector<std::vector<float>> pool_max;  // per stateful max-pool: max of the running sums so far
  std::vector<float> readout;
  sparse::Events<float> events;
  std::vector<std::vector<uint64_t>> channel_spikes;  // per layer, summed over the samples this thread ran
};

class CpuProgram : public Program {
public:
  CpuProgram(const ir::Graph &g, bool fast) : fast_(fast) {
    const auto is_static = ir::time_invariant_values(g);
    value_sizes_.resize(g.values().size());
    for (size_t i = 0; i < g.values().size(); ++i) value_sizes_[i] = ir::numel(g.values()[i].shape);
    for (const auto &n : g.nodes()) {
      Step s;
      s.kind = n.kind;
      s.name = n.name;
      s.in = n.inputs;
      s.out = n.output;
      s.out_dims = dims_of(g.value(n.output).shape);
      if (!n.inputs.empty()) s.in_dims = dims_of(g.value(n.inputs[0]).shape);
      s.is_static = is_static[static_cast<size_t>(n.output)];
      pack(n, s);
      s.fast = fast && !s.is_static &&
               sparse::fast_path_shape(n.kind, {s.in_dims, s.out_dims, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw},
                                       s.groups, s.packed.size(), s.geom);
      if (n.kind == OpKind::MaxPool2d && !s.is_static) {
        s.pool_state = num_pool_states_++;
        // The fast path fuses a running max-pool whose windows tile the input into one pass.
        s.fast_pool = fast && s.kh == s.sh && s.kw == s.sw && s.ph == 0 && s.pw == 0 && s.dh == 1 && s.dw == 1 &&
                      s.out_dims.h * s.kh <= s.in_dims.h && s.out_dims.w * s.kw <= s.in_dims.w;
      }
      if (n.kind == OpKind::IF) {
        s.layer = static_cast<int>(layers_.size());
        layers_.push_back({n.name, ir::numel(g.value(n.output).shape), g.value(n.output).shape.at(0),
                           static_cast<int>(steps_.size())});
        s.v0 = static_cast<float>(ir::if_v0(n));
        s.graded = ir::if_graded(n);
      }
      if (n.kind == OpKind::Relu && n.floats.count("bound")) s.bound = static_cast<float>(n.floats.at("bound"));
      steps_.push_back(std::move(s));
    }
    int64_t offset = 0;
    for (const auto &l : layers_) {
      layer_offset_.push_back(offset);
      offset += l.neurons;
    }
    input_ = g.input();
    output_ = g.output();
    input_shape_ = g.value(g.input()).shape;
    classes_ = ir::numel(g.value(g.output()).shape);
    NEUROCUDA_CHECK(!is_static[static_cast<size_t>(output_)] || layers_.empty()) << "static readout";
  }

  const std::vector<LayerInfo> &layers() const override { return layers_; }

  RunResult run(const Batch &batch, const RunOptions &options) override {
    if (batch.sample_shape != input_shape_)
      throw UserError(fmt::format("input samples have shape [{}] but the network expects [{}]",
                                  fmt::join(batch.sample_shape, ", "), fmt::join(input_shape_, ", ")));
    NEUROCUDA_CHECK(!options.checkpoints.empty() && std::is_sorted(options.checkpoints.begin(), options.checkpoints.end()))
        << "checkpoints must be ascending";
    NEUROCUDA_CHECK(options.readout_delay >= 0 && options.readout_delay < options.checkpoints.front()) << "readout delay";
    const size_t ncp = options.checkpoints.size();
    const size_t nl = layers_.size();
    RunResult r;
    r.checkpoints = options.checkpoints;
    r.samples = batch.count;
    r.classes = classes_;
    r.predictions.assign(ncp * static_cast<size_t>(batch.count), 0);
    r.readout.assign(static_cast<size_t>(batch.count * classes_), 0.0f);
    int64_t total_neurons = 0;
    for (const auto &l : layers_) total_neurons += l.neurons;
    if (options.record_trace)
      r.trace.assign(static_cast<size_t>(batch.count),
                     std::vector<uint64_t>(static_cast<size_t>((total_neurons * options.checkpoints.back() + 63) / 64), 0));
    // Per-sample counters, reduced in sample order afterwards: the result does not depend on threads.
    std::vector<uint64_t> spikes(static_cast<size_t>(batch.count) * ncp * nl, 0);
    std::vector<uint64_t> synops(static_cast<size_t>(batch.count) * ncp, 0);
    const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
    const int64_t per = ir::numel(input_shape_);
#pragma omp parallel num_threads(threads)
    {
      Workspace ws;
      ws.values.resize(value_sizes_.size());
      for (size_t i = 0; i < value_sizes_.size(); ++i) ws.values[i].resize(static_cast<size_t>(value_sizes_[i]));
      ws.membrane.resize(nl);
      ws.net.resize(nl);
      ws.pool_sum.resize(static_cast<size_t>(num_pool_states_));
      ws.pool_max.resize(static_cast<size_t>(num_pool_states_));
      ws.readout.resize(static_cast<size_t>(classes_));
      if (options.channel_spikes) ws.channel_spikes = zero_channel_counts(layers_);
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < batch.count; ++i)
      {
        run_sample(ws, batch.data + i * per, options.checkpoints, options.readout_delay, &r.predictions[0], static_cast<size_t>(batch.count),
                   static_cast<size_t>(i), &spikes[static_cast<size_t>(i) * ncp * nl],
                   &synops[static_cast<size_t>(i) * ncp],
                   options.record_trace ? r.trace[static_cast<size_t>(i)].data() : nullptr, total_neurons);
        std::copy(ws.readout.begin(), ws.readout.end(), r.readout.begin() + i * classes_);
      }
      if (options.channel_spikes) {
#pragma omp critical
        add_channel_counts(r.channel_spikes, ws.channel_spikes);
      }
    }
    r.readout_exact.resize(r.readout.size());
    for (size_t k = 0; k < r.readout.size(); ++k) {
      uint32_t bits;
      std::memcpy(&bits, &r.readout[k], 4);
      r.readout_exact[k] = bits;
    }
    r.spikes.assign(ncp * nl, 0);
    r.synops.assign(ncp, 0);
    for (int64_t i = 0; i < batch.count; ++i)
      for (size_t c = 0; c < ncp; ++c) {
        for (size_t l = 0; l < nl; ++l) r.spikes[c * nl + l] += spikes[(static_cast<size_t>(i) * ncp + c) * nl + l];
        r.synops[c] += synops[static_cast<size_t>(i) * ncp + c];
      }
    return r;
  }

private:
  static void pack(const ir::Node &n, Step &s) {
    switch (n.kind) {
    case OpKind::Conv2d: {
      const auto &w = n.attr_tensor("weight");
      s.kh = w.shape[2];
      s.kw = w.shape[3];
      s.sh = n.attr_ints("stride")[0];
      s.sw = n.attr_ints("stride")[1];
      s.ph = n.attr_ints("padding")[0];
      s.pw = n.attr_ints("padding")[1];
      s.dh = n.attr_ints("dilation")[0];
      s.dw = n.attr_ints("dilation")[1];
      s.groups = n.attr_ints("groups")[0];
      s.packed = scatter_layout<float>(w.data, w.shape, s.groups);
      s.bias = n.attr_tensor("bias").data;
      s.row_taps = make_taps(s.in_dims.h, s.out_dims.h, s.kh, s.sh, s.ph, s.dh);
      s.col_taps = make_taps(s.in_dims.w, s.out_dims.w, s.kw, s.sw, s.pw, s.dw);
      break;
    }
    case OpKind::Linear: {
      const auto &w = n.attr_tensor("weight");
      s.packed = transpose_layout<float>(w.data, w.shape[0], w.shape[1]);
      s.bias = n.attr_tensor("bias").data;
      break;
    }
    case OpKind::MaxPool2d:
    case OpKind::AvgPool2d: {
      s.kh = n.attr_ints("kernel")[0];
      s.kw = n.attr_ints("kernel")[1];
      s.sh = n.attr_ints("stride")[0];
      s.sw = n.attr_ints("stride")[1];
      s.ph = n.attr_ints("padding")[0];
      s.pw = n.attr_ints("padding")[1];
      if (n.ints.count("dilation")) {
        s.dh = n.attr_ints("dilation")[0];
        s.dw = n.attr_ints("dilation")[1];
      }
      s.ceil_mode = n.attr_ints("ceil_mode")[0] != 0;
      if (n.kind == OpKind::AvgPool2d) {
        s.count_include_pad = n.attr_ints("count_include_pad")[0] != 0;
        s.divisor_override = n.attr_ints("divisor_override")[0];
      }
      break;
    }
    case OpKind::AdaptiveAvgPool2d:
      s.out_size = n.attr_ints("output_size");
      break;
    case OpKind::Add:
      s.coeff = ir::add_coefficients(n, s.out_dims.c);
      break;
    case OpKind::BatchNorm:
      s.scale = n.attr_tensor("scale").data;
      s.shift = n.attr_tensor("shift").data;
      break;
    default:
      break;
    }
  }

  // Runs one sample for all timesteps.
  void run_sample(Workspace &ws, const float *x, const std::vector<int> &cps, int delay, int32_t *preds, size_t batch, size_t sample,
                  uint64_t *spikes, uint64_t *synops, uint64_t *trace, int64_t total_neurons) const {
    const size_t nl = layers_.size();
    // Input: CHW -> HWC.
    {
      const Dims d = dims_of(input_shape_);
      auto &v = ws.values[static_cast<size_t>(input_)];
      for (int64_t c = 0; c < d.c; ++c)
        for (int64_t k = 0; k < d.h * d.w; ++k) v[static_cast<size_t>(k * d.c + c)] = x[c * d.h * d.w + k];
    }
    for (const auto &s : steps_)
      if (s.is_static && s.kind != OpKind::Input) execute(ws, s, nullptr);
    for (const auto &s : steps_)
      if (s.kind == OpKind::IF) {
        const size_t size = ws.values[static_cast<size_t>(s.out)].size();
        ws.membrane[static_cast<size_t>(s.layer)].assign(size, s.v0);
        if (s.graded) ws.net[static_cast<size_t>(s.layer)].assign(size, 0.0f);
      } else if (s.pool_state >= 0) {
        ws.pool_sum[static_cast<size_t>(s.pool_state)].assign(static_cast<size_t>(s.in_dims.size()), 0.0f);
        ws.pool_max[static_cast<size_t>(s.pool_state)].assign(static_cast<size_t>(s.out_dims.size()), 0.0f);
      }
    std::fill(ws.readout.begin(), ws.readout.end(), 0.0f);
    std::vector<uint64_t> layer_spikes(nl, 0);
    uint64_t ops = 0;
    size_t cp = 0;
    for (int t = 1; t <= cps.back(); ++t) {
      for (const auto &s : steps_) {
        if (s.is_static) continue;
        if (s.kind == OpKind::IF) {
          const auto &cur = ws.values[static_cast<size_t>(s.in[0])];
          auto &out = ws.values[static_cast<size_t>(s.out)];
          auto &v = ws.membrane[static_cast<size_t>(s.layer)];
          float *net = ws.net[static_cast<size_t>(s.layer)].data();
          const float tf = static_cast<float>(t);
          // The fast path's vectorised loops (sparse.h), checked bit for bit against these scalar ones.
          const uint64_t count =
              fast_ ? (s.graded ? sparse::graded_layer(v.data(), net, cur.data(), out.data(), v.size(), tf)
                                : sparse::if_layer(v.data(), cur.data(), out.data(), v.size()))
                    : (s.graded ? graded_layer(v.data(), net, cur.data(), out.data(), v.size(), tf)
                                : if_layer(v.data(), cur.data(), out.data(), v.size()));
          if (trace) record_spikes(trace, (t - 1) * total_neurons + layer_offset_[static_cast<size_t>(s.layer)], s, out);
          if (!ws.channel_spikes.empty())
            count_channel_spikes(ws.channel_spikes[static_cast<size_t>(s.layer)], out.data(), out.size());
          layer_spikes[static_cast<size_t>(s.layer)] += count;
        } else {
          execute(ws, s, &ops);
        }
      }
      const auto &o = ws.values[static_cast<size_t>(output_)];
      if (t > delay)
        for (size_t k = 0; k < ws.readout.size(); ++k) ws.readout[k] = ws.readout[k] + o[k];
      while (cp < cps.size() && cps[cp] == t) {
        preds[cp * batch + sample] = snn::argmax(ws.readout.data(), static_cast<int>(ws.readout.size()));
        for (size_t l = 0; l < nl; ++l) spikes[cp * nl + l] = layer_spikes[l];
        synops[cp] = ops;
        ++cp;
      }
    }
  }

  void execute(Workspace &ws, const Step &s, uint64_t *ops) const {
    auto &out = ws.values[static_cast<size_t>(s.out)];
    const auto &in = ws.values[static_cast<size_t>(s.in[0])];
    if (s.fast) {
      sparse::collect(in.data(), s.geom.in, s.geom.out.c, ws.events);
      return sparse::accumulate(s.geom, ws.events, s.packed.data(), s.bias.data(), out.data(), ops);
    }
    switch (s.kind) {
    case OpKind::Conv2d:
      return conv(s, in, out, ops);
    case OpKind::Linear: {
      const size_t o = out.size();
      std::fill(out.begin(), out.end(), 0.0f);
      uint64_t events = 0;
      for (size_t i = 0; i < in.size(); ++i) {
        const float xi = in[i];
        if (xi == 0.0f) continue;
        ++events;
        const float *w = &s.packed[i * o];
        for (size_t k = 0; k < o; ++k) out[k] = snn::accumulate(out[k], w[k], xi);
      }
      for (size_t k = 0; k < o; ++k) out[k] = out[k] + s.bias[k];
      if (ops) *ops += events * o;
      return;
    }
    case OpKind::MaxPool2d:
      if (s.pool_state >= 0) return running_max_pool(ws, s, in, out);
      return pool(s, in, out);
    case OpKind::AvgPool2d:
      return pool(s, in, out);
    case OpKind::AdaptiveAvgPool2d: {
      const Dims a = s.in_dims, b = s.out_dims;
      for (int64_t oy = 0; oy < b.h; ++oy)
        for (int64_t ox = 0; ox < b.w; ++ox) {
          const int64_t y0 = oy * a.h / b.h, y1 = ((oy + 1) * a.h + b.h - 1) / b.h;
          const int64_t x0 = ox * a.w / b.w, x1 = ((ox + 1) * a.w + b.w - 1) / b.w;
          for (int64_t c = 0; c < a.c; ++c) {
            float sum = 0.0f;
            for (int64_t y = y0; y < y1; ++y)
              for (int64_t x = x0; x < x1; ++x) sum = sum + in[static_cast<size_t>((y * a.w + x) * a.c + c)];
            out[static_cast<size_t>((oy * b.w + ox) * a.c + c)] = sum / static_cast<float>((y1 - y0) * (x1 - x0));
          }
        }
      return;
    }
    case OpKind::Add: {
      // Pixels, then channels (HWC): no per-element channel index; each output still sums its inputs in order.
      const size_t c = static_cast<size_t>(s.out_dims.c);
      std::fill(out.begin(), out.end(), 0.0f);
      for (size_t i = 0; i < s.in.size(); ++i) {
        const float *x = ws.values[static_cast<size_t>(s.in[i])].data(), *k = s.coeff[i].data();
        for (size_t p = 0; p < out.size(); p += c)
          for (size_t j = 0; j < c; ++j) out[p + j] = out[p + j] + k[j] * x[p + j];
      }
      return;
    }
    case OpKind::BatchNorm: {
      const size_t c = s.scale.size();
      for (size_t k = 0; k < out.size(); ++k) out[k] = in[k] * s.scale[k % c] + s.shift[k % c];
      return;
    }
    case OpKind::Flatten:
      return flatten_hwc(s.in_dims, in, out);
    case OpKind::Cat: {
      std::vector<const std::vector<float> *> ins;
      for (int v : s.in) ins.push_back(&ws.values[static_cast<size_t>(v)]);
      return cat_hwc(s.out_dims, ins, out);
    }
    case OpKind::Relu:
      for (size_t k = 0; k < out.size(); ++k) out[k] = std::min(std::max(in[k], 0.0f), s.bound);
      return;
    case OpKind::Input:
    case OpKind::IF:
      return;
    }
  }

  static void conv(const Step &s, const std::vector<float> &in, std::vector<float> &out, uint64_t *ops) {
    const Dims a = s.in_dims, b = s.out_dims;
    const int64_t opg = b.c / s.groups, cig = a.c / s.groups;
    std::fill(out.begin(), out.end(), 0.0f);
    uint64_t count = 0;
    // Scatter each non-zero input, in ascending (y, x, c) order, to the outputs it reaches:
    // every output then sums its inputs in (ky, kx, c) order, as snn/neuron.h requires.
    for (int64_t y = 0; y < a.h; ++y) {
      const auto &rows = s.row_taps[static_cast<size_t>(y)];
      for (int64_t x = 0; x < a.w; ++x) {
        const auto &cols = s.col_taps[static_cast<size_t>(x)];
        const float *px = &in[static_cast<size_t>((y * a.w + x) * a.c)];
        for (int64_t c = 0; c < a.c; ++c) {
          const float xi = px[c];
          if (xi == 0.0f) continue;
          const int64_t g = c / cig;
          for (const auto &[ky, oy] : rows)
            for (const auto &[kx, ox] : cols) {
              const float *w = &s.packed[static_cast<size_t>(((ky * s.kw + kx) * a.c + c) * opg)];
              float *o = &out[static_cast<size_t>((oy * b.w + ox) * b.c + g * opg)];
              for (int64_t k = 0; k < opg; ++k) o[k] = snn::accumulate(o[k], w[k], xi);
            }
          count += static_cast<uint64_t>(rows.size() * cols.size()) * static_cast<uint64_t>(opg);
        }
      }
    }
    for (int64_t k = 0; k < b.h * b.w; ++k)
      for (int64_t c = 0; c < b.c; ++c) {
        float &o = out[static_cast<size_t>(k * b.c + c)];
        o = o + s.bias[static_cast<size_t>(c)];
      }
    if (ops) *ops += count;
  }

  // Max-pooling of a time-varying current (snn/neuron.h): the output is the increment of the
  // window's largest running sum, so the current integrated over t steps equals
  // max over the window of the integrated input: the ANN's max of averages as t grows.
  static void running_max_pool(Workspace &ws, const Step &s, const std::vector<float> &in, std::vector<float> &out) {
    auto &sum = ws.pool_sum[static_cast<size_t>(s.pool_state)];
    auto &prev = ws.pool_max[static_cast<size_t>(s.pool_state)];
    if (s.fast_pool)  // windows tile the input: the fast path's one-pass kernel (sparse.h)
      return sparse::running_max_pool(in.data(), sum.data(), prev.data(), out.data(), s.in_dims.h, s.in_dims.w,
                                      s.in_dims.c, s.kh, s.kw, s.out_dims.h, s.out_dims.w);
    for (size_t k = 0; k < sum.size(); ++k) sum[k] = sum[k] + in[k];
    pool(s, sum, out);
    for (size_t k = 0; k < out.size(); ++k) {
      const float m = out[k];
      out[k] = m - prev[k];
      prev[k] = m;
    }
  }

  // Channels innermost (HWC): each window tap is one contiguous run of channels. Every output still
  // takes its taps in (ky, kx) order, so averages add in the reference order.
  static void pool(const Step &s, const std::vector<float> &in, std::vector<float> &out) {
    const Dims a = s.in_dims, b = s.out_dims;
    const bool is_max = s.kind == OpKind::MaxPool2d;
    const int64_t c = a.c;
    for (int64_t oy = 0; oy < b.h; ++oy)
      for (int64_t ox = 0; ox < b.w; ++ox) {
        float *acc = &out[static_cast<size_t>((oy * b.w + ox) * c)];
        std::fill(acc, acc + c, is_max ? -INFINITY : 0.0f);
        int64_t inside = 0;
        const int64_t y0 = oy * s.sh - s.ph, x0 = ox * s.sw - s.pw;
        // PyTorch's avg_pool2d with padding counts the window clipped to the padded input.
        const int64_t yend = std::min(y0 + s.kh, a.h + s.ph), xend = std::min(x0 + s.kw, a.w + s.pw);
        const int64_t padded = (yend - y0) * (xend - x0);
        for (int64_t ky = 0; ky < s.kh; ++ky)
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            const int64_t y = y0 + ky * s.dh, x = x0 + kx * s.dw;
            if (y < 0 || x < 0 || y >= a.h || x >= a.w) continue;
            const float *v = &in[static_cast<size_t>((y * a.w + x) * c)];
            if (is_max)
              for (int64_t k = 0; k < c; ++k) acc[k] = acc[k] < v[k] ? v[k] : acc[k];
            else
              for (int64_t k = 0; k < c; ++k) acc[k] = acc[k] + v[k];
            ++inside;
          }
        if (!is_max) {
          const int64_t div = s.divisor_override ? s.divisor_override : (s.count_include_pad ? padded : inside);
          for (int64_t k = 0; k < c; ++k) acc[k] = acc[k] / static_cast<float>(div);
        }
      }
  }

  // One step t of a graded population; returns the number of spikes (non-zero payloads).
  static uint64_t graded_layer(float *__restrict v, float *__restrict net, const float *__restrict cur,
                               float *__restrict out, size_t n, float t) {
    uint64_t count = 0;
    for (size_t k = 0; k < n; ++k) {
      const float q = snn::graded_step(v[k], net[k], cur[k], t);
      out[k] = q;
      count += q != 0.0f;
    }
    return count;
  }

  // One step of an IF population; returns the number of spikes.
  static uint64_t if_layer(float *__restrict v, const float *__restrict cur, float *__restrict out, size_t n) {
    uint64_t count = 0;
    constexpr size_t kChunk = size_t{1} << 30;  // a 32-bit counter per chunk: same width as the floats, so it vectorises
    for (size_t k0 = 0; k0 < n; k0 += kChunk) {
      int32_t c = 0;
      const size_t k1 = std::min(n, k0 + kChunk);
      for (size_t k = k0; k < k1; ++k) {
        const int32_t fired = snn::if_step(v[k], cur[k]);
        out[k] = static_cast<float>(fired);
        c += fired;
      }
      count += static_cast<uint64_t>(c);
    }
    return count;
  }

  // Sets the trace bits of a population's spikes, neurons numbered in PyTorch (CHW) order.
  static void record_spikes(uint64_t *trace, int64_t base, const Step &s, const std::vector<float> &out) {
    for (int64_t k = 0; k < static_cast<int64_t>(out.size()); ++k)
      if (out[static_cast<size_t>(k)] != 0.0f) set_trace_bit(trace, base, s.out_dims, k);
  }

  bool fast_;  // the fast path (sparse.h) for synapses and neurons; the reference loops otherwise
  std::vector<Step> steps_;
  std::vector<LayerInfo> layers_;
  std::vector<int64_t> layer_offset_;
  std::vector<int64_t> value_sizes_;
  int input_ = -1, output_ = -1;
  int num_pool_states_ = 0;
  ir::Shape input_shape_;
  int64_t classes_ = 0;
};

class CpuBackend : public Backend {
public:
  explicit CpuBackend(bool reference) : reference_(reference) {}
  std::string_view name() const override { return reference_ ? "cpu-reference" : "cpu"; }
  Availability availability() const override { return {}; }
  Support supports(const ir::Node &node) const override {
    // ReLU is supported so that a lowered, unconverted ANN can be run (T = 1) to check lowering.
    (void)node;
    return {};
  }
  std::unique_ptr<Program> compile(const ir::Graph &graph, const CompileOptions &options) const override {
    check_backend(*this, graph);
    if (options.precision != Precision::Fp32)
      return make_int_program(quant::quantize(graph, options.precision == Precision::Int16 ? 16 : 8), !reference_);
    return std::make_unique<CpuProgram>(graph, !reference_);
  }

private:
  bool reference_;
};

} // namespace

std::unique_ptr<Backend> make_backend() { return std::make_unique<CpuBackend>(false); }
std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<CpuBackend>(true); }

} // namespace neurocuda::backends::cpu
