// SPDX-License-Identifier: MIT
// The Loihi 2 simulator backend: runs a mapped network (mapping.h) step by step under the fixed-point
// equations of equations.h, one timestep of delay per Dense hop, event-driven over the spikes, parallel
// over the samples of a batch.
#include "loihi2/loihi2_backend.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "loihi2/equations.h"
#include "loihi2/limits.h"
#include "loihi2/mapping.h"
#include "neurocuda/error.h"
#include "neurocuda/snn/neuron.h"

namespace neurocuda::backends::loihi2 {
namespace {

class Loihi2Program : public Program {
public:
  explicit Loihi2Program(Network net) : net_(std::move(net)) {
    for (const auto &p : net_.populations) {
      layers_.push_back({p.name, p.neurons, p.shape.at(0), p.ir_node});
      offsets_.push_back(total_neurons_);
      total_neurons_ += p.neurons;
    }
  }

  const std::vector<LayerInfo> &layers() const override { return layers_; }

  RunResult run(const Batch &batch, const RunOptions &options) override {
    if (batch.sample_shape != net_.input_shape)
      throw UserError(fmt::format("input samples have shape [{}] but the network expects [{}]",
                                  fmt::join(batch.sample_shape, ", "), fmt::join(net_.input_shape, ", ")));
    if (options.channel_spikes) throw UserError("per-channel spike counts are only available on the cpu backend");
    const int64_t n = batch.count, per = ir::numel(net_.input_shape);
    const size_t nl = layers_.size(), ncp = options.checkpoints.size();
    const int64_t classes = net_.readout.classes;
    const int delay = net_.readout.depth;
    const int tmax = options.checkpoints.back();
    const int64_t words = (total_neurons_ * tmax + 63) / 64;
    RunResult r;
    r.checkpoints = options.checkpoints;
    r.samples = n;
    r.classes = classes;
    r.predictions.assign(ncp * static_cast<size_t>(n), 0);
    for (int c : options.checkpoints) r.steps.push_back(delay + c);
    r.readout.assign(static_cast<size_t>(n * classes), 0.f);
    r.readout_exact.assign(static_cast<size_t>(n * classes), 0);
    if (options.record_trace) r.trace.assign(static_cast<size_t>(n), std::vector<uint64_t>(static_cast<size_t>(words), 0));
    std::vector<uint64_t> spikes(static_cast<size_t>(n) * ncp * nl, 0), synops(static_cast<size_t>(n) * ncp, 0);
    std::atomic<int64_t> wrapped{0};
    const int threads = options.threads > 0 ? options.threads : omp_get_num_procs();
#pragma omp parallel num_threads(threads)
    {
      State st(net_);
      struct Flush {  // adds this thread's wrap count when the parallel region ends
        State &st;
        std::atomic<int64_t> &total;
        ~Flush() { total += st.wrapped; }
      } flush{st, wrapped};
#pragma omp for schedule(dynamic, 1)
      for (int64_t s = 0; s < n; ++s) {
        st.reset(net_, batch.data + s * per);
        std::vector<int64_t> readout(static_cast<size_t>(classes), 0);
        size_t cp = 0;
        uint64_t ops = 0;
        std::vector<uint64_t> counts(nl, 0);
        for (int t = 1; t <= delay + tmax; ++t) {
          ops += st.step(net_, readout, t > delay + options.readout_delay, counts);
          if (options.record_trace && t <= tmax) record(st, r.trace[static_cast<size_t>(s)], t);
          while (cp < ncp && t == delay + options.checkpoints[cp]) {
            r.predictions[cp * static_cast<size_t>(n) + static_cast<size_t>(s)] =
                static_cast<int32_t>(std::max_element(readout.begin(), readout.end()) - readout.begin());
            for (size_t l = 0; l < nl; ++l) spikes[(static_cast<size_t>(s) * ncp + cp) * nl + l] = counts[l];
            synops[static_cast<size_t>(s) * ncp + cp] = ops;
            ++cp;
          }
        }
        for (int64_t k = 0; k < classes; ++k) {
          r.readout_exact[static_cast<size_t>(s * classes + k)] = readout[static_cast<size_t>(k)];
          r.readout[static_cast<size_t>(s * classes + k)] =
              static_cast<float>(static_cast<double>(readout[static_cast<size_t>(k)]) / net_.readout.unit);
        }
      }
    }
    r.spikes.assign(ncp * nl, 0);
    r.synops.assign(ncp, 0);
    for (int64_t s = 0; s < n; ++s)
      for (size_t cp = 0; cp < ncp; ++cp) {
        for (size_t l = 0; l < nl; ++l) r.spikes[cp * nl + l] += spikes[(static_cast<size_t>(s) * ncp + cp) * nl + l];
        r.synops[cp] += synops[static_cast<size_t>(s) * ncp + cp];
      }
    if (wrapped > 0)
      (spdlog::get("backend.loihi2") ? spdlog::get("backend.loihi2") : spdlog::default_logger())
          ->warn("the current u wrapped around its 24 bits {} times in this batch (as Loihi 2 does); "
                   "accuracy may suffer", wrapped.load());
    return r;
  }

private:
  // Per-sample state of every population.
  struct PopState {
    std::vector<int64_t> u, v, a_in, acc;
    std::vector<int32_t> fired, next;  // spikes of the previous step (what the Dense hops read), of this step
  };
  struct State {
    std::vector<PopState> pops;
    std::vector<int64_t> acc, total;  // readout: one Dense process's sum, all of them this step
    std::vector<int32_t> payload_index;  // pixels with a non-zero payload
    std::vector<int64_t> payload;
    bool input_sent = false;             // the input process sends from step 1; Dense delivers from step 2
    int64_t wrapped = 0;                 // u updates that wrapped around 24 bits

