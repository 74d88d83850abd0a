// SPDX-License-Identifier: MIT
// Every registered backend that implements the CPU's semantics (cpu, cuda) against the CPU backend, bit for
// bit, in fp32 and integer mode; and verification catching a single flipped spike. Backends without a device
// here are skipped. loihi2 runs different (fixed-point, delayed) semantics: tests/backends/test_loihi2_backend.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "neurocuda/backend.h"
#include "neurocuda/driver/compare.h"
#include "neurocuda/error.h"
#include "expect_same_run.h"
#include "test_graphs.h"

using namespace neurocuda;

namespace {

RunResult run(const Backend &b, const ir::Graph &g, Precision p, const std::vector<float> &x, int64_t n, int T,
              int readout_delay = 0) {
  CompileOptions c;
  c.precision = p;
  auto program = b.compile(g, c);
  RunOptions o;
  o.checkpoints = {T / 2, T};
  o.threads = 2;
  o.record_trace = true;
  o.readout_delay = readout_delay;
  return program->run(Batch{x.data(), n, g.value(g.input()).shape}, o);
}

// input [1] -> linear(1) -> IF -> linear(2): x = 0.5 and w = 1 spike at t = 1 (v = 0.5 + 0.5 >= 1).
ir::Graph one_neuron(float w) {
  ir::Graph g;
  int x = test::add_input(g, {1});
  auto fc = test::linear_node(x, 1, 1);
  fc.tensors["weight"].data = {w};
  fc.tensors["bias"].data = {0.0f};
  x = test::append(g, fc);
  auto pop = test::unary(ir::OpKind::IF, x, "pop");
  pop.floats["v0"] = 0.5;
  x = test::append(g, pop);
  g.set_output(test::append(g, test::linear_node(x, 2, 1)));
  return g;
}

// The graph with every IF population made a graded one (convert --neuron graded).
ir::Graph graded(ir::Graph g) {
  for (auto &n : g.nodes())
    if (n.kind == ir::OpKind::IF) n.ints["graded"] = {1};
  return g;
}

std::vector<std::string> bit_exact_backends() {
  std::vector<std::string> names;
  for (const auto &n : backend_names())
    if (n != "loihi2") names.push_back(n);
  return names;
}

} // namespace

class CrossBackend : public ::testing::TestWithParam<std::tuple<std::string, Precision>> {
protected:
  // The parameter's backend against the CPU on 5 random samples, T = 20 (readouts at 10 and 20).
  void expect_agreement(unsigned seed, int readout_delay, bool graded_neurons = false) {
    const auto &[name, precision] = GetParam();
    const Backend &other = get_backend(name);
    const auto avail = other.availability();
    if (!avail.available) GTEST_SKIP() << "backend '" << name << "' unavailable: " << avail.reason;
    const auto g = graded_neurons ? graded(test::spiking_net()) : test::spiking_net();
    const int64_t n = 5;
    const auto x = test::random_values(static_cast<size_t>(n * 128), seed, 0.0f, 1.0f);
    const auto a = run(get_backend("cpu"), g, precision, x, n, 20, readout_delay);
    const auto b = run(other, g, precision, x, n, 20, readout_delay);
    test::expect_same_run(a, b, get_backend("cpu").compile(g, {})->layers(), 20);
    EXPECT_EQ(a.readout_exact, b.readout_exact);
  }
};

TEST_P(CrossBackend, AgreesWithCpuBitForBit) { expect_agreement(21, 0); }

TEST_P(CrossBackend, AgreesWithADelayedReadout) { expect_agreement(22, 4); }

TEST_P(CrossBackend, AgreesWithGradedNeurons) { expect_agreement(23, 0, true); }

INSTANTIATE_TEST_SUITE_P(AllBackends, CrossBackend,
                         ::testing::Combine(::testing::ValuesIn(bit_exact_backends()),
                                            ::testing::Values(Precision::Fp32, Precision::Int8, Precision::Int16)),
                         [](const auto &info) {
                           auto name = std::get<0>(info.param);  // gtest names allow [A-Za-z0-9_] only
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name + "_" + precision_name(std::get<1>(info.param));
                         });

