// SPDX-License-Identifier: MIT
// The CPU fast path (backends/cpu/sparse.h) against the plain scatter of "cpu-reference", bit for bit, over
// convolution geometries that exercise every kernel shape: output channels below, at and across vector
// widths (tails), more than 64 spiking input channels, strides, padding, dilation, 1x1 kernels, binary
// spike inputs and graded (average-pooled) inputs, IF and graded neurons, in fp32 and both integer modes.
// The vectorised neuron updates are also checked directly against snn/neuron.h on extreme values. The
// bundled models are compared the same way end to end in tests/e2e/test_bundled_models.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "cpu/sparse.h"
#include "neurocuda/backend.h"
#include "neurocuda/error.h"
#include "neurocuda/snn/neuron.h"
#include "../unit/test_graphs.h"
#include "expect_same_run.h"

using namespace neurocuda;

namespace {

struct Geometry {
  int64_t cout, k, stride, pad, dil;
  int64_t cin = 6;  // spiking channels into the geometry's conv (70: window rows of up to 210 inputs)
};

// input [3,12,12] -> conv 1x1 (static) -> IF -> conv(geometry) -> IF -> avgpool 2 (graded values)
//   -> conv 3x3 (cout) -> IF -> flatten -> linear(11)
ir::Graph net(const Geometry &geo) {
  ir::Graph g;
  int x = test::add_input(g, {3, 12, 12});
  auto c0 = test::conv_node(x, geo.cin, 3, 1, 1, 31);
  c0.ints["padding"] = {0, 0};
  for (auto &w : c0.tensors["weight"].data) w *= 4.0f;
  x = test::append(g, c0);
  x = test::append(g, test::unary(ir::OpKind::IF, x, "if0"));
  auto c1 = test::conv_node(x, geo.cout, geo.cin, geo.k, geo.k, 32);
  c1.ints["stride"] = {geo.stride, geo.stride};
  c1.ints["padding"] = {geo.pad, geo.pad};
  c1.ints["dilation"] = {geo.dil, geo.dil};
  x = test::append(g, c1);
  x = test::append(g, test::unary(ir::OpKind::IF, x, "if1"));
  auto pool = test::unary(ir::OpKind::AvgPool2d, x, "pool");
  pool.ints = {{"kernel", {2, 2}}, {"stride", {2, 2}}, {"padding", {0, 0}}, {"ceil_mode", {0}},
               {"count_include_pad", {1}}, {"divisor_override", {0}}};
  x = test::append(g, pool);
  auto c2 = test::conv_node(x, geo.cout, geo.cout, 3, 3, 33);
  for (auto &w : c2.tensors["weight"].data) w *= 2.0f;
  x = test::append(g, c2);
  x = test::append(g, test::unary(ir::OpKind::IF, x, "if2"));
  x = test::append(g, test::unary(ir::OpKind::Flatten, x, "flat"));
  const int64_t features = ir::numel(g.value(x).shape);
  g.set_output(test::append(g, test::linear_node(x, 11, features, 34)));
  ir::verify(g);
  return g;
}

RunResult run(const char *backend, const ir::Graph &g, Precision p, const std::vector<float> &x, int64_t n,
              bool traced = true) {
  CompileOptions c;
  c.precision = p;
  RunOptions o;
  o.checkpoints = {5, 24};
  o.threads = 2;
  o.record_trace = traced;  // untraced, as eval runs: IF layers read only as bits skip their int32 spikes
  o.channel_spikes = traced;
  return get_backend(backend).compile(g, c)->run(Batch{x.data(), n, {3, 12, 12}}, o);
}

} // namespace

class FastPath : public ::testing::TestWithParam<std::tuple<Geometry, Precision, bool>> {};

TEST_P(FastPath, BitIdenticalToReference) {
  const auto &[geo, precision, graded] = GetParam();
  auto g = net(geo);
  if (graded)  // convert --neuron graded: integer payloads into every layer after the first
    for (auto &node : g.nodes())
      if (node.kind == ir::OpKind::IF) node.ints["graded"] = {1};
  const int64_t n = 4;
  const auto x = test::random_values(static_cast<size_t>(n * 3 * 12 * 12), 41, 0.0f, 1.0f);
  const auto fast = run("cpu", g, precision, x, n);
  const auto ref = run("cpu-reference", g, precision, x, n);
  test::expect_same_run(fast, ref, get_backend("cpu").compile(g, {})->layers(), 24);
  EXPECT_EQ(fast.readout_exact, ref.readout_exact);
  EXPECT_EQ(fast.channel_spikes, ref.channel_spikes);
  const auto plain = run("cpu", g, precision, x, n, false);
  EXPECT_EQ(plain.predictions, ref.predictions);
  EXPECT_EQ(plain.spikes, ref.spikes);
  EXPECT_EQ(plain.synops, ref.synops);
  EXPECT_EQ(plain.readout_exact, ref.readout_exact);
  // The comparison means something only if every population spiked (spikes are [checkpoint][layer]).
  const size_t layers = 3;
  ASSERT_EQ(ref.spikes.size(), 2 * layers);
  for (size_t l = 0; l < layers; ++l) EXPECT_GT(ref.spikes[layers + l], 0u) << "layer " << l;
  // Per-channel counts (bias correction measures rates with them, in every numeric mode) cover the run:
  // one per spike for IF (graded neurons count net payloads there, not events).
  ASSERT_EQ(ref.channel_spikes.size(), layers);
  for (size_t l = 0; l < layers && !graded; ++l) {
    uint64_t sum = 0;
    for (uint64_t c : ref.channel_spikes[l]) sum += c;
    EXPECT_EQ(sum, ref.spikes[layers + l]) << "layer " << l;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, FastPath,
    ::testing::Combine(::testing::Values(Geometry{13, 3, 1, 1, 1},   // tail only (fp32: 8 + 5)
                                         Geometry{16, 3, 1, 1, 1},   // two vectors: pixels four at a time
                                         Geometry{8, 3, 1, 2, 2},    // one vector, dilation
                                         Geometry{75, 5, 2, 2, 1},   // 64 + 8 + 3, stride 2, 5x5
                                         Geometry{40, 1, 1, 0, 1},   // 32 + 8, 1x1
                                         Geometry{24, 3, 1, 1, 1, 70}),  // 70 spiking input channels
                       ::testing::Values(Precision::Fp32, Precision::Int8, Precision::Int16), ::testing::Bool()),
    [](const auto &info) {
      const auto &geo = std::get<0>(info.param);
      return "i" + std::to_string(geo.cin) + "c" + std::to_string(geo.cout) + "k" + std::to_string(geo.k) + "s" + std::to_string(geo.stride) + "d" +
             std::to_string(geo.dil) + "_" + precision_name(std::get<1>(info.param)) + (std::get<2>(info.param) ? "_graded" : "_if");
    });

// The fast path's neuron updates (sparse.h) against the scalar steps of snn/neuron.h, bit for bit, on
// values the bundled models rarely reach: negative potentials, payloads clamped at both bounds, signed
// zeros, and integer potentials beyond the division-free estimate's range (its fallback).
TEST(FastPathNeurons, Fp32GradedAndIfMatchTheScalarSteps) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> current(-3.0f, 5.0f);
  const size_t n = 67;  // 8 vectors and a tail
  std::vector<float> v(n), net(n, 0.0f), v_ref, net_ref, out(n), cur(n);
  for (size_t k = 0; k < n; ++k) v[k] = k % 5 == 0 ? -0.0f : current(rng) * 0.2f;
  v_ref = v;
  net_ref = net;
  for (int t = 1; t <= 40; ++t) {
    for (size_t k = 0; k < n; ++k) cur[k] = k % 7 == 0 ? (t % 2 ? -0.0f : 0.0f) : current(rng);
    const uint64_t count = backends::cpu::sparse::graded_layer(v.data(), net.data(), cur.data(), out.data(), n, static_cast<float>(t));
    uint64_t expected = 0;
    for (size_t k = 0; k < n; ++k) {
      const float q = snn::graded_step(v_ref[k], net_ref[k], cur[k], static_cast<float>(t));
      expected += q != 0.0f;
      ASSERT_EQ(0, std::memcmp(&q, &out[k], 4)) << "t " << t << " neuron " << k;
      ASSERT_EQ(0, std::memcmp(&v_ref[k], &v[k], 4)) << "t " << t << " neuron " << k;
      ASSERT_EQ(0, std::memcmp(&net_ref[k], &net[k], 4)) << "t " << t << " neuron " << k;
    }
    ASSERT_EQ(count, expected);
  }
  std::vector<float> u(n, 0.5f), u_ref(n, 0.5f);
  for (int t = 1; t <= 40; ++t) {
    for (size_t k = 0; k < n; ++k) cur[k] = k % 7 == 0 ? -0.0f : current(rng);
    const uint64_t count = backends::cpu::sparse::if_layer(u.data(), cur.data(), out.data(), n);
    uint64_t expected = 0;
    for (size_t k = 0; k < n; ++k) {
      const bool fired = snn::if_step(u_ref[k], cur[k]);
      expected += fired;
      ASSERT_EQ(out[k], fired ? 1.0f : 0.0f);
      ASSERT_EQ(0, std::memcmp(&u_ref[k], &u[k], 4)) << "t " << t << " neuron " << k;
    }
    ASSERT_EQ(count, expected);
  }
}