    explicit State(const Network &net) : pops(net.populations.size()) {}

    void reset(const Network &net, const float *x) {
      for (size_t i = 0; i < pops.size(); ++i) {
        const auto &p = net.populations[i];
        auto &q = pops[i];
        q.u.assign(static_cast<size_t>(p.neurons), p.u0);
        q.v.assign(static_cast<size_t>(p.neurons), p.v0);
        q.a_in.assign(static_cast<size_t>(p.neurons), 0);
        q.acc.assign(static_cast<size_t>(p.neurons), 0);
        q.fired.clear();
        q.next.clear();
      }
      payload_index.clear();
      payload.clear();
      const int64_t per = ir::numel(net.input_shape);
      for (int64_t j = 0; j < per; ++j) {
        const int64_t q = std::clamp<int64_t>(std::llround(static_cast<double>(x[j]) / net.input_scale), net.payload_min,
                                              net.payload_max);
        if (q == 0) continue;
        payload_index.push_back(static_cast<int32_t>(j));
        payload.push_back(q);
      }
      input_sent = false;
    }

    // One Dense process's sum from its source's previous step into acc; returns synaptic events.
    uint64_t gather(const DenseHop &h, std::vector<int64_t> &out) const {
      uint64_t ops = 0;
      const auto walk = [&](int64_t j, int64_t pay) {
        const int64_t b = h.col_begin[static_cast<size_t>(j)], e = h.col_begin[static_cast<size_t>(j) + 1];
        for (int64_t k = b; k < e; ++k)
          out[static_cast<size_t>(h.targets[static_cast<size_t>(k)])] += h.weights[static_cast<size_t>(k)] * pay;
        ops += static_cast<uint64_t>(e - b);
      };
      if (h.source == kInputPixels) {
        if (input_sent)
          for (size_t i = 0; i < payload_index.size(); ++i) walk(payload_index[i], payload[i]);
      } else if (h.source == kBiasUnit) {
        if (input_sent) walk(0, 1);
      } else {
        for (int32_t j : pops[static_cast<size_t>(h.source)].fired) walk(j, 1);
      }
      return ops;
    }

