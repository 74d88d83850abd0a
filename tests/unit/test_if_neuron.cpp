// SPDX-License-Identifier: MIT
// IF neuron math against hand-computed traces (values chosen exactly representable in binary).
#include <gtest/gtest.h>

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