// V: the integer program's value type (currents and payloads); potentials and net counts are int64.
// `wide`: thresholds up to 2^39 (int64 currents only), else below 2^20 so currents fit 32 bits.
template <typename V> void check_integer_graded(bool wide) {
  std::mt19937_64 rng(11);
  const int64_t pixels = 5, channels = 11;  // 2 vectors of 4 and a tail per pixel
  const size_t n = static_cast<size_t>(pixels * channels);
  std::vector<int64_t> threshold(static_cast<size_t>(channels));
  std::vector<double> inverse;
  for (int64_t c = 0; c < channels; ++c)
    threshold[static_cast<size_t>(c)] = c == 0 ? 1 : c == 1 ? (int64_t{1} << (wide ? 39 : 19)) - 7 : 3 + 977 * c;
  for (int64_t th : threshold) inverse.push_back(1.0 / static_cast<double>(th));
  std::vector<int64_t> v(n), net(n, 0);
  std::vector<V> out(n), cur(n);
  for (size_t k = 0; k < n; ++k) v[k] = static_cast<int64_t>(rng() % 2001) - 1000;
  // Some potentials far beyond the estimate's 2^50 (both signs): the exact division takes them.
  v[3] = int64_t{1} << 55;
  v[channels + 4] = -(int64_t{1} << 54);
  v[2 * channels + 10] = (int64_t{1} << 50) + 12345;
  auto v_ref = v, net_ref = net;
  bool clamped_high = false, clamped_low = false;
  for (int64_t t = 1; t <= 60; ++t) {
    for (size_t k = 0; k < n; ++k) {
      const int64_t th = threshold[k % static_cast<size_t>(channels)];
      // currents of a few thresholds either way, exactly on multiples at times
      cur[k] = static_cast<V>(static_cast<int64_t>(rng() % 9) * th - 4 * th +
                              (t % 3 == 0 ? 0 : static_cast<int64_t>(rng() % 7) - 3));
    }
    const uint64_t count = backends::cpu::sparse::graded_layer_int(v.data(), net.data(), cur.data(), out.data(), pixels,
                                                                   channels, threshold.data(), inverse.data(), t);
    uint64_t expected = 0;
    for (size_t k = 0; k < n; ++k) {
      const int64_t before = net_ref[k];
      const int64_t q = snn::graded_step_int(v_ref[k], net_ref[k], cur[k], threshold[k % static_cast<size_t>(channels)], t);
      expected += q != 0;
      clamped_high = clamped_high || (q == t - before && q > 0);
      clamped_low = clamped_low || (q == -before && q < 0);
      ASSERT_EQ(q, out[k]) << "t " << t << " neuron " << k;
      ASSERT_EQ(v_ref[k], v[k]) << "t " << t << " neuron " << k;
      ASSERT_EQ(net_ref[k], net[k]) << "t " << t << " neuron " << k;
    }
    ASSERT_EQ(count, expected);
  }
  EXPECT_TRUE(clamped_high && clamped_low) << "the clamps were not exercised";
}

TEST(FastPathNeurons, IntegerGradedMatchesTheDivisionExactly) { check_integer_graded<int64_t>(true); }

TEST(FastPathNeurons, IntegerGradedWith32BitValuesMatchesTheDivisionExactly) { check_integer_graded<int32_t>(false); }

// Potentials and net counts held as doubles (32-bit values, potentials kept below 2^50 by the caller):
// the same payloads, potentials and counts as the int64 division, including potentials near 2^48
// (the bound the integer program proves) and currents at the ends of int32.
TEST(FastPathNeurons, IntegerGradedInDoublesMatchesTheDivisionExactly) {
  std::mt19937_64 rng(12);
  const int64_t pixels = 4, channels = 7;  // a vector of 4 and a tail per pixel
  const size_t n = static_cast<size_t>(pixels * channels);
  std::vector<int64_t> threshold(static_cast<size_t>(channels));
  std::vector<double> inverse, threshold_d;
  for (int64_t c = 0; c < channels; ++c)
    threshold[static_cast<size_t>(c)] = c == 0 ? 1 : c == 1 ? (int64_t{1} << 39) - 7 : c == 2 ? 3 : 3 + 977 * c;
  for (int64_t th : threshold) {
    inverse.push_back(1.0 / static_cast<double>(th));
    threshold_d.push_back(static_cast<double>(th));
  }
  std::vector<int64_t> v_ref(n), net_ref(n, 0);
  for (size_t k = 0; k < n; ++k) v_ref[k] = static_cast<int64_t>(rng() % 2001) - 1000;
  v_ref[1] = (int64_t{1} << 48) - 3;
  v_ref[channels + 5] = -(int64_t{1} << 48) + 11;
  std::vector<double> v(v_ref.begin(), v_ref.end()), net(n, 0.0);
  std::vector<int32_t> cur(n), out(n);
  for (int64_t t = 1; t <= 256; ++t) {
    for (size_t k = 0; k < n; ++k) {
      const int64_t th = std::min<int64_t>(threshold[k % static_cast<size_t>(channels)], int64_t{1} << 28);
      const uint64_t pick = rng() % 16;
      cur[k] = pick == 0   ? std::numeric_limits<int32_t>::max()
               : pick == 1 ? std::numeric_limits<int32_t>::min() + 1
                           : static_cast<int32_t>(static_cast<int64_t>(rng() % 9) * th - 4 * th + static_cast<int64_t>(rng() % 7) - 3);
    }
    const uint64_t count = backends::cpu::sparse::graded_layer_int(v.data(), net.data(), cur.data(), out.data(), pixels,
                                                                   channels, threshold_d.data(), inverse.data(), t);
    uint64_t expected = 0;
    for (size_t k = 0; k < n; ++k) {
      const int64_t q = snn::graded_step_int(v_ref[k], net_ref[k], cur[k], threshold[k % static_cast<size_t>(channels)], t);
      expected += q != 0;
      ASSERT_EQ(q, out[k]) << "t " << t << " neuron " << k;
      ASSERT_EQ(static_cast<double>(v_ref[k]), v[k]) << "t " << t << " neuron " << k;
      ASSERT_EQ(static_cast<double>(net_ref[k]), net[k]) << "t " << t << " neuron " << k;
    }
    ASSERT_EQ(count, expected);
  }
}

// The int32 graded step (sparse.h): the same payloads, potentials and counts as snn::graded_step_int
// with thresholds from 1 up, currents of many thresholds either way, potentials just inside its
// bounds; and it declines, changing nothing, as soon as a potential or current is past them.
TEST(FastPathNeurons, IntegerGradedIn32BitsMatchesTheDivisionAndDeclinesPastItsBounds) {
  std::mt19937_64 rng(14);
  // 11: a vector of 8 and a tail per pixel; 32: whole vectors (two AVX-512 steps a pixel)
  for (const int64_t channels : {int64_t{11}, int64_t{32}}) {
    const int64_t pixels = 3;
    const size_t n = static_cast<size_t>(pixels * channels);
    std::vector<int32_t> threshold(static_cast<size_t>(channels));
    std::vector<float> inverse;
    for (int64_t c = 0; c < channels; ++c) threshold[static_cast<size_t>(c)] = c == 0 ? 1 : c == 1 ? 3 : static_cast<int32_t>(97 * c * c);
    for (int32_t th : threshold) inverse.push_back(1.0f / static_cast<float>(th));
    const int32_t smallest = 1;  // |v| + |I| must stay below 2^23
    std::vector<int64_t> v_ref(n), net_ref(n, 0);
    for (size_t k = 0; k < n; ++k) v_ref[k] = static_cast<int64_t>(rng() % 2001) - 1000;
    v_ref[4] = (int64_t{1} << 21) - 5;
    std::vector<int32_t> v(v_ref.begin(), v_ref.end()), net(n, 0), cur(n), out(n);
    bool clamped = false;
    for (int64_t t = 1; t <= 64; ++t) {
      for (size_t k = 0; k < n; ++k) {
        const int64_t th = threshold[k % static_cast<size_t>(channels)];
        // keep |v| + |I| below 2^23: currents of a few thresholds, and larger ones for the small thresholds
        const int64_t span = th < 8 ? 200000 : 6 * th;
        cur[k] = static_cast<int32_t>(static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * span + 1)) - span);
        if (std::llabs(v_ref[k]) > (int64_t{1} << 21)) cur[k] = static_cast<int32_t>(-v_ref[k] / 2);  // pull it back
        // every third step lands every potential exactly on a multiple of its threshold (or one below),
        // where a float quotient can fall just short
        if (t % 3 == 0) cur[k] = static_cast<int32_t>((static_cast<int64_t>(rng() % 9) - 3) * th - v_ref[k] - (t % 2 ? 1 : 0));
      }
      uint64_t count = 0;
      ASSERT_TRUE(backends::cpu::sparse::graded_layer_int32(v.data(), net.data(), cur.data(), out.data(), pixels, channels,
                                                            threshold.data(), inverse.data(), smallest, t, count))
          << "t " << t;
      uint64_t expected = 0;
      for (size_t k = 0; k < n; ++k) {
        const int64_t before = net_ref[k];
        const int64_t q = snn::graded_step_int(v_ref[k], net_ref[k], cur[k], threshold[k % static_cast<size_t>(channels)], t);
        expected += q != 0;
        clamped = clamped || (q != 0 && (q == t - before || q == -before));
        ASSERT_EQ(q, out[k]) << "t " << t << " neuron " << k;
        ASSERT_EQ(v_ref[k], v[k]) << "t " << t << " neuron " << k;
        ASSERT_EQ(net_ref[k], net[k]) << "t " << t << " neuron " << k;
      }
      ASSERT_EQ(count, expected);
    }
    EXPECT_TRUE(clamped);
    // Large thresholds let potentials and currents near 2^30, where the float estimate is least exact.
    {
      std::vector<int32_t> big_th(static_cast<size_t>(channels));
      std::vector<float> big_inv;
      for (int64_t c = 0; c < channels; ++c) big_th[static_cast<size_t>(c)] = static_cast<int32_t>(1013 + 977 * c);
      for (int32_t th : big_th) big_inv.push_back(1.0f / static_cast<float>(th));
      std::vector<int64_t> bv(n), bn(n, 0);
      for (size_t k = 0; k < n; ++k) bv[k] = static_cast<int64_t>(rng() % (uint64_t{1} << 31)) - (int64_t{1} << 30) + 1;
      std::vector<int32_t> v32(bv.begin(), bv.end()), n32(n, 0), c32(n), o32(n);
      for (int64_t t = 1; t <= 200; ++t) {
        for (size_t k = 0; k < n; ++k) {
          const int64_t room = (int64_t{1} << 30) - 1 - std::llabs(bv[k]);
          c32[k] = static_cast<int32_t>(static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * room + 1)) - room) / 2;
        }
        uint64_t count = 0;
        ASSERT_TRUE(backends::cpu::sparse::graded_layer_int32(v32.data(), n32.data(), c32.data(), o32.data(), pixels, channels,
                                                              big_th.data(), big_inv.data(), big_th[0], t, count));
        for (size_t k = 0; k < n; ++k) {
          const int64_t q = snn::graded_step_int(bv[k], bn[k], c32[k], big_th[k % static_cast<size_t>(channels)], t);
          ASSERT_EQ(q, o32[k]) << "t " << t << " neuron " << k;
          ASSERT_EQ(bv[k], v32[k]) << "t " << t << " neuron " << k;
          ASSERT_EQ(bn[k], n32[k]) << "t " << t << " neuron " << k;
        }
      }
    }
    // Past the bounds: |v| + |I| reaching smallest * 2^23, a current of 2^30, INT32_MIN.
    for (int32_t bad : {int32_t{1} << 23, int32_t{1} << 30, std::numeric_limits<int32_t>::min()}) {
      auto v2 = v, net2 = net, out2 = out, cur2 = cur;
      std::fill(cur2.begin(), cur2.end(), 0);
      std::fill(v2.begin(), v2.end(), 0);
      cur2[n - 1] = bad;  // the scalar tail
      uint64_t count = 7;
      EXPECT_FALSE(backends::cpu::sparse::graded_layer_int32(v2.data(), net2.data(), cur2.data(), out2.data(), pixels,
                                                             channels, threshold.data(), inverse.data(), smallest, 5, count))
          << bad;
      cur2[n - 1] = 0;
      cur2[2] = bad;  // a vector lane
      EXPECT_FALSE(backends::cpu::sparse::graded_layer_int32(v2.data(), net2.data(), cur2.data(), out2.data(), pixels,
                                                             channels, threshold.data(), inverse.data(), smallest, 5, count))
          << bad;
      EXPECT_EQ(out2, out);
      EXPECT_EQ(net2, net);
      EXPECT_EQ(count, 7u);
    }
  }
}

