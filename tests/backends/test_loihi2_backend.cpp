// SPDX-License-Identifier: MIT
// The Loihi 2 backend: the mapping's parameters, the subtract mapping reproducing an IF neuron's spike train
// (one step later, through one Dense hop), the reset-to-zero loss, range errors, max-pooling, determinism.
#include <gtest/gtest.h>

#include "loihi2/limits.h"
#include "loihi2/mapping.h"
#include "neurocuda/backend.h"
#include "neurocuda/error.h"
#include "test_graphs.h"

using namespace neurocuda;
namespace l2 = neurocuda::backends::loihi2;

namespace {

// input [1] in [0, 1] -> linear(w) -> IF (v0 = 0.5) -> linear(2) readout.
ir::Graph one_neuron(float w, float bias = 0.0f) {
  ir::Graph g;
  int x = test::add_input(g, {1});
  g.nodes().back().floats["min"] = 0.0;
  g.nodes().back().floats["max"] = 1.0;
  auto fc = test::linear_node(x, 1, 1);
  fc.tensors["weight"].data = {w};
  fc.tensors["bias"].data = {bias};
  x = test::append(g, fc);
  auto pop = test::unary(ir::OpKind::IF, x, "pop");
  pop.floats["v0"] = 0.5;
  x = test::append(g, pop);
  g.set_output(test::append(g, test::linear_node(x, 2, 1)));
  return g;
}

// one_neuron, then a second population fed by the first through a weight of `w2` thresholds per spike.
ir::Graph two_populations(float w2) {
  ir::Graph g;
  int x = test::add_input(g, {1});
  auto fc = test::linear_node(x, 1, 1);
  fc.tensors["weight"].data = {1.0f};
  x = test::append(g, fc);
  x = test::append(g, test::unary(ir::OpKind::IF, x, "pop1"));
  auto fc2 = test::linear_node(x, 1, 1);
  fc2.tensors["weight"].data = {w2};
  x = test::append(g, fc2);
  x = test::append(g, test::unary(ir::OpKind::IF, x, "pop2"));
  g.set_output(test::append(g, test::linear_node(x, 2, 1)));
  return g;
}

RunResult run(const ir::Graph &g, const std::vector<float> &x, int64_t n, std::vector<int> checkpoints,
              const std::string &mode = "subtract", double compensation = -1, int threads = 2) {
  CompileOptions c;
  c.reset_mode = mode;
  c.reset_compensation = compensation;
  auto program = get_backend("loihi2").compile(g, c);
  RunOptions o;
  o.checkpoints = std::move(checkpoints);
  o.threads = threads;
  o.record_trace = true;
  return program->run(Batch{x.data(), n, g.value(g.input()).shape}, o);
}

// Spikes of an IF neuron (reset by subtraction, threshold 1, v0 0.5) under a constant current, after each step.
std::vector<int> if_spike_counts(double current, int steps) {
  std::vector<int> counts;
  double v = 0.5;
  int spikes = 0;
  for (int t = 0; t < steps; ++t) {
    v += current;
    if (v >= 1.0) {
      v -= 1.0;
      ++spikes;
    }
    counts.push_back(spikes);
  }
  return counts;
}

} // namespace

TEST(Loihi2Mapping, SubtractModeParameters) {
  const auto net = l2::map_network(one_neuron(1.0f, 0.25f));
  ASSERT_EQ(net.populations.size(), 1u);
  const auto &p = net.populations[0];
  EXPECT_EQ(p.du, 0);
  EXPECT_EQ(p.dv, 4095);
  EXPECT_EQ(p.vth, 512);
  EXPECT_EQ(p.u0, 512 * 64 / 2);  // v0 = half a threshold, in u units
  EXPECT_EQ(p.depth, 1);          // the input's graded spikes arrive one step late
  // Hops: input pixels, the self-synapse (-vth exactly), the bias unit.
  ASSERT_EQ(p.hops.size(), 3u);
  const l2::DenseHop *self = nullptr, *bias = nullptr;
  for (const auto &h : p.hops) {
    if (h.source == 0) self = &h;
    if (h.source == l2::kBiasUnit) bias = &h;
  }
  ASSERT_TRUE(self && bias);
  ASSERT_EQ(self->weights.size(), 1u);
  EXPECT_EQ(int64_t{self->weights[0]} << self->weight_exp, -512);
  ASSERT_EQ(bias->weights.size(), 1u);
  EXPECT_EQ(int64_t{bias->weights[0]} * (int64_t{1} << bias->weight_exp), 128);  // 0.25 thresholds
  EXPECT_EQ(net.readout.depth, 2);
}

TEST(Loihi2Mapping, ZeroModeParameters) {
  l2::MappingOptions o;
  o.reset = l2::ResetMode::Zero;
  o.reset_compensation = 0.25;
  const auto net = l2::map_network(one_neuron(1.0f, 0.25f), o);
  const auto &p = net.populations[0];
  EXPECT_EQ(p.du, 4095);
  EXPECT_EQ(p.dv, 0);
  EXPECT_GT(p.vth, 0);
  EXPECT_LE(p.vth, (1 << 17) - 1);
  // Bias is the neuron's own mantissa and exponent: 0.25 thresholds of the unlowered scale, in v units.
  const double scale = static_cast<double>(p.vth) / 0.75;
  EXPECT_NEAR(static_cast<double>(p.bias_mant[0] << p.bias_exp[0]), 0.25 * scale * 64, 64.0);
  EXPECT_LE(std::llabs(p.bias_mant[0]), 4095);
}

