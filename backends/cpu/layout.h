// SPDX-License-Identifier: MIT
// Internal to the CPU backend: channels-last layout helpers shared by the fp32 and integer programs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "neurocuda/backend.h"
#include "neurocuda/ir/graph.h"

namespace neurocuda::backends::cpu {

/// Per-channel spike counters, zero, one list per population (RunOptions::channel_spikes).
inline std::vector<std::vector<uint64_t>> zero_channel_counts(const std::vector<LayerInfo> &layers) {
  std::vector<std::vector<uint64_t>> counts;
  for (const auto &l : layers) counts.emplace_back(static_cast<size_t>(l.channels), 0);
  return counts;
}

/// Adds the net spikes of one step of a population (`out`, HWC, `size` values, 0 = no spike) to its
/// per-channel counters: 1 per IF spike, the payload of a graded one (negative ones wrap around in
/// unsigned arithmetic; a graded neuron's net count never goes below 0, so totals are exact).
template <typename T> void count_channel_spikes(std::vector<uint64_t> &per_channel, const T *out, size_t size) {
  const size_t channels = per_channel.size();
  for (size_t k = 0; k < size; k += channels)
    for (size_t c = 0; c < channels; ++c) per_channel[c] += static_cast<uint64_t>(static_cast<int64_t>(out[k + c]));
}

/// Adds one thread's per-channel counts into the run's (integer sums: the order threads arrive in does
/// not matter). Call under a lock.
inline void add_channel_counts(std::vector<std::vector<uint64_t>> &total, const std::vector<std::vector<uint64_t>> &part) {
  if (total.empty()) {
    total = part;
    return;
  }
  for (size_t l = 0; l < total.size(); ++l)
    for (size_t c = 0; c < total[l].size(); ++c) total[l][c] += part[l][c];
}

/// A per-sample tensor stored channels-last (HWC); [F] tensors are C = F, H = W = 1.
struct Dims {
  int64_t c = 1, h = 1, w = 1;
  int64_t size() const { return c * h * w; }
};

inline Dims dims_of(const ir::Shape &s) {
  if (s.size() == 3) return {s[0], s[1], s[2]};
  return {ir::numel(s), 1, 1};
}

/// For each input row (or column) of a convolution, the (kernel tap, output row) pairs it reaches.
using Taps = std::vector<std::vector<std::pair<int32_t, int32_t>>>;

inline Taps make_taps(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  Taps t(static_cast<size_t>(in));
  for (int64_t y = 0; y < in; ++y)
    for (int64_t ky = 0; ky < k; ++ky) {
      const int64_t ny = y + pad - ky * dil;
      if (ny < 0 || ny % stride) continue;
      if (ny / stride < out) t[static_cast<size_t>(y)].emplace_back(static_cast<int32_t>(ky), static_cast<int32_t>(ny / stride));
    }
  return t;
}

/// Conv weights for scattering: [ky][kx][c_in][o_in_group], from PyTorch's [o][c_in_group][ky][kx].
template <typename T, typename S>
std::vector<T> scatter_layout(const std::vector<S> &w, const ir::Shape &shape, int64_t groups) {
  const int64_t o = shape[0], cig = shape[1], kh = shape[2], kw = shape[3];
  const int64_t opg = o / groups, cin = cig * groups;
  std::vector<T> out(w.size());
  for (int64_t oo = 0; oo < o; ++oo)
    for (int64_t ci = 0; ci < cig; ++ci)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x)
          out[static_cast<size_t>(((y * kw + x) * cin + (oo / opg) * cig + ci) * opg + oo % opg)] =
              static_cast<T>(w[static_cast<size_t>(((oo * cig + ci) * kh + y) * kw + x)]);
  return out;
}

/// Linear weights for scattering: [in][out], from PyTorch's [out][in].
template <typename T, typename S> std::vector<T> transpose_layout(const std::vector<S> &w, int64_t outs, int64_t ins) {
  std::vector<T> out(w.size());
  for (int64_t o = 0; o < outs; ++o)
    for (int64_t i = 0; i < ins; ++i) out[static_cast<size_t>(i * outs + o)] = static_cast<T>(w[static_cast<size_t>(o * ins + i)]);
  return out;
}

/// HWC -> CHW, which is the order PyTorch's flatten produces (Vec: a std::vector of any allocator).
template <typename Vec> void flatten_hwc(const Dims &a, const Vec &in, Vec &out) {
  for (int64_t c = 0; c < a.c; ++c)
    for (int64_t k = 0; k < a.h * a.w; ++k) out[static_cast<size_t>(c * a.h * a.w + k)] = in[static_cast<size_t>(k * a.c + c)];
}

/// Channel concatenation in HWC.
template <typename Vec> void cat_hwc(const Dims &b, const std::vector<const Vec *> &ins, Vec &out) {
  const int64_t hw = b.h * b.w;
  int64_t base = 0;
  for (const auto *src : ins) {
    const int64_t c = static_cast<int64_t>(src->size()) / hw;
    for (int64_t k = 0; k < hw; ++k)
      std::copy_n(&(*src)[static_cast<size_t>(k * c)], c, &out[static_cast<size_t>(k * b.c + base)]);
    base += c;
  }
}

/// Sets the trace bit of neuron k (HWC index) of a population, numbering neurons in PyTorch (CHW) order.
inline void set_trace_bit(uint64_t *trace, int64_t base, const Dims &d, int64_t k) {
  const int64_t bit = base + (k % d.c) * (d.h * d.w) + k / d.c;
  trace[bit / 64] |= uint64_t{1} << (bit % 64);
}

} // namespace neurocuda::backends::cpu