// One step of an integer IF kernel (potentials v, spikes out, the count it returned) against
// snn::if_step_int advancing the int64 reference potentials v_ref from the same currents; thresholds
// per channel (threshold.size() channels, HWC).
template <typename P, typename O, typename C, typename T>
void expect_if_step(std::vector<int64_t> &v_ref, const std::vector<P> &v, const std::vector<O> &out,
                    const std::vector<C> &cur, const std::vector<T> &threshold, uint64_t count, int t) {
  uint64_t expected = 0;
  for (size_t k = 0; k < v_ref.size(); ++k) {
    const bool spike = snn::if_step_int(v_ref[k], cur[k], threshold[k % threshold.size()]);
    expected += spike;
    ASSERT_EQ(static_cast<O>(spike), out[k]) << "t " << t << " neuron " << k;
    ASSERT_EQ(v_ref[k], v[k]) << "t " << t << " neuron " << k;
  }
  ASSERT_EQ(count, expected) << "t " << t;
}

// The vectorised integer IF step against snn::if_step_int: thresholds from 1 to 2^40, currents
// landing exactly on the threshold, and potentials of ±2^62.
template <typename V> void check_integer_if() {
  std::mt19937_64 rng(13);
  const int64_t pixels = 3, channels = 9;  // two vectors of 4 and a tail per pixel
  const size_t n = static_cast<size_t>(pixels * channels);
  std::vector<int64_t> threshold(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) threshold[static_cast<size_t>(c)] = c == 0 ? 1 : c == 1 ? int64_t{1} << 40 : 5 + 131 * c;
  std::vector<int64_t> v(n);
  for (auto &x : v) x = static_cast<int64_t>(rng() % 1001) - 500;
  v[2] = int64_t{1} << 62;
  v[channels + 6] = -(int64_t{1} << 62);
  auto v_ref = v;
  std::vector<V> cur(n), out(n);
  for (int t = 0; t < 50; ++t) {
    for (size_t k = 0; k < n; ++k) {
      const int64_t th = std::min<int64_t>(threshold[k % static_cast<size_t>(channels)], int64_t{1} << 30);
      cur[k] = static_cast<V>(t % 4 == 0 ? th - v_ref[k] % th : static_cast<int64_t>(rng() % 5) * th / 2 - th);
    }
    const uint64_t count =
        backends::cpu::sparse::if_layer_int(v.data(), cur.data(), out.data(), pixels, channels, threshold.data());
    ASSERT_NO_FATAL_FAILURE(expect_if_step(v_ref, v, out, cur, threshold, count, t));
  }
}

// The int32 graded step's two paths: one round of corrections where every |v + I| is below the
// smallest threshold * 2^22 (the float quotient is then within one of the true one), two up to
// 2^23. Potentials and currents right up to each bound, every few steps landing exactly on a
// multiple of the threshold (or one below); thresholds of the bundled int8 models' size (300-5000,
// one-round path) and from 1 (potentials past 2^22: two rounds); 16, 32 and 64 channels
// (thresholds in registers), 48 (the wrapping loop) and 11 (8 lanes and a tail: the AVX2 build).
TEST(FastPathNeurons, IntegerGradedIn32BitsMatchesTheDivisionUpToEachPathsBound) {
  std::mt19937_64 rng(41);
  for (const int bits : {22, 23})
    for (const int64_t channels : {int64_t{11}, int64_t{16}, int64_t{32}, int64_t{48}, int64_t{64}}) {
      const int64_t pixels = 5;
      const size_t n = static_cast<size_t>(pixels * channels);
      std::vector<int32_t> threshold(static_cast<size_t>(channels));
      std::vector<float> inverse;
      for (int64_t c = 0; c < channels; ++c)
        threshold[static_cast<size_t>(c)] = static_cast<int32_t>(bits == 22 ? 300 + 37 * c * c % 4700 : 1 + c % 7);
      for (int32_t th : threshold) inverse.push_back(1.0f / static_cast<float>(th));
      const int32_t smallest = *std::min_element(threshold.begin(), threshold.end());
      // The largest |v| plus the largest |I| stays at most this (and below 2^30, graded_layer_int32's
      // other bound).
      const int64_t bound = std::min(int64_t{smallest} << bits, int64_t{1} << 30) - 1;
      std::vector<int64_t> v_ref(n, 0), net_ref(n, 0);
      if (bits == 23) v_ref[0] = bound - 3;  // past 2^22 thresholds: the two-round path
      std::vector<int32_t> v(v_ref.begin(), v_ref.end()), net(n, 0), cur(n), out(n);
      for (int64_t t = 1; t <= 96; ++t) {
        int64_t top_v = 0;
        for (int64_t x : v_ref) top_v = std::max<int64_t>(top_v, std::llabs(x));
        const int64_t room = bound - top_v;
        for (size_t k = 0; k < n; ++k) {
          const int64_t th = threshold[k % static_cast<size_t>(channels)];
          // currents of a few thresholds, and every fifth step up to the bound's room
          const int64_t span = t % 5 == 0 ? room : std::min(room, 8 * th);
          int64_t c = static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * span + 1)) - span;
          if (t % 4 == 0) {  // v + I exactly on a multiple of the threshold near v (or one below it)
            const int64_t below = v_ref[k] >= 0 ? v_ref[k] / th : -((-v_ref[k] + th - 1) / th);
            const int64_t target = (below + static_cast<int64_t>(rng() % 7) - 3) * th - (t % 8 == 0 ? 1 : 0);
            if (std::llabs(target - v_ref[k]) <= room) c = target - v_ref[k];
          }
          cur[k] = static_cast<int32_t>(c);
        }
        uint64_t count = 0;
        ASSERT_TRUE(backends::cpu::sparse::graded_layer_int32(v.data(), net.data(), cur.data(), out.data(), pixels, channels,
                                                              threshold.data(), inverse.data(), smallest, t, count));
        uint64_t expected = 0;
        for (size_t k = 0; k < n; ++k) {
          const int64_t q = snn::graded_step_int(v_ref[k], net_ref[k], cur[k], threshold[k % static_cast<size_t>(channels)], t);
          expected += q != 0;
          ASSERT_EQ(q, out[k]) << bits << " bits, channels " << channels << " t " << t << " neuron " << k;
          ASSERT_EQ(v_ref[k], v[k]) << bits << " bits, channels " << channels << " t " << t << " neuron " << k;
          ASSERT_EQ(net_ref[k], net[k]) << bits << " bits, channels " << channels << " t " << t << " neuron " << k;
        }
        ASSERT_EQ(count, expected);
      }
    }
}

TEST(FastPathNeurons, IntegerIfMatchesTheScalarStep) {
  check_integer_if<int64_t>();
  check_integer_if<int32_t>();
}

