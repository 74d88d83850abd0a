// SPDX-License-Identifier: MIT
// Conversion passes on graphs built in code.
#include <gtest/gtest.h>

#include "neurocuda/error.h"
#include "neurocuda/passes/fold_batchnorm.h"
#include "neurocuda/passes/fold_thresholds.h"
#include "neurocuda/passes/lower_activations.h"
#include "neurocuda/passes/move_maxpool_before_relu.h"
#include "neurocuda/passes/pipeline.h"
#include "test_graphs.h"

using namespace neurocuda;

namespace {
const passes::PassContext kCtx{true, ""};

const ir::Node &find(const ir::Graph &g, ir::OpKind kind, int nth = 0) {
  for (const auto &n : g.nodes())
    if (n.kind == kind && nth-- == 0) return n;
  throw std::runtime_error("node not found");
}
} // namespace

TEST(FoldBatchnorm, FoldsIntoPrecedingConv) {
  ir::Graph g;
  int x = test::add_input(g, {1, 4, 4});
  x = test::append(g, test::conv_node(x, 2, 1, 3, 3));
  const auto w0 = g.nodes()[1].tensors["weight"].data;
  const auto b0 = g.nodes()[1].tensors["bias"].data;
  auto bn = test::unary(ir::OpKind::BatchNorm, x, "bn");
  bn.tensors["scale"] = {{2}, {2.0f, -0.5f}};
  bn.tensors["shift"] = {{2}, {0.25f, 1.0f}};
  x = test::append(g, bn);
  g.set_output(x);
  passes::fold_batchnorm(g, kCtx);
  ir::verify(g);
  ASSERT_EQ(g.nodes().size(), 2u);
  const auto &conv = g.nodes()[1];
  EXPECT_EQ(conv.attr_tensor("weight").data[0], w0[0] * 2.0f);
  EXPECT_EQ(conv.attr_tensor("weight").data[9], w0[9] * -0.5f);
  EXPECT_EQ(conv.attr_tensor("bias").data[0], b0[0] * 2.0f + 0.25f);
  EXPECT_EQ(conv.attr_tensor("bias").data[1], b0[1] * -0.5f + 1.0f);
  EXPECT_EQ(g.output(), conv.output);
}

TEST(MoveMaxpool, SwapsReluAndPoolKeepingTheAnnValueName) {
  auto g = test::tiny_cnn();
  passes::move_maxpool_before_relu(g, kCtx);
  ir::verify(g);
  EXPECT_EQ(g.nodes()[2].kind, ir::OpKind::MaxPool2d);
  EXPECT_EQ(g.nodes()[3].kind, ir::OpKind::Relu);
  EXPECT_EQ(g.value(g.nodes()[3].output).name, "p1");  // relu(pool(x)) equals the ANN's pool(relu(x))
  EXPECT_EQ(g.value(g.nodes()[2].output).name, "");
  EXPECT_EQ(g.value(g.nodes()[3].output).shape, (ir::Shape{4, 3, 3}));
}

TEST(LowerActivations, ReluBecomesIfWithHalfThresholdStart) {
  auto g = test::tiny_cnn();
  passes::lower_activations(g, kCtx);
  const auto &n = find(g, ir::OpKind::IF);
  EXPECT_EQ(n.floats.at("v0"), 0.5);
  EXPECT_EQ(n.attr_tensor("threshold").shape, (ir::Shape{4}));
  EXPECT_THROW(find(g, ir::OpKind::Relu), std::runtime_error);
}

