// SPDX-License-Identifier: MIT
// Streaming per-channel percentile against a sort-based reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

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

// The floor is raised between exact trims from a histogram of the values' bits (percentile.cpp):
// values of both signs and both zeros, magnitudes from denormals to 1e30, values sitting exactly on a
// histogram edge (2.0, 0.5) and ties crowding the answer (most values are one of a few), so both the
// histogram floor and its fall-back to sorting run; the result must still be the exact rank.
TEST(ChannelPercentile, ExactAcrossSignsZerosTiesAndEdges) {
  const int64_t plane = 29, samples = 2000;
  const float pool[] = {-0.0f, 0.0f, -3.0f, 2.0f, 2.0f, 2.0f, 0.5f, 1e30f, -1e-30f, 1e-40f, -2.0f, 7.25f};
  const auto noise = neurocuda::test::random_values(static_cast<size_t>(plane * samples), 11, -4.0f, 4.0f);
  for (int ties = 0; ties < 2; ++ties) {
    std::vector<float> data(noise);
    for (size_t i = 0; i < data.size(); ++i)
      if (ties ? i % 5 != 0 : i % 7 == 0) data[i] = pool[(i * 2654435761u >> 7) % (sizeof pool / sizeof *pool)];
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
      ChannelPercentile stats(1, samples * plane, p);
      for (int64_t i = 0; i < samples; i += 64) {
        const int64_t n = std::min<int64_t>(64, samples - i);
        stats.add(&data[static_cast<size_t>(i * plane)], n, plane);
      }
      const float got = stats.result()[0], want = reference(data, p);
      EXPECT_TRUE(got == want) << "ties " << ties << " p=" << p << ": " << got << " vs " << want;
    }
  }
}

// Distinct values crowding one histogram bin at the answer (2.0 and the next 255 floats above it,
// four fifths of the stream): the histogram floor keeps too many and falls back to sorting the list
// it compacted; neighbouring ranks hold different values, so a stale or duplicated entry shows.
TEST(ChannelPercentile, ExactWhenDistinctValuesCrowdTheAnswer) {
  const int64_t plane = 31, samples = 1500;
  auto data = neurocuda::test::random_values(static_cast<size_t>(plane * samples), 13, -4.0f, 4.0f);
  for (size_t i = 0; i < data.size(); ++i) {
    if (i % 5 == 0) continue;
    float x = 2.0f;
    for (size_t k = 0; k < (i * 2654435761u >> 9) % 256; ++k) x = std::nextafter(x, 3.0f);
    data[i] = x;
  }
  for (double p : {85.0, 90.0, 95.0}) {
    ChannelPercentile stats(1, samples * plane, p);
    for (int64_t i = 0; i < samples; i += 50) stats.add(&data[static_cast<size_t>(i * plane)], 50, plane);
    const float got = stats.result()[0], want = reference(data, p);
    EXPECT_TRUE(got == want) << "p=" << p << ": " << got << " vs " << want;
  }
}

// Integer-valued activations (as quantized or clipped models give): every value's key has its low
// bits clear, so the histogram floor lands exactly on a value's key and must keep the values equal to
// it (the scalar and the AVX2 compaction both; the tests run both builds). In descending order the
// first floor is already the answer's.
TEST(ChannelPercentile, ExactWhenTheAnswerSitsOnAHistogramEdge) {
  const int64_t plane = 29, samples = 2000;
  auto data = neurocuda::test::random_values(static_cast<size_t>(plane * samples), 17, 0.0f, 1000.0f);
  for (auto &x : data) x = std::floor(x);
  for (int descending = 0; descending < 2; ++descending) {
    if (descending) std::sort(data.begin(), data.end(), std::greater<float>());
    for (double p : {50.0, 90.0, 99.0}) {
      ChannelPercentile stats(1, samples * plane, p);
      for (int64_t i = 0; i < samples; i += 40) stats.add(&data[static_cast<size_t>(i * plane)], 40, plane);
      const float got = stats.result()[0], want = reference(data, p);
      EXPECT_TRUE(got == want) << "descending " << descending << " p=" << p << ": " << got << " vs " << want;
    }
  }
}

TEST(ChannelPercentile, NaNActivationsAreAUserError) {
  ChannelPercentile stats(1, 4, 50.0);
  const float v[] = {NAN, NAN, NAN, 1.0f};
  stats.add(v, 4, 1);
  EXPECT_THROW(stats.result(), neurocuda::UserError);
}