// The int32 IF step (for layers whose potentials the run's T bounds) against snn::if_step_int in
// int64: thresholds from 1 to 2^31 - 1, currents landing exactly on the threshold, potentials near
// +-2^30 whose v + I stays within int32; 19 channels are two vectors and a tail, 32 two of AVX-512.
TEST(FastPathNeurons, IntegerIfIn32BitsMatchesTheScalarStep) {
  std::mt19937_64 rng(17);
  // A tail; whole vectors (8 / 16 lanes): 16, 32 and 64 channels with the thresholds held in registers
  // (AVX-512), 48 by the loop for any multiple of 16.
  for (const int64_t channels : {int64_t{19}, int64_t{16}, int64_t{32}, int64_t{48}, int64_t{64}}) {
    const int64_t pixels = 3;
    const size_t n = static_cast<size_t>(pixels * channels);
    std::vector<int32_t> threshold(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c)
      threshold[static_cast<size_t>(c)] = c == 0 ? 1
                                          : c == 1 ? std::numeric_limits<int32_t>::max()
                                          : c == 2 ? (int32_t{1} << 29) + 12345
                                                   : static_cast<int32_t>(7 + 977 * c);
    std::vector<int32_t> v(n), cur(n), out(n);
    for (auto &x : v) x = static_cast<int32_t>(rng() % 2001) - 1000;
    v[5] = int32_t{1} << 30;
    v[channels + 9] = -(int32_t{1} << 30);
    std::vector<int64_t> v_ref(v.begin(), v.end());
    for (int t = 0; t < 60; ++t) {
      for (size_t k = 0; k < n; ++k) {
        const int64_t th = threshold[k % static_cast<size_t>(channels)];
        // Within the kernel's bound: the potential stays below threshold + 2^29 (one spike a step), and
        // the threshold of 2^31 - 1 is never reached (its currents are small).
        const int64_t small = std::min<int64_t>(th, 1 << 20);
        const int64_t want = t % 4 == 0 && th < (int64_t{1} << 30) ? th - v_ref[k] % th
                                                                    : static_cast<int64_t>(rng() % 5) * small / 2 - small;
        cur[k] = static_cast<int32_t>(std::clamp<int64_t>(want, -(int64_t{1} << 29), int64_t{1} << 29));
      }
      const uint64_t count = backends::cpu::sparse::if_layer_int32(v.data(), cur.data(), out.data(), pixels, channels, threshold.data());
      ASSERT_NO_FATAL_FAILURE(expect_if_step(v_ref, v, out, cur, threshold, count, t));
    }
  }
}

// The IF step that sums its current from a two-input add (sparse.h, if_layer_int32_add) against the
// products summed in int64 and snn::if_step_int: negative multipliers, 19 channels (two vectors and
// a tail), currents landing exactly on the threshold every fourth step.
TEST(FastPathNeurons, IntegerIfSummingAnAddMatchesTheScalarStep) {
  std::mt19937 rng(31);
  // A tail; whole vectors (8 / 16 lanes): 16, 32 and 64 channels with the thresholds held in registers
  // (AVX-512), 48 by the loop for any multiple of 16.
  for (const int64_t channels : {int64_t{19}, int64_t{16}, int64_t{32}, int64_t{48}, int64_t{64}}) {
    const int64_t pixels = 4;
    const size_t n = static_cast<size_t>(pixels * channels);
    std::vector<int32_t> threshold(static_cast<size_t>(channels)), m0(static_cast<size_t>(channels)), m1(m0.size());
    for (int64_t c = 0; c < channels; ++c) {
      threshold[static_cast<size_t>(c)] = static_cast<int32_t>(1 + 37 * c);
      m0[static_cast<size_t>(c)] = static_cast<int32_t>(rng() % 9) - 3;
      m1[static_cast<size_t>(c)] = c == 0 ? 1 : static_cast<int32_t>(rng() % 5) + 1;  // channel 0 can land exactly
    }
    std::vector<int32_t> v(n, 0), x0(n), x1(n), out(n);
    std::vector<int64_t> v_ref(n, 0);
    for (int t = 0; t < 40; ++t) {
      for (size_t k = 0; k < n; ++k) {
        x0[k] = static_cast<int32_t>(rng() % 401) - 200;
        x1[k] = static_cast<int32_t>(rng() % 401) - 100;
      }
      if (t % 4 == 0)  // channel 0 of every pixel: exactly onto its threshold
        for (int64_t p = 0; p < pixels; ++p) {
          const auto k = static_cast<size_t>(p * channels);
          x1[k] = static_cast<int32_t>(threshold[0] - v_ref[k] - int64_t{m0[0]} * x0[k]);
        }
      const uint64_t count = backends::cpu::sparse::if_layer_int32_add(v.data(), x0.data(), m0.data(), x1.data(), m1.data(),
                                                                       out.data(), pixels, channels, threshold.data());
      uint64_t expected = 0;
      for (size_t k = 0; k < n; ++k) {
        const size_t c = k % static_cast<size_t>(channels);
        const int64_t cur = int64_t{m0[c]} * x0[k] + int64_t{m1[c]} * x1[k];
        const bool spike = snn::if_step_int(v_ref[k], cur, threshold[c]);
        expected += spike;
        ASSERT_EQ(static_cast<int32_t>(spike), out[k]) << "t " << t << " neuron " << k;
        ASSERT_EQ(v_ref[k], v[k]) << "t " << t << " neuron " << k;
      }
      ASSERT_EQ(count, expected) << "t " << t;
    }
  }
}

// The add-summing IF step with its second input given as spike bits (`spikes1`, a residual add of an
// IF layer's spikes): the same potentials, spikes and bits as with those spikes as int32 values.
TEST(FastPathNeurons, IntegerIfSummingSpikeBitsMatchesTheInt32Spikes) {
  namespace sp = backends::cpu::sparse;
  std::mt19937 rng(43);
  for (const int64_t channels : {int64_t{8}, int64_t{16}, int64_t{24}, int64_t{64}}) {
    const int64_t pixels = 5;
    const size_t n = static_cast<size_t>(pixels * channels);
    std::vector<int32_t> threshold(static_cast<size_t>(channels)), m0(threshold.size()), m1(threshold.size());
    for (size_t c = 0; c < threshold.size(); ++c) {
      threshold[c] = static_cast<int32_t>(50 + 13 * c);
      m0[c] = static_cast<int32_t>(rng() % 7) - 2;
      m1[c] = static_cast<int32_t>(rng() % 90) - 30;
    }
    std::vector<int32_t> v(n, 0), v_bits(n, 0), x0(n), x1(n), out(n), out_bits(n, -5);
    std::vector<uint8_t> spikes(n / 8), bits(n / 8), bits_bits(n / 8);
    for (int t = 0; t < 30; ++t) {
      std::fill(spikes.begin(), spikes.end(), 0);
      for (size_t k = 0; k < n; ++k) {
        x0[k] = static_cast<int32_t>(rng() % 201) - 60;
        x1[k] = rng() % 3 == 0;
        spikes[k / 8] = static_cast<uint8_t>(spikes[k / 8] | x1[k] << (k % 8));
      }
      const uint64_t count = sp::if_layer_int32_add(v.data(), x0.data(), m0.data(), x1.data(), m1.data(), out.data(),
                                                    pixels, channels, threshold.data(), bits.data());
      const std::vector<int32_t> poison(n, 1000);  // x1 is not read when its bits are given
      const uint64_t count_bits = sp::if_layer_int32_add(v_bits.data(), x0.data(), m0.data(), poison.data(), m1.data(),
                                                         nullptr, pixels, channels, threshold.data(), bits_bits.data(),
                                                         spikes.data());
      ASSERT_EQ(v_bits, v) << "channels " << channels << " t " << t;
      ASSERT_EQ(bits_bits, bits) << "channels " << channels << " t " << t;
      ASSERT_EQ(count_bits, count);
      ASSERT_GT(count, 0u);
    }
  }
}

// An integer add node with 32-bit values (sparse.h, add_int32) against the products summed in int64:
// two and three inputs, negative multipliers, 13 channels (a vector and a tail).
// The spikes as bits (if_layer_int32 and if_layer_int32_add with `bits`): byte i holds neurons
// 8i..8i+7, lowest bit first, equal to the int32 outputs at every step; with channels not a multiple
// of 8 the bits are left alone. And the readers of bits: collect_spikes lists exactly what collect
// lists from the int32 spikes.
TEST(FastPathNeurons, IntegerIfSpikeBitsMatchTheOutputs) {
  namespace sp = backends::cpu::sparse;
  std::mt19937 rng(41);
  for (int64_t channels : {8, 16, 24, 32, 19}) {
    const int64_t pixels = 5;
    const size_t n = static_cast<size_t>(pixels * channels);
    std::vector<int32_t> threshold(static_cast<size_t>(channels)), ones(static_cast<size_t>(channels), 1);
    for (auto &t : threshold) t = static_cast<int32_t>(5 + rng() % 50);
    std::vector<int32_t> v(n, 0), v2(n, 0), cur(n), zero(n, 0), out(n), out2(n);
    std::vector<uint8_t> bits(n / 8 + 1, 0xA5), bits2(bits.size(), 0xA5);
    for (int t = 0; t < 20; ++t) {
      for (auto &x : cur) x = static_cast<int32_t>(rng() % 61) - 10;
      sp::if_layer_int32(v.data(), cur.data(), out.data(), pixels, channels, threshold.data(), bits.data());
      sp::if_layer_int32_add(v2.data(), cur.data(), ones.data(), zero.data(), ones.data(), out2.data(), pixels, channels,
                             threshold.data(), bits2.data());
      ASSERT_EQ(out, out2);
      for (size_t k = 0; k < n; ++k) {
        if (channels % 8 != 0) break;
        ASSERT_EQ(out[k], (bits[k / 8] >> (k % 8)) & 1) << "channels " << channels << " t " << t << " neuron " << k;
        ASSERT_EQ(out[k], (bits2[k / 8] >> (k % 8)) & 1) << "channels " << channels << " t " << t << " neuron " << k;
      }
      if (channels % 8 != 0) {
        EXPECT_TRUE(std::all_of(bits.begin(), bits.end(), [](uint8_t b) { return b == 0xA5; })) << "left alone";
        continue;
      }
      for (int64_t w : {1, 5}) {  // as one row of 5 pixels, or a column
        const backends::cpu::Dims d{channels, pixels / w, w};
        sp::Events<int32_t> from_values, from_bits;
        sp::collect(out.data(), d, 24, from_values);
        ASSERT_TRUE(sp::collect_spikes(bits.data(), d, 24, from_bits));
        const auto events = static_cast<size_t>(from_values.start.back());
        EXPECT_EQ(from_values.start, from_bits.start);
        EXPECT_TRUE(std::equal(from_values.channel.begin(), from_values.channel.begin() + static_cast<std::ptrdiff_t>(events),
                               from_bits.channel.begin()));
        EXPECT_TRUE(from_bits.all_ones);
      }
    }
  }
  sp::Events<int32_t> e;
  const uint8_t none[4] = {};
  EXPECT_FALSE(sp::collect_spikes(none, backends::cpu::Dims{12, 1, 2}, 1, e)) << "channels not a multiple of 8";
}

