// SPDX-License-Identifier: MIT
// Streaming exact per-channel percentiles.
#include "neurocuda/calibration/percentile.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>

#include "neurocuda/error.h"

namespace neurocuda::calibration {
namespace {
typedef float Vec4 __attribute__((vector_size(16)));  // one SSE register, in every x86-64 build
} // namespace

ChannelPercentile::ChannelPercentile(int64_t channels, int64_t values_per_channel, double percentile)
    : channels_(channels), total_(values_per_channel), top_(static_cast<size_t>(channels)),
      size_(static_cast<size_t>(channels), 0), capacity_(static_cast<size_t>(channels), 0),
      floor_(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity()) {
  NEUROCUDA_CHECK(percentile > 0 && percentile <= 100) << "percentile " << percentile;
  NEUROCUDA_CHECK(values_per_channel > 0) << "no values";
  const auto rank = static_cast<int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_) - 1e-9));
  keep_ = total_ - std::max<int64_t>(rank, 1) + 1;  // how many of the largest values hold the answer
}

void ChannelPercentile::trim(size_t c) {
  float *v = top_[c].get();
  std::nth_element(v, v + (keep_ - 1), v + size_[c], std::greater<float>());
  size_[c] = static_cast<size_t>(keep_);
  floor_[c] = *std::min_element(v, v + keep_);
}

namespace {
// Order-preserving keys of floats (NaN never reaches the lists): a > b as floats iff key(a) > key(b),
// except that -0 sorts below +0.
inline uint32_t key_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u & 0x80000000u ? ~u : u | 0x80000000u;
}
inline float float_of(uint32_t k) {
  const uint32_t u = k & 0x80000000u ? k & 0x7fffffffu : ~k;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
} // namespace

// Raises the floor without sorting: the keys' top 12 bits, then the next 12 within the bin that holds
// the keep_-th largest, give a lower edge at or below that value (so every value that can still be
// among the keep_ largest stays), and the list keeps what is at or above it. Two or three passes,
// where nth_element took several; if ties crowd the edge (over 1.5 keep_ would stay) it sorts (trim).
void ChannelPercentile::raise_floor(size_t c) {
  float *v = top_[c].get();
  const size_t n = size_[c];
  // Counts of keys by 12 bits at `shift`, over the keys whose bits above those equal `prefix` (all
  // keys when shift is 20); returns the bin holding the need-th largest and how many lie above it.
  std::vector<int64_t> hist(4096);
  auto locate = [&](int shift, uint32_t prefix, int64_t need) {
    std::fill(hist.begin(), hist.end(), 0);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t k = key_of(v[i]);
      if (shift == 20 || k >> 20 == prefix) ++hist[(k >> shift) & 4095u];
    }
    int64_t above = 0;
    uint32_t b = 4095;
    for (; b > 0 && above + hist[b] < need; --b) above += hist[b];
    return std::make_pair(b, above);
  };
  const auto [high, above] = locate(20, 0, keep_);
  const uint32_t lower = high << 20 | locate(8, high, keep_ - above).first << 8;
  size_t end = 0;
  for (size_t i = 0; i < n; ++i) {
    v[end] = v[i];
    end += key_of(v[i]) >= lower;
  }
  size_[c] = end;
  if (static_cast<int64_t>(end) * 2 > keep_ * 3) {  // values crowd the edge: sort instead
    trim(c);
    return;
  }
  floor_[c] = std::max(floor_[c], float_of(lower));
}

void ChannelPercentile::reserve(size_t c, size_t need) {
  if (need <= capacity_[c]) return;
  const size_t cap = std::max(need, 2 * capacity_[c]);
  std::unique_ptr<float[]> grown(new float[cap]);
  std::copy_n(top_[c].get(), size_[c], grown.get());
  top_[c] = std::move(grown);
  capacity_[c] = cap;
}

void ChannelPercentile::add(const float *data, int64_t n, int64_t plane) {
  const size_t trim_above = 2 * static_cast<size_t>(keep_) + 4096;
  for (int64_t c = 0; c < channels_; ++c) {
    const size_t ch = static_cast<size_t>(c);
    for (int64_t i = 0; i < n; ++i) {
      if (size_[ch] > trim_above) raise_floor(ch);
      reserve(ch, size_[ch] + static_cast<size_t>(plane));
      const float *p = data + (i * channels_ + c) * plane;
      float *v = top_[ch].get();
      // Until the first trim the floor is -inf and every value is kept; after it the list holds at
      // least keep_ values, so a value matters only if it is above the floor. Most are not: each
      // block of 8 is tested at once (the compiler vectorises the test) and only a block with a value
      // above the floor is appended, branch-free (every value written, the end advanced by the kept).
      const float fl = floor_[ch];
      const Vec4 floor4 = Vec4{} + fl;
      size_t end = size_[ch];
      int64_t k = 0;
      for (; k + 8 <= plane; k += 8) {
        Vec4 a, b;
        std::memcpy(&a, p + k, sizeof a);
        std::memcpy(&b, p + k + 4, sizeof b);
        const auto above = (a > floor4) | (b > floor4);
        uint64_t bits[2];
        std::memcpy(bits, &above, sizeof bits);
        if ((bits[0] | bits[1]) == 0) continue;
        for (int j = 0; j < 8; ++j) {
          v[end] = p[k + j];
          end += p[k + j] > fl;
        }
      }
      for (; k < plane; ++k) {
        v[end] = p[k];
        end += p[k] > fl;
      }
      size_[ch] = end;
    }
  }
  seen_ += n * plane;
}

std::vector<float> ChannelPercentile::result() {
  NEUROCUDA_CHECK(seen_ == total_) << "percentile expected " << total_ << " values per channel, saw " << seen_;
  std::vector<float> out(static_cast<size_t>(channels_));
  for (size_t c = 0; c < out.size(); ++c) {
    // Only a NaN is never kept (it is not above any floor).
    if (static_cast<int64_t>(size_[c]) < keep_)
      throw UserError("calibration activations contain NaN: check the calibration data and its normalisation");
    if (static_cast<int64_t>(size_[c]) > keep_) trim(c);
    out[c] = *std::min_element(top_[c].get(), top_[c].get() + size_[c]);
  }
  return out;
}

} // namespace neurocuda::calibration
