// SPDX-License-Identifier: MIT
// Integer-mode execution on the CPU: the same layout and event order as fp32. Values (currents,
// payloads, pool and add outputs) are int32 where the quantizer's bounds show every one fits 31 bits
// on the fast path, int64 otherwise; potentials, net counts, running pool sums and the readout are
// always int64.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "cpu/int_program.h"
#include "cpu/layout.h"
#include "cpu/sparse.h"
#include "neurocuda/error.h"
#include "neurocuda/snn/neuron.h"

namespace neurocuda::backends::cpu {
namespace {

using ir::OpKind;

// Vectors the kernels load or store whole are 64-byte aligned (sparse::Aligned).
using sparse::Aligned;

struct IStep {
  const quant::QNode *node = nullptr;
  Dims in_dims, out_dims;
  bool is_static = false;
  bool skip = false;     // a flatten folded into the linear layer after it (fast path)
  int input_value = -1;  // a linear layer reading its flatten's HWC input directly (weights permuted to match)
  int fused_add = -1;    // IF with int32 potentials: the two-input add step whose sum is its current (summed here)
  int fused_into = -1;   // add: the IF layer that sums it, in runs where that layer's potentials are int32
  std::vector<int64_t> packed;  // conv: [ky][kx][c][o_in_group]; linear: [in][out]
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
  Taps rows, cols;
  int pool_state = -1;
  bool fast_pool = false;  // a running max-pool whose windows tile its input, in one pass (sparse.h)
  int layer = -1;
  bool graded = false;  // graded neuron (snn/neuron.h) instead of IF
  std::vector<double> inverse_threshold;  // graded, fast path: 1 / threshold per channel (empty: scalar step)
  // graded, fast path with 32-bit values: potentials and net counts held as doubles (threshold_d per channel)
  std::vector<double> threshold_d;
  // ... and as int32 while the potentials and currents allow (sparse.h; thresholds below 2^29)
  Aligned<int32_t> threshold32;
  Aligned<float> inverse_f;
  int32_t smallest_threshold = 0;
  bool fast_if = false;  // IF, fast path: the vectorised step (thresholds >= 1)
  bool bits_only = false;  // IF: every reader takes its spikes as bits (mark_bits_only)
  int bits_via_add = -1;   // ... one of them the fused add of this layer, which must run fused for it
  int add_bits_input = -1; // IF with a fused add: the add input read as spike bits (mark_bits_only)
  // ... with 32-bit values and thresholds below 2^31: int32 potentials, in runs whose T bounds them
  Aligned<int32_t> threshold_if32;
  // fast path (sparse.h): 32-bit weights, exact because the accumulator fits 31 bits
  bool fast = false;
  sparse::ConvShape geom;
  std::vector<int32_t> packed32;
  Aligned<int32_t> bias32;                         // fast path with 32-bit values
  bool dense8 = false;                             // 32-bit values, 8-bit weights: the dense kernel when it pays
  sparse::Dense8Shape d8;
  sparse::Weights8 packed8;
  std::vector<int8_t> linear8;                     // 32-bit values, linear, 8-bit weights [in][out]: events
  sparse::Weights16 packed16;                      // 32-bit values, weights for the 16-bit spike events
  bool columns = false;                            // ... walked column by column where its input is spike bits (sparse.h)
  sparse::LutShape lut;                            // 32-bit values, spikes into c_in <= 16: the table kernel (lut.table set)
  double spike_cost = sparse::kDense8EventCost;    // spike steps: the events' cost per synaptic operation, in dense MACs
  std::vector<Aligned<int32_t>> multiplier32;      // add with 32-bit values
};

// Per-thread state; values and potentials on 64-byte boundaries (Aligned), as the steps' per-channel
// vectors are.
template <typename V> struct IWorkspace {
  std::vector<Aligned<V>> values;
  std::vector<std::vector<int64_t>> membrane, pool_sum, pool_max;
  std::vector<std::vector<int64_t>> net;  // per graded layer: net spike count so far
  std::vector<std::vector<double>> membrane_d, net_d;  // the same, for layers with IStep::threshold_d
  std::vector<Aligned<int32_t>> membrane32, net32;  // ... and IStep::threshold32, until `wide`
  std::vector<char> wide;                               // per layer: this sample moved it to doubles
  std::vector<char> if32;                               // per layer: IF potentials in membrane32 (this run's T)
  std::vector<char> pool32;                             // per pool: running sums in pool_sum32 (this run's T)
  std::vector<std::vector<int32_t>> pool_sum32, pool_max32;
  std::vector<char> events_first;  // per step: its previous spike step was sparse enough for the events
  // Per value: an IF layer's spikes as bits (sparse.h, if_layer_int32), valid while bits_at equals
  // clock (the timestep being run, counted over the thread's samples).
  std::vector<std::vector<uint8_t>> bits;
  std::vector<int64_t> bits_at;
  int64_t clock = 0;
  std::vector<int64_t> readout;
  sparse::Events<int32_t> events;
  // What `events` holds when it came from spike bits: the value, its timestep (clock) and the row
  // length its offsets were made for (their order is events.columns), so that a second layer reading
  // the same spikes in the same order reuses them.
  int events_value = -1;
  int64_t events_clock = -1, events_row = -1;
  std::vector<std::vector<uint64_t>> channel_spikes;  // per layer, summed over the samples this thread ran
};

// Whether every value of q fits 31 bits, so the program can hold values as int32: every node's bound
// (an IF population's output is a payload of at most kMaxGradedPayload) and every add multiplier.
bool values_fit_int32(const quant::QGraph &q) {
  for (const auto &n : q.nodes) {
    if (n.kind != OpKind::IF && n.accumulator_bits > 31) return false;
    for (const auto &m : n.multiplier)
      for (int64_t x : m)
        if (x > std::numeric_limits<int32_t>::max() || x < -std::numeric_limits<int32_t>::max()) return false;
  }
  return std::max(std::abs(q.input_min), std::abs(q.input_max)) <= std::numeric_limits<int32_t>::max();
}

template <typename V> class IntProgram : public Program {
  static constexpr bool kNarrow = std::is_same_v<V, int32_t>;

public:
  IntProgram(quant::QGraph q, bool fast) : q_(std::move(q)) {
    std::vector<int> consumers(q_.shapes.size(), 0);
    for (const auto &n : q_.nodes)
      for (int v : n.inputs) ++consumers[static_cast<size_t>(v)];
    for (const auto &n : q_.nodes) {
      IStep s;
      s.node = &n;
      s.out_dims = dims_of(q_.shapes[static_cast<size_t>(n.output)]);
      if (!n.inputs.empty()) s.in_dims = dims_of(q_.shapes[static_cast<size_t>(n.inputs[0])]);
      s.is_static = q_.time_invariant[static_cast<size_t>(n.output)];
      pack(n, s);
      if (fast && n.kind == OpKind::Linear) fold_flatten(s, consumers);
      // 32-bit accumulation is exact when the accumulator fits 31 bits (which also bounds every weight).
      s.fast = fast && !s.is_static && n.accumulator_bits <= 31 &&
               sparse::fast_path_shape(n.kind, {s.in_dims, s.out_dims, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw},
                                       s.groups, s.packed.size(), s.geom);
      if (s.fast) s.packed32.assign(s.packed.begin(), s.packed.end());
      if (s.fast && kNarrow) {
        s.bias32.assign(n.bias.begin(), n.bias.end());
        s.dense8 = sparse::dense8_layout(s.geom, s.packed32, s.d8, s.packed8);
        if (n.kind == OpKind::Conv2d) sparse::lut_layout(s.geom, s.packed32, s.lut);
        if (sparse::spikes16_layout(s.geom, s.packed32, s.packed16)) {
          s.spike_cost = sparse::spikes16_event_cost(s.geom.in.c);
          s.columns = n.kind == OpKind::Conv2d && sparse::columns_shape(s.geom);
        }
        if (n.kind == OpKind::Linear && s.dense8 && s.geom.out.c % 16 == 0)  // dense8: every |weight| <= 127
          s.linear8.assign(s.packed32.begin(), s.packed32.end());
      }
      if (kNarrow)
        for (const auto &m : n.multiplier) s.multiplier32.emplace_back(m.begin(), m.end());
      if (n.kind == OpKind::MaxPool2d && !s.is_static) {
        s.pool_state = pools_++;
        s.fast_pool = fast && s.kh == s.sh && s.kw == s.sw && s.ph == 0 && s.pw == 0 && s.dh == 1 && s.dw == 1 &&
                      s.out_dims.h * s.kh <= s.in_dims.h && s.out_dims.w * s.kw <= s.in_dims.w;
      }
      if (n.kind == OpKind::IF) {
        s.graded = n.graded();
        s.fast_if = fast && !s.graded && std::all_of(n.threshold.begin(), n.threshold.end(), [](int64_t th) { return th >= 1; });
        if (kNarrow && s.fast_if &&
            std::all_of(n.threshold.begin(), n.threshold.end(), [](int64_t th) { return th <= std::numeric_limits<int32_t>::max(); }))
          s.threshold_if32.assign(n.threshold.begin(), n.threshold.end());
        // The fast path's division-free graded step takes thresholds below 2^40 (sparse.h).
        if (s.graded && fast &&
            std::all_of(n.threshold.begin(), n.threshold.end(), [](int64_t th) { return th > 0 && th < (int64_t{1} << 40); }))
          for (int64_t th : n.threshold) s.inverse_threshold.push_back(1.0 / static_cast<double>(th));
        // With 32-bit values |current| < 2^31, and T <= kMaxGradedPayload = 2^8, so a potential
        // v0 + (sum of currents) - threshold * (net count) stays below 2^40 + 2^39 + 2^48 < 2^50 when
        // |v0| < 2^40 too: exact in doubles (sparse.h).
        if (kNarrow && !s.inverse_threshold.empty() &&
            std::all_of(n.v0.begin(), n.v0.end(), [](int64_t v) { return v > -(int64_t{1} << 40) && v < (int64_t{1} << 40); }))
          s.threshold_d.assign(n.threshold.begin(), n.threshold.end());
        if (!s.threshold_d.empty() &&
            std::all_of(n.threshold.begin(), n.threshold.end(), [](int64_t th) { return th >= 1 && th < (int64_t{1} << 29); })) {
          for (int64_t th : n.threshold) {
            s.threshold32.push_back(static_cast<int32_t>(th));
            s.inverse_f.push_back(1.0f / static_cast<float>(th));
          }
          s.smallest_threshold = *std::min_element(s.threshold32.begin(), s.threshold32.end());
        }
        s.layer = static_cast<int>(layers_.size());
        if (kNarrow) fuse_add(s, consumers);
        layers_.push_back({n.name, ir::numel(q_.shapes[static_cast<size_t>(n.output)]),
                           q_.shapes[static_cast<size_t>(n.output)].at(0), static_cast<int>(steps_.size())});
      }
      steps_.push_back(std::move(s));
    }
    if (kNarrow) mark_bits_only();
    int64_t offset = 0;
    for (const auto &l : layers_) {
      offset_.push_back(offset);
      offset += l.neurons;
    }
    total_neurons_ = offset;
    classes_ = ir::numel(q_.shapes[static_cast<size_t>(q_.output)]);
    for (const auto &n : q_.nodes)
      if (n.output == q_.output) readout_bits_ = n.accumulator_bits;
  }

  const std::vector<LayerInfo> &layers() const override { return layers_; }

  RunResult run(const Batch &batch, const RunOptions &options) override {
    const auto &in_shape = q_.shapes[static_cast<size_t>(q_.input)];
    if (batch.sample_shape != in_shape)
      throw UserError(fmt::format("input samples have shape [{}] but the network expects [{}]",
                                  fmt::join(batch.sample_shape, ", "), fmt::join(in_shape, ", ")));
    const int tmax = options.checkpoints.back();
    // The readout sums one value per step: it fits in int64 if its per-step bits plus log2(T) do.
    if (readout_bits_ + static_cast<int>(std::ceil(std::log2(static_cast<double>(tmax) + 1))) > 63)
      throw UserError(fmt::format("T = {} could overflow the integer readout; use fewer timesteps", tmax));
    quant::check_graded_timesteps(std::any_of(steps_.begin(), steps_.end(), [](const IStep &s) { return s.graded; }),
                                  tmax);
    const size_t ncp = options.checkpoints.size(), nl = layers_.size();
    RunResult r;
    r.checkpoints = options.checkpoints;
    r.samples = batch.count;
    r.classes = classes_;
    r.predictions.assign(ncp * static_cast<size_t>(batch.count), 0);
    r.readout.assign(static_cast<size_t>(batch.count * classes_), 0.0f);
    r.readout_exact.assign(r.readout.size(), 0);
    if (options.record_trace)
      r.trace.assign(static_cast<size_t>(batch.count),
                     std::vector<uint64_t>(static_cast<size_t>((total_neurons_ * tmax + 63) / 64), 0));
    std::vector<uint64_t> spikes(static_cast<size_t>(batch.count) * ncp * nl, 0), synops(static_cast<size_t>(batch.count) * ncp, 0);
    const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
    const int64_t per = ir::numel(in_shape);
#pragma omp parallel num_threads(threads)
    {
      IWorkspace<V> ws;
      ws.values.resize(q_.shapes.size());
      for (size_t i = 0; i < q_.shapes.size(); ++i) ws.values[i].resize(static_cast<size_t>(ir::numel(q_.shapes[i])));
      ws.membrane.resize(nl);
      ws.net.resize(nl);
      ws.membrane_d.resize(nl);
      ws.net_d.resize(nl);
      ws.membrane32.resize(nl);
      ws.net32.resize(nl);
      ws.wide.assign(nl, 1);
      ws.if32.assign(nl, 0);
      ws.events_first.assign(steps_.size(), 0);
      ws.bits.resize(q_.shapes.size());
      ws.bits_at.assign(q_.shapes.size(), -1);
      ws.pool32.assign(static_cast<size_t>(pools_), 0);
      ws.pool_sum32.resize(static_cast<size_t>(pools_));
      ws.pool_max32.resize(static_cast<size_t>(pools_));
      for (const auto &s : steps_) {
        if (!s.threshold_if32.empty()) ws.if32[static_cast<size_t>(s.layer)] = if_fits_int32(s, tmax);
        if (s.fast_pool && kNarrow) ws.pool32[static_cast<size_t>(s.pool_state)] = pool_fits_int32(s, tmax);
      }
      ws.pool_sum.resize(static_cast<size_t>(pools_));
      ws.pool_max.resize(static_cast<size_t>(pools_));
      ws.readout.resize(static_cast<size_t>(classes_));
      if (options.channel_spikes) ws.channel_spikes = zero_channel_counts(layers_);
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < batch.count; ++i) {
        const auto si = static_cast<size_t>(i);
        run_sample(ws, batch.data + i * per, options.checkpoints, options.readout_delay, r.predictions.data(), static_cast<size_t>(batch.count), si,
                   &spikes[si * ncp * nl], &synops[si * ncp], options.record_trace ? r.trace[si].data() : nullptr);
        for (int64_t k = 0; k < classes_; ++k) {
          r.readout_exact[static_cast<size_t>(i * classes_ + k)] = ws.readout[static_cast<size_t>(k)];
          r.readout[static_cast<size_t>(i * classes_ + k)] =
              static_cast<float>(static_cast<double>(ws.readout[static_cast<size_t>(k)]) * q_.readout_unit);
        }
      }
      if (options.channel_spikes) {
#pragma omp critical
        add_channel_counts(r.channel_spikes, ws.channel_spikes);
      }
    }
    r.spikes.assign(ncp * nl, 0);
    r.synops.assign(ncp, 0);
    for (size_t i = 0; i < static_cast<size_t>(batch.count); ++i)
      for (size_t c = 0; c < ncp; ++c) {
        for (size_t l = 0; l < nl; ++l) r.spikes[c * nl + l] += spikes[(i * ncp + c) * nl + l];
        r.synops[c] += synops[i * ncp + c];
      }
    return r;
  }

private:
  static void pack(const quant::QNode &n, IStep &s) {
    auto get = [&](const char *k, size_t i) { return n.ints.at(k).at(i); };
    if (n.kind == OpKind::Conv2d) {
      const auto &w = n.weight_shape;
      s.kh = w[2];
      s.kw = w[3];
      s.sh = get("stride", 0), s.sw = get("stride", 1);
      s.ph = get("padding", 0), s.pw = get("padding", 1);
      s.dh = get("dilation", 0), s.dw = get("dilation", 1);
      s.groups = get("groups", 0);
      s.packed = scatter_layout<int64_t>(n.weight, n.weight_shape, s.groups);
      s.rows = make_taps(s.in_dims.h, s.out_dims.h, s.kh, s.sh, s.ph, s.dh);
      s.cols = make_taps(s.in_dims.w, s.out_dims.w, s.kw, s.sw, s.pw, s.dw);
    } else if (n.kind == OpKind::Linear) {
      s.packed = transpose_layout<int64_t>(n.weight, n.weight_shape[0], n.weight_shape[1]);
    } else if (n.kind == OpKind::MaxPool2d || n.kind == OpKind::AvgPool2d) {
      s.kh = get("kernel", 0), s.kw = get("kernel", 1);
      s.sh = get("stride", 0), s.sw = get("stride", 1);
      s.ph = get("padding", 0), s.pw = get("padding", 1);
      if (n.ints.count("dilation")) s.dh = get("dilation", 0), s.dw = get("dilation", 1);
    }
  }