TEST(FastPathNeurons, IntegerAddIn32BitsMatchesTheProductsSummed) {
  std::mt19937 rng(19);
  std::uniform_int_distribution<int32_t> value(-(1 << 14), 1 << 14), mult(-(1 << 14), 1 << 14);
  const int64_t pixels = 5, channels = 13;
  for (int inputs : {2, 3}) {
    std::vector<std::vector<int32_t>> x(static_cast<size_t>(inputs)), m(static_cast<size_t>(inputs));
    std::vector<const int32_t *> xs, ms;
    for (int i = 0; i < inputs; ++i) {
      for (int64_t k = 0; k < pixels * channels; ++k) x[static_cast<size_t>(i)].push_back(value(rng));
      for (int64_t k = 0; k < channels; ++k) m[static_cast<size_t>(i)].push_back(mult(rng));
      xs.push_back(x[static_cast<size_t>(i)].data());
      ms.push_back(m[static_cast<size_t>(i)].data());
    }
    std::vector<int32_t> out(static_cast<size_t>(pixels * channels), 7);
    backends::cpu::sparse::add_int32(xs.data(), ms.data(), inputs, out.data(), pixels, channels);
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t k = 0; k < channels; ++k) {
        int64_t expected = 0;
        for (int i = 0; i < inputs; ++i)
          expected += int64_t{m[static_cast<size_t>(i)][static_cast<size_t>(k)]} * x[static_cast<size_t>(i)][static_cast<size_t>(p * channels + k)];
        ASSERT_EQ(expected, out[static_cast<size_t>(p * channels + k)]) << inputs << " inputs, pixel " << p << " channel " << k;
      }
  }
}

// The 8-bit linear event kernel (sparse.h, accumulate_linear8) against a plain matrix-vector product:
// spikes and signed payloads up to its limit of 258 (every event then widens the 16-bit sums), output
// counts that take every block width (16 to 128), the synaptic operations it adds, and its declines.
TEST(FastPathDense8, LinearEventsMatchAPlainProductExactly) {
  namespace sp = backends::cpu::sparse;
  std::mt19937 rng(23);
  const int64_t n_in = 700;
  for (int64_t n_out : {16, 48, 208}) {
    std::vector<int8_t> w(static_cast<size_t>(n_in * n_out));
    for (auto &x : w) x = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    for (int64_t o = 0; o < n_out; ++o) w[static_cast<size_t>(o)] = o % 2 ? 127 : -127;  // input 0: the extremes
    std::vector<int32_t> bias(static_cast<size_t>(n_out));
    for (auto &b : bias) b = static_cast<int32_t>(rng() % 200001) - 100000;
    for (int kind = 0; kind < 3; ++kind) {  // spikes at 20 %, payloads within +-5, payloads at +-258
      std::vector<int32_t> in(static_cast<size_t>(n_in), 0);
      for (int64_t i = 0; i < n_in; ++i) {
        if (i > 0 && rng() % 5 != 0) continue;
        in[static_cast<size_t>(i)] = kind == 0 ? 1 : kind == 1 ? static_cast<int32_t>(rng() % 11) - 5 : (rng() % 2 ? 258 : -258);
      }
      std::vector<int32_t> out(static_cast<size_t>(n_out), 0);
      uint64_t ops = 0;
      ASSERT_TRUE(sp::accumulate_linear8(in.data(), n_in, w.data(), bias.data(), out.data(), n_out, &ops))
          << n_out << " outputs, inputs " << kind;
      uint64_t events = 0;
      for (int32_t x : in) events += x != 0;
      EXPECT_EQ(events * static_cast<uint64_t>(n_out), ops);
      for (int64_t o = 0; o < n_out; ++o) {
        int64_t expected = bias[static_cast<size_t>(o)];
        for (int64_t i = 0; i < n_in; ++i) expected += int64_t{in[static_cast<size_t>(i)]} * w[static_cast<size_t>(i * n_out + o)];
        ASSERT_EQ(expected, out[static_cast<size_t>(o)]) << n_out << " outputs, inputs " << kind << ", output " << o;
      }
    }
  }
  // Declines, leaving the output untouched: a payload past 258, inputs denser than the limit, outputs
  // not a multiple of 16.
  std::vector<int8_t> w(static_cast<size_t>(n_in * 32), 1);
  std::vector<int32_t> bias(32, 0), out(32, -9), in(static_cast<size_t>(n_in), 0);
  in[3] = 259;
  EXPECT_FALSE(sp::accumulate_linear8(in.data(), n_in, w.data(), bias.data(), out.data(), 32, nullptr));
  in[3] = -259;
  EXPECT_FALSE(sp::accumulate_linear8(in.data(), n_in, w.data(), bias.data(), out.data(), 32, nullptr));
  std::fill(in.begin(), in.end(), 1);
  EXPECT_FALSE(sp::accumulate_linear8(in.data(), n_in, w.data(), bias.data(), out.data(), 32, nullptr));
  EXPECT_FALSE(sp::accumulate_linear8(in.data(), n_in, w.data(), bias.data(), out.data(), 24, nullptr, 1.0));
  EXPECT_EQ(std::vector<int32_t>(32, -9), out);
  EXPECT_TRUE(sp::accumulate_linear8(in.data(), n_in, w.data(), bias.data(), out.data(), 32, nullptr, 1.0));
  EXPECT_EQ(std::vector<int32_t>(32, static_cast<int32_t>(n_in)), out);
}

// The fused running max-pool (sparse.h) against the reference's three passes written out here:
// S += I for every input, M = window maximum of S in (ky, kx) order from -inf, output M - M_prev.
// Odd sizes leave a row and a column outside every window (their sums must still run); 11 channels
// are one vector and a tail.
TEST(FastPathNeurons, RunningMaxPoolMatchesThePlainPasses) {
  const int64_t h = 5, w = 7, c = 11, k = 2, oh = h / k, ow = w / k;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> current(-1.0f, 2.0f);
  std::vector<float> in(static_cast<size_t>(h * w * c)), sum(in.size(), 0.0f), prev(static_cast<size_t>(oh * ow * c), 0.0f);
  std::vector<float> out(prev.size()), sum_ref = sum, prev_ref = prev, out_ref(prev.size());
  for (int t = 0; t < 20; ++t) {
    for (auto &x : in) x = current(rng);
    backends::cpu::sparse::running_max_pool(in.data(), sum.data(), prev.data(), out.data(), h, w, c, k, k, oh, ow);
    for (size_t i = 0; i < in.size(); ++i) sum_ref[i] = sum_ref[i] + in[i];
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t ch = 0; ch < c; ++ch) {
          float m = -INFINITY;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const float v = sum_ref[static_cast<size_t>(((oy * k + ky) * w + ox * k + kx) * c + ch)];
              m = m < v ? v : m;
            }
          const auto o = static_cast<size_t>((oy * ow + ox) * c + ch);
          out_ref[o] = m - prev_ref[o];
          prev_ref[o] = m;
        }
    ASSERT_EQ(0, std::memcmp(sum.data(), sum_ref.data(), sum.size() * 4)) << "t " << t;
    ASSERT_EQ(0, std::memcmp(out.data(), out_ref.data(), out.size() * 4)) << "t " << t;
    ASSERT_EQ(0, std::memcmp(prev.data(), prev_ref.data(), prev.size() * 4)) << "t " << t;
  }
}

// The reference's max-pool step over running sums (int_program.cpp's plain passes, written out):
// window maxima M of sum_ref in (ky, kx) order, out_ref = M - prev_ref, prev_ref = M.
static void plain_running_max(const std::vector<int64_t> &sum_ref, std::vector<int64_t> &prev_ref, std::vector<int64_t> &out_ref,
                       int64_t w, int64_t c, int64_t k, int64_t oh, int64_t ow) {
  for (int64_t oy = 0; oy < oh; ++oy)
    for (int64_t ox = 0; ox < ow; ++ox)
      for (int64_t ch = 0; ch < c; ++ch) {
        int64_t m = std::numeric_limits<int64_t>::min();
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx)
            m = std::max(m, sum_ref[static_cast<size_t>(((oy * k + ky) * w + ox * k + kx) * c + ch)]);
        const auto o = static_cast<size_t>((oy * ow + ox) * c + ch);
        out_ref[o] = m - prev_ref[o];
        prev_ref[o] = m;
      }
}

