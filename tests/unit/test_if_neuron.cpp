// SPDX-License-Identifier: MIT
// IF neuron math against hand-computed traces (values chosen exactly representable in binary).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "neurocuda/snn/neuron.h"

using neurocuda::snn::argmax;
using neurocuda::snn::if_step;

TEST(IfNeuron, ConstantQuarterCurrentFromHalfThreshold) {
  // v: 0.5 -> 0.75, 1.0 (spike, -> 0), 0.25, 0.5, 0.75, 1.0 (spike, -> 0), ...
  float v = 0.5f;
  std::vector<int> spikes;
  std::vector<float> trace;
  for (int t = 1; t <= 8; ++t) {
    spikes.push_back(if_step(v, 0.25f));
    trace.push_back(v);
  }
  EXPECT_EQ(spikes, (std::vector<int>{0, 1, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(trace, (std::vector<float>{0.75f, 0.0f, 0.25f, 0.5f, 0.75f, 0.0f, 0.25f, 0.5f}));
}

TEST(IfNeuron, ThresholdIsInclusiveAndResetSubtracts) {
  float v = 0.0f;
  EXPECT_TRUE(if_step(v, 1.0f));  // v >= 1 spikes
  EXPECT_EQ(v, 0.0f);
  v = 0.5f;
  EXPECT_TRUE(if_step(v, 2.0f));  // only one spike per step; the excess stays
  EXPECT_EQ(v, 1.5f);
  EXPECT_TRUE(if_step(v, 0.0f));
  EXPECT_EQ(v, 0.5f);
}

TEST(IfNeuron, NegativeCurrentIsIntegratedWithoutFloor) {
  float v = 0.5f;
  EXPECT_FALSE(if_step(v, -1.0f));
  EXPECT_EQ(v, -0.5f);
  EXPECT_FALSE(if_step(v, 1.25f));
  EXPECT_EQ(v, 0.75f);
  EXPECT_TRUE(if_step(v, 0.25f));
  EXPECT_EQ(v, 0.0f);
}

TEST(IfNeuron, RateApproachesClippedCurrent) {
  // Over T steps the spike count is floor(T * I + 0.5) for 0 <= I <= 1 (v0 = 1/2 rounds to nearest).
  for (float current : {0.125f, 0.375f, 0.5f, 0.875f}) {
    float v = 0.5f;
    int count = 0;
    for (int t = 0; t < 64; ++t) count += if_step(v, current);
    EXPECT_EQ(count, static_cast<int>(64 * current + 0.5f)) << current;
  }
}

TEST(Readout, ArgmaxTakesLowestIndexOnTies) {
  const float a[] = {1.0f, 3.0f, 3.0f, -2.0f};
  EXPECT_EQ(argmax(a, 4), 1);
  const float b[] = {0.0f, 0.0f};
  EXPECT_EQ(argmax(b, 2), 0);
}

// Graded neuron (snn/neuron.h): after every step t the net count is clamp(floor(v0 + summed input), 0, t),
// whatever order the input came in; payloads may be negative or larger than one.
TEST(GradedNeuron, NetCountIsTheClippedFloorOfTheSummedInputAtEveryStep) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> eighths(-24, 24);  // currents of -3..3 in steps of 1/8: exact in fp32
  bool negative = false, burst = false;
  for (int trial = 0; trial < 200; ++trial) {
    float v = 0.5f, net = 0.0f;
    double sum = 0.0;
    for (int t = 1; t <= 32; ++t) {
      const float current = static_cast<float>(eighths(rng)) / 8.0f;
      sum += current;
      const float q = neurocuda::snn::graded_step(v, net, current, static_cast<float>(t));
      negative = negative || q < 0.0f;
      burst = burst || q > 1.0f;
      ASSERT_EQ(net, std::clamp(std::floor(0.5 + sum), 0.0, static_cast<double>(t))) << "trial " << trial << " t " << t;
      ASSERT_EQ(static_cast<double>(v), 0.5 + sum - net);
    }
  }
  EXPECT_TRUE(negative && burst);
}

TEST(GradedNeuron, IntegerStepFloorsTowardMinusInfinity) {
  int64_t v = 0, net = 0;
  EXPECT_EQ(neurocuda::snn::graded_step_int(v, net, 7, 3, 5), 2);  // floor(7 / 3) = 2, v = 1
  EXPECT_EQ(v, 1);
  EXPECT_EQ(neurocuda::snn::graded_step_int(v, net, -5, 3, 6), -2);  // floor(-4 / 3) = -2, net 2 -> 0, v = 2
  EXPECT_EQ(v, 2);
  EXPECT_EQ(net, 0);
  EXPECT_EQ(neurocuda::snn::graded_step_int(v, net, -9, 3, 7), 0);  // -7: the count cannot go below zero
  EXPECT_EQ(v, -7);
  EXPECT_EQ(neurocuda::snn::graded_step_int(v, net, 100, 3, 8), 8);  // floor(93 / 3) = 31, at most t - net = 8
  EXPECT_EQ(v, 93 - 24);
  EXPECT_EQ(net, 8);
}
