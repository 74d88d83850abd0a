// SPDX-License-Identifier: MIT
// Kernel benchmark (not a test): the CPU fast path's pieces on their own, one thread, best of several
// runs, so that a change to a kernel can be measured without the rest of a network around it.
//  - synaptic accumulation (backends/cpu/sparse.h: collect + accumulate) on the bundled models' layer
//    shapes, for spike inputs and graded payloads at several densities: GSynOps/s;
//  - the same in integer mode (8-bit weights, 32-bit values): the event kernels against the dense
//    8-bit kernel, and the cost ratio the fast path chooses between them with (kDense8EventCost);
//  - neuron updates (graded and IF, fp32 and integer): neuron-steps/s, vectorised against the scalar
//    loops of snn/neuron.h that cpu-reference runs.
// Build with -DNEUROCUDA_BUILD_BENCHMARKS=ON; run build/tests/neurocuda_bench_kernels [--quick].
// The machines here are shared and noisy: compare numbers from one run, side by side.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/sparse.h"
#include "neurocuda/snn/neuron.h"

using namespace neurocuda;
using namespace neurocuda::backends::cpu;

namespace {

using Clock = std::chrono::steady_clock;

// Seconds per call of fn: the best of `runs` timings of `reps` calls each.
template <typename Fn> double best_time(int runs, int reps, Fn &&fn) {
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count() / reps);
  }
  return best;
}

struct Layer {
  const char *where;
  int64_t cin, cout, size, k, stride;  // size: input height = width; k = 0: a linear layer of cin inputs
};

// The time-varying conv / linear layers of models/vgg_small.pt and models/resnet_small.pt.
const Layer kLayers[] = {
    {"resnet layer1.conv1/2", 16, 16, 28, 3, 1}, {"vgg features.3", 16, 32, 28, 3, 1},
    {"resnet layer2.conv1", 16, 32, 28, 3, 2},   {"resnet layer2.conv2", 32, 32, 14, 3, 1},
    {"vgg features.7", 32, 64, 14, 3, 1},        {"resnet layer3.conv1", 32, 64, 14, 3, 2},
    {"resnet layer3.conv2", 64, 64, 7, 3, 1},
    {"vgg classifier.2", 3136, 128, 1, 0, 1},
};

// A layer's geometry (padding 1), or a linear layer's as the 1x1 case.
sparse::ConvShape geometry(const Layer &l) {
  sparse::ConvShape conv;
  if (l.k == 0) {
    conv.in = {l.cin, 1, 1};
    conv.out = {l.cout, 1, 1};
  } else {
    const int64_t out = (l.size + 2 - l.k) / l.stride + 1;
    conv = {{l.cin, l.size, l.size}, {l.cout, out, out}, l.k, l.k, l.stride, l.stride, 1, 1, 1, 1};
  }
  return conv;
}

void bench_synapses(bool quick) {
  std::printf("synaptic accumulation (collect + accumulate), fp32, one thread\n");
  std::printf("%-22s %-14s %-8s %7s %10s %12s\n", "layer", "shape", "input", "density", "us/step", "GSynOps/s");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), u01(0.0f, 1.0f);
  for (const auto &l : kLayers) {
    const sparse::ConvShape conv = geometry(l);
    std::vector<float> w(static_cast<size_t>(conv.in.c * conv.out.c * conv.kh * conv.kw)), bias(static_cast<size_t>(conv.out.c));
    for (auto &x : w) x = u(rng);
    for (auto &x : bias) x = u(rng);
    sparse::ConvShape shape;
    if (!sparse::fast_path_shape(l.k == 0 ? ir::OpKind::Linear : ir::OpKind::Conv2d, conv, 1, w.size(), shape)) continue;
    std::vector<float> out(static_cast<size_t>(shape.out.size())), in(static_cast<size_t>(shape.in.size()));
    for (double density : {0.1, 0.25, 0.4})
      for (bool payloads : {false, true}) {
        for (auto &x : in) x = u01(rng) < density ? (payloads && u01(rng) < 0.2f ? 2.0f : 1.0f) : 0.0f;
        sparse::Events<float> e;
        uint64_t ops = 0;
        sparse::collect(in.data(), shape.in, shape.out.c, e);
        sparse::accumulate(shape, e, w.data(), bias.data(), out.data(), &ops);
        const double t = best_time(quick ? 2 : 5, quick ? 50 : 300, [&] {
          sparse::collect(in.data(), shape.in, shape.out.c, e);
          sparse::accumulate(shape, e, w.data(), bias.data(), out.data(), nullptr);
        });
        const std::string dims = l.k == 0 ? std::to_string(l.cin) + "->" + std::to_string(l.cout)
                                          : std::to_string(l.cin) + "->" + std::to_string(l.cout) + " " +
                                                std::to_string(l.size) + "/" + std::to_string(l.stride);
        std::printf("%-22s %-14s %-8s %7.2f %10.1f %12.2f\n", l.where, dims.c_str(), payloads ? "payload" : "spikes",
                    density, t * 1e6, static_cast<double>(ops) / t / 1e9);
      }
  }
}