// The integer running max-pool (int64 sums and maxima; values of the program's type V) against the
// plain passes of int_program.cpp, written out here. Odd sizes and 7 channels (a vector of 4 and a
// tail), sums growing past 2^32 so the 64-bit state matters.
template <typename V> void check_integer_max_pool() {
  const int64_t h = 5, w = 7, c = 7, k = 2, oh = h / k, ow = w / k;
  std::mt19937 rng(6);
  std::uniform_int_distribution<int64_t> current(-(int64_t{1} << 29), int64_t{1} << 30);
  std::vector<V> in(static_cast<size_t>(h * w * c)), out(static_cast<size_t>(oh * ow * c));
  std::vector<int64_t> sum(in.size(), 0), prev(out.size(), 0), sum_ref = sum, prev_ref = prev, out_ref(out.size());
  for (int t = 0; t < 40; ++t) {
    for (auto &x : in) x = static_cast<V>(current(rng));
    backends::cpu::sparse::running_max_pool(in.data(), sum.data(), prev.data(), out.data(), h, w, c, k, k, oh, ow);
    for (size_t i = 0; i < in.size(); ++i) sum_ref[i] += in[i];
    plain_running_max(sum_ref, prev_ref, out_ref, w, c, k, oh, ow);
    ASSERT_EQ(sum, sum_ref) << "t " << t;
    ASSERT_EQ(std::vector<int64_t>(out.begin(), out.end()), out_ref) << "t " << t;
    ASSERT_EQ(prev, prev_ref) << "t " << t;
  }
  EXPECT_GT(*std::max_element(sum.begin(), sum.end()), int64_t{1} << 32);
}

TEST(FastPathNeurons, IntegerRunningMaxPoolMatchesThePlainPasses) {
  check_integer_max_pool<int64_t>();
  check_integer_max_pool<int32_t>();
}

// The int32 running max-pool (sums bounded by the run's T) against the same plain passes in int64:
// 19 channels (two vectors and a tail), sums of either sign reaching past 2^29.
TEST(FastPathNeurons, IntegerRunningMaxPoolIn32BitsMatchesThePlainPasses) {
  const int64_t h = 5, w = 7, c = 19, k = 2, oh = h / k, ow = w / k;
  std::mt19937 rng(8);
  std::uniform_int_distribution<int32_t> current(-(1 << 24), 1 << 25);
  std::vector<int32_t> in(static_cast<size_t>(h * w * c)), out(static_cast<size_t>(oh * ow * c)), sum(in.size(), 0),
      prev(out.size(), 0);
  std::vector<int64_t> sum_ref(in.size(), 0), prev_ref(out.size(), 0), out_ref(out.size());
  for (int t = 0; t < 40; ++t) {
    for (size_t i = 0; i < in.size(); ++i) in[i] = i % 3 == 0 ? -current(rng) : current(rng);
    backends::cpu::sparse::running_max_pool(in.data(), sum.data(), prev.data(), out.data(), h, w, c, k, k, oh, ow);
    for (size_t i = 0; i < in.size(); ++i) sum_ref[i] += in[i];
    plain_running_max(sum_ref, prev_ref, out_ref, w, c, k, oh, ow);
    ASSERT_EQ(std::vector<int64_t>(sum.begin(), sum.end()), sum_ref) << "t " << t;
    ASSERT_EQ(std::vector<int64_t>(out.begin(), out.end()), out_ref) << "t " << t;
    ASSERT_EQ(std::vector<int64_t>(prev.begin(), prev.end()), prev_ref) << "t " << t;
  }
  EXPECT_GT(*std::max_element(sum_ref.begin(), sum_ref.end()), int64_t{1} << 29);
  EXPECT_LT(*std::min_element(sum_ref.begin(), sum_ref.end()), -(int64_t{1} << 28));
}

// The dense 8-bit kernel (sparse.h, accumulate_dense8) against a plain convolution written out here,
// over geometries that reach every block shape (1-4 pixels, 8 and 16 output channels), input
// channels not a multiple of 4, padding, stride, dilation, 1x1 and linear layers; and over value
// ranges: spikes, signed payloads, magnitudes that force the int16 sums to be widened after every
// group, and values it must decline.
namespace {
struct DenseCase {
  int64_t cin, cout, h, w, k, stride, pad, dil;
};

// The case's geometry (k = 0: a linear layer of cin inputs).
backends::cpu::sparse::ConvShape conv_of(const DenseCase &dc) {
  backends::cpu::sparse::ConvShape conv;
  if (dc.k == 0) {
    conv.in = {dc.cin, 1, 1};
    conv.out = {dc.cout, 1, 1};
    return conv;
  }
  const int64_t oh = (dc.h + 2 * dc.pad - dc.dil * (dc.k - 1) - 1) / dc.stride + 1;
  const int64_t ow = (dc.w + 2 * dc.pad - dc.dil * (dc.k - 1) - 1) / dc.stride + 1;
  return {{dc.cin, dc.h, dc.w}, {dc.cout, oh, ow}, dc.k, dc.k, dc.stride, dc.stride, dc.pad, dc.pad, dc.dil, dc.dil};
}

std::vector<int32_t> plain_conv(const backends::cpu::sparse::ConvShape &s, const std::vector<int32_t> &in,
                                const std::vector<int32_t> &w, const std::vector<int32_t> &bias) {
  std::vector<int32_t> out(static_cast<size_t>(s.out.size()));
  for (int64_t oy = 0; oy < s.out.h; ++oy)
    for (int64_t ox = 0; ox < s.out.w; ++ox)
      for (int64_t o = 0; o < s.out.c; ++o) {
        int64_t acc = bias[static_cast<size_t>(o)];
        for (int64_t ky = 0; ky < s.kh; ++ky)
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            const int64_t y = oy * s.sh - s.ph + ky * s.dh, x = ox * s.sw - s.pw + kx * s.dw;
            if (y < 0 || x < 0 || y >= s.in.h || x >= s.in.w) continue;
            for (int64_t c = 0; c < s.in.c; ++c)
              acc += static_cast<int64_t>(in[static_cast<size_t>((y * s.in.w + x) * s.in.c + c)]) *
                     w[static_cast<size_t>(((ky * s.kw + kx) * s.in.c + c) * s.out.c + o)];
          }
        out[static_cast<size_t>((oy * s.out.w + ox) * s.out.c + o)] = static_cast<int32_t>(acc);
      }
  return out;
}

// Whether the AVX2-only kernels run here (the tests skip them otherwise, as under NEUROCUDA_CPU_ISA=sse).
bool avx2_kernels() { return std::string(backends::cpu::sparse::kernel_isa()) != "sse"; }

// Weights for the 16-bit kernels: random, each |w| <= 32767 / fan, except output 0's, which sum to
// exactly 32767, and output 1's, which sum to -32767 (the largest magnitudes they take).
std::vector<int32_t> weights_at_16_bits(const backends::cpu::sparse::ConvShape &conv, std::mt19937 &rng) {
  const int64_t fan = conv.kh * conv.kw * conv.in.c;
  std::vector<int32_t> w(static_cast<size_t>(fan * conv.out.c));
  const int32_t cap = static_cast<int32_t>(32767 / fan);
  for (auto &x : w) x = static_cast<int32_t>(rng() % (2 * cap + 1)) - cap;
  for (int64_t i = 0; i < fan; ++i) {
    const auto share = static_cast<int32_t>(32767 / fan + (i < 32767 % fan));
    w[static_cast<size_t>(i * conv.out.c)] = share;
    w[static_cast<size_t>(i * conv.out.c + 1)] = -share;
  }
  return w;
}
} // namespace

TEST(FastPathDense8, MatchesAPlainConvolutionExactly) {
  namespace sp = backends::cpu::sparse;
  if (!avx2_kernels()) GTEST_SKIP() << "the dense 8-bit kernel needs AVX2";
  const DenseCase cases[] = {
      {16, 16, 28, 28, 3, 1, 1, 1}, {13, 8, 7, 9, 3, 1, 1, 1},  {16, 32, 14, 14, 3, 2, 1, 1}, {5, 24, 6, 7, 3, 1, 2, 2},
      {32, 16, 6, 6, 1, 2, 0, 1},   {64, 64, 7, 7, 3, 1, 1, 1}, {3, 8, 5, 11, 5, 1, 2, 1},   {300, 40, 0, 0, 0, 1, 0, 1},
      // AVX-512 VNNI's rows of 6 pixels: the last 2 (with 48 outputs: a block of 32, one of 16) and the last 5
      {16, 48, 8, 8, 3, 1, 1, 1},   {8, 16, 11, 11, 3, 1, 1, 1},
  };
  std::mt19937 rng(21);
  std::uniform_int_distribution<int32_t> weight(-127, 127);
  for (const auto &dc : cases) {
    const sp::ConvShape conv = conv_of(dc);
    std::vector<int32_t> w(static_cast<size_t>(conv.kh * conv.kw * conv.in.c * conv.out.c)), bias(static_cast<size_t>(conv.out.c));
    for (auto &x : w) x = weight(rng);
    for (auto &x : bias) x = weight(rng) * 1000;
    sp::ConvShape shape;
    sp::Dense8Shape g;
    sp::Weights8 packed;
    ASSERT_TRUE(sp::fast_path_shape(dc.k == 0 ? ir::OpKind::Linear : ir::OpKind::Conv2d, conv, 1, w.size(), shape));
    ASSERT_TRUE(sp::dense8_layout(shape, w, g, packed));
    std::vector<int32_t> in(static_cast<size_t>(shape.in.size()));
    // (lo, hi, density): spikes, graded payloads, widening after every group, the largest shift.
    const int32_t ranges[][2] = {{1, 1}, {-3, 5}, {0, 127}, {-64, 63}};
    for (const auto &r : ranges) {
      std::uniform_int_distribution<int32_t> value(r[0], r[1]);
      for (auto &x : in) x = rng() % 3 == 0 ? value(rng) : 0;
      in[0] = r[0];
      in[in.size() - 1] = r[1];
      const auto expected = plain_conv(shape, in, w, bias);
      std::vector<int32_t> out(expected.size(), -7), events_out(expected.size());
      uint64_t ops = 0, event_ops = 0;
      ASSERT_TRUE(sp::accumulate_dense8(g, in.data(), packed.data(), bias.data(), out.data(), &ops, 1e30))
          << "cin " << dc.cin << " range " << r[0] << ".." << r[1];
      EXPECT_EQ(out, expected) << "cin " << dc.cin << " cout " << dc.cout << " k " << dc.k << " range " << r[0] << ".." << r[1];
      sp::Events<int32_t> e;
      sp::collect(in.data(), shape.in, shape.out.c, e);
      sp::accumulate(shape, e, w.data(), bias.data(), events_out.data(), &event_ops);
      EXPECT_EQ(events_out, expected);
      EXPECT_EQ(ops, event_ops) << "synaptic operations counted as the events count them";
      if (r[0] == 1 && r[1] == 1 && shape.in.c % 8 == 0) {  // the same spikes as bits (if_layer_int32's layout)
        std::vector<uint8_t> bits(in.size() / 8, 0);
        for (size_t k = 0; k < in.size(); ++k) bits[k / 8] = static_cast<uint8_t>(bits[k / 8] | (in[k] & 1) << (k % 8));
        std::vector<int32_t> from_bits(expected.size(), -7), poison(in.size(), 99);  // `in` must not be read
        uint64_t bit_ops = 0;
        ASSERT_TRUE(sp::accumulate_dense8(g, poison.data(), packed.data(), bias.data(), from_bits.data(), &bit_ops, 1e30,
                                          1e30, bits.data()));
        EXPECT_EQ(from_bits, expected) << "spikes as bits, cin " << dc.cin;
        EXPECT_EQ(bit_ops, event_ops);
      }
    }
    // Values it cannot take leave the output alone and return false.
    std::vector<int32_t> out(static_cast<size_t>(shape.out.size()), -7);
    for (int32_t bad : {128, -65, std::numeric_limits<int32_t>::min()}) {
      std::fill(in.begin(), in.end(), 1);
      in[in.size() / 2] = bad;
      EXPECT_FALSE(sp::accumulate_dense8(g, in.data(), packed.data(), bias.data(), out.data(), nullptr, 1e30)) << bad;
    }
    // A sparse step at the default cost stays with the events.
    std::fill(in.begin(), in.end(), 0);
    in[0] = 1;
    EXPECT_FALSE(sp::accumulate_dense8(g, in.data(), packed.data(), bias.data(), out.data(), nullptr));
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](int32_t x) { return x == -7; }));
  }
}

