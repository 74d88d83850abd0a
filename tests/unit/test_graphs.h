// SPDX-License-Identifier: MIT
// Small graphs built in code for unit tests.
#pragma once

#include <cmath>
#include <random>

#include "neurocuda/ir/graph.h"
#include "neurocuda/passes/pipeline.h"

namespace neurocuda::test {

inline int add_input(ir::Graph &g, ir::Shape shape) {
  ir::Node in;
  in.kind = ir::OpKind::Input;
  in.name = "input";
  const int idx = g.add_node(in, std::move(shape));
  g.set_input(g.nodes()[static_cast<size_t>(idx)].output);
  return g.input();
}

inline std::vector<float> random_values(size_t n, unsigned seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v) x = d(rng);
  return v;
}

inline ir::Node conv_node(int x, int64_t out, int64_t in_per_group, int64_t kh, int64_t kw, unsigned seed = 1) {
  ir::Node n;
  n.kind = ir::OpKind::Conv2d;
  n.name = "conv";
  n.inputs = {x};
  n.ints = {{"stride", {1, 1}}, {"padding", {1, 1}}, {"dilation", {1, 1}}, {"groups", {1}}};
  n.tensors["weight"] = {{out, in_per_group, kh, kw},
                         random_values(static_cast<size_t>(out * in_per_group * kh * kw), seed, -0.5f, 0.5f)};
  n.tensors["bias"] = {{out}, random_values(static_cast<size_t>(out), seed + 100, -0.1f, 0.1f)};
  return n;
}

inline ir::Node linear_node(int x, int64_t out, int64_t in, unsigned seed = 2) {
  ir::Node n;
  n.kind = ir::OpKind::Linear;
  n.name = "fc";
  n.inputs = {x};
  n.tensors["weight"] = {{out, in}, random_values(static_cast<size_t>(out * in), seed, -0.3f, 0.3f)};
  n.tensors["bias"] = {{out}, random_values(static_cast<size_t>(out), seed + 100, -0.1f, 0.1f)};
  return n;
}

inline int append(ir::Graph &g, ir::Node n) {
  const auto shape = ir::infer_shape(g, n);
  const int idx = g.add_node(std::move(n), shape);
  return g.nodes()[static_cast<size_t>(idx)].output;
}

inline ir::Node unary(ir::OpKind kind, int x, const std::string &name) {
  ir::Node n;
  n.kind = kind;
  n.name = name;
  n.inputs = {x};
  return n;
}

/// input [1,6,6] -> conv(4) -> relu -> maxpool 2 -> flatten -> linear(3)
inline ir::Graph tiny_cnn() {
  ir::Graph g;
  int x = add_input(g, {1, 6, 6});
  x = append(g, conv_node(x, 4, 1, 3, 3));
  g.value(x).name = "c1";
  x = append(g, unary(ir::OpKind::Relu, x, "relu1"));
  g.value(x).name = "r1";
  auto pool = unary(ir::OpKind::MaxPool2d, x, "pool");
  pool.ints = {{"kernel", {2, 2}}, {"stride", {2, 2}}, {"padding", {0, 0}}, {"dilation", {1, 1}}, {"ceil_mode", {0}}};
  x = append(g, pool);
  g.value(x).name = "p1";
  x = append(g, unary(ir::OpKind::Flatten, x, "flatten"));
  x = append(g, linear_node(x, 3, 36));
  g.set_output(x);
  return g;
}

// input [2,8,8] -> conv 3x3 (stride 1) -> IF -> conv 3x3 stride 2 groups 2 -> maxpool 2 -> IF
//   + residual add of a 1x1 conv branch -> IF -> flatten -> linear(4)
inline ir::Graph spiking_net() {
  ir::Graph g;
  int x = add_input(g, {2, 8, 8});
  int a = append(g, conv_node(x, 4, 2, 3, 3, 11));
  a = append(g, unary(ir::OpKind::IF, a, "if1"));
  g.nodes().back().floats["v0"] = 0.5;
  auto c2 = conv_node(a, 4, 2, 3, 3, 12);
  c2.ints["groups"] = {2};
  c2.ints["stride"] = {2, 2};
  for (auto &w : c2.tensors["weight"].data) w *= 3.0f;
  int b = append(g, c2);
  auto pool = unary(ir::OpKind::MaxPool2d, b, "pool");
  pool.ints = {{"kernel", {2, 2}}, {"stride", {2, 2}}, {"padding", {0, 0}}, {"dilation", {1, 1}}, {"ceil_mode", {0}}};
  b = append(g, pool);
  b = append(g, unary(ir::OpKind::IF, b, "if2"));
  auto side = conv_node(b, 4, 4, 1, 1, 13);
  side.ints["padding"] = {0, 0};
  int s = append(g, side);
  ir::Node add;
  add.kind = ir::OpKind::Add;
  add.name = "add";
  add.inputs = {s, b};
  add.tensors["coeff0"] = {{4}, {1.0f, 0.5f, 2.0f, 1.0f}};
  add.tensors["coeff1"] = {{4}, {0.75f, 1.0f, 0.25f, 1.5f}};
  int c = append(g, add);
  c = append(g, unary(ir::OpKind::IF, c, "if3"));
  c = append(g, unary(ir::OpKind::Flatten, c, "flat"));
  g.set_output(append(g, linear_node(c, 4, 16, 14)));
  ir::verify(g);
  return g;
}

/// tiny_cnn after conversion with hand-set thresholds (no LibTorch needed).
inline ir::Graph tiny_cnn_converted() {
  auto g = tiny_cnn();
  passes::run_pre_calibration(g, {});
  for (auto &n : g.nodes())
    if (n.kind == ir::OpKind::IF) n.tensors["threshold"].data = {1.5f, 0.25f, 3.0f, 1.0f};
  passes::run_post_calibration(g, {});
  return g;
}

} // namespace neurocuda::test