    uint64_t step(const Network &net, std::vector<int64_t> &readout, bool in_window, std::vector<uint64_t> &counts) {
      uint64_t ops = 0;
      for (size_t i = 0; i < pops.size(); ++i) {
        const auto &p = net.populations[i];
        auto &q = pops[i];
        std::fill(q.a_in.begin(), q.a_in.end(), 0);
        for (const auto &h : p.hops) {
          std::fill(q.acc.begin(), q.acc.end(), 0);
          ops += gather(h, q.acc);
          for (size_t k = 0; k < q.acc.size(); ++k) q.a_in[k] += scale_accumulator(q.acc[k], h.weight_exp);
        }
        LifParams lp;
        lp.du = p.du;
        lp.dv = p.dv;
        lp.vth = p.vth;
        q.next.clear();
        for (int64_t k = 0; k < p.neurons; ++k) {
          const size_t kk = static_cast<size_t>(k);
          lp.bias_mant = p.bias_mant[kk];
          lp.bias_exp = p.bias_exp[kk];
          // The Dense outputs add up at the neuron's input port as int32.
          const int64_t a = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(q.a_in[kk])));
          bool wrap = false;
          if (lif_step(q.u[kk], q.v[kk], a, lp, &wrap)) q.next.push_back(static_cast<int32_t>(k));
          wrapped += wrap;
        }
        counts[i] += q.next.size();
      }
      // The readout reads this step's Dense outputs, i.e. the spikes of the previous step, like every population.
      const auto &ro = net.readout;
      total.assign(static_cast<size_t>(ro.classes), 0);
      for (const auto &h : ro.hops) {
        acc.assign(static_cast<size_t>(ro.classes), 0);
        ops += gather(h, acc);
        for (size_t k = 0; k < acc.size(); ++k) total[k] += scale_accumulator(acc[k], h.weight_exp);
      }
      if (in_window)
        for (size_t k = 0; k < total.size(); ++k) readout[k] += total[k] + ro.bias[k];
      for (auto &q : pops) std::swap(q.fired, q.next);
      input_sent = true;
      return ops;
    }
  };

  void record(const State &st, std::vector<uint64_t> &trace, int t) const {
    for (size_t i = 0; i < st.pops.size(); ++i)
      for (int32_t k : st.pops[i].fired) {
        const int64_t bit = (t - 1) * total_neurons_ + offsets_[i] + k;
        trace[static_cast<size_t>(bit / 64)] |= uint64_t{1} << (bit % 64);
      }
  }

  Network net_;
  std::vector<LayerInfo> layers_;
  std::vector<int64_t> offsets_;
  int64_t total_neurons_ = 0;
};

class Loihi2Backend : public Backend {
public:
  std::string_view name() const override { return "loihi2"; }
  Availability availability() const override { return {}; }
  Support supports(const ir::Node &node) const override {
    if (node.kind == ir::OpKind::Relu) return {false, "the network is not converted (relu left)"};
    if (node.kind == ir::OpKind::IF && ir::if_graded(node)) return {false, kGradedNotMappable};
    return {};
  }
  std::unique_ptr<Program> compile(const ir::Graph &graph, const CompileOptions &options) const override {
    check_backend(*this, graph);
    if (options.precision != Precision::Fp32)
      throw UserError("the loihi2 backend has its own fixed-point mapping (8-bit weight mantissas, 24-bit state); "
                      "drop --precision (or pass fp32)");
    return std::make_unique<Loihi2Program>(map_network(graph, mapping_options(options)));
  }
};

} // namespace

MappingOptions mapping_options(const CompileOptions &options) {
  MappingOptions mo;
  mo.reset = options.reset_mode == "zero" ? ResetMode::Zero : ResetMode::Subtract;
  if (options.reset_mode != "zero" && options.reset_mode != "subtract" && !options.reset_mode.empty())
    throw UserError(fmt::format("--reset-mode expects 'subtract' or 'zero', got '{}'", options.reset_mode));
  const double compensation = options.reset_compensation >= 0 ? options.reset_compensation : kResetCompensation;
  if (compensation >= 1)
    throw UserError(fmt::format("--reset-compensation must be in [0, 1), got {}", compensation));
  // Compensation only applies to reset to zero; subtract mode maps the reset exactly.
  mo.reset_compensation = mo.reset == ResetMode::Zero ? compensation : 0.0;
  return mo;
}

std::unique_ptr<Backend> make_backend() { return std::make_unique<Loihi2Backend>(); }

} // namespace neurocuda::backends::loihi2
