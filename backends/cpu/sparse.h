// SPDX-License-Identifier: MIT
// Internal to the CPU backend: the fast path's kernels, synaptic accumulation and neuron updates.
//
// A layer's input at one timestep is mostly zeros (spikes are sparse), so it is first compressed
// into per-pixel lists of non-zero channels (Events), pixel after pixel. Each output pixel then sums
// only those events, holding its block of output channels in SIMD registers for the whole sum: one
// run of the list per row of its window (Run), no per-pixel copying. Every output still adds its
// terms in (ky, kx, c) order, starting from zero, with the bias last: the same order as the
// reference scatter in cpu_backend.cpp, so fp32 results are bit-identical (snn/neuron.h), and
// integer results are exact by construction.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "cpu/layout.h"

namespace neurocuda::backends::cpu::sparse {

/// The instruction set the kernels below run with on this CPU: "avx512", "avx2" or "sse" (SSE4.2), the
/// widest the CPU has unless NEUROCUDA_CPU_ISA=avx2|sse (or NEUROCUDA_CPU_BASELINE=1, as sse) caps it.
/// Every build gives the same results bit for bit.
const char *kernel_isa();

/// std::vector's storage on 64-byte boundaries: weight rows of 16 or 32 outputs then never straddle two
/// cache lines (a 64-output row of 16-bit weights touches two lines, not three).
template <typename T> struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U> CacheLineAllocator(const CacheLineAllocator<U> &) {}
  T *allocate(size_t n) { return static_cast<T *>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T *p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  template <typename U> bool operator==(const CacheLineAllocator<U> &) const { return true; }
  template <typename U> bool operator!=(const CacheLineAllocator<U> &) const { return false; }
};
template <typename T> using Aligned = std::vector<T, CacheLineAllocator<T>>;
/// The 16-bit spike events' weights (spikes16_layout) and the dense 8-bit kernel's (dense8_layout).
using Weights16 = Aligned<int16_t>;
using Weights8 = Aligned<int8_t>;

/// The non-zero entries of one HWC tensor, grouped by pixel (compressed sparse rows).
template <typename T> struct Events {
  std::vector<int32_t> start;    ///< pixel p's events are [start[p], start[p + 1])
  std::vector<int32_t> channel;  ///< ascending within a pixel; as offsets (x * C + c) * row, x the pixel's column
  std::vector<T> value;
  bool all_ones = true;          ///< every value is 1 (spikes): the kernels skip the multiply
  bool columns = false;          ///< in column order (collect_spikes_columns), for accumulate_spikes16_columns only
};

/// Raw pointers into Events, as the per-instruction-set kernels take them.
template <typename T> struct View {
  const int32_t *start, *channel;
  const T *value;
  bool all_ones;
};

/// Fills e from an HWC tensor of shape d, each event at column x, channel c stored as the offset
/// (x * C + c) * row (row = the layer's output channels): with weights [ky][kx][c][out], a window
/// row's events then index their weight rows from one base per row (Run). Vectorised where the CPU
/// allows (sparse.cpp).
void collect(const float *in, const Dims &d, int64_t row, Events<float> &e);
/// Integer mode; false if a value does not fit 32 bits (the caller then uses the reference path).
bool collect(const int64_t *in, const Dims &d, int64_t row, Events<int32_t> &e);
/// Integer mode with 32-bit values (always true).
bool collect(const int32_t *in, const Dims &d, int64_t row, Events<int32_t> &e);

/// One row of an output pixel's window: events [begin, end) of the list, whose weight rows are at
/// off + channel[k] in the layer's weights.
struct Run {
  int32_t begin, end;
  int64_t off;
};

/// A convolution with one group (a linear layer is the 1x1 case on a 1x1 image).
struct ConvShape {
  Dims in, out;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

/// Whether the fast path takes a layer, and its shape if so: linear layers, and convolutions with one
/// group and kernels of at most 64 taps a side, whose weights `weights` fit 32-bit offsets. `conv` is
/// the layer's geometry as the program laid it out (ignored for linear layers).
inline bool fast_path_shape(ir::OpKind kind, const ConvShape &conv, int64_t groups, size_t weights, ConvShape &out) {
  if (weights >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) return false;
  if (kind == ir::OpKind::Linear) {
    out = ConvShape{};
    out.in = {conv.in.size(), 1, 1};
    out.out = {conv.out.size(), 1, 1};
    return true;
  }
  if (kind != ir::OpKind::Conv2d || groups != 1 || conv.kh > 64 || conv.kw > 64) return false;
  // Event offsets (x * C_in + c) * C_out must fit 32 bits too.
  if (conv.in.w * conv.in.c * conv.out.c >= std::numeric_limits<int32_t>::max()) return false;
  out = conv;
  return true;
}

/// out = conv(events, w) + bias, w laid out [ky][kx][c_in][c_out]; adds the synaptic operations
/// (events times the outputs each reaches) to *ops when ops is not null.
void accumulate(const ConvShape &s, const Events<float> &e, const float *w, const float *bias, float *out,
                uint64_t *ops);
/// Integer mode: 32-bit accumulation, exact when the layer's accumulator fits 31 bits (the caller checks).
void accumulate(const ConvShape &s, const Events<int32_t> &e, const int32_t *w, const int64_t *bias, int64_t *out,
                uint64_t *ops);
/// The same with 32-bit outputs and biases (the integer program's 32-bit values, int_program.cpp).
void accumulate(const ConvShape &s, const Events<int32_t> &e, const int32_t *w, const int32_t *bias, int32_t *out,
                uint64_t *ops);

/// A time-varying convolution or linear layer of an 8-bit integer network, laid out for the dense
/// 8-bit kernel (accumulate_dense8): weights [ky][kx][c_in / 4][c_out][4] as int8 with c_in rounded up
/// to 4 (zeros), inputs padded into (in.h + 2 ph) x (in.w + 2 pw) x cin4 bytes.
struct Dense8Shape {
  ConvShape s;
  int64_t cin4 = 0, cout = 0;                 ///< cout a multiple of 8
  int64_t height = 0, width = 0;              ///< the padded input
  std::vector<int64_t> row_fan, col_fan;      ///< per input row / column: the output rows / columns it reaches
  int64_t macs = 0;                           ///< multiply-accumulates of one dense pass
  std::vector<int32_t> weight_sum;            ///< per output channel, over every tap and input channel
  /// The largest sum of |weight| that one int16 lane of the kernel gathers: per output channel, over
  /// every tap and the input channels c with c % 4 < 2 (maddubs' first pair) or the others.
  int64_t lane_abs_weight_sum = 0;
  std::vector<int64_t> tap_input;             ///< per tap (ky, kx): its offset in the padded input
};

/// Whether a layer of shape s (fast_path_shape's) with int32 weights w ([ky][kx][c_in][c_out]) can take
/// the dense 8-bit kernel (every |weight| <= 127, c_out a multiple of 8), and if so its layout.
bool dense8_layout(const ConvShape &s, const std::vector<int32_t> &w, Dense8Shape &g, Weights8 &packed);

/// Inputs past which a linear layer's step goes to the dense 8-bit kernel instead of
/// accumulate_linear8: at one output pixel the dense kernel is bound by reading every weight each
/// step (results/bench_kernels.txt).
constexpr double kLinear8MaxDensity = 0.5;

/// Integer mode, 32-bit values: a linear layer out = w x in + bias with 8-bit weights w ([in][out],
/// every |weight| <= 127, n_out a multiple of 16), event by event: each non-zero input's weight row
/// added into 16-bit sums, widened into 32 bits before they could overflow; exact. False, leaving out
/// untouched, when n_out is not a multiple of 16, an input exceeds 258 in magnitude, or more than
/// max_density of the inputs are non-zero. Adds the synaptic operations to *ops, as accumulate does.
bool accumulate_linear8(const int32_t *in, int64_t n_in, const int8_t *w, const int32_t *bias, int32_t *out,
                        int64_t n_out, uint64_t *ops, double max_density = kLinear8MaxDensity);

/// Dense 8-bit multiply-accumulates taken to cost as much as one synaptic operation of the event
/// kernels: steps whose synaptic operations times this fall below the dense pass's multiply-accumulates
/// (density below ~1/10) stay with the events. neurocuda_bench_kernels puts the break-even at 4-6 on
/// uniformly random spikes (results/bench_kernels.txt), but whole networks ran slower at 5 than at 10
/// or 20 (alternated int8 runs of both bundled models; 10 and 20 were indistinguishable).
constexpr double kDense8EventCost = 10.0;

/// Integer mode, 32-bit values, spikes only: the event kernels with 16-bit weights and 16-bit sums (16
/// output channels an instruction instead of 8), exact because spikes add each weight at most once and
/// every output's weight magnitudes sum to at most 32767 (spikes16_layout checks). `w` as accumulate's,
/// from spikes16_layout. False, leaving out untouched, unless every event is a spike (e.all_ones).
bool accumulate_spikes16(const ConvShape &s, const Events<int32_t> &e, const int16_t *w, const int32_t *bias,
                         int32_t *out, uint64_t *ops);
/// The 16-bit spike events' cost per synaptic operation in dense 8-bit multiply-accumulates (as
/// kDense8EventCost for the 32-bit events): about 4-5 at 10-25 % density on layers of 32 or more
/// input channels, where each output pixel's window holds many events; layers with fewer keep
/// kDense8EventCost (neurocuda_bench_kernels: 6-11 there).
inline double spikes16_event_cost(int64_t in_channels) { return in_channels >= 32 ? 4.5 : kDense8EventCost; }
/// Whether a layer's int32 weights w ([ky][kx][c_in][c_out]) fit accumulate_spikes16 (every output's
/// |weights| sum to at most 32767), and if so the 16-bit copy.
bool spikes16_layout(const ConvShape &s, const std::vector<int32_t> &w, Weights16 &packed);

/// The 16-bit spike events of a 3x3 convolution with padding 1, unit dilation and stride 1 or 2, walked
/// column by column: each output row sweeps the input columns, and one input column's events over the
/// window's three input rows (one run of lists in column order) reach the two or three output pixels
/// that column feeds, their sums rotating through registers. One event loop per output pixel (stride 1)
/// instead of a run per window row, each event's weight rows at fixed strides: the loop exits, index
/// loads and branch mispredictions per run were the 16-bit events' overhead on narrow layers. The same
/// sums as accumulate_spikes16 (exact in any order), the same synaptic operations.
/// Whether a layer of shape s (fast_path_shape's) fits the column kernel: as above, c_in a multiple of 8,
/// c_out a multiple of 16 up to 64.
bool columns_shape(const ConvShape &s);
/// collect_spikes in column order: pixel (y, x)'s spikes are the entries [start[x h + y], start[x h + y + 1])
/// of e, each the offset (y * 3 * c + channel) * row (so the window's three input rows of one column are one
/// run). False, leaving e alone, unless d.c is a multiple of 8.
bool collect_spikes_columns(const uint8_t *bits, const Dims &d, int64_t row, Events<int32_t> &e);
/// accumulate_spikes16 on lists from collect_spikes_columns, for layers with columns_shape: out = conv(spikes,
/// w) + bias with w as spikes16_layout's; adds the synaptic operations to *ops when ops is not null.
void accumulate_spikes16_columns(const ConvShape &s, const Events<int32_t> &e, const int16_t *w, const int32_t *bias,
                                 int32_t *out, uint64_t *ops);

/// Table-lookup convolution of spikes (integer mode, 32-bit values, AVX2): per input pixel, each group
/// of input channels' spikes is a code; per tap, group and code a table row holds the sum of the
/// weights those spikes select, for 16 output channels in int16. An output pixel adds one row per tap
/// and group for each block of 16 outputs: work set by the layer's shape, not its density, about 1/2
/// of the dense 8-bit kernel's time on 16-channel inputs (results/bench_kernels.txt). Groups are four
/// channels (4-bit codes, 16 rows), or for 13-16 input channels three groups of 5, 5 and 6 channels
/// (`wide`: 32, 32 and 64 rows, 128 a tap; a quarter fewer lookups than four nibbles, each a little
/// dearer, its 36 KiB of tables only mostly in the L1 cache: 6.4-6.7 against 6.8 us a step on the
/// kernel bench's 16 -> 16 3x3 layer, 1-8 % less on the ResNet's layer1 in the network; 8-bit codes,
/// 144 KiB, were 1.5x slower). Wider inputs stay with the events: tables of 32 and 64 channels (taps in
/// passes through the L1 cache) ran slower than the 16-bit events at the bundled models' densities.
struct LutShape {
  ConvShape s;
  bool wide = false;                         ///< three groups of 5, 5 and 6 channels (c_in 13-16)
  int64_t groups = 0, blocks = 0, cout = 0;  ///< 3 if wide, else ceil(c_in / 4) (at most 4); c_out / 16; c_out
  int64_t tap_rows = 0;                      ///< table rows per tap and block: 128 if wide, else 16 per group
  int64_t height = 0, width = 0;             ///< the padded code image
  std::vector<int64_t> tap_pixel;            ///< per tap (ky, kx): its offset in the code image, in pixels
  std::vector<int64_t> row_fan, col_fan;     ///< as Dense8Shape's
  int64_t lookups = 0;                       ///< table rows one step adds
  /// [block][tap][group][code][16 outputs] int16, 64-byte aligned: row (b, t, g, code) sums the
  /// weights of output block b at tap t over the input channels first(g) + i whose bit i the code sets
  /// (first(g) = 4g, or 0, 5, 10 if wide).
  std::shared_ptr<int16_t> table;
};
/// A table row's cost in dense 8-bit multiply-accumulates (one row stands for 64 of them): 30-34 on the
/// kernel bench's 16-channel layers with 3x3 taps, four output pixels at a time (a step of lookups in
/// about half the dense kernel's time; 37-45 when each pixel was one chain of adds).
constexpr double kLutLookupCost = 32.0;
/// ... and with wide codes (three groups): 36-43 (a quarter fewer lookups in 95 % of the time).
constexpr double kLutWideLookupCost = 40.0;
/// Whether a layer of shape s with int32 weights w ([ky][kx][c_in][c_out]) can take the table kernel
/// (c_in <= 16, c_out a multiple of 16, every output's |weights| summing to at most 32767, each
/// block's table within 36 KiB so that it stays mostly in the L1 cache), and if so its layout and table.
bool lut_layout(const ConvShape &s, const std::vector<int32_t> &w, LutShape &g);
/// One step of the table kernel: out = conv(in, w) + bias, exact. False, leaving out untouched, when
/// this CPU lacks AVX2, an input is not 0 or 1, or the events cost less (the step's synaptic operations
/// times spike_cost below its lookups times kLutLookupCost). Adds the synaptic operations the events
/// would have made to *ops, as accumulate does.
/// With `bits` (the input's spikes as if_layer_int32 writes them; 8 or 16 input channels) the codes
/// come from the bits and `in` is not read.
bool accumulate_spikes_lut(const LutShape &g, const int32_t *in, const int32_t *bias, int32_t *out, uint64_t *ops,
                           double spike_cost = kDense8EventCost, const uint8_t *bits = nullptr);

/// Integer mode, 32-bit values: out = conv(in, w) + bias with 8-bit multiplies, the whole input at
/// once (AVX2), exact. False, leaving out untouched, when this CPU lacks AVX2, an input is outside
/// [-64, 127], the largest input minus the smallest exceeds 129 (two products must fit int16), or
/// the step is sparse enough that the event kernels cost less (its synaptic operations times
/// event_cost below the dense multiply-accumulates; spike_cost instead when every input is 0 or 1).
/// Adds the synaptic operations the events would have made to *ops, as accumulate does. With `bits`
/// (spikes as if_layer_int32 writes them; input channels a multiple of 8) `in` is not read.
bool accumulate_dense8(const Dense8Shape &g, const int32_t *in, const int8_t *w, const int32_t *bias, int32_t *out,
                       uint64_t *ops, double event_cost = kDense8EventCost, double spike_cost = kDense8EventCost,
                       const uint8_t *bits = nullptr);

/// One timestep of a population of n fp32 neurons (threshold 1), vectorised: the reference loops of
/// snn::graded_step (at timestep t) and snn::if_step, with the same results bit for bit. out gets the
/// payloads (graded) or 1/0 (IF); returns the number of spikes (non-zero outputs).
uint64_t graded_layer(float *v, float *net, const float *cur, float *out, size_t n, float t);
uint64_t if_layer(float *v, const float *cur, float *out, size_t n);
/// One step of a max-pool over a time-varying current whose windows tile the input (kernel == stride,
/// no padding or dilation; HWC, input h x w, output oh x ow, c channels): the running sums, window
/// maxima and output increments of the reference's running max-pool, in one vectorised pass.
void running_max_pool(const float *in, float *sum, float *prev, float *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow);
/// The same in integer mode: int64 running sums and maxima, inputs and outputs of the integer
/// program's value type.
void running_max_pool(const int64_t *in, int64_t *sum, int64_t *prev, int64_t *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow);
void running_max_pool(const int32_t *in, int64_t *sum, int64_t *prev, int32_t *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow);
/// One timestep of an integer graded population (HWC, `pixels` x `channels`, per-channel thresholds
/// below 2^40 and their reciprocals): snn::graded_step_int's results without its 64-bit division,
/// vectorised. Returns the number of spikes (non-zero payloads).
uint64_t graded_layer_int(int64_t *v, int64_t *net, const int64_t *cur, int64_t *out, int64_t pixels,
                          int64_t channels, const int64_t *threshold, const double *inverse, int64_t t);
/// The same with 32-bit currents and payloads (potentials and net counts stay 64-bit).
uint64_t graded_layer_int(int64_t *v, int64_t *net, const int32_t *cur, int32_t *out, int64_t pixels,
                          int64_t channels, const int64_t *threshold, const double *inverse, int64_t t);
/// The same with 32-bit currents and payloads and with potentials, net counts and thresholds held as
/// doubles (exact integers), for callers that can bound every potential below 2^50 in magnitude: no
/// conversions and no range checks.
uint64_t graded_layer_int(double *v, double *net, const int32_t *cur, int32_t *out, int64_t pixels,
                          int64_t channels, const double *threshold, const double *inverse, int64_t t);
/// What the per-instruction-set int32 graded kernels return when they decline a step (sparse.cpp).
constexpr uint64_t kNotNarrow = ~uint64_t{0};
/// The integer graded step on int32 potentials and net counts, 8 neurons at a time (thresholds from
/// `smallest` >= 1 to below 2^29, `inverse` their float reciprocals): the same results as
/// snn::graded_step_int. Returns false, changing nothing, when a potential or current reaches 2^30
/// in magnitude or the largest of each sum to smallest * 2^23 or more; else sets count to the
/// number of spikes.
bool graded_layer_int32(int32_t *v, int32_t *net, const int32_t *cur, int32_t *out, int64_t pixels, int64_t channels,
                        const int32_t *threshold, const float *inverse, int32_t smallest, int64_t t, uint64_t &count);
/// One timestep of an integer IF population (HWC, per-channel thresholds >= 1): snn::if_step_int's
/// results, vectorised; int64 potentials, currents and outputs of the integer program's value type.
/// Returns the number of spikes.
uint64_t if_layer_int(int64_t *v, const int64_t *cur, int64_t *out, int64_t pixels, int64_t channels,
                      const int64_t *threshold);
uint64_t if_layer_int(int64_t *v, const int32_t *cur, int32_t *out, int64_t pixels, int64_t channels,
                      const int64_t *threshold);
/// The same on int32 potentials and thresholds, 8 neurons at a time, for callers that have bounded
/// every potential: |v0| + (T + 1) x (largest |current|) below 2^31 (the potential moves by at most
/// one current a step, and v + I is formed before the threshold is subtracted).
/// `out` may be null when `bits` is given: the spikes are then written as bits only.
uint64_t if_layer_int32(int32_t *v, const int32_t *cur, int32_t *out, int64_t pixels, int64_t channels,
                        const int32_t *threshold, uint8_t *bits = nullptr);
/// if_layer_int32 with its current summed from a two-input add node on the way (the add's output is
/// never stored): I = m0 x x0 + m1 x x1 per channel (HWC), within 31 bits by the add's bound.
/// With `spikes1` (an IF layer's spikes as bits, channels a multiple of 8) x1 is not read: its value is
/// 1 where the bit is set, else 0.
uint64_t if_layer_int32_add(int32_t *v, const int32_t *x0, const int32_t *m0, const int32_t *x1, const int32_t *m1,
                            int32_t *out, int64_t pixels, int64_t channels, const int32_t *threshold,
                            uint8_t *bits = nullptr, const uint8_t *spikes1 = nullptr);
/// Both IF steps above also write the spikes as bits when `bits` is given and channels is a multiple
/// of 8 (else it is ignored): byte i holds neurons 8i..8i+7 (HWC order), neuron 8i the lowest bit.
/// Readers of a spike layer then skip scanning its int32 outputs (collect_spikes,
/// accumulate_spikes_lut).

/// collect for spikes given as bits (if_layer_int32's): the same event lists (all_ones, no values).
/// False, leaving e alone, unless d.c is a multiple of 8.
bool collect_spikes(const uint8_t *bits, const Dims &d, int64_t row, Events<int32_t> &e);
/// running_max_pool with int32 running sums and maxima, for callers that have bounded the sums:
/// T x (largest |input|) below 2^31.
void running_max_pool(const int32_t *in, int32_t *sum, int32_t *prev, int32_t *out, int64_t h, int64_t w, int64_t c,
                      int64_t kh, int64_t kw, int64_t oh, int64_t ow);
/// An integer add node with 32-bit values: out = sum over the inputs of m[i] (per channel) times
/// x[i] (HWC, `pixels` x `channels`), for callers whose bounds keep every product and partial sum
/// within 31 bits (the quantizer's bound of the node does).
void add_int32(const int32_t *const *x, const int32_t *const *m, int inputs, int32_t *out, int64_t pixels,
               int64_t channels);
/// Per channel, the sum of an HWC int32 tensor (`width` pixels a row) over the window rows [y0, y1)
/// and columns [x0, x1), in int64: an average pool's sums.
void window_sum_int32(const int32_t *in, int64_t width, int64_t channels, int64_t y0, int64_t y1, int64_t x0, int64_t x1,
                      int64_t *sums);

} // namespace neurocuda::backends::cpu::sparse