  // Whether an IF layer's potentials stay within int32 for T steps: they start at v0 and move by at
  // most one current a step, |current| < 2^(bits - 2) (the IF node's bits cover twice its input's
  // bound, quantize.cpp), and v + I is formed before the threshold is subtracted.
  static bool if_fits_int32(const IStep &s, int64_t tmax) {
    int64_t v0 = 0;
    for (int64_t x : s.node->v0) v0 = std::max(v0, x < 0 ? -x : x);
    const int bits = s.node->accumulator_bits;
    if (bits < 2 || bits > 31 || v0 >= (int64_t{1} << 31)) return false;
    return v0 + (tmax + 1) * (int64_t{1} << (bits - 2)) < (int64_t{1} << 31);
  }
  // Whether a running max-pool's sums stay within int32 for T steps: |input| < 2^(bits - 1).
  static bool pool_fits_int32(const IStep &s, int64_t tmax) {
    const int bits = s.node->accumulator_bits;
    return bits >= 1 && bits <= 31 && tmax * (int64_t{1} << (bits - 1)) < (int64_t{1} << 31);
  }

  // A linear layer whose input is a flatten's output, read by nothing else: the flatten (a CHW
  // reordering of an HWC tensor, every step) is skipped and the linear layer reads the HWC tensor
  // with its weight rows permuted to match. Integer sums are exact in any order.
  void fold_flatten(IStep &s, const std::vector<int> &consumers) {
    const int v = s.node->inputs.at(0);
    if (consumers[static_cast<size_t>(v)] != 1 || v == q_.output) return;
    for (auto &f : steps_) {
      if (f.node->output != v || f.node->kind != OpKind::Flatten || f.is_static != s.is_static) continue;
      const Dims a = f.in_dims;
      const int64_t outs = s.out_dims.size(), hw = a.h * a.w;
      if (hw == 1) return;  // nothing to reorder
      std::vector<int64_t> permuted(s.packed.size());
      for (int64_t c = 0; c < a.c; ++c)
        for (int64_t k = 0; k < hw; ++k)
          std::copy_n(&s.packed[static_cast<size_t>((c * hw + k) * outs)], outs, &permuted[static_cast<size_t>((k * a.c + c) * outs)]);
      s.packed = std::move(permuted);
      s.input_value = f.node->inputs.at(0);
      f.skip = true;
      return;
    }
  }

