// SPDX-License-Identifier: MIT
// Integer quantization: ranges, exact thresholds, per-tensor readout, pool and add multipliers.
#include <gtest/gtest.h>

#include <cmath>

#include "neurocuda/error.h"
#include "neurocuda/quantize/quantize.h"
#include "test_graphs.h"

using namespace neurocuda;

namespace {
const quant::QNode &find(const quant::QGraph &q, ir::OpKind kind, int nth = 0) {
  for (const auto &n : q.nodes)
    if (n.kind == kind && nth-- == 0) return n;
  throw std::runtime_error("node not found");
}
} // namespace

TEST(Quantize, WeightsFitAndThresholdIsExactPerChannel) {
  auto g = test::spiking_net();
  g.nodes()[0].floats["min"] = 0.0;
  g.nodes()[0].floats["max"] = 1.0;
  for (int bits : {8, 16}) {
    const auto q = quant::quantize(g, bits);
    const int64_t qmax = (int64_t{1} << (bits - 1)) - 1;
    EXPECT_DOUBLE_EQ(q.input_scale, 1.0 / 255.0);
    const auto &conv = find(q, ir::OpKind::Conv2d, 1);  // spikes in: unit 1
    const auto &w = g.nodes()[3].attr_tensor("weight");
    const auto &pop = find(q, ir::OpKind::IF, 1);       // after conv -> maxpool
    const int64_t per_out = ir::numel(w.shape) / w.shape[0];
    for (int64_t o = 0; o < w.shape[0]; ++o) {
      double m = 0;
      for (int64_t k = 0; k < per_out; ++k) m = std::max(m, std::fabs(static_cast<double>(w.data[static_cast<size_t>(o * per_out + k)])));
      const auto theta = static_cast<int64_t>(std::floor(static_cast<double>(qmax) / m));
      EXPECT_EQ(pop.threshold[static_cast<size_t>(o)], theta) << bits << " bits, channel " << o;
      EXPECT_EQ(pop.v0[static_cast<size_t>(o)], std::llround(0.5 * static_cast<double>(theta)));
      for (int64_t k = 0; k < per_out; ++k) {
        const int32_t qi = conv.weight[static_cast<size_t>(o * per_out + k)];
        EXPECT_LE(std::abs(qi), qmax);
        EXPECT_NEAR(static_cast<double>(qi) / static_cast<double>(theta), w.data[static_cast<size_t>(o * per_out + k)],
                    0.5 / static_cast<double>(theta) + 1e-9);
      }
    }
  }
}

TEST(Quantize, ReadoutSharesOneUnitAcrossClasses) {
  const auto q = quant::quantize(test::tiny_cnn_converted(), 8);
  const auto &fc = q.nodes.back();
  ASSERT_EQ(fc.output, q.output);
  int32_t biggest = 0;
  for (auto w : fc.weight) biggest = std::max(biggest, std::abs(w));
  EXPECT_GE(biggest, 64);  // per tensor: the largest weight of the layer uses the range
  EXPECT_GT(q.readout_unit, 0.0);
}

TEST(Quantize, AveragePoolDivisorsBecomeExactMultipliers) {
  ir::Graph g;
  int x = test::add_input(g, {1, 5, 5});
  x = test::append(g, test::conv_node(x, 2, 1, 3, 3));
  x = test::append(g, test::unary(ir::OpKind::IF, x, "if"));
  auto pool = test::unary(ir::OpKind::AvgPool2d, x, "pool");
  pool.ints = {{"kernel", {2, 2}}, {"stride", {2, 2}}, {"padding", {0, 0}}, {"ceil_mode", {1}},
               {"count_include_pad", {0}}, {"divisor_override", {0}}};
  x = test::append(g, pool);  // 3x3 output: windows of 4, 2 (edges) and 1 (corner)
  x = test::append(g, test::unary(ir::OpKind::Flatten, x, "flat"));
  g.set_output(test::append(g, test::linear_node(x, 2, 18)));
  const auto q = quant::quantize(g, 8);
  const auto &p = find(q, ir::OpKind::AvgPool2d);
  EXPECT_EQ(p.pool_multiplier, (std::vector<int64_t>{1, 1, 2, 1, 1, 2, 2, 2, 4}));  // lcm 4 / divisor
}

TEST(Quantize, AddMultipliersScaleShortcutIntoTheBranchUnit) {
  const auto q = quant::quantize(test::spiking_net(), 16);
  const auto &add = find(q, ir::OpKind::Add);
  ASSERT_EQ(add.multiplier.size(), 2u);
  for (size_t c = 0; c < 4; ++c) EXPECT_EQ(add.multiplier[0][c], 1);
  // Shortcut spikes (unit 1) in units of the branch: coeff1 x theta of the population the add drives.
  const std::vector<double> coeff1{0.75, 1.0, 0.25, 1.5};
  const auto &pop = find(q, ir::OpKind::IF, 2);
  for (size_t c = 0; c < 4; ++c) {
    EXPECT_NEAR(static_cast<double>(add.multiplier[1][c]), coeff1[c] * static_cast<double>(pop.threshold[c]), 0.5 + 1e-9);
  }
}

TEST(Quantize, UnfoldedBatchNormIsAUserError) {
  ir::Graph g;
  int x = test::add_input(g, {1, 4, 4});
  auto bn = test::unary(ir::OpKind::BatchNorm, x, "bn");
  bn.tensors["scale"] = {{1}, {2.0f}};
  bn.tensors["shift"] = {{1}, {0.0f}};
  x = test::append(g, bn);
  x = test::append(g, test::unary(ir::OpKind::Flatten, x, "flat"));
  g.set_output(test::append(g, test::linear_node(x, 2, 16)));
  EXPECT_THROW(quant::quantize(g, 8), UserError);
  EXPECT_THROW(quant::quantize(test::spiking_net(), 4), UserError);
}

TEST(Quantize, InputUsesSignedRangeForNegativeData) {
  auto g = test::spiking_net();
  g.nodes()[0].floats["min"] = -2.0;
  g.nodes()[0].floats["max"] = 1.0;
  const auto q = quant::quantize(g, 8);
  EXPECT_EQ(q.input_min, -127);
  EXPECT_EQ(q.input_max, 127);
  EXPECT_EQ(quant::quantize_input(q, -2.0f), -127);
  EXPECT_EQ(quant::quantize_input(q, 5.0f), 127);  // clamped
  EXPECT_EQ(quant::quantize_input(q, 0.0f), 0);
}