TEST(Verify, CatchesASingleFlippedSpikeAndLocatesIt) {
  const std::vector<float> x{0.5f};
  const auto &cpu = get_backend("cpu");
  const auto a = run(cpu, one_neuron(1.0f), Precision::Fp32, x, 1, 4);
  const auto b = run(cpu, one_neuron(0.99f), Precision::Fp32, x, 1, 4);
  driver::Comparison cmp;
  driver::compare_runs(a, b, cpu.compile(one_neuron(1.0f), {})->layers(), 4, 0, cmp);
  EXPECT_EQ(cmp.comparisons, 4u + 2u);  // 1 neuron x 4 steps + 2 readout values
  EXPECT_GE(cmp.mismatches, 1u);
  EXPECT_EQ(cmp.first.sample, 0);
  EXPECT_EQ(cmp.first.timestep, 1);  // 0.5 + 0.495 < 1: the first spike is lost
  EXPECT_EQ(cmp.first.layer, "pop");
  EXPECT_EQ(cmp.first.neuron, 0);
  driver::Comparison same;
  driver::compare_runs(a, a, cpu.compile(one_neuron(1.0f), {})->layers(), 4, 0, same);
  EXPECT_EQ(same.mismatches, 0u);
}

TEST(IntegerMode, TracksFp32OnASmallNetwork) {
  const auto g = test::spiking_net();
  const auto x = test::random_values(8 * 128, 33, 0.0f, 1.0f);
  const auto f = run(get_backend("cpu"), g, Precision::Fp32, x, 8, 64);
  const auto q = run(get_backend("cpu"), g, Precision::Int16, x, 8, 64);
  // Quantisation changes single spikes, not the overall activity: within 5% of the fp32 count.
  uint64_t sf = 0, sq = 0;
  for (size_t l = 0; l < 3; ++l) {
    sf += f.spikes[3 + l];
    sq += q.spikes[3 + l];
  }
  EXPECT_NEAR(static_cast<double>(sq), static_cast<double>(sf), 0.05 * static_cast<double>(sf));
}

// With --readout-delay D the readout sums exactly the outputs of timesteps D+1..T: in integer mode it equals
// the undelayed readout at T minus the one at D, on every backend (loihi2 included); the delay changes no
// spike and no synaptic operation.
class DelayedReadout : public ::testing::TestWithParam<std::string> {};