  // An IF layer whose current is a two-input add read by nothing else: in runs where its potentials
  // are int32, the IF step sums the add's inputs itself and the add step is skipped.
  void fuse_add(IStep &s, const std::vector<int> &consumers) {
    const int v = s.node->inputs.at(0);
    if (s.threshold_if32.empty()) return;
    if (consumers[static_cast<size_t>(v)] != 1 || v == q_.output) return;
    for (size_t i = 0; i < steps_.size(); ++i) {
      IStep &a = steps_[i];
      if (a.node->output != v || a.node->kind != OpKind::Add || a.node->inputs.size() != 2 || a.is_static) continue;
      s.fused_add = static_cast<int>(i);
      a.fused_into = s.layer;
      return;
    }
  }

  // IF layers whose every reader is a fast-path convolution, which takes spikes as bits in each of its
  // kernels (tables, event lists, the dense kernel): in runs where the layer writes bits (int32
  // potentials, channels a multiple of 8) its int32 spikes are not written, unless a trace or
  // per-channel counts need them. A pool, an add, a linear layer or the readout reads int32 values.
  void mark_bits_only() {
    auto produced_by_if = [&](int v) {
      for (const auto &p : steps_)
        if (p.node->output == v) return p.node->kind == OpKind::IF && !p.threshold_if32.empty() && p.out_dims.c % 8 == 0;
      return false;
    };
    // A fused add whose one input is such an IF layer's spikes and whose other is not reads them as bits.
    for (auto &l : steps_) {
      if (l.fused_add < 0) continue;
      const auto &ins = steps_[static_cast<size_t>(l.fused_add)].node->inputs;
      const bool if0 = produced_by_if(ins[0]), if1 = produced_by_if(ins[1]);
      if (if0 != if1) l.add_bits_input = if1 ? 1 : 0;
    }
    for (auto &l : steps_) {
      if (l.node->kind != OpKind::IF || l.threshold_if32.empty() || l.out_dims.c % 8 != 0 || l.node->output == q_.output)
        continue;
      bool readers = false, all_bits = true;
      for (const auto &c : steps_) {
        const bool reads = std::find(c.node->inputs.begin(), c.node->inputs.end(), l.node->output) != c.node->inputs.end() ||
                           c.input_value == l.node->output;
        if (!reads) continue;
        readers = true;
        if (c.node->kind == OpKind::Add && c.fused_into >= 0) {  // read as bits by its IF step, when fused
          const IStep &f = steps_[static_cast<size_t>(layers_[static_cast<size_t>(c.fused_into)].node)];
          const bool as_bits = f.add_bits_input >= 0 && c.node->inputs[static_cast<size_t>(f.add_bits_input)] == l.node->output;
          all_bits = all_bits && as_bits;
          l.bits_via_add = c.fused_into;
          continue;
        }
        all_bits = all_bits && c.node->kind == OpKind::Conv2d && c.fast && c.input_value < 0;
      }
      l.bits_only = readers && all_bits;
    }
  }

