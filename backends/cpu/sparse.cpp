// SPDX-License-Identifier: MIT
// Run-time choice of the fast path's kernels by instruction set. Every build adds in the same order
// (elementwise vector adds, no fused multiply-add), so the choice never changes a result.
#include "cpu/sparse.h"
#include "neurocuda/error.h"
#include "neurocuda/util/cpu_isa.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>

namespace neurocuda::backends::cpu::sparse {

#define NEUROCUDA_DECLARE_KERNELS(ns)                                                                          \
  namespace ns {                                                                                               \
  void accumulate(const ConvShape &, const View<float> &, const float *, const float *, float *, uint64_t *,    \
                  Run *);                                                                                      \
  void accumulate(const ConvShape &, const View<int32_t> &, const int32_t *, const int64_t *, int64_t *,       \
                  uint64_t *, Run *);                                                                          \
  void accumulate(const ConvShape &, const View<int32_t> &, const int32_t *, const int32_t *, int32_t *,       \
                  uint64_t *, Run *);                                                                          \
  bool collect(const float *, int64_t, int64_t, int64_t, int64_t, int32_t *, int32_t *, float *);              \
  bool collect(const int32_t *, int64_t, int64_t, int64_t, int64_t, int32_t *, int32_t *, int32_t *);          \
  uint64_t graded_layer(float *, float *, const float *, float *, size_t, float);                              \
  uint64_t if_layer(float *, const float *, float *, size_t);                                                  \
  void running_max_pool(const float *, float *, float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t,  \
                        int64_t, int64_t);                                                                     \
  uint64_t graded_layer_int(int64_t *, int64_t *, const int64_t *, int64_t *, int64_t, int64_t, const int64_t *, \
                            const double *, int64_t);                                                          \
  uint64_t graded_layer_int(int64_t *, int64_t *, const int32_t *, int32_t *, int64_t, int64_t, const int64_t *, \
                            const double *, int64_t);                                                          \
  uint64_t graded_layer_int(double *, double *, const int32_t *, int32_t *, int64_t, int64_t, const double *,  \
                            const double *, int64_t);                                                          \
  uint64_t if_layer_int(int64_t *, const int64_t *, int64_t *, int64_t, int64_t, const int64_t *);              \
  uint64_t if_layer_int(int64_t *, const int32_t *, int32_t *, int64_t, int64_t, const int64_t *);              \
  bool accumulate_dense8(const Dense8Shape &, const int32_t *, const int8_t *, const int32_t *, int32_t *,      \
                         uint64_t *, uint8_t *, int32_t *, double, double, const uint8_t *);                   \
  uint64_t graded_layer_int32(int32_t *, int32_t *, const int32_t *, int32_t *, int64_t, int64_t, const int32_t *, \
                              const float *, int32_t, int64_t);                                                \
  void running_max_pool_int(const int64_t *, int64_t *, int64_t *, int64_t *, int64_t, int64_t, int64_t, int64_t, \
                            int64_t, int64_t, int64_t);                                                        \
  void running_max_pool_int(const int32_t *, int64_t *, int64_t *, int32_t *, int64_t, int64_t, int64_t, int64_t, \
                            int64_t, int64_t, int64_t);                                                        \
  uint64_t if_layer_int32(int32_t *, const int32_t *, int32_t *, int64_t, int64_t, const int32_t *, uint8_t *); \
  uint64_t if_layer_int32_add(int32_t *, const int32_t *, const int32_t *, const int32_t *, const int32_t *,     \
                              int32_t *, int64_t, int64_t, const int32_t *, uint8_t *, const uint8_t *);   \
  void collect_spikes(const uint8_t *, int64_t, int64_t, int64_t, int64_t, int32_t *, int32_t *);             \
  void running_max_pool_int32(const int32_t *, int32_t *, int32_t *, int32_t *, int64_t, int64_t, int64_t,      \
                              int64_t, int64_t, int64_t, int64_t);                                             \
  void add_int32(const int32_t *const *, const int32_t *const *, int, int32_t *, int64_t, int64_t);            \
  void window_sum_int32(const int32_t *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t *);     \
  void accumulate_spikes16(const ConvShape &, const View<int16_t> &, const int16_t *, const int32_t *, int32_t *, \
                           uint64_t *, Run *);                                                          \
  void accumulate_spikes16_columns(const ConvShape &, const int32_t *, const int32_t *, const int16_t *,         \
                                   const int32_t *, int32_t *, uint64_t *);                                    \
  void collect_spikes_columns(const uint8_t *, int64_t, int64_t, int64_t, int64_t, int32_t *, int32_t *);      \
  bool accumulate_linear8(const int32_t *, int64_t, const int8_t *, const int32_t *, int32_t *, int64_t,        \
                          uint64_t *, int32_t *, int32_t *, double);                                           \
  bool accumulate_spikes_lut(const LutShape &, const int32_t *, const int16_t *, const int32_t *, int32_t *,    \
                             uint64_t *, uint64_t *, double, const uint8_t *);                                 \
  }
NEUROCUDA_DECLARE_KERNELS(avx512)
NEUROCUDA_DECLARE_KERNELS(avx2)
NEUROCUDA_DECLARE_KERNELS(sse)
#undef NEUROCUDA_DECLARE_KERNELS

namespace {
using Isa = util::CpuIsa;
// The kernels' build: the widest this CPU has, capped by NEUROCUDA_CPU_ISA / NEUROCUDA_CPU_BASELINE
// (util/cpu_isa.h). The tests run each build that way. Kept here too: every kernel call asks.
Isa isa() {
  static const Isa chosen = util::cpu_isa();
  return chosen;
}
bool has_avx2() { return isa() != Isa::Sse; }
// A kernel call in this CPU's build; _WIDE: for kernels with no SSE build (callers check has_avx2()).
#define NEUROCUDA_DISPATCH(call) (isa() == Isa::Avx512 ? avx512::call : isa() == Isa::Avx2 ? avx2::call : sse::call)
#define NEUROCUDA_DISPATCH_WIDE(call) (isa() == Isa::Avx512 ? avx512::call : avx2::call)
// Pixel-order lists (collect, collect_spikes) as the event kernels take them.
template <typename T> View<T> view(const Events<T> &e) {
  NEUROCUDA_CHECK(!e.columns) << "column-order lists are for accumulate_spikes16_columns only";
  return {e.start.data(), e.channel.data(), e.value.data(), e.all_ones};
}

// Room for two output pixels' window runs (at most one per tap), per thread.
Run *runs(const ConvShape &s) {
  thread_local std::vector<Run> buffer;
  const auto need = static_cast<size_t>(2 * s.kh * s.kw);
  if (buffer.size() < need) buffer.resize(need);
  return buffer.data();
}

// Sizes e for the lists of an HWC tensor of shape d and fills it with this CPU's kernel. Every chunk
// stores 8 entries at the write position: room for the last chunk's overrun.
template <typename T> void list(const T *in, const Dims &d, int64_t row, Events<T> &e) {
  e.start.resize(static_cast<size_t>(d.h * d.w + 1));
  e.channel.resize(static_cast<size_t>(d.size() + 8));
  e.value.resize(e.channel.size());
  e.columns = false;
  e.all_ones = NEUROCUDA_DISPATCH(collect(in, d.h * d.w, d.w, d.c, row, e.start.data(), e.channel.data(), e.value.data()));
}
} // namespace

const char *kernel_isa() {
  switch (isa()) {
  case Isa::Avx512: return "avx512";
  case Isa::Avx2: return "avx2";
  default: return "sse";
  }
}

void collect(const float *in, const Dims &d, int64_t row, Events<float> &e) { list(in, d, row, e); }

bool collect(const int64_t *in, const Dims &d, int64_t row, Events<int32_t> &e) {
  // Narrowed to 32 bits first (range tracked with min/max, vectorised), then listed like fp32.
  thread_local std::vector<int32_t> narrow;
  const auto size = static_cast<size_t>(d.size());
  narrow.resize(size);
  int64_t lo = 0, hi = 0;
  for (size_t k = 0; k < size; ++k) {
    const int64_t v = in[k];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    narrow[k] = static_cast<int32_t>(v);
  }
  if (lo < std::numeric_limits<int32_t>::min() || hi > std::numeric_limits<int32_t>::max()) return false;
  list(narrow.data(), d, row, e);
  return true;
}

bool collect(const int32_t *in, const Dims &d, int64_t row, Events<int32_t> &e) {
  list(in, d, row, e);
  return true;
}

void accumulate(const ConvShape &s, const Events<float> &e, const float *w, const float *bias, float *out,
                uint64_t *ops) {
  NEUROCUDA_DISPATCH(accumulate(s, view(e), w, bias, out, ops, runs(s)));
}

void accumulate(const ConvShape &s, const Events<int32_t> &e, const int32_t *w, const int64_t *bias, int64_t *out,
                uint64_t *ops) {
  NEUROCUDA_DISPATCH(accumulate(s, view(e), w, bias, out, ops, runs(s)));
}

void accumulate(const ConvShape &s, const Events<int32_t> &e, const int32_t *w, const int32_t *bias, int32_t *out,
                uint64_t *ops) {
  NEUROCUDA_DISPATCH(accumulate(s, view(e), w, bias, out, ops, runs(s)));
}

uint64_t graded_layer(float *v, float *net, const float *cur, float *out, size_t n, float t) {
  return NEUROCUDA_DISPATCH(graded_layer(v, net, cur, out, n, t));
}

uint64_t if_layer(float *v, const float *cur, float *out, size_t n) {
  return NEUROCUDA_DISPATCH(if_layer(v, cur, out, n));
}

void running_max_pool(const float *in, float *sum, float *prev, float *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow) {
  NEUROCUDA_DISPATCH(running_max_pool(in, sum, prev, out, h, w, c, kh, kw, oh, ow));
}

uint64_t graded_layer_int(int64_t *v, int64_t *net, const int64_t *cur, int64_t *out, int64_t pixels,
                          int64_t channels, const int64_t *threshold, const double *inverse, int64_t t) {
  return NEUROCUDA_DISPATCH(graded_layer_int(v, net, cur, out, pixels, channels, threshold, inverse, t));
}

uint64_t graded_layer_int(int64_t *v, int64_t *net, const int32_t *cur, int32_t *out, int64_t pixels,
                          int64_t channels, const int64_t *threshold, const double *inverse, int64_t t) {
  return NEUROCUDA_DISPATCH(graded_layer_int(v, net, cur, out, pixels, channels, threshold, inverse, t));
}

uint64_t graded_layer_int(double *v, double *net, const int32_t *cur, int32_t *out, int64_t pixels, int64_t channels,
                          const double *threshold, const double *inverse, int64_t t) {
  return NEUROCUDA_DISPATCH(graded_layer_int(v, net, cur, out, pixels, channels, threshold, inverse, t));
}

uint64_t if_layer_int(int64_t *v, const int64_t *cur, int64_t *out, int64_t pixels, int64_t channels,
                      const int64_t *threshold) {
  return NEUROCUDA_DISPATCH(if_layer_int(v, cur, out, pixels, channels, threshold));
}

uint64_t if_layer_int(int64_t *v, const int32_t *cur, int32_t *out, int64_t pixels, int64_t channels,
                      const int64_t *threshold) {
  return NEUROCUDA_DISPATCH(if_layer_int(v, cur, out, pixels, channels, threshold));
}

namespace {
// How many output rows (columns) each input row (column) of s reaches: the reference scatter's tap tables.
void fans(const ConvShape &s, std::vector<int64_t> &row_fan, std::vector<int64_t> &col_fan) {
  row_fan.clear(), col_fan.clear();
  for (const auto &taps : make_taps(s.in.h, s.out.h, s.kh, s.sh, s.ph, s.dh)) row_fan.push_back(static_cast<int64_t>(taps.size()));
  for (const auto &taps : make_taps(s.in.w, s.out.w, s.kw, s.sw, s.pw, s.dw)) col_fan.push_back(static_cast<int64_t>(taps.size()));
}

// Whether every output's |weights| ([...][c_out]) sum to at most 32767: 16-bit sums of spikes are
// then exact (this also bounds each weight).
bool sums_fit_16_bits(const ConvShape &s, const std::vector<int32_t> &w) {
  std::vector<int64_t> magnitude(static_cast<size_t>(s.out.c), 0);
  for (size_t k = 0; k < w.size(); ++k) magnitude[k % static_cast<size_t>(s.out.c)] += std::abs(int64_t{w[k]});
  return *std::max_element(magnitude.begin(), magnitude.end()) <= 32767;
}
} // namespace

bool dense8_layout(const ConvShape &s, const std::vector<int32_t> &w, Dense8Shape &g, Weights8 &packed) {
  if (s.out.c % 8 != 0) return false;
  for (int32_t x : w)
    if (x > 127 || x < -127) return false;
  g.s = s;
  g.cin4 = (s.in.c + 3) / 4 * 4;
  g.cout = s.out.c;
  g.height = s.in.h + 2 * s.ph;
  g.width = s.in.w + 2 * s.pw;
  g.macs = s.out.h * s.out.w * s.kh * s.kw * s.in.c * s.out.c;
  fans(s, g.row_fan, g.col_fan);
  for (int64_t ky = 0; ky < s.kh; ++ky)
    for (int64_t kx = 0; kx < s.kw; ++kx) g.tap_input.push_back((ky * s.dh * g.width + kx * s.dw) * g.cin4);
  g.weight_sum.assign(static_cast<size_t>(g.cout), 0);
  std::vector<int64_t> lane_sum(static_cast<size_t>(2 * g.cout), 0);  // [lane][output]
  for (size_t k = 0; k < w.size(); ++k) {
    const auto o = k % static_cast<size_t>(g.cout), c = k / static_cast<size_t>(g.cout) % static_cast<size_t>(s.in.c);
    g.weight_sum[o] += w[k];
    lane_sum[c % 4 / 2 * static_cast<size_t>(g.cout) + o] += w[k] < 0 ? -w[k] : w[k];
  }
  g.lane_abs_weight_sum = *std::max_element(lane_sum.begin(), lane_sum.end());
  packed.assign(static_cast<size_t>(s.kh * s.kw * g.cin4 * g.cout), 0);
  for (int64_t tap = 0; tap < s.kh * s.kw; ++tap)
    for (int64_t c = 0; c < s.in.c; ++c)
      for (int64_t o = 0; o < s.out.c; ++o)
        packed[static_cast<size_t>(((tap * g.cin4 / 4 + c / 4) * g.cout + o) * 4 + c % 4)] =
            static_cast<int8_t>(w[static_cast<size_t>((tap * s.in.c + c) * s.out.c + o)]);
  return true;
}

bool accumulate_dense8(const Dense8Shape &g, const int32_t *in, const int8_t *w, const int32_t *bias, int32_t *out,
                       uint64_t *ops, double event_cost, double spike_cost, const uint8_t *bits) {
  NEUROCUDA_CHECK(!bits || g.s.in.c % 8 == 0) << "spike bits need a multiple of 8 channels";
  if (!has_avx2()) return false;
  thread_local std::vector<uint8_t> bytes;
  thread_local std::vector<int32_t> correction;
  const auto size = static_cast<size_t>(g.height * g.width * g.cin4);
  if (bytes.size() < size) bytes.resize(size);
  if (correction.size() < static_cast<size_t>(g.cout)) correction.resize(static_cast<size_t>(g.cout));
  return NEUROCUDA_DISPATCH_WIDE(accumulate_dense8(g, in, w, bias, out, ops, bytes.data(), correction.data(), event_cost,
                                                   spike_cost, bits));
}

bool graded_layer_int32(int32_t *v, int32_t *net, const int32_t *cur, int32_t *out, int64_t pixels, int64_t channels,
                        const int32_t *threshold, const float *inverse, int32_t smallest, int64_t t, uint64_t &count) {
  const uint64_t r = NEUROCUDA_DISPATCH(graded_layer_int32(v, net, cur, out, pixels, channels, threshold, inverse, smallest, t));
  if (r == kNotNarrow) return false;
  count = r;
  return true;
}

template <typename V>
void max_pool_int(const V *in, int64_t *sum, int64_t *prev, V *out, int64_t h, int64_t w, int64_t c, int64_t kh,
                  int64_t kw, int64_t oh, int64_t ow) {
  NEUROCUDA_DISPATCH(running_max_pool_int(in, sum, prev, out, h, w, c, kh, kw, oh, ow));
}

void running_max_pool(const int64_t *in, int64_t *sum, int64_t *prev, int64_t *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow) {
  max_pool_int(in, sum, prev, out, h, w, c, kh, kw, oh, ow);
}

void running_max_pool(const int32_t *in, int64_t *sum, int64_t *prev, int32_t *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow) {
  max_pool_int(in, sum, prev, out, h, w, c, kh, kw, oh, ow);
}

uint64_t if_layer_int32(int32_t *v, const int32_t *cur, int32_t *out, int64_t pixels, int64_t channels,
                        const int32_t *threshold, uint8_t *bits) {
  if (channels % 8 != 0) bits = nullptr;
  NEUROCUDA_CHECK(out || bits) << "the IF step writes its spikes somewhere: int32 outputs, or bits (8k channels)";
  return NEUROCUDA_DISPATCH(if_layer_int32(v, cur, out, pixels, channels, threshold, bits));
}

void running_max_pool(const int32_t *in, int32_t *sum, int32_t *prev, int32_t *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow) {
  NEUROCUDA_DISPATCH(running_max_pool_int32(in, sum, prev, out, h, w, c, kh, kw, oh, ow));
}

void add_int32(const int32_t *const *x, const int32_t *const *m, int inputs, int32_t *out, int64_t pixels,
               int64_t channels) {
  NEUROCUDA_DISPATCH(add_int32(x, m, inputs, out, pixels, channels));
}

void window_sum_int32(const int32_t *in, int64_t width, int64_t channels, int64_t y0, int64_t y1, int64_t x0, int64_t x1,
                      int64_t *sums) {
  NEUROCUDA_DISPATCH(window_sum_int32(in, width, channels, y0, y1, x0, x1, sums));
}

bool accumulate_linear8(const int32_t *in, int64_t n_in, const int8_t *w, const int32_t *bias, int32_t *out,
                        int64_t n_out, uint64_t *ops, double max_density) {
  if (n_out % 16 != 0) return false;
  // Offsets i x n_out must fit 32 bits; the lists take up to 7 entries past the last (8-lane stores).
  if (n_in * n_out >= std::numeric_limits<int32_t>::max()) return false;
  thread_local std::vector<int32_t> offset, value;
  const auto need = static_cast<size_t>(n_in + 8);
  if (offset.size() < need) offset.resize(need), value.resize(need);
  return NEUROCUDA_DISPATCH(accumulate_linear8(in, n_in, w, bias, out, n_out, ops, offset.data(), value.data(), max_density));
}

bool spikes16_layout(const ConvShape &s, const std::vector<int32_t> &w, Weights16 &packed) {
  if (!sums_fit_16_bits(s, w)) return false;
  packed.assign(w.begin(), w.end());
  return true;
}

bool lut_layout(const ConvShape &s, const std::vector<int32_t> &w, LutShape &g) {
  const bool wide = s.in.c > 12;
  const int64_t taps = s.kh * s.kw, groups = wide ? 3 : (s.in.c + 3) / 4, tap_rows = wide ? 128 : groups * 16;
  if (s.in.c > 16 || s.out.c % 16 != 0 || taps * tap_rows * 32 > 36 * 1024 || !sums_fit_16_bits(s, w)) return false;
  g.s = s;
  g.wide = wide;
  g.groups = groups;
  g.tap_rows = tap_rows;
  g.blocks = s.out.c / 16;
  g.cout = s.out.c;
  g.height = s.in.h + 2 * s.ph;
  g.width = s.in.w + 2 * s.pw;
  g.tap_pixel.clear();
  for (int64_t ky = 0; ky < s.kh; ++ky)
    for (int64_t kx = 0; kx < s.kw; ++kx) g.tap_pixel.push_back(ky * s.dh * g.width + kx * s.dw);
  fans(s, g.row_fan, g.col_fan);
  g.lookups = s.out.h * s.out.w * taps * groups * g.blocks;
  // Row (block, tap, group, code) sums the weights of the code's channels; rows 32-byte aligned.
  const auto entries = static_cast<size_t>(g.blocks * taps * tap_rows * 16);
  g.table.reset(static_cast<int16_t *>(std::aligned_alloc(64, (entries * sizeof(int16_t) + 63) / 64 * 64)), std::free);
  if (!g.table) throw std::bad_alloc();
  int16_t *table = g.table.get();
  for (int64_t b = 0; b < g.blocks; ++b)
    for (int64_t t = 0; t < taps; ++t) {
      int64_t row = (b * taps + t) * tap_rows;
      for (int64_t gr = 0; gr < groups; ++gr) {
        const int64_t first = wide ? 5 * gr : 4 * gr, bits = wide ? (gr == 2 ? 6 : 5) : 4;
        for (int64_t code = 0; code < int64_t{1} << bits; ++code, ++row)
          for (int64_t o = 0; o < 16; ++o) {
            int64_t sum = 0;
            for (int64_t bit = 0; bit < bits; ++bit)
              if (code >> bit & 1 && first + bit < s.in.c)
                sum += w[static_cast<size_t>((t * s.in.c + first + bit) * s.out.c + b * 16 + o)];
            table[static_cast<size_t>(row * 16 + o)] = static_cast<int16_t>(sum);
          }
      }
    }
  return true;
}

bool accumulate_spikes_lut(const LutShape &g, const int32_t *in, const int32_t *bias, int32_t *out, uint64_t *ops,
                           double spike_cost, const uint8_t *bits) {
  if (!has_avx2() || !g.table) return false;
  thread_local std::vector<uint64_t> codes;
  const auto size = static_cast<size_t>(g.height * g.width);
  if (codes.size() < size) codes.resize(size);
  return NEUROCUDA_DISPATCH_WIDE(accumulate_spikes_lut(g, in, g.table.get(), bias, out, ops, codes.data(), spike_cost, bits));
}

bool accumulate_spikes16(const ConvShape &s, const Events<int32_t> &e, const int16_t *w, const int32_t *bias,
                         int32_t *out, uint64_t *ops) {
  if (!e.all_ones) return false;
  NEUROCUDA_CHECK(!e.columns) << "column-order lists are for accumulate_spikes16_columns only";
  const View<int16_t> v{e.start.data(), e.channel.data(), nullptr, true};
  NEUROCUDA_DISPATCH(accumulate_spikes16(s, v, w, bias, out, ops, runs(s)));
  return true;
}

uint64_t if_layer_int32_add(int32_t *v, const int32_t *x0, const int32_t *m0, const int32_t *x1, const int32_t *m1,
                            int32_t *out, int64_t pixels, int64_t channels, const int32_t *threshold, uint8_t *bits,
                            const uint8_t *spikes1) {
  if (channels % 8 != 0) bits = nullptr;
  NEUROCUDA_CHECK(out || bits) << "the IF step writes its spikes somewhere: int32 outputs, or bits (8k channels)";
  NEUROCUDA_CHECK(!spikes1 || channels % 8 == 0) << "spike bits need a multiple of 8 channels";
  return NEUROCUDA_DISPATCH(if_layer_int32_add(v, x0, m0, x1, m1, out, pixels, channels, threshold, bits, spikes1));
}

bool columns_shape(const ConvShape &s) {
  const bool stride = (s.sh == 1 && s.sw == 1) || (s.sh == 2 && s.sw == 2);
  return stride && s.kh == 3 && s.kw == 3 && s.dh == 1 && s.dw == 1 && s.ph == 1 && s.pw == 1 &&
         s.out.h == (s.in.h - 1) / s.sh + 1 && s.out.w == (s.in.w - 1) / s.sw + 1 && s.in.c % 8 == 0 &&
         s.out.c % 16 == 0 && s.out.c <= 64 && s.in.h * 3 * s.in.c * s.out.c < std::numeric_limits<int32_t>::max();
}

namespace {
// Sizes e for the lists of spikes given as bits, of shape d, in column order or not; false, leaving e
// alone, unless d.c is a multiple of 8.
bool spike_lists(const Dims &d, bool columns, Events<int32_t> &e) {
  if (d.c % 8 != 0) return false;
  e.start.resize(static_cast<size_t>(d.h * d.w + 1));
  e.channel.resize(static_cast<size_t>(d.size() + 16));  // room for a 16-entry step's overrun
  e.all_ones = true;
  e.columns = columns;
  return true;
}
} // namespace

bool collect_spikes_columns(const uint8_t *bits, const Dims &d, int64_t row, Events<int32_t> &e) {
  if (!spike_lists(d, true, e)) return false;
  NEUROCUDA_DISPATCH(collect_spikes_columns(bits, d.h, d.w, d.c, row, e.start.data(), e.channel.data()));
  return true;
}

void accumulate_spikes16_columns(const ConvShape &s, const Events<int32_t> &e, const int16_t *w, const int32_t *bias,
                                 int32_t *out, uint64_t *ops) {
  NEUROCUDA_CHECK(e.columns && columns_shape(s)) << "the column kernel takes column-order lists of a 3x3 layer that fits it";
  NEUROCUDA_DISPATCH(accumulate_spikes16_columns(s, e.start.data(), e.channel.data(), w, bias, out, ops));
}

bool collect_spikes(const uint8_t *bits, const Dims &d, int64_t row, Events<int32_t> &e) {
  if (!spike_lists(d, false, e)) return false;
  NEUROCUDA_DISPATCH(collect_spikes(bits, d.h * d.w, d.w, d.c, row, e.start.data(), e.channel.data()));
  return true;
}

} // namespace neurocuda::backends::cpu::sparse