TEST_P(DelayedReadout, SumsOnlyTheLaterTimesteps) {
  const auto &backend = get_backend(GetParam());
  const auto avail = backend.availability();
  if (!avail.available) GTEST_SKIP() << "backend '" << GetParam() << "' unavailable: " << avail.reason;
  const auto g = test::spiking_net();
  const int64_t n = 4;
  const auto x = test::random_values(static_cast<size_t>(n * 128), 23, 0.0f, 1.0f);
  CompileOptions c;
  c.precision = GetParam() == "loihi2" ? Precision::Fp32 : Precision::Int8;  // loihi2 is fixed-point either way
  auto program = backend.compile(g, c);
  auto go = [&](int T, int delay) {
    RunOptions o;
    o.checkpoints = {T};
    o.threads = 2;
    o.readout_delay = delay;
    return program->run(Batch{x.data(), n, g.value(g.input()).shape}, o);
  };
  const int T = 24, D = 7;
  const auto full = go(T, 0), head = go(D, 0), delayed = go(T, D);
  ASSERT_EQ(delayed.readout_exact.size(), full.readout_exact.size());
  bool some_head = false;
  for (size_t k = 0; k < full.readout_exact.size(); ++k) {
    EXPECT_EQ(delayed.readout_exact[k], full.readout_exact[k] - head.readout_exact[k]) << "readout value " << k;
    some_head = some_head || head.readout_exact[k] != 0;
  }
  EXPECT_TRUE(some_head) << "the first D steps must contribute something for this test to mean anything";
  EXPECT_EQ(delayed.spikes, full.spikes);
  EXPECT_EQ(delayed.synops, full.synops);
  for (int64_t s = 0; s < n; ++s) {
    const auto *r = &delayed.readout_exact[static_cast<size_t>(s * delayed.classes)];
    EXPECT_EQ(delayed.predictions[static_cast<size_t>(s)], std::max_element(r, r + delayed.classes) - r);
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, DelayedReadout, ::testing::ValuesIn(backend_names()), [](const auto &info) {
  auto name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
});

// Graded neurons (snn/neuron.h): after t steps a population's net count is clamp(floor(v0 + summed input), 0, t)
// whatever the timing of its input, so at T the readout is exactly the quantized ANN's (round to nearest, clip
// to [0, T]). Weights, biases and inputs are multiples of 1/8, so every sum is exact in fp32 and the expected
// readout is computed exactly here. Plain IF neurons on the same network miss it (the test can tell).
class GradedNeurons : public ::testing::TestWithParam<std::string> {};

TEST_P(GradedNeurons, ReadoutIsTheQuantizedAnnExactly) {
  const auto &backend = get_backend(GetParam());
  const auto avail = backend.availability();
  if (!avail.available) GTEST_SKIP() << "backend '" << GetParam() << "' unavailable: " << avail.reason;
  const int T = 16;
  const int64_t n = 6, in = 6, h1 = 8, h2 = 5, classes = 3;
  std::mt19937 rng(7);
  auto eighths = [&](size_t count, int lo, int hi) {
    std::vector<float> v(count);
    for (auto &x : v) x = static_cast<float>(std::uniform_int_distribution<int>(lo, hi)(rng)) / 8.0f;
    return v;
  };
  ir::Graph g;
  int x = test::add_input(g, {in});
  const int64_t widths[] = {in, h1, h2, classes};
  std::vector<std::vector<float>> w, b;
  for (int l = 0; l < 3; ++l) {
    auto fc = test::linear_node(x, widths[l + 1], widths[l]);
    fc.tensors["weight"].data = eighths(static_cast<size_t>(widths[l + 1] * widths[l]), -8, 8);
    fc.tensors["bias"].data = eighths(static_cast<size_t>(widths[l + 1]), -2, 2);
    w.push_back(fc.tensors["weight"].data);
    b.push_back(fc.tensors["bias"].data);
    x = test::append(g, fc);
    if (l == 2) break;
    auto pop = test::unary(ir::OpKind::IF, x, "pop" + std::to_string(l));
    pop.floats["v0"] = 0.5;
    x = test::append(g, pop);
  }
  g.set_output(x);
  const auto input = eighths(static_cast<size_t>(n * in), 0, 8);

  // Expected, in exact arithmetic: each population's count after T steps from its summed input.
  std::vector<double> expected;
  for (int64_t s = 0; s < n; ++s) {
    std::vector<double> act(input.begin() + s * in, input.begin() + (s + 1) * in);
    for (int l = 0; l < 3; ++l) {
      std::vector<double> next(static_cast<size_t>(widths[l + 1]));
      for (int64_t o = 0; o < widths[l + 1]; ++o) {
        // The first layer's input is presented every step (T times); deeper layers get counts over T steps.
        double sum = 0.0;
        for (int64_t i = 0; i < widths[l]; ++i) sum += w[l][static_cast<size_t>(o * widths[l] + i)] * act[static_cast<size_t>(i)];
        sum = (l == 0 ? T * sum : sum) + T * b[l][static_cast<size_t>(o)];
        next[static_cast<size_t>(o)] = l == 2 ? sum : std::clamp(std::floor(0.5 + sum), 0.0, static_cast<double>(T));
      }
      act = next;
    }
    expected.insert(expected.end(), act.begin(), act.end());
  }

  auto readout = [&](const ir::Graph &net) {
    auto program = backend.compile(net, {});
    RunOptions o;
    o.checkpoints = {T};
    o.threads = 2;
    return program->run(Batch{input.data(), n, g.value(g.input()).shape}, o).readout;
  };
  const auto got = readout(graded(g));
  ASSERT_EQ(got.size(), expected.size());
  for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(static_cast<double>(got[k]), expected[k]) << "readout value " << k;
  const auto plain = readout(g);
  size_t differ = 0;
  for (size_t k = 0; k < plain.size(); ++k) differ += static_cast<double>(plain[k]) != expected[k];
  EXPECT_GT(differ, 0u) << "IF neurons hit the quantized ANN too: the network does not exercise graded spikes";
}

INSTANTIATE_TEST_SUITE_P(BitExactBackends, GradedNeurons, ::testing::ValuesIn(bit_exact_backends()), [](const auto &info) {
  auto name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
});
