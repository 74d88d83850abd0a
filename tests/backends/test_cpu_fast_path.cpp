// SPDX-License-Identifier: MIT
// The CPU fast path (backends/cpu/sparse.h) against the plain scatter of "cpu-reference", bit for bit, over
// convolution geometries that exercise every kernel shape: output channels below, at and across vector
// widths (tails), more than 64 spiking input channels, strides, padding, dilation, 1x1 kernels, binary
// spike inputs and graded (average-pooled) inputs, in fp32 and both integer modes. The bundled models are compared the same way end to end in
// tests/e2e/test_bundled_models.py.
#include <gtest/gtest.h>

#include "neurocuda/backend.h"
#include "../unit/test_graphs.h"
#include "expect_same_run.h"

using namespace neurocuda;

namespace {

struct Geometry {
  int64_t cout, k, stride, pad, dil;
  int64_t cin = 6;  // spiking channels into the geometry's conv (> 64: the merge's per-count copy)
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

RunResult run(const char *backend, const ir::Graph &g, Precision p, const std::vector<float> &x, int64_t n) {
  CompileOptions c;
  c.precision = p;
  RunOptions o;
  o.checkpoints = {5, 24};
  o.threads = 2;
  o.record_trace = true;
  o.channel_spikes = true;
  return get_backend(backend).compile(g, c)->run(Batch{x.data(), n, {3, 12, 12}}, o);
}

} // namespace

class FastPath : public ::testing::TestWithParam<std::tuple<Geometry, Precision>> {};

TEST_P(FastPath, BitIdenticalToReference) {
  const auto &[geo, precision] = GetParam();
  const auto g = net(geo);
  const int64_t n = 4;
  const auto x = test::random_values(static_cast<size_t>(n * 3 * 12 * 12), 41, 0.0f, 1.0f);
  const auto fast = run("cpu", g, precision, x, n);
  const auto ref = run("cpu-reference", g, precision, x, n);
  test::expect_same_run(fast, ref, get_backend("cpu").compile(g, {})->layers(), 24);
  EXPECT_EQ(fast.readout_exact, ref.readout_exact);
  EXPECT_EQ(fast.channel_spikes, ref.channel_spikes);
  // The comparison means something only if every population spiked (spikes are [checkpoint][layer]).
  const size_t layers = 3;
  ASSERT_EQ(ref.spikes.size(), 2 * layers);
  for (size_t l = 0; l < layers; ++l) EXPECT_GT(ref.spikes[layers + l], 0u) << "layer " << l;
  // Per-channel counts (bias correction measures rates with them, in every numeric mode) cover the run.
  ASSERT_EQ(ref.channel_spikes.size(), layers);
  for (size_t l = 0; l < layers; ++l) {
    uint64_t sum = 0;
    for (uint64_t c : ref.channel_spikes[l]) sum += c;
    EXPECT_EQ(sum, ref.spikes[layers + l]) << "layer " << l;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, FastPath,
    ::testing::Combine(::testing::Values(Geometry{13, 3, 1, 1, 1},   // tail only (fp32: 8 + 5)
                                         Geometry{8, 3, 1, 2, 2},    // one vector, dilation
                                         Geometry{75, 5, 2, 2, 1},   // 64 + 8 + 3, stride 2, 5x5
                                         Geometry{40, 1, 1, 0, 1},   // 32 + 8, 1x1
                                         Geometry{24, 3, 1, 1, 1, 70}),  // 70 spiking input channels
                       ::testing::Values(Precision::Fp32, Precision::Int8, Precision::Int16)),
    [](const auto &info) {
      const auto &geo = std::get<0>(info.param);
      return "i" + std::to_string(geo.cin) + "c" + std::to_string(geo.cout) + "k" + std::to_string(geo.k) + "s" + std::to_string(geo.stride) + "d" +
             std::to_string(geo.dil) + "_" + precision_name(std::get<1>(info.param));
    });