// Integer networks with 8-bit weights and 32-bit values: the event kernels (collect + accumulate)
// against the dense 8-bit kernel (accumulate_dense8, forced by a huge event cost), same inputs; "ratio" is how many dense
// multiply-accumulates take as long as one synaptic operation of the events (kDense8EventCost). On spikes,
// the 16-bit events (accumulate_spikes16), the same events column by column (accumulate_spikes16_columns,
// its lists from the spikes as bits, as IF layers hand them over in a network) and the table kernel
// (accumulate_spikes_lut, forced); the table's ratio is dense multiply-accumulates per table row
// (kLutLookupCost; kLutWideLookupCost for 13-16 input channels).
void bench_integer_synapses(bool quick) {
  std::printf("\nsynaptic accumulation, 8-bit weights, 32-bit values, one thread: events against the dense 8-bit kernel\n");
  std::printf("%-22s %-14s %-8s %7s %11s %11s %8s %7s %11s %7s %10s %7s %9s %7s\n", "layer", "shape", "input", "density",
              "events us", "dense us", "speedup", "ratio", "spikes16 us", "ratio", "columns us", "ratio", "table us", "ratio");
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> weight(-127, 127);
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  for (const auto &l : kLayers) {
    const sparse::ConvShape conv = geometry(l);
    std::vector<int32_t> w(static_cast<size_t>(conv.in.c * conv.out.c * conv.kh * conv.kw)), bias(static_cast<size_t>(conv.out.c));
    for (auto &x : w) x = weight(rng);
    for (auto &x : bias) x = weight(rng) * 100;
    sparse::ConvShape shape;
    sparse::Dense8Shape g;
    sparse::Weights8 packed;
    if (!sparse::fast_path_shape(l.k == 0 ? ir::OpKind::Linear : ir::OpKind::Conv2d, conv, 1, w.size(), shape) ||
        !sparse::dense8_layout(shape, w, g, packed))
      continue;
    std::vector<int32_t> in(static_cast<size_t>(shape.in.size())), out(static_cast<size_t>(shape.out.size())), dense(out.size());
    // 16-bit spike kernel (accumulate_spikes16): these random weights, halved until every output's
    // magnitudes sum within 16 bits (its timing does not depend on the values).
    std::vector<int32_t> w16 = w;
    sparse::Weights16 packed16;
    while (!sparse::spikes16_layout(shape, w16, packed16))
      for (auto &x : w16) x /= 2;
    std::vector<int32_t> out16(out.size()), check16(out.size()), out_lut(out.size());
    sparse::LutShape lut;
    const bool has_lut = l.k != 0 && sparse::lut_layout(shape, w16, lut);
    for (double density : {0.02, 0.05, 0.1, 0.25, 0.4})
      for (bool payloads : {false, true}) {
        for (auto &x : in) {
          const float r = u01(rng);
          x = r >= density ? 0 : !payloads ? 1 : r < 0.1 * density ? -1 : r < 0.3 * density ? 2 : 1;
        }
        sparse::Events<int32_t> e;
        uint64_t ops = 0, dense_ops = 0;
        sparse::collect(in.data(), shape.in, shape.out.c, e);
        sparse::accumulate(shape, e, w.data(), bias.data(), out.data(), &ops);
        if (!sparse::accumulate_dense8(g, in.data(), packed.data(), bias.data(), dense.data(), &dense_ops, 1e30, 1e30)) {
          std::printf("(the dense 8-bit kernel declined: no AVX2 on this CPU)\n");
          return;
        }
        if (dense != out || dense_ops != ops) std::printf("MISMATCH between the kernels on %s\n", l.where);
        const double te = best_time(quick ? 2 : 5, quick ? 50 : 300, [&] {
          sparse::collect(in.data(), shape.in, shape.out.c, e);
          sparse::accumulate(shape, e, w.data(), bias.data(), out.data(), nullptr);
        });
        const double td = best_time(quick ? 2 : 5, quick ? 50 : 300, [&] {
          sparse::accumulate_dense8(g, in.data(), packed.data(), bias.data(), dense.data(), nullptr, 1e30, 1e30);
        });
        const std::string dims = l.k == 0 ? std::to_string(l.cin) + "->" + std::to_string(l.cout)
                                          : std::to_string(l.cin) + "->" + std::to_string(l.cout) + " " +
                                                std::to_string(l.size) + "/" + std::to_string(l.stride);
        std::string s16 = "", r16 = "", sc = "", rc = "", sl = "", rl = "";
        // A spike kernel run once and checked against the 32-bit events' sums, then timed: its time per
        // step and its ratio, dense multiply-accumulates per unit of `work` (synaptic operations, or rows).
        auto spike_kernel = [&](const char *name, const std::vector<int32_t> &result, uint64_t work, auto &&step,
                                std::string &us, std::string &ratio) {
          step();
          if (result != check16) std::printf("MISMATCH between the %s and 32-bit spike kernels on %s\n", name, l.where);
          const double t = best_time(quick ? 2 : 5, quick ? 50 : 300, step);
          us = fmt::format("{:.1f}", t * 1e6);
          ratio = fmt::format("{:.1f}", (t / static_cast<double>(work)) / (td / static_cast<double>(g.macs)));
        };
        if (!payloads) {
          sparse::accumulate(shape, e, w16.data(), bias.data(), check16.data(), nullptr);
          spike_kernel("16-bit", out16, ops, [&] {
            sparse::collect(in.data(), shape.in, shape.out.c, e);
            sparse::accumulate_spikes16(shape, e, packed16.data(), bias.data(), out16.data(), nullptr);
          }, s16, r16);
          if (sparse::columns_shape(shape)) {
            std::vector<uint8_t> bits(in.size() / 8, 0);
            for (size_t k = 0; k < in.size(); ++k) bits[k / 8] |= static_cast<uint8_t>(in[k] << (k % 8));
            sparse::Events<int32_t> ec;
            std::vector<int32_t> out_columns(out.size());
            spike_kernel("column", out_columns, ops, [&] {
              sparse::collect_spikes_columns(bits.data(), shape.in, shape.out.c, ec);
              sparse::accumulate_spikes16_columns(shape, ec, packed16.data(), bias.data(), out_columns.data(), nullptr);
            }, sc, rc);
          }
          if (has_lut)
            spike_kernel("table", out_lut, static_cast<uint64_t>(lut.lookups), [&] {
              sparse::accumulate_spikes_lut(lut, in.data(), bias.data(), out_lut.data(), nullptr, 1e30);
            }, sl, rl);
        }
        std::printf("%-22s %-14s %-8s %7.2f %11.1f %11.1f %7.1fx %7.1f %11s %7s %10s %7s %9s %7s\n", l.where, dims.c_str(),
                    payloads ? "payload" : "spikes", density, te * 1e6, td * 1e6, te / td,
                    (te / static_cast<double>(ops)) / (td / static_cast<double>(g.macs)), s16.c_str(), r16.c_str(), sc.c_str(),
                    rc.c_str(), sl.c_str(), rl.c_str());
      }
  }
}

