// SPDX-License-Identifier: MIT
// Lowering of every operator form, scripted and traced: the lowered IR, run as an ANN on the CPU
// backend (T = 1, ReLU kept), must reproduce LibTorch's output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "neurocuda/backend.h"
#include "neurocuda/error.h"
#include "neurocuda/frontend/torch_model.h"
#include "neurocuda/passes/fold_batchnorm.h"
#include "neurocuda/passes/pipeline.h"

using namespace neurocuda;

namespace {

std::vector<float> inputs(int64_t n, int64_t per) {
  std::vector<float> x(static_cast<size_t>(n * per));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f;
  return x;
}

size_t count(const ir::Graph &g, ir::OpKind k) {
  return static_cast<size_t>(std::count_if(g.nodes().begin(), g.nodes().end(), [&](const ir::Node &n) { return n.kind == k; }));
}

// Runs the lowered graph as an ANN and compares with LibTorch. Tolerance: both are fp32 but sum
// in different orders, so agreement is to float rounding of the largest logit (1e-4 relative).
void expect_matches_torch(const std::string &file, const ir::Shape &shape, ir::Graph *out = nullptr) {
  auto model = frontend::TorchModel::load_file(file);
  auto graph = model.lower(shape);
  ir::verify(graph);
  passes::fold_batchnorm(graph, {});
  const int64_t n = 4, per = ir::numel(shape);
  const auto x = inputs(n, per);
  int64_t classes = 0;
  const auto ref = model.forward(x.data(), n, shape, &classes);
  auto program = get_backend("cpu").compile(graph, {});
  RunOptions opts;
  opts.checkpoints = {1};
  const auto r = program->run(Batch{x.data(), n, shape}, opts);
  ASSERT_EQ(r.readout.size(), ref.size());
  float scale = 0;
  for (float v : ref) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(r.readout[i], ref[i], 1e-4f * std::max(scale, 1.0f)) << file << " @" << i;
  if (out) *out = std::move(graph);
}

const std::string kFixtures = NEUROCUDA_FIXTURE_DIR;

} // namespace

class Lowering : public ::testing::TestWithParam<std::string> {};

TEST_P(Lowering, ConvFormsMatchTorch) {
  ir::Graph g;
  expect_matches_torch(kFixtures + "/conv_forms_" + GetParam() + ".pt", {1, 12, 12}, &g);
  EXPECT_EQ(count(g, ir::OpKind::Conv2d), 4u);
  EXPECT_EQ(count(g, ir::OpKind::Relu), 4u);
  EXPECT_EQ(count(g, ir::OpKind::MaxPool2d), 1u);
  EXPECT_EQ(count(g, ir::OpKind::AvgPool2d), 1u);
  EXPECT_EQ(count(g, ir::OpKind::AdaptiveAvgPool2d), 1u);
  EXPECT_EQ(count(g, ir::OpKind::Cat), 1u);
  EXPECT_EQ(count(g, ir::OpKind::Add), 1u);
  EXPECT_EQ(count(g, ir::OpKind::Flatten), 1u);
  for (const auto &n : g.nodes())
    if (n.kind == ir::OpKind::Conv2d && n.attr_ints("groups")[0] == 2) {
      EXPECT_EQ(n.attr_ints("dilation"), (std::vector<int64_t>{2, 2}));
    }
}

TEST_P(Lowering, LinearFormsAddmmMatmulReshapeDropout) {
  ir::Graph g;
  expect_matches_torch(kFixtures + "/linear_forms_" + GetParam() + ".pt", {1, 12, 12}, &g);
  EXPECT_EQ(count(g, ir::OpKind::Linear), 2u);  // addmm and matmul + bias
  EXPECT_EQ(count(g, ir::OpKind::Add), 0u);     // the bias add folded into the matmul's linear
}

TEST_P(Lowering, UnfoldedBatchNormAndShapeGuard) {
  ir::Graph g;
  expect_matches_torch(kFixtures + "/bn_kept_" + GetParam() + ".pt", {1, 12, 12}, &g);
}

TEST_P(Lowering, ClippedActivationsBecomeIfWithTheBoundAsThreshold) {
  ir::Graph g;
  expect_matches_torch(kFixtures + "/clamp_forms_" + GetParam() + ".pt", {1, 12, 12}, &g);
  std::vector<double> bounds;
  for (const auto &n : g.nodes())
    if (n.kind == ir::OpKind::Relu) bounds.push_back(n.floats.count("bound") ? n.floats.at("bound") : -1.0);
  EXPECT_EQ(bounds, (std::vector<double>{6.0, 2.0, 1.5, -1.0, 6.0}));  // clamp(min=0) is a plain relu
  passes::run_pre_calibration(g, {});
  std::vector<float> thresholds;
  for (const auto &n : g.nodes())
    if (n.kind == ir::OpKind::IF) {
      EXPECT_EQ(n.floats.count("threshold_fixed"), n.attr_tensor("threshold").data[0] > 0 ? 1u : 0u) << n.name;
      thresholds.push_back(n.attr_tensor("threshold").data[0]);
    }
  EXPECT_EQ(thresholds, (std::vector<float>{6.0f, 2.0f, 1.5f, 0.0f, 6.0f}));  // 0: left to calibration
}

