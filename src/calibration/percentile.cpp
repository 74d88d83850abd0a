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

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "neurocuda/error.h"
#include "neurocuda/util/cpu_isa.h"

namespace neurocuda::calibration {
namespace {
typedef float Vec4 __attribute__((vector_size(16)));  // one SSE register, in every x86-64 build

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

// The values of p[0, n) above `floor`, appended in order at v[end]; the new end. Branch-free.
inline size_t append_above(const float *p, int64_t n, float floor, float *v, size_t end) {
  for (int64_t k = 0; k < n; ++k) {
    v[end] = p[k];
    end += p[k] > floor;
  }
  return end;
}
// v[i, n) compacted in place after v[0, end) (its first `end` values already kept, end <= i) to the
// values whose key is at least `lower`; how many v[0, n) keeps.
inline size_t keep_keys(float *v, size_t i, size_t n, size_t end, uint32_t lower) {
  for (; i < n; ++i) {
    v[end] = v[i];
    end += key_of(v[i]) >= lower;
  }
  return end;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define NEUROCUDA_PERCENTILE_AVX2 1
// Left-packing permutations: entry m lists the set bits of the 8-bit mask m, lowest first.
struct PackTable {
  alignas(32) int32_t idx[256][8];
  PackTable() {
    for (int m = 0; m < 256; ++m) {
      int n = 0;
      for (int b = 0; b < 8; ++b)
        if (m >> b & 1) idx[m][n++] = b;
      while (n < 8) idx[m][n++] = 0;
    }
  }
};
const PackTable kPack;

// The values of p[0, n) above `floor`, appended in order at v[end]; the new end. Eight at a time: a
// block with none above is skipped, else its kept values are left-packed into one store (writing up
// to 8 slots past the new end, within what the caller reserved: end never passes the values read).
__attribute__((target("avx2,popcnt"))) size_t append_above_avx2(const float *p, int64_t n, float floor, float *v,
                                                               size_t end) {
  const __m256 fl = _mm256_set1_ps(floor);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 x = _mm256_loadu_ps(p + k);
    const auto m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(x, fl, _CMP_GT_OQ)));
    if (m == 0) continue;
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i *>(kPack.idx[m]));
    _mm256_storeu_ps(v + end, _mm256_permutevar8x32_ps(x, perm));
    end += static_cast<size_t>(__builtin_popcount(m));
  }
  return append_above(p + k, n - k, floor, v, end);
}

// keep_keys, eight at a time, left-packed as append_above_avx2 (the stores stay within [0, n)).
__attribute__((target("avx2,popcnt"))) size_t keep_keys_avx2(float *v, size_t n, uint32_t lower) {
  if (lower == 0) return n;  // every key is at least 0
  // The key with its top bit flipped, compared signed: u ^ (sign ? 0x7FFFFFFF : 0) (key_of's order).
  const __m256i bound = _mm256_set1_epi32(static_cast<int32_t>((lower ^ 0x80000000u) - 1));
  const __m256i low31 = _mm256_set1_epi32(0x7FFFFFFF);
  size_t end = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(v + i));
    const __m256i key = _mm256_xor_si256(u, _mm256_and_si256(_mm256_srai_epi32(u, 31), low31));
    const auto m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(key, bound))));
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i *>(kPack.idx[m]));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(v + end), _mm256_permutevar8x32_epi32(u, perm));
    end += static_cast<size_t>(__builtin_popcount(m));
  }
  return keep_keys(v, i, n, end, lower);
}
// AVX2, unless NEUROCUDA_CPU_ISA=sse or NEUROCUDA_CPU_BASELINE caps the instruction set
// (util/cpu_isa.h, as for the CPU backend's kernels; the tests run the plain loops that way).
bool has_avx2() {
  static const bool yes = util::cpu_isa() != util::CpuIsa::Sse && __builtin_cpu_supports("popcnt");
  return yes;
}
#endif
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
#ifdef NEUROCUDA_PERCENTILE_AVX2
  const size_t end = has_avx2() ? keep_keys_avx2(v, n, lower) : keep_keys(v, 0, n, 0, lower);
#else
  const size_t end = keep_keys(v, 0, n, 0, lower);
#endif
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
      // block of 8 is tested at once and only a block with a value above the floor is appended
      // (AVX2: left-packed in one store; else branch-free, every value written, the end advanced by
      // the kept). The AVX2 loop took the ResNet's calibration from 1.64-1.84 s to 1.51-1.59 s.
      const float fl = floor_[ch];
      size_t end = size_[ch];
#ifdef NEUROCUDA_PERCENTILE_AVX2
      if (has_avx2()) {
        size_[ch] = append_above_avx2(p, plane, fl, v, end);
        continue;
      }
#endif
      const Vec4 floor4 = Vec4{} + fl;  // the compiler vectorises the test
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
      size_[ch] = append_above(p + k, plane - k, fl, v, end);
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