void bench_neurons(bool quick) {
  std::printf("\nneuron updates, one thread: vectorised fast path against the scalar reference loop\n");
  std::printf("%-16s %14s %14s %8s\n", "neuron", "fast Mstep/s", "scalar Mstep/s", "speedup");
  const size_t n = 12544;  // the bundled models' largest population (16 x 28 x 28)
  const int runs = quick ? 2 : 5, reps = quick ? 20 : 100, steps = 32;
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-0.5f, 1.5f);
  std::vector<float> cur(n), out(n), v(n), net(n);
  for (auto &x : cur) x = u(rng);
  auto fp32 = [&](bool graded, bool fast) {
    return best_time(runs, reps, [&] {
      std::fill(v.begin(), v.end(), 0.5f);
      std::fill(net.begin(), net.end(), 0.0f);
      for (int t = 1; t <= steps; ++t) {
        if (fast && graded) sparse::graded_layer(v.data(), net.data(), cur.data(), out.data(), n, static_cast<float>(t));
        else if (fast) sparse::if_layer(v.data(), cur.data(), out.data(), n);
        else if (graded)
          for (size_t k = 0; k < n; ++k) out[k] = snn::graded_step(v[k], net[k], cur[k], static_cast<float>(t));
        else
          for (size_t k = 0; k < n; ++k) out[k] = snn::if_step(v[k], cur[k]) ? 1.0f : 0.0f;
      }
    });
  };
  const int64_t channels = 16, pixels = static_cast<int64_t>(n) / channels;
  std::vector<int64_t> icur(n), iout(n), iv(n), inet(n), threshold(static_cast<size_t>(channels));
  std::vector<double> inverse;
  for (int64_t c = 0; c < channels; ++c) threshold[static_cast<size_t>(c)] = 200 + 37 * c;
  for (int64_t th : threshold) inverse.push_back(1.0 / static_cast<double>(th));
  for (size_t k = 0; k < n; ++k) icur[k] = static_cast<int64_t>(u(rng) * static_cast<float>(threshold[k % static_cast<size_t>(channels)]));
  auto integer = [&](bool fast) {
    return best_time(runs, reps, [&] {
      std::fill(iv.begin(), iv.end(), 100);
      std::fill(inet.begin(), inet.end(), 0);
      for (int64_t t = 1; t <= steps; ++t) {
        if (fast)
          sparse::graded_layer_int(iv.data(), inet.data(), icur.data(), iout.data(), pixels, channels, threshold.data(),
                                   inverse.data(), t);
        else
          for (size_t k = 0; k < n; ++k)
            iout[k] = snn::graded_step_int(iv[k], inet[k], icur[k], threshold[k % static_cast<size_t>(channels)], t);
      }
    });
  };
  // 32-bit values: graded potentials held as doubles (the int32 program), IF potentials as int64.
  std::vector<int32_t> cur32(icur.begin(), icur.end()), out32(n);
  std::vector<double> dv(n), dnet(n), threshold_d(threshold.begin(), threshold.end());
  const double int32_graded = best_time(runs, reps, [&] {
    std::fill(dv.begin(), dv.end(), 100.0);
    std::fill(dnet.begin(), dnet.end(), 0.0);
    for (int64_t t = 1; t <= steps; ++t)
      sparse::graded_layer_int(dv.data(), dnet.data(), cur32.data(), out32.data(), pixels, channels, threshold_d.data(),
                               inverse.data(), t);
  });
  std::vector<int32_t> v32(n), net32(n), threshold32(threshold.begin(), threshold.end());
  std::vector<float> inverse_f(inverse.begin(), inverse.end());
  const double int32_narrow = best_time(runs, reps, [&] {
    std::fill(v32.begin(), v32.end(), 100);
    std::fill(net32.begin(), net32.end(), 0);
    uint64_t count = 0;
    for (int64_t t = 1; t <= steps; ++t)
      sparse::graded_layer_int32(v32.data(), net32.data(), cur32.data(), out32.data(), pixels, channels, threshold32.data(),
                                 inverse_f.data(), threshold32[0], t, count);
  });
  auto integer_if = [&](bool fast) {
    return best_time(runs, reps, [&] {
      std::fill(iv.begin(), iv.end(), 100);
      for (int64_t t = 1; t <= steps; ++t) {
        if (fast) sparse::if_layer_int(iv.data(), cur32.data(), out32.data(), pixels, channels, threshold.data());
        else
          for (size_t k = 0; k < n; ++k)
            out32[k] = snn::if_step_int(iv[k], cur32[k], threshold[k % static_cast<size_t>(channels)]);
      }
    });
  };
  const double per = static_cast<double>(n) * steps / 1e6;
  const double gf = fp32(true, true), gs = fp32(true, false), ff = fp32(false, true), fs = fp32(false, false);
  const double intf = integer(true), ints = integer(false), iff = integer_if(true), ifs = integer_if(false);
  std::printf("%-16s %14.0f %14.0f %7.1fx\n", "graded fp32", per / gf, per / gs, gs / gf);
  std::printf("%-16s %14.0f %14.0f %7.1fx\n", "IF fp32", per / ff, per / fs, fs / ff);
  std::printf("%-16s %14.0f %14.0f %7.1fx\n", "graded integer", per / intf, per / ints, ints / intf);
  std::printf("%-16s %14.0f %14.0f %7.1fx   (32-bit values, potentials in doubles)\n", "graded int32", per / int32_graded,
              per / ints, ints / int32_graded);
  std::printf("%-16s %14.0f %14.0f %7.1fx   (32-bit values, potentials in int32)\n", "graded int32", per / int32_narrow,
              per / ints, ints / int32_narrow);
  std::printf("%-16s %14.0f %14.0f %7.1fx\n", "IF integer", per / iff, per / ifs, ifs / iff);
}

} // namespace

int main(int argc, char **argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::printf("kernels: %s build (NEUROCUDA_CPU_ISA=avx2|sse picks a narrower one)\n\n", sparse::kernel_isa());
  bench_synapses(quick);
  bench_integer_synapses(quick);
  bench_neurons(quick);
  return 0;
}