TEST(Loihi2Backend, SubtractModeReproducesTheIfSpikeTrainOneHopLater) {
  // x = 0.4 is exactly 102/255 on the 8-bit payload grid, so the current is exactly 0.4 thresholds.
  const int T = 40;
  const auto expected = if_spike_counts(102.0 / 255.0, T);
  std::vector<int> cps;
  for (int t = 1; t <= T; ++t) cps.push_back(t);
  const auto r = run(one_neuron(1.0f), {0.4f}, 1, cps);
  // The readout window starts after the 2 hops (input -> pop -> readout); spike counts include those steps.
  // The IF population's spikes up to step 2 + t are the IF neuron's spikes up to step t + 1.
  const size_t nl = 1;
  for (int t = 1; t + 1 <= T; ++t)
    EXPECT_EQ(r.spikes[static_cast<size_t>(t - 1) * nl], static_cast<uint64_t>(expected[static_cast<size_t>(t)]))
        << "after readout step " << t;
}

TEST(Loihi2Backend, ResetToZeroLosesTheOvershoot) {
  const int T = 30;
  const auto sub = run(one_neuron(1.0f), {0.4f}, 1, {T});
  const auto zero = run(one_neuron(1.0f), {0.4f}, 1, {T}, "zero", 0.0);
  // IF with reset by subtraction fires at 0.4 per step; reset to zero every third step (0.4+0.4+0.4 > 1).
  EXPECT_NEAR(static_cast<double>(sub.spikes[0]) / (T + 2), 0.4, 0.05);
  EXPECT_NEAR(static_cast<double>(zero.spikes[0]) / (T + 2), 1.0 / 3.0, 0.05);
}

TEST(Loihi2Backend, OutOfRangeValuesAreCompileTimeErrors) {
  // 100 thresholds per spike needs a weight exponent above 7 at vth = 512.
  EXPECT_NO_THROW(run(two_populations(50.0f), {0.4f}, 1, {4}));
  try {
    run(two_populations(100.0f), {0.4f}, 1, {4});
    FAIL() << "expected a range error";
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find("weight exponent"), std::string::npos) << e.what();
  }
  // A bias of 10^6 thresholds does not fit a 13-bit mantissa with exponent <= 7 at any vth >= 1.
  EXPECT_THROW(run(one_neuron(1.0f, 1e6f), {0.4f}, 1, {4}, "zero", 0.0), UserError);
  EXPECT_THROW(run(one_neuron(1.0f), {0.4f}, 1, {4}, "halfway"), UserError);
  CompileOptions c;
  c.precision = Precision::Int8;
  EXPECT_THROW(get_backend("loihi2").compile(one_neuron(1.0f), c), UserError);
}

TEST(Loihi2Backend, MaxPoolBecomesAPooledPopulationWithFeedbackAndRunsAreDeterministic) {
  const auto g = test::spiking_net();
  const auto net = l2::map_network(g);
  const auto find = [&](const std::string &name) {
    for (size_t i = 0; i < net.populations.size(); ++i)
      if (net.populations[i].name == name) return static_cast<int>(i);
    ADD_FAILURE() << "no population " << name;
    return -1;
  };
  const int pre = find("if2.prepool"), pooled = find("if2"), deep = find("if3");
  ASSERT_TRUE(pre >= 0 && pooled >= 0 && deep >= 0);
  EXPECT_EQ(net.populations[static_cast<size_t>(pre)].neurons, 4 * 4 * 4);
  EXPECT_EQ(net.populations[static_cast<size_t>(pooled)].vth, 0);
  EXPECT_EQ(net.populations[static_cast<size_t>(pooled)].depth, net.populations[static_cast<size_t>(pre)].depth + 1);
  // The pre-pool neurons are reset by the pooled population (one threshold per pooled spike, to every
  // neuron of the window), not by their own spikes.
  bool feedback = false;
  for (const auto &h : net.populations[static_cast<size_t>(pre)].hops) {
    EXPECT_NE(h.source, pre) << "no self-synapse";
    if (h.source == pooled) {
      feedback = true;
      EXPECT_EQ(h.weights.size(), 64u);  // 16 pooled neurons x 2x2 windows
      for (auto w : h.weights) EXPECT_EQ(int64_t{w} << h.weight_exp, -net.populations[static_cast<size_t>(pre)].vth);
    }
  }
  EXPECT_TRUE(feedback);
  // Biases of a population d hops deep come through a relay that starts firing at step d, in step with its
  // first input spikes.
  const auto &p3 = net.populations[static_cast<size_t>(deep)];
  bool relayed = false;
  for (const auto &h : p3.hops)
    if (h.source >= 0 && net.populations[static_cast<size_t>(h.source)].name.rfind("bias_relay.", 0) == 0) {
      relayed = true;
      EXPECT_EQ(net.populations[static_cast<size_t>(h.source)].depth, p3.depth - 1);
    }
  EXPECT_TRUE(relayed);
  const auto x = test::random_values(5 * 2 * 8 * 8, 7, 0.0f, 1.0f);
  const auto a = run(g, x, 5, {8, 16}, "subtract", -1, 1);
  const auto b = run(g, x, 5, {8, 16}, "subtract", -1, 2);
  EXPECT_EQ(a.predictions, b.predictions);
  EXPECT_EQ(a.spikes, b.spikes);
  EXPECT_EQ(a.readout_exact, b.readout_exact);
  EXPECT_EQ(a.trace, b.trace);
  uint64_t total = 0;
  for (auto s : a.spikes) total += s;
  EXPECT_GT(total, 0u);
}
