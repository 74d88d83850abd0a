// SPDX-License-Identifier: MIT
// IR: shape inference, dump, verify.
#include <gtest/gtest.h>

#include "neurocuda/error.h"
#include "neurocuda/ir/graph.h"
#include "test_graphs.h"

using namespace neurocuda;

TEST(Graph, ConvShapeFollowsStridePaddingDilationGroups) {
  ir::Graph g;
  int x = test::add_input(g, {4, 11, 9});
  auto n = test::conv_node(x, 6, 2, 3, 3);
  n.ints["stride"] = {2, 1};
  n.ints["padding"] = {1, 0};
  n.ints["dilation"] = {1, 2};
  n.ints["groups"] = {2};
  // H: (11 + 2 - 3) / 2 + 1 = 6; W: (9 - 5) / 1 + 1 = 5
  EXPECT_EQ(ir::infer_shape(g, n), (ir::Shape{6, 6, 5}));
}

TEST(Graph, ConvChannelMismatchIsUserErrorNamingShapes) {
  ir::Graph g;
  int x = test::add_input(g, {3, 8, 8});
  auto n = test::conv_node(x, 4, 1, 3, 3);
  try {
    ir::infer_shape(g, n);
    FAIL() << "expected UserError";
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find("[4, 1, 3, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3, 8, 8]"), std::string::npos) << e.what();
  }
}

TEST(Graph, PoolCeilModeMatchesPyTorch) {
  ir::Graph g;
  int x = test::add_input(g, {2, 5, 5});
  ir::Node n;
  n.kind = ir::OpKind::AvgPool2d;
  n.inputs = {x};
  n.ints = {{"kernel", {2, 2}}, {"stride", {2, 2}}, {"padding", {0, 0}}, {"ceil_mode", {1}},
            {"count_include_pad", {1}}, {"divisor_override", {0}}};
  EXPECT_EQ(ir::infer_shape(g, n), (ir::Shape{2, 3, 3}));  // torch: ceil((5-2)/2)+1 = 3
  n.ints["ceil_mode"] = {0};
  EXPECT_EQ(ir::infer_shape(g, n), (ir::Shape{2, 2, 2}));
}

TEST(Graph, DumpIsStableAndVerifyAcceptsWellFormedGraph) {
  auto g = test::tiny_cnn();
  ir::verify(g);
  const auto a = ir::dump(g);
  EXPECT_EQ(a, ir::dump(test::tiny_cnn()));
  EXPECT_NE(a.find("conv2d(%0)"), std::string::npos) << a;
}

TEST(Graph, VerifyCatchesStaleShape) {
  auto g = test::tiny_cnn();
  g.value(g.nodes()[1].output).shape = {1, 2, 3};
  EXPECT_THROW(ir::verify(g), InternalError);
}

TEST(Graph, OpNamesRoundTrip) {
  for (auto k : {ir::OpKind::Conv2d, ir::OpKind::IF, ir::OpKind::AdaptiveAvgPool2d})
    EXPECT_EQ(ir::op_from_name(ir::op_name(k)), k);
  EXPECT_THROW(ir::op_from_name("gelu"), UserError);
}