// Where the int16 sums must be widened: a lane (maddubs' pair of input channels c % 4 < 2, or the
// other pair) of spikes into weights of 127 over 560 inputs sums to 35,560 and needs it; with the
// weights past input 516 zeroed each lane sums to 32,766, which needs none (the kernel then takes its
// short loop although 150 groups exceed the 129 a general widening allows). Both exact.
TEST(FastPathDense8, WidensExactlyWhereALaneCouldPass16Bits) {
  namespace sp = backends::cpu::sparse;
  if (!avx2_kernels()) GTEST_SKIP() << "the dense 8-bit kernel needs AVX2";
  const int64_t cin = 600, cout = 16;
  sp::ConvShape conv;
  conv.in = {cin, 1, 1};
  conv.out = {cout, 1, 1};
  for (int64_t live : {560, 516}) {
    std::vector<int32_t> w(static_cast<size_t>(cin * cout), 0), bias(static_cast<size_t>(cout), 3), in(static_cast<size_t>(cin), 1);
    for (int64_t c = 0; c < live; ++c)
      for (int64_t o = 0; o < cout; ++o) w[static_cast<size_t>(c * cout + o)] = o % 2 ? 127 : -127;
    sp::Dense8Shape g;
    sp::Weights8 packed;
    ASSERT_TRUE(sp::dense8_layout(conv, w, g, packed));
    EXPECT_EQ(live / 2 * 127, g.lane_abs_weight_sum);
    std::vector<int32_t> out(static_cast<size_t>(cout), 0);
    ASSERT_TRUE(sp::accumulate_dense8(g, in.data(), packed.data(), bias.data(), out.data(), nullptr, 1e30));
    for (int64_t o = 0; o < cout; ++o) EXPECT_EQ(3 + (o % 2 ? 127 : -127) * live, out[static_cast<size_t>(o)]) << live << " output " << o;
  }
}

// The 16-bit spike event kernel (sparse.h, accumulate_spikes16) against the same plain convolution:
// geometries with quads (3-wide, stride 1, 16 and 32 outputs), pairs, single pixels, output counts
// that leave a channel tail (24, 40), stride, padding, dilation, 1x1 and linear layers; weights whose
// magnitudes sum to exactly 32767 for two outputs (one positive, one negative) with every input
// spiking (the largest sums it takes);
// the synaptic operations; its refusals (payloads; a weight or an output's magnitudes past 16 bits).
TEST(FastPathDense8, Spikes16MatchesAPlainConvolutionExactly) {
  namespace sp = backends::cpu::sparse;
  const DenseCase cases[] = {
      {16, 16, 28, 28, 3, 1, 1, 1}, {16, 32, 9, 10, 3, 1, 1, 1}, {13, 24, 7, 9, 3, 1, 1, 1}, {16, 32, 14, 14, 3, 2, 1, 1},
      {5, 40, 6, 7, 3, 1, 2, 2},    {32, 16, 6, 6, 1, 2, 0, 1},  {64, 64, 7, 7, 3, 1, 1, 1}, {300, 48, 0, 0, 0, 1, 0, 1},
  };
  std::mt19937 rng(29);
  for (const auto &dc : cases) {
    const sp::ConvShape conv = conv_of(dc);
    sp::ConvShape shape;
    const std::vector<int32_t> w = weights_at_16_bits(conv, rng);
    std::vector<int32_t> bias(static_cast<size_t>(conv.out.c));
    ASSERT_TRUE(sp::fast_path_shape(dc.k == 0 ? ir::OpKind::Linear : ir::OpKind::Conv2d, conv, 1, w.size(), shape));
    for (auto &x : bias) x = static_cast<int32_t>(rng() % 2000001) - 1000000;
    sp::Weights16 packed;
    ASSERT_TRUE(sp::spikes16_layout(shape, w, packed)) << "cin " << dc.cin;
    std::vector<int32_t> in(static_cast<size_t>(shape.in.size()));
    for (int density : {0, 3, 10}) {  // all spiking, a third, none
      for (auto &x : in) x = density == 0 ? 1 : density == 10 ? 0 : rng() % 3 == 0;
      const auto expected = plain_conv(shape, in, w, bias);
      sp::Events<int32_t> e, e32;
      sp::collect(in.data(), shape.in, shape.out.c, e);
      std::vector<int32_t> out(expected.size(), -7), events_out(expected.size());
      uint64_t ops = 0, event_ops = 0;
      ASSERT_TRUE(sp::accumulate_spikes16(shape, e, packed.data(), bias.data(), out.data(), &ops));
      EXPECT_EQ(out, expected) << "cin " << dc.cin << " cout " << dc.cout << " k " << dc.k << " density " << density;
      sp::collect(in.data(), shape.in, shape.out.c, e32);
      sp::accumulate(shape, e32, w.data(), bias.data(), events_out.data(), &event_ops);
      EXPECT_EQ(ops, event_ops) << "synaptic operations counted as the 32-bit events count them";
    }
    // Payloads are not spikes: refused, output untouched.
    in.assign(in.size(), 0);
    in[0] = 2;
    sp::Events<int32_t> e;
    sp::collect(in.data(), shape.in, shape.out.c, e);
    std::vector<int32_t> out(static_cast<size_t>(shape.out.size()), -7);
    EXPECT_FALSE(sp::accumulate_spikes16(shape, e, packed.data(), bias.data(), out.data(), nullptr));
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](int32_t x) { return x == -7; }));
    // One more unit of magnitude on output 0, or one weight past 16 bits: refused.
    auto heavier = w;
    heavier[0] += 1;
    EXPECT_FALSE(sp::spikes16_layout(shape, heavier, packed));
    auto wide = w;
    wide[1] = 40000;
    EXPECT_FALSE(sp::spikes16_layout(shape, wide, packed));
  }
}