TEST_P(Lowering, QcfsBecomesIfWithThresholdLambdaAndIsExactAtTEqualsL) {
  auto model = frontend::TorchModel::load_file(kFixtures + "/qcfs_" + GetParam() + ".pt");
  const ir::Shape shape{1, 12, 12};
  auto g = model.lower(shape);
  ASSERT_EQ(count(g, ir::OpKind::Relu), 1u);
  for (const auto &n : g.nodes())
    if (n.kind == ir::OpKind::Relu) {
      EXPECT_DOUBLE_EQ(n.floats.at("bound"), 2.0);
      EXPECT_DOUBLE_EQ(n.floats.at("v0"), 0.5);
      EXPECT_DOUBLE_EQ(n.floats.at("qcfs_levels"), 8.0);
    }
  // No calibration: the threshold is lambda. At T = L one IF layer reproduces the quantized activation.
  passes::run_pre_calibration(g, {});
  passes::run_post_calibration(g, {});
  const int64_t n = 16, per = ir::numel(shape);
  const auto x = inputs(n, per);
  int64_t classes = 0;
  const auto ref = model.forward(x.data(), n, shape, &classes);
  RunOptions opts;
  opts.checkpoints = {8};
  const auto r = get_backend("cpu").compile(g, {})->run(Batch{x.data(), n, shape}, opts);
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(r.readout[i] / 8.0f, ref[i], 1e-4f) << i;
}

TEST_P(Lowering, NegativeOutputsHaveNoSpikingMapping) {
  auto model = frontend::TorchModel::load_file(kFixtures + "/negative_clamp_" + GetParam() + ".pt");
  try {
    model.lower({1, 12, 12});
    FAIL() << "expected a UserError";
  } catch (const UserError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("aten::hardtanh"), std::string::npos) << msg;
    EXPECT_NE(msg.find("negative outputs"), std::string::npos) << msg;
    // A traced graph records only the innermost Python frame, which for F.hardtanh is torch's own
    // functional.py; the scripted graph keeps the user's call site.
    if (GetParam() == std::string("script")) {
      EXPECT_NE(msg.find("make_test_models.py:"), std::string::npos) << msg;
    }
  }
}

TEST_P(Lowering, UnsupportedOperatorNamesOperatorAndSourceLine) {
  auto model = frontend::TorchModel::load_file(kFixtures + "/unsupported_gelu_" + GetParam() + ".pt");
  try {
    model.lower({1, 12, 12});
    FAIL() << "expected UserError";
  } catch (const UserError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("aten::gelu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("make_test_models.py:"), std::string::npos) << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(ScriptedAndTraced, Lowering, ::testing::Values("script", "trace"));

TEST(Lowering, BundledModelsMatchTorch) {
  ir::Graph vgg, resnet;
  expect_matches_torch(std::string(NEUROCUDA_MODELS_DIR) + "/vgg_small.pt", {1, 28, 28}, &vgg);
  expect_matches_torch(std::string(NEUROCUDA_MODELS_DIR) + "/resnet_small.pt", {1, 28, 28}, &resnet);
  EXPECT_EQ(count(vgg, ir::OpKind::BatchNorm), 0u);  // folded by freezing
  EXPECT_EQ(count(resnet, ir::OpKind::Add), 3u);     // `out += identity` in each block
}

TEST(Lowering, WrongInputShapeNamesBothShapes) {
  auto model = frontend::TorchModel::load_file(std::string(NEUROCUDA_MODELS_DIR) + "/vgg_small.pt");
  try {
    model.lower({3, 32, 32});
    FAIL();
  } catch (const UserError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[3, 32, 32]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[16, 1, 3, 3]"), std::string::npos) << msg;
  }
}

TEST(Loading, CorruptAndNonTorchScriptFilesAreUserErrors) {
  EXPECT_THROW(frontend::TorchModel::load_file(kFixtures + "/not_torchscript.pt"), UserError);
  EXPECT_THROW(frontend::TorchModel::load_file(kFixtures + "/does_not_exist.pt"), UserError);
}