TEST(FoldThresholds, ScalesWeightsIntoAndOutOfEachPopulation) {
  auto g = test::tiny_cnn();
  passes::run_pre_calibration(g, kCtx);
  auto &pop = const_cast<ir::Node &>(find(g, ir::OpKind::IF));
  const std::vector<float> theta{1.0f, 2.0f, 4.0f, 0.5f};
  pop.tensors["threshold"].data = theta;
  const auto conv_w = find(g, ir::OpKind::Conv2d).attr_tensor("weight").data;
  const auto conv_b = find(g, ir::OpKind::Conv2d).attr_tensor("bias").data;
  const auto fc_w = find(g, ir::OpKind::Linear).attr_tensor("weight").data;
  const auto fc_b = find(g, ir::OpKind::Linear).attr_tensor("bias").data;
  passes::run_post_calibration(g, kCtx);
  ir::verify(g);
  const auto &cw = find(g, ir::OpKind::Conv2d).attr_tensor("weight").data;
  const auto &cb = find(g, ir::OpKind::Conv2d).attr_tensor("bias").data;
  for (size_t o = 0; o < 4; ++o) {
    for (size_t k = 0; k < 9; ++k) EXPECT_FLOAT_EQ(cw[o * 9 + k], conv_w[o * 9 + k] / theta[o]);
    EXPECT_FLOAT_EQ(cb[o], conv_b[o] / theta[o]);
  }
  const auto &fw = find(g, ir::OpKind::Linear).attr_tensor("weight").data;
  for (size_t o = 0; o < 3; ++o)
    for (size_t f = 0; f < 36; ++f) EXPECT_FLOAT_EQ(fw[o * 36 + f], fc_w[o * 36 + f] * theta[f / 9]);  // CHW flatten
  EXPECT_EQ(find(g, ir::OpKind::Linear).attr_tensor("bias").data, fc_b);  // readout stays in ANN units
  EXPECT_EQ(find(g, ir::OpKind::IF).attr_tensor("calibrated_threshold").data, theta);
  EXPECT_FALSE(find(g, ir::OpKind::IF).has_tensor("threshold"));
}

TEST(FoldThresholds, ResidualAddGetsRatioOfThresholds) {
  ir::Graph g;
  int x = test::add_input(g, {1, 4, 4});
  int a = test::append(g, test::conv_node(x, 2, 1, 3, 3, 3));
  a = test::append(g, test::unary(ir::OpKind::Relu, a, "ra"));
  g.value(a).name = "ra";
  int b = test::append(g, test::conv_node(a, 2, 2, 3, 3, 4));
  ir::Node add;
  add.kind = ir::OpKind::Add;
  add.name = "add";
  add.inputs = {b, a};
  int c = test::append(g, add);
  c = test::append(g, test::unary(ir::OpKind::Relu, c, "rc"));
  g.value(c).name = "rc";
  c = test::append(g, test::unary(ir::OpKind::Flatten, c, "flat"));
  g.set_output(test::append(g, test::linear_node(c, 2, 32)));
  passes::run_pre_calibration(g, kCtx);
  const_cast<ir::Node &>(find(g, ir::OpKind::IF, 0)).tensors["threshold"].data = {2.0f, 3.0f};
  const_cast<ir::Node &>(find(g, ir::OpKind::IF, 1)).tensors["threshold"].data = {4.0f, 1.5f};
  passes::run_post_calibration(g, kCtx);
  const auto &sum = find(g, ir::OpKind::Add);
  EXPECT_EQ(sum.attr_tensor("coeff0").data, (std::vector<float>{1.0f, 1.0f}));  // conv output already in units of rc
  EXPECT_EQ(sum.attr_tensor("coeff1").data, (std::vector<float>{0.5f, 2.0f}));  // theta_ra / theta_rc
}

TEST(FoldThresholds, ReadoutMustBeALayer) {
  auto g = test::tiny_cnn();
  int r = test::append(g, test::unary(ir::OpKind::Relu, g.output(), "last_relu"));
  g.value(r).name = "lr";
  g.set_output(r);
  passes::run_pre_calibration(g, kCtx);
  for (auto &n : g.nodes())
    if (n.kind == ir::OpKind::IF) std::fill(n.tensors["threshold"].data.begin(), n.tensors["threshold"].data.end(), 1.0f);
  EXPECT_THROW(passes::run_post_calibration(g, kCtx), UserError);
}