// The column kernel (sparse.h, accumulate_spikes16_columns) against the same plain convolution, its lists
// from spike bits (collect_spikes_columns): stride 1 and 2 on even and odd sizes (a stride-2 layer whose
// last odd column feeds no next output), single rows and columns, 8 to 64 input channels, 16 to 64
// outputs; weights at the 16-bit limit, every input spiking, a third, none; the synaptic operations as the
// 32-bit events count them. The shapes it does not take, and lists of the other order refused.
TEST(FastPathDense8, Spikes16ColumnsMatchAPlainConvolutionExactly) {
  namespace sp = backends::cpu::sparse;
  const DenseCase cases[] = {
      {32, 32, 14, 14, 3, 1, 1, 1}, {16, 16, 9, 10, 3, 1, 1, 1}, {64, 64, 7, 7, 3, 1, 1, 1}, {24, 48, 5, 6, 3, 1, 1, 1},
      {32, 64, 14, 14, 3, 2, 1, 1}, {8, 32, 13, 11, 3, 2, 1, 1}, {16, 16, 1, 7, 3, 1, 1, 1}, {16, 32, 6, 1, 3, 2, 1, 1},
      {8, 16, 2, 2, 3, 2, 1, 1},    {8, 16, 1, 1, 3, 1, 1, 1},
  };
  std::mt19937 rng(43);
  for (const auto &dc : cases) {
    const sp::ConvShape shape = conv_of(dc);
    ASSERT_TRUE(sp::columns_shape(shape)) << "cin " << dc.cin << " cout " << dc.cout << " stride " << dc.stride;
    const std::vector<int32_t> w = weights_at_16_bits(shape, rng);
    std::vector<int32_t> bias(static_cast<size_t>(shape.out.c));
    for (auto &x : bias) x = static_cast<int32_t>(rng() % 2000001) - 1000000;
    sp::Weights16 packed;
    ASSERT_TRUE(sp::spikes16_layout(shape, w, packed));
    std::vector<int32_t> in(static_cast<size_t>(shape.in.size()));
    std::vector<uint8_t> bits(in.size() / 8);
    for (int density : {0, 3, 10}) {  // all spiking, a third, none
      for (auto &x : in) x = density == 0 ? 1 : density == 10 ? 0 : rng() % 3 == 0;
      std::fill(bits.begin(), bits.end(), 0);
      for (size_t k = 0; k < in.size(); ++k) bits[k / 8] |= static_cast<uint8_t>(in[k] << (k % 8));
      const auto expected = plain_conv(shape, in, w, bias);
      sp::Events<int32_t> e, e32;
      ASSERT_TRUE(sp::collect_spikes_columns(bits.data(), shape.in, shape.out.c, e));
      EXPECT_TRUE(e.columns && e.all_ones);
      std::vector<int32_t> out(expected.size(), -7), events_out(expected.size());
      uint64_t ops = 0, event_ops = 0;
      sp::accumulate_spikes16_columns(shape, e, packed.data(), bias.data(), out.data(), &ops);
      EXPECT_EQ(out, expected) << "cin " << dc.cin << " cout " << dc.cout << " " << dc.h << "x" << dc.w << " stride "
                               << dc.stride << " density " << density;
      sp::collect(in.data(), shape.in, shape.out.c, e32);
      sp::accumulate(shape, e32, w.data(), bias.data(), events_out.data(), &event_ops);
      EXPECT_EQ(ops, event_ops) << "synaptic operations counted as the 32-bit events count them";
      // Column-order lists are for the column kernel only.
      EXPECT_THROW(sp::accumulate_spikes16(shape, e, packed.data(), bias.data(), events_out.data(), nullptr), InternalError);
      EXPECT_THROW(sp::accumulate_spikes16_columns(shape, e32, packed.data(), bias.data(), events_out.data(), nullptr),
                   InternalError);
    }
  }
  const DenseCase others[] = {
      {16, 16, 9, 9, 5, 1, 2, 1}, {16, 16, 9, 9, 3, 1, 0, 1}, {16, 16, 9, 9, 3, 1, 2, 2},
      {16, 16, 9, 9, 3, 3, 1, 1}, {12, 16, 9, 9, 3, 1, 1, 1}, {16, 24, 9, 9, 3, 1, 1, 1},
      {16, 80, 9, 9, 3, 1, 1, 1}, {16, 16, 9, 9, 1, 1, 0, 1}, {300, 48, 0, 0, 0, 1, 0, 1},
  };
  for (const auto &dc : others)
    EXPECT_FALSE(sp::columns_shape(conv_of(dc))) << "k " << dc.k << " pad " << dc.pad << " dil " << dc.dil << " stride "
                                                 << dc.stride << " cin " << dc.cin << " cout " << dc.cout;
}

// The table-lookup spike kernel (sparse.h, accumulate_spikes_lut) against the same plain convolution:
// input channels 1-16 (groups of four, partly filled; 13-16 in three groups), 16-48 outputs, stride, padding, dilation, 1x1;
// output 0's weights summing to exactly 32767 and output 1's to -32767 with every input spiking
// (the largest sums it takes); the synaptic operations; its refusals (payloads and other values, a
// sparse step the events do for less, layouts past its limits).
TEST(FastPathDense8, SpikeTablesMatchAPlainConvolutionExactly) {
  namespace sp = backends::cpu::sparse;
  if (!avx2_kernels()) GTEST_SKIP() << "the table kernel needs AVX2";
  const DenseCase cases[] = {
      {16, 16, 28, 28, 3, 1, 1, 1}, {16, 32, 14, 14, 3, 2, 1, 1}, {16, 32, 6, 10, 3, 1, 1, 1}, {16, 16, 9, 9, 3, 2, 1, 1},
      {16, 48, 11, 11, 3, 2, 1, 1}, {16, 16, 9, 9, 3, 3, 1, 1}, {16, 16, 40, 40, 3, 2, 1, 1}, {16, 32, 14, 14, 1, 2, 0, 1}, {13, 48, 7, 9, 3, 1, 1, 1},
      {8, 16, 9, 10, 3, 1, 2, 2},   {5, 16, 6, 7, 3, 2, 0, 1},    {1, 16, 5, 5, 3, 1, 1, 1},   {12, 32, 6, 5, 2, 1, 1, 1},
  };
  std::mt19937 rng(31);
  for (const auto &dc : cases) {
    const sp::ConvShape conv = conv_of(dc);
    const std::vector<int32_t> w = weights_at_16_bits(conv, rng);
    std::vector<int32_t> bias(static_cast<size_t>(conv.out.c));
    for (auto &x : bias) x = static_cast<int32_t>(rng() % 2000001) - 1000000;
    sp::LutShape g;
    ASSERT_TRUE(sp::lut_layout(conv, w, g)) << "cin " << dc.cin << " cout " << dc.cout;
    // Groups of four channels, or for 13-16 channels three (5, 5 and 6 channels: LutShape::wide).
    EXPECT_EQ(dc.cin > 12, g.wide);
    EXPECT_EQ(conv.out.h * conv.out.w * conv.kh * conv.kw * (dc.cin > 12 ? 3 : (dc.cin + 3) / 4) * (dc.cout / 16), g.lookups);
    std::vector<int32_t> in(static_cast<size_t>(conv.in.size()));
    for (int density : {0, 3}) {  // all spiking, a third (no spikes at all: the events, below)
      for (auto &x : in) x = density == 0 ? 1 : rng() % 3 == 0;
      const auto expected = plain_conv(conv, in, w, bias);
      std::vector<int32_t> out(expected.size(), -7), events_out(expected.size());
      uint64_t ops = 0, event_ops = 0;
      ASSERT_TRUE(sp::accumulate_spikes_lut(g, in.data(), bias.data(), out.data(), &ops, 1e30));
      EXPECT_EQ(out, expected) << "cin " << dc.cin << " cout " << dc.cout << " k " << dc.k << " density " << density;
      if (density == 0) {
        EXPECT_EQ(bias[0] + 32767, out[(conv.out.h / 2 * conv.out.w + conv.out.w / 2) * conv.out.c]) << "an inner pixel sees every weight";
      }
      sp::Events<int32_t> e;
      sp::collect(in.data(), conv.in, conv.out.c, e);
      sp::accumulate(conv, e, w.data(), bias.data(), events_out.data(), &event_ops);
      EXPECT_EQ(ops, event_ops) << "synaptic operations counted as the events count them";
      if (dc.cin % 8 == 0) {  // the same spikes given as bits (if_layer_int32's layout): the same step
        std::vector<uint8_t> bits(in.size() / 8, 0);
        for (size_t k = 0; k < in.size(); ++k) bits[k / 8] = static_cast<uint8_t>(bits[k / 8] | in[k] << (k % 8));
        const std::vector<int32_t> garbage(in.size(), 7);  // not read when the bits are given
        std::vector<int32_t> from_bits(expected.size(), -7);
        uint64_t bit_ops = 0;
        ASSERT_TRUE(sp::accumulate_spikes_lut(g, garbage.data(), bias.data(), from_bits.data(), &bit_ops, 1e30, bits.data()));
        EXPECT_EQ(from_bits, expected);
        EXPECT_EQ(bit_ops, ops);
      }
    }
    // Values that are not spikes, or a step the events do for less (the default cost): refused, output untouched.
    // (At the first pixel, which every layout reads: pixels no output reads, such as odd rows under a 1x1
    // stride-2 kernel, are not looked at.)
    std::vector<int32_t> out(static_cast<size_t>(conv.out.size()), -7);
    for (int32_t bad : {2, -1, std::numeric_limits<int32_t>::min() + 1}) {
      std::fill(in.begin(), in.end(), 1);
      in[0] = bad;
      EXPECT_FALSE(sp::accumulate_spikes_lut(g, in.data(), bias.data(), out.data(), nullptr, 1e30)) << bad;
    }
    std::fill(in.begin(), in.end(), 0);
    in[0] = 1;
    EXPECT_FALSE(sp::accumulate_spikes_lut(g, in.data(), bias.data(), out.data(), nullptr));
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](int32_t x) { return x == -7; }));
    // One more unit of magnitude on output 0: refused.
    auto heavier = w;
    heavier[0] += 1;
    EXPECT_FALSE(sp::lut_layout(conv, heavier, g));
  }
  // Past 16 input channels, outputs not a multiple of 16, or a table past 36 KiB (5x5 taps of 16 channels).
  sp::LutShape g;
  for (const DenseCase &dc : {DenseCase{17, 16, 6, 6, 3, 1, 1, 1}, DenseCase{16, 24, 6, 6, 3, 1, 1, 1}, DenseCase{16, 16, 9, 9, 5, 1, 2, 1}}) {
    const sp::ConvShape conv = conv_of(dc);
    EXPECT_FALSE(sp::lut_layout(conv, std::vector<int32_t>(static_cast<size_t>(conv.kh * conv.kw * dc.cin * dc.cout), 1), g))
        << dc.cin << " " << dc.cout << " " << dc.k;
  }
}

TEST(FastPathDense8, LayoutRefusesWeightsPast127AndOddOutputCounts) {
  namespace sp = backends::cpu::sparse;
  sp::ConvShape s{{4, 3, 3}, {8, 3, 3}, 3, 3, 1, 1, 1, 1, 1, 1};
  std::vector<int32_t> w(static_cast<size_t>(9 * 4 * 8), 1);
  sp::Dense8Shape g;
  sp::Weights8 packed;
  EXPECT_TRUE(sp::dense8_layout(s, w, g, packed));
  w[5] = 128;
  EXPECT_FALSE(sp::dense8_layout(s, w, g, packed));
  w[5] = -128;
  EXPECT_FALSE(sp::dense8_layout(s, w, g, packed));
  s.out.c = 12;
  std::vector<int32_t> w12(static_cast<size_t>(9 * 4 * 12), 1);
  EXPECT_FALSE(sp::dense8_layout(s, w12, g, packed));
}
