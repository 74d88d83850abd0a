// SPDX-License-Identifier: MIT
// Streaming per-channel percentile against a sort-based reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "neurocuda/calibration/percentile.h"
#include "neurocuda/error.h"
#include "test_graphs.h"

using neurocuda::calibration::ChannelPercentile;

namespace {
float reference(std::vector<float> v, double p) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()) - 1e-9));
  return v[std::max<size_t>(rank, 1) - 1];
}
} // namespace

TEST(ChannelPercentile, MatchesSortedReferenceAcrossBatches) {
  const int64_t channels = 3, plane = 50, samples = 400;
  const auto data = neurocuda::test::random_values(static_cast<size_t>(channels * plane * samples), 7, -1.0f, 5.0f);
  for (double p : {50.0, 99.0, 99.9, 99.99, 100.0}) {
    ChannelPercentile stats(channels, samples * plane, p);
    for (int64_t i = 0; i < samples; i += 37) {
      const int64_t n = std::min<int64_t>(37, samples - i);
      stats.add(&data[static_cast<size_t>(i * channels * plane)], n, plane);
    }
    const auto got = stats.result();
    for (int64_t c = 0; c < channels; ++c) {
      std::vector<float> values;
      for (int64_t i = 0; i < samples; ++i)
        for (int64_t k = 0; k < plane; ++k) values.push_back(data[static_cast<size_t>((i * channels + c) * plane + k)]);
      EXPECT_EQ(got[static_cast<size_t>(c)], reference(values, p)) << "p=" << p << " c=" << c;
    }
  }
}

TEST(ChannelPercentile, MaxOfSmallInput) {
  ChannelPercentile stats(1, 4, 100.0);
  const float v[] = {0.0f, 3.0f, -1.0f, 2.0f};
  stats.add(v, 4, 1);
  EXPECT_EQ(stats.result()[0], 3.0f);
}

TEST(ChannelPercentile, AscendingStreamTrimsManyTimes) {
  // Rising values pass every floor: the candidate list fills and is trimmed over and over.
  const int64_t plane = 13, samples = 3000;  // 13: one block of 8 and a scalar tail of 5
  std::vector<float> data(static_cast<size_t>(plane * samples));
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.5f;
  for (double p : {90.0, 99.0, 100.0}) {
    ChannelPercentile stats(1, samples * plane, p);
    for (int64_t i = 0; i < samples; i += 100) stats.add(&data[static_cast<size_t>(i * plane)], 100, plane);
    EXPECT_EQ(stats.result()[0], reference(data, p)) << "p=" << p;
  }
}

TEST(ChannelPercentile, NaNActivationsAreAUserError) {
  ChannelPercentile stats(1, 4, 50.0);
  const float v[] = {NAN, NAN, NAN, 1.0f};
  stats.add(v, 4, 1);
  EXPECT_THROW(stats.result(), neurocuda::UserError);
}