  void run_sample(IWorkspace<V> &ws, const float *x, const std::vector<int> &cps, int delay, int32_t *preds, size_t batch,
                  size_t sample, uint64_t *spikes, uint64_t *synops, uint64_t *trace) const {
    const size_t nl = layers_.size();
    {
      const Dims d = dims_of(q_.shapes[static_cast<size_t>(q_.input)]);
      auto &v = ws.values[static_cast<size_t>(q_.input)];
      for (int64_t c = 0; c < d.c; ++c)
        for (int64_t k = 0; k < d.h * d.w; ++k)
          v[static_cast<size_t>(k * d.c + c)] = static_cast<V>(quant::quantize_input(q_, x[c * d.h * d.w + k]));
    }
    for (const auto &s : steps_)
      if (s.is_static && !s.skip && s.node->kind != OpKind::Input) execute(ws, s, nullptr);
    for (const auto &s : steps_) {
      const auto *v0 = s.node->v0.data();
      const auto l = static_cast<size_t>(s.layer);
      // The layer's potentials at v0 (per channel, HWC), in the potential type T; pixel by pixel (a
      // modulo per neuron was 2.5 % of the int8 IF ResNet's run).
      auto start = [&](auto &v) {
        using T = typename std::remove_reference_t<decltype(v)>::value_type;
        const auto c = static_cast<size_t>(s.out_dims.c);
        v.resize(static_cast<size_t>(s.out_dims.size()));
        for (size_t k = 0; k < v.size(); k += c)
          for (size_t j = 0; j < c; ++j) v[k + j] = static_cast<T>(v0[j]);
      };
      if (s.node->kind == OpKind::IF && !s.threshold32.empty() &&
          std::all_of(v0, v0 + s.out_dims.c, [](int64_t x) { return x > -(int64_t{1} << 30) && x < (int64_t{1} << 30); })) {
        start(ws.membrane32[l]);
        ws.net32[l].assign(ws.membrane32[l].size(), 0);
        ws.wide[l] = 0;
      } else if (s.node->kind == OpKind::IF && !s.threshold_d.empty()) {
        ws.wide[l] = 1;
        start(ws.membrane_d[l]);
        ws.net_d[l].assign(ws.membrane_d[l].size(), 0.0);
      } else if (s.node->kind == OpKind::IF && ws.if32[l]) {
        start(ws.membrane32[l]);
      } else if (s.node->kind == OpKind::IF) {
        start(ws.membrane[l]);
        if (s.graded) ws.net[l].assign(ws.membrane[l].size(), 0);
      } else if (s.pool_state >= 0 && ws.pool32[static_cast<size_t>(s.pool_state)]) {
        ws.pool_sum32[static_cast<size_t>(s.pool_state)].assign(static_cast<size_t>(s.in_dims.size()), 0);
        ws.pool_max32[static_cast<size_t>(s.pool_state)].assign(static_cast<size_t>(s.out_dims.size()), 0);
      } else if (s.pool_state >= 0) {
        ws.pool_sum[static_cast<size_t>(s.pool_state)].assign(static_cast<size_t>(s.in_dims.size()), 0);
        ws.pool_max[static_cast<size_t>(s.pool_state)].assign(static_cast<size_t>(s.out_dims.size()), 0);
      }
    }
    std::fill(ws.readout.begin(), ws.readout.end(), 0);
    std::vector<uint64_t> layer_spikes(nl, 0);
    uint64_t ops = 0;
    size_t cp = 0;
    for (int t = 1; t <= cps.back(); ++t) {
      ++ws.clock;
      for (const auto &s : steps_) {
        if (s.is_static || s.skip) continue;
        if (s.fused_into >= 0 && ws.if32[static_cast<size_t>(s.fused_into)]) continue;  // summed by its IF step
        if (s.node->kind != OpKind::IF) {
          execute(ws, s, &ops);
          continue;
        }
        const auto &cur = ws.values[static_cast<size_t>(s.node->inputs[0])];
        auto &out = ws.values[static_cast<size_t>(s.node->output)];
        auto &v = ws.membrane[static_cast<size_t>(s.layer)];
        const int64_t c = s.out_dims.c;
        const int64_t base = (t - 1) * total_neurons_ + offset_[static_cast<size_t>(s.layer)];
        uint64_t count = 0;
        const int64_t *th = s.node->threshold.data();
        const int64_t pixels = static_cast<int64_t>(out.size()) / c;
        if (!s.threshold_d.empty()) {  // 32-bit values: potentials and net counts in int32, else doubles (sparse.h)
          if constexpr (kNarrow) {
            const auto l = static_cast<size_t>(s.layer);
            if (!ws.wide[l] && !sparse::graded_layer_int32(ws.membrane32[l].data(), ws.net32[l].data(), cur.data(),
                                                            out.data(), pixels, c, s.threshold32.data(), s.inverse_f.data(),
                                                            s.smallest_threshold, t, count)) {
              // Potentials or currents too large for it: this layer goes on in doubles for the rest of the sample.
              ws.wide[l] = 1;
              ws.membrane_d[l].assign(ws.membrane32[l].begin(), ws.membrane32[l].end());
              ws.net_d[l].assign(ws.net32[l].begin(), ws.net32[l].end());
            }
            if (ws.wide[l])
              count = sparse::graded_layer_int(ws.membrane_d[l].data(), ws.net_d[l].data(), cur.data(), out.data(), pixels,
                                               c, s.threshold_d.data(), s.inverse_threshold.data(), t);
          }
        } else if (ws.if32[static_cast<size_t>(s.layer)]) {
          if constexpr (kNarrow) {
            int32_t *v32 = ws.membrane32[static_cast<size_t>(s.layer)].data();
            int32_t *spikes = out.data();
            // The spikes as bits too, for the layers reading them (execute).
            uint8_t *bits = nullptr;
            if (c % 8 == 0) {
              const auto o = static_cast<size_t>(s.node->output);
              ws.bits[o].resize(out.size() / 8);
              bits = ws.bits[o].data();
              ws.bits_at[o] = ws.clock;
              if (s.bits_only && !trace && ws.channel_spikes.empty() &&
                  (s.bits_via_add < 0 || ws.if32[static_cast<size_t>(s.bits_via_add)]))
                spikes = nullptr;  // read as bits only
            }
            if (s.fused_add >= 0) {  // the add's two inputs summed here (fuse_add)
              const IStep &a = steps_[static_cast<size_t>(s.fused_add)];
              // One input as spike bits (mark_bits_only) where its IF layer wrote them this step.
              const int j = s.add_bits_input;
              const auto bin = j >= 0 ? static_cast<size_t>(a.node->inputs[static_cast<size_t>(j)]) : 0;
              const uint8_t *spikes1 = j >= 0 && ws.bits_at[bin] == ws.clock ? ws.bits[bin].data() : nullptr;
              const size_t k0 = spikes1 ? static_cast<size_t>(1 - j) : 0, k1 = spikes1 ? static_cast<size_t>(j) : 1;
              count = sparse::if_layer_int32_add(v32, ws.values[static_cast<size_t>(a.node->inputs[k0])].data(),
                                                 a.multiplier32[k0].data(), ws.values[static_cast<size_t>(a.node->inputs[k1])].data(),
                                                 a.multiplier32[k1].data(), spikes, pixels, c, s.threshold_if32.data(),
                                                 bits, spikes1);
            } else {
              count = sparse::if_layer_int32(v32, cur.data(), spikes, pixels, c, s.threshold_if32.data(), bits);
            }
          }
        } else if (s.fast_if) {
          count = sparse::if_layer_int(v.data(), cur.data(), out.data(), pixels, c, th);
        } else if (s.graded && !s.inverse_threshold.empty()) {  // the fast path's vectorised, division-free step
          count = sparse::graded_layer_int(v.data(), ws.net[static_cast<size_t>(s.layer)].data(), cur.data(), out.data(),
                                           pixels, c, th, s.inverse_threshold.data(), t);
        } else {
          for (int64_t p = 0; p < pixels * c; p += c) {
            int64_t *vp = &v[static_cast<size_t>(p)];
            V *op = &out[static_cast<size_t>(p)];
            const V *ip = &cur[static_cast<size_t>(p)];
            if (s.graded) {
              int64_t *np = &ws.net[static_cast<size_t>(s.layer)][static_cast<size_t>(p)];
              for (int64_t k = 0; k < c; ++k) {
                const int64_t q = snn::graded_step_int(vp[k], np[k], ip[k], th[k], t);
                op[k] = static_cast<V>(q);
                count += q != 0;
              }
              continue;
            }
            for (int64_t k = 0; k < c; ++k) {
              const int64_t spike = snn::if_step_int(vp[k], ip[k], th[k]);
              op[k] = static_cast<V>(spike);
              count += static_cast<uint64_t>(spike);
            }
          }
        }
        if (trace)
          for (int64_t k = 0; k < static_cast<int64_t>(out.size()); ++k)
            if (out[static_cast<size_t>(k)]) set_trace_bit(trace, base, s.out_dims, k);
        if (!ws.channel_spikes.empty())
          count_channel_spikes(ws.channel_spikes[static_cast<size_t>(s.layer)], out.data(), out.size());
        layer_spikes[static_cast<size_t>(s.layer)] += count;
      }
      const auto &o = ws.values[static_cast<size_t>(q_.output)];
      if (t > delay)
        for (size_t k = 0; k < ws.readout.size(); ++k) ws.readout[k] += o[k];
      while (cp < cps.size() && cps[cp] == t) {
        int best = 0;
        for (int k = 1; k < static_cast<int>(ws.readout.size()); ++k)
          if (ws.readout[static_cast<size_t>(k)] > ws.readout[static_cast<size_t>(best)]) best = k;
        preds[cp * batch + sample] = best;
        for (size_t l = 0; l < nl; ++l) spikes[cp * nl + l] = layer_spikes[l];
        synops[cp] = ops;
        ++cp;
      }
    }
  }

