// SPDX-License-Identifier: MIT
// Threshold search by quantization error: the error model and the histogram's choice against
// a brute force over the raw values.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "neurocuda/calibration/threshold_search.h"
#include "test_graphs.h"

using neurocuda::calibration::ChannelHistogram;
using neurocuda::calibration::quantization_error;

TEST(ThresholdSearch, QuantizationErrorRoundsBelowAndClipsAbove) {
  EXPECT_DOUBLE_EQ(quantization_error(2.0, 2.0, 8), 0.0);          // the threshold: T spikes
  EXPECT_DOUBLE_EQ(quantization_error(0.75, 2.0, 8), 0.0);         // on a level (3 of 8)
  EXPECT_DOUBLE_EQ(quantization_error(3.0, 2.0, 8), 1.0);          // clipped at theta
  EXPECT_DOUBLE_EQ(quantization_error(0.1, 2.0, 8), 0.1);          // below half a level: no spike
  EXPECT_DOUBLE_EQ(quantization_error(0.2, 2.0, 8), 0.2 - 0.25);   // above half a level: one spike
  EXPECT_DOUBLE_EQ(quantization_error(0.0, 2.0, 8), 0.0);
}

TEST(ThresholdSearch, HistogramChoiceMatchesBruteForceOnRawValues) {
  const int64_t channels = 2, plane = 40, samples = 300;
  // Channel 0: mostly small values with a heavy tail; channel 1: uniform. Zeros and negatives too.
  auto data = neurocuda::test::random_values(static_cast<size_t>(channels * plane * samples), 11, -0.5f, 1.0f);
  for (size_t k = 0; k < data.size(); ++k) {
    const int64_t c = static_cast<int64_t>(k / plane) % channels;
    if (c == 0) data[k] = data[k] > 0 ? std::pow(data[k], 4.0f) * 6.0f : 0.0f;
  }
  ChannelHistogram h(channels);
  for (int64_t i = 0; i < samples; i += 50) h.add(&data[static_cast<size_t>(i * channels * plane)], 50, plane);
  for (int T : {4, 16}) {
    for (int64_t c = 0; c < channels; ++c) {
      std::vector<double> values;
      for (int64_t i = 0; i < samples; ++i)
        for (int64_t k = 0; k < plane; ++k) values.push_back(std::max(0.0f, data[static_cast<size_t>((i * channels + c) * plane + k)]));
      const float start = c == 0 ? 3.0f : 1.0f;
      auto raw_error = [&](double theta) {
        double sum = 0;
        for (double a : values) sum += quantization_error(a, theta, T) * quantization_error(a, theta, T);
        return sum;
      };
      double got_error = 0;
      const float got = h.best_threshold(c, start, T, &got_error);
      double best = raw_error(start);
      for (int j = -32; j <= 32; ++j) best = std::min(best, raw_error(start * std::exp2(j / 32.0)));
      // Bins are 2^-7 wide: the histogram's pick is within a few percent of the brute force's error.
      EXPECT_LE(raw_error(got), best * 1.03 + 1e-9) << "T=" << T << " c=" << c;
      EXPECT_NEAR(got_error, raw_error(got), 0.03 * raw_error(got) + 1e-9) << "T=" << T << " c=" << c;
      EXPECT_LE(got_error, h.error(c, start, T)) << "never worse than the start";
    }
  }
}

TEST(ThresholdSearch, AllZeroChannelKeepsItsStart) {
  ChannelHistogram h(1);
  const std::vector<float> zeros(64, 0.0f);
  h.add(zeros.data(), 4, 16);
  EXPECT_EQ(h.best_threshold(0, 2.5f, 8), 2.5f);
}