  void execute(IWorkspace<V> &ws, const IStep &s, uint64_t *ops) const {
    const auto &n = *s.node;
    auto &out = ws.values[static_cast<size_t>(n.output)];
    const auto v_in = static_cast<size_t>(s.input_value >= 0 ? s.input_value : n.inputs.at(0));
    const auto &in = ws.values[v_in];
    const Dims a = s.in_dims, b = s.out_dims;
    // The input's spikes as bits, when an IF layer wrote them this timestep (run_sample).
    const uint8_t *bits = kNarrow && ws.bits_at[v_in] == ws.clock ? ws.bits[v_in].data() : nullptr;
    auto collect = [&] {
      if (!bits) {
        ws.events_value = -1;
        return sparse::collect(in.data(), a, s.geom.out.c, ws.events);
      }
      const auto value = static_cast<int>(v_in);
      if (ws.events_value == value && ws.events_clock == ws.clock && ws.events_row == s.geom.out.c &&
          ws.events.columns == s.columns)
        return true;
      const bool ok = s.columns ? sparse::collect_spikes_columns(bits, a, s.geom.out.c, ws.events)
                                : sparse::collect_spikes(bits, a, s.geom.out.c, ws.events);
      ws.events_value = ok ? value : -1, ws.events_clock = ws.clock, ws.events_row = s.geom.out.c;
      return ok;
    };
    // The 16-bit spike events, by columns where the lists are in column order (collect).
    auto spikes16 = [&](uint64_t *step_ops) {
      if constexpr (kNarrow) {
        if (!ws.events.columns)
          return sparse::accumulate_spikes16(s.geom, ws.events, s.packed16.data(), s.bias32.data(), out.data(), step_ops);
        sparse::accumulate_spikes16_columns(s.geom, ws.events, s.packed16.data(), s.bias32.data(), out.data(), step_ops);
        return true;
      }
      return false;
    };
    if constexpr (kNarrow)
      if (!s.linear8.empty() && sparse::accumulate_linear8(in.data(), a.size(), s.linear8.data(), s.bias32.data(), out.data(),
                                                           b.c, ops))
        return;
    if constexpr (kNarrow)
      if (s.lut.table && sparse::accumulate_spikes_lut(s.lut, in.data(), s.bias32.data(), out.data(), ops, s.spike_cost, bits))
        return;
    if constexpr (kNarrow) {
      // A layer whose last spike step was sparse enough for the 16-bit events goes to them first, without
      // the dense kernel's input conversion; a step that turns out dense enough sends the next to it.
      char &events_first = ws.events_first[static_cast<size_t>(&s - steps_.data())];
      if (events_first) {
        collect();  // 32-bit values: always fits
        uint64_t step_ops = 0;
        if (spikes16(&step_ops)) {
          if (ops) *ops += step_ops;
          events_first = static_cast<double>(step_ops) * s.spike_cost < static_cast<double>(s.d8.macs);
          return;
        }
        // Graded payloads, not spikes: the usual order from here (dense if dense enough), the events as collected.
        events_first = 0;
        if (s.dense8 && sparse::accumulate_dense8(s.d8, in.data(), s.packed8.data(), s.bias32.data(), out.data(), ops,
                                                  sparse::kDense8EventCost, s.spike_cost, bits))
          return;
        return sparse::accumulate(s.geom, ws.events, s.packed32.data(), s.bias32.data(), out.data(), ops);
      }
      if (s.dense8 && sparse::accumulate_dense8(s.d8, in.data(), s.packed8.data(), s.bias32.data(), out.data(), ops,
                                                sparse::kDense8EventCost, s.spike_cost, bits))
        return;
    }
    if (s.fast && collect()) {
      if constexpr (kNarrow) {
        if (!s.packed16.empty() && spikes16(ops)) {
          ws.events_first[static_cast<size_t>(&s - steps_.data())] = s.dense8;
          return;
        }
        return sparse::accumulate(s.geom, ws.events, s.packed32.data(), s.bias32.data(), out.data(), ops);
      }
      else return sparse::accumulate(s.geom, ws.events, s.packed32.data(), n.bias.data(), out.data(), ops);
    }
    switch (n.kind) {
    case OpKind::Conv2d: {
      const int64_t opg = b.c / s.groups, cig = a.c / s.groups;
      std::fill(out.begin(), out.end(), 0);
      uint64_t count = 0;
      for (int64_t y = 0; y < a.h; ++y)
        for (int64_t x = 0; x < a.w; ++x)
          for (int64_t c = 0; c < a.c; ++c) {
            const int64_t xi = in[static_cast<size_t>((y * a.w + x) * a.c + c)];
            if (xi == 0) continue;
            const int64_t g = c / cig;
            const auto &rows = s.rows[static_cast<size_t>(y)], &cols = s.cols[static_cast<size_t>(x)];
            for (const auto &[ky, oy] : rows)
              for (const auto &[kx, ox] : cols) {
                const int64_t *w = &s.packed[static_cast<size_t>(((ky * s.kw + kx) * a.c + c) * opg)];
                V *o = &out[static_cast<size_t>((oy * b.w + ox) * b.c + g * opg)];
                // Partial sums are within the node's bound, so they fit V.
                if (xi == 1) {  // a spike: no multiply (64-bit multiplies do not vectorise)
                  for (int64_t k = 0; k < opg; ++k) o[k] = static_cast<V>(o[k] + w[k]);
                } else {
                  for (int64_t k = 0; k < opg; ++k) o[k] = static_cast<V>(snn::accumulate(o[k], w[k], xi));
                }
              }
            count += static_cast<uint64_t>(rows.size() * cols.size() * static_cast<size_t>(opg));
          }
      for (int64_t k = 0; k < b.h * b.w; ++k)
        for (int64_t c = 0; c < b.c; ++c)
          out[static_cast<size_t>(k * b.c + c)] = static_cast<V>(out[static_cast<size_t>(k * b.c + c)] + n.bias[static_cast<size_t>(c)]);
      if (ops) *ops += count;
      return;
    }
    case OpKind::Linear: {
      const size_t o = out.size();
      std::fill(out.begin(), out.end(), 0);
      uint64_t events = 0;
      for (size_t i = 0; i < in.size(); ++i) {
        const int64_t xi = in[i];
        if (xi == 0) continue;
        ++events;
        const int64_t *w = &s.packed[i * o];
        if (xi == 1) {
          for (size_t k = 0; k < o; ++k) out[k] = static_cast<V>(out[k] + w[k]);
        } else {
          for (size_t k = 0; k < o; ++k) out[k] = static_cast<V>(snn::accumulate(out[k], w[k], xi));
        }
      }
      for (size_t k = 0; k < o; ++k) out[k] = static_cast<V>(out[k] + n.bias[k]);
      if (ops) *ops += events * o;
      return;
    }
    case OpKind::MaxPool2d: {
      // Window maxima of src into m (both HWC, channels innermost).
      auto pool = [&](const auto *src, auto *m) {
        using M = std::remove_pointer_t<decltype(m)>;
        for (int64_t oy = 0; oy < b.h; ++oy)
          for (int64_t ox = 0; ox < b.w; ++ox) {
            M *mp = m + (oy * b.w + ox) * a.c;
            std::fill(mp, mp + a.c, std::numeric_limits<M>::min());
            for (int64_t ky = 0; ky < s.kh; ++ky)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t y = oy * s.sh - s.ph + ky * s.dh, x = ox * s.sw - s.pw + kx * s.dw;
                if (y < 0 || x < 0 || y >= a.h || x >= a.w) continue;
                const auto *v = src + (y * a.w + x) * a.c;
                for (int64_t c = 0; c < a.c; ++c) mp[c] = mp[c] < v[c] ? static_cast<M>(v[c]) : mp[c];
              }
          }
      };
      if (s.pool_state < 0) {
        pool(in.data(), out.data());
        return;
      }
      // Over time: the maxima of the running sums (int64: they grow with t), output their increments,
      // which are within one step's bound.
      if constexpr (kNarrow)
        if (ws.pool32[static_cast<size_t>(s.pool_state)])  // int32 sums: this run's T bounds them
          return sparse::running_max_pool(in.data(), ws.pool_sum32[static_cast<size_t>(s.pool_state)].data(),
                                          ws.pool_max32[static_cast<size_t>(s.pool_state)].data(), out.data(), a.h, a.w,
                                          a.c, s.kh, s.kw, b.h, b.w);
      auto &sum = ws.pool_sum[static_cast<size_t>(s.pool_state)];
      auto &prev = ws.pool_max[static_cast<size_t>(s.pool_state)];
      if (s.fast_pool)  // windows tile the input: one pass (sparse.h)
        return sparse::running_max_pool(in.data(), sum.data(), prev.data(), out.data(), a.h, a.w, a.c, s.kh, s.kw, b.h, b.w);
      for (size_t k = 0; k < sum.size(); ++k) sum[k] += in[k];
      thread_local std::vector<int64_t> maxima;
      maxima.resize(out.size());
      pool(sum.data(), maxima.data());
      for (size_t k = 0; k < out.size(); ++k) {
        out[k] = static_cast<V>(maxima[k] - prev[k]);
        prev[k] = maxima[k];
      }
      return;
    }
    case OpKind::AvgPool2d:
    case OpKind::AdaptiveAvgPool2d: {
      const bool adaptive = n.kind == OpKind::AdaptiveAvgPool2d;
      for (int64_t oy = 0; oy < b.h; ++oy)
        for (int64_t ox = 0; ox < b.w; ++ox) {
          int64_t y0, y1, x0, x1;
          if (adaptive) {
            y0 = oy * a.h / b.h, y1 = ((oy + 1) * a.h + b.h - 1) / b.h;
            x0 = ox * a.w / b.w, x1 = ((ox + 1) * a.w + b.w - 1) / b.w;
          } else {
            y0 = oy * s.sh - s.ph, y1 = y0 + s.kh, x0 = ox * s.sw - s.pw, x1 = x0 + s.kw;
          }
          const int64_t mul = n.pool_multiplier[static_cast<size_t>(oy * b.w + ox)];
          if constexpr (kNarrow) {  // the window's sums vectorised (sparse.h); channel by channel, 2.5 % of a run
            thread_local std::vector<int64_t> sums;
            sums.resize(static_cast<size_t>(a.c));
            sparse::window_sum_int32(in.data(), a.w, a.c, std::max<int64_t>(y0, 0), std::min(y1, a.h), std::max<int64_t>(x0, 0),
                                     std::min(x1, a.w), sums.data());
            for (int64_t c = 0; c < a.c; ++c)
              out[static_cast<size_t>((oy * b.w + ox) * a.c + c)] = static_cast<V>(sums[static_cast<size_t>(c)] * mul);
            continue;
          }
          for (int64_t c = 0; c < a.c; ++c) {
            int64_t sum = 0;
            for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, a.h); ++y)
              for (int64_t x = std::max<int64_t>(x0, 0); x < std::min(x1, a.w); ++x) sum += in[static_cast<size_t>((y * a.w + x) * a.c + c)];
            out[static_cast<size_t>((oy * b.w + ox) * a.c + c)] = static_cast<V>(sum * mul);
          }
        }
      return;
    }
    case OpKind::Add: {
      // Pixels x channels (HWC), input by input: no per-element modulo, and the inner loop vectorises.
      const size_t c = static_cast<size_t>(b.c), pixels = out.size() / c;
      // With 32-bit values the products and partial sums fit 31 bits too (the node's bound covers them):
      // the vectorised 32-bit kernel (sparse.h). 64-bit values take the loop below.
      if constexpr (kNarrow) {
        thread_local std::vector<const int32_t *> xs, ms;
        xs.clear(), ms.clear();
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          xs.push_back(ws.values[static_cast<size_t>(n.inputs[i])].data());
          ms.push_back(s.multiplier32[i].data());
        }
        return sparse::add_int32(xs.data(), ms.data(), static_cast<int>(xs.size()), out.data(), static_cast<int64_t>(pixels),
                                 static_cast<int64_t>(c));
      }
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const V *x = ws.values[static_cast<size_t>(n.inputs[i])].data();
        const int64_t *m = n.multiplier[i].data();
        V *o = out.data();
        for (size_t p = 0; p < pixels; ++p, o += c, x += c)
          for (size_t k = 0; k < c; ++k) o[k] = (i == 0 ? 0 : o[k]) + m[k] * x[k];
      }
      return;
    }
    case OpKind::Flatten:
      return flatten_hwc(a, in, out);
    case OpKind::Cat: {
      std::vector<const Aligned<V> *> ins;
      for (int v : n.inputs) ins.push_back(&ws.values[static_cast<size_t>(v)]);
      return cat_hwc(b, ins, out);
    }
    default:
      NEUROCUDA_CHECK(false) << "integer program cannot execute " << ir::op_name(n.kind);
    }
  }

  quant::QGraph q_;
  std::vector<IStep> steps_;
  std::vector<LayerInfo> layers_;
  std::vector<int64_t> offset_;
  int64_t total_neurons_ = 0, classes_ = 0;
  int pools_ = 0;
  int readout_bits_ = 1;
};

} // namespace

std::unique_ptr<Program> make_int_program(const quant::QGraph &graph, bool fast) {
  if (fast && values_fit_int32(graph)) return std::make_unique<IntProgram<int32_t>>(graph, fast);
  return std::make_unique<IntProgram<int64_t>>(graph, fast);
}

} // namespace neurocuda::backends::cpu
