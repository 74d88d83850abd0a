// SPDX-License-Identifier: MIT
// The CUDA backend: one thread per output element, per sample in the batch, per timestep. In the time
// loop a convolution or linear layer first lists each input row's nonzero entries (compact_kernel), so its
// work follows the spikes rather than the neurons; weights are stored output-fastest so that the lanes of a
// warp (consecutive outputs) read adjacent weights.
//
// Every output sums its inputs in the order snn/neuron.h fixes ((ky, kx, c) for convolutions,
// ascending for linear layers, skipping zero inputs), with explicit round-to-nearest float
// operations (__fadd_rn, __fmul_rn) so nvcc cannot contract them into FMAs: fp32 results are
// bit-identical to the CPU backend. Integer mode uses the same kernels on int64.
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <type_traits>

#include "cuda/cuda_backend.h"
#include "neurocuda/error.h"
#include "neurocuda/quantize/quantize.h"
#include "neurocuda/snn/neuron.h"

namespace neurocuda::backends::cuda {
namespace {

using ir::OpKind;

void check(cudaError_t err, const char *what) {
  if (err == cudaSuccess) return;
  if (err == cudaErrorMemoryAllocation)
    throw UserError(fmt::format("out of GPU memory while {}; use a smaller --batch", what));
  throw InternalError(fmt::format("CUDA error while {}: {}", what, cudaGetErrorString(err)));
}

template <typename T> __device__ __forceinline__ T add(T a, T b) { return a + b; }
template <> __device__ __forceinline__ float add<float>(float a, float b) { return __fadd_rn(a, b); }
template <typename T> __device__ __forceinline__ T mul(T a, T b) { return a * b; }
template <> __device__ __forceinline__ float mul<float>(float a, float b) { return __fmul_rn(a, b); }
template <typename T> __device__ __forceinline__ T sub(T a, T b) { return a - b; }
template <> __device__ __forceinline__ float sub<float>(float a, float b) { return __fsub_rn(a, b); }

// A device array freed with its owner.
template <typename T> class DeviceArray {
public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray &) = delete;
  DeviceArray &operator=(const DeviceArray &) = delete;
  DeviceArray(DeviceArray &&o) noexcept : ptr_(o.ptr_), n_(o.n_) { o.ptr_ = nullptr; o.n_ = 0; }
  ~DeviceArray() { if (ptr_) cudaFree(ptr_); }
  void resize(size_t n) {
    if (n == n_) return;
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    n_ = n;
    if (n) check(cudaMalloc(&ptr_, n * sizeof(T)), "allocating device memory");
  }
  void upload(const std::vector<T> &v) {
    resize(v.size());
    if (!v.empty()) check(cudaMemcpy(ptr_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "uploading");
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    if (n_) check(cudaMemcpy(v.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "downloading");
    return v;
  }
  void zero() { if (n_) check(cudaMemset(ptr_, 0, n_ * sizeof(T)), "clearing"); }
  T *get() const { return ptr_; }
  size_t size() const { return n_; }

private:
  T *ptr_ = nullptr;
  size_t n_ = 0;
};

struct Dims {
  int64_t c = 1, h = 1, w = 1;
  __host__ __device__ int64_t size() const { return c * h * w; }
};
Dims dims_of(const ir::Shape &s) { return s.size() == 3 ? Dims{s[0], s[1], s[2]} : Dims{ir::numel(s), 1, 1}; }

// Kernel arguments of one node (plain data, passed by value).
struct Args {
  int64_t n;                  // samples
  Dims a, b;                  // input and output dims (HWC storage)
  int64_t kh, kw, sh, sw, ph, pw, dh, dw, groups;
  int64_t div_override, count_include_pad, ceil_mode;
  int64_t in_count;           // add/cat: number of inputs
};

// ---- kernels --------------------------------------------------------------------------------

// counter[key] += value for every calling lane, with one atomic per distinct key in the warp: the
// per-output SynOps and per-spike counts would otherwise put 32 atomics on one address per warp.
__device__ __forceinline__ void add_count(unsigned long long *counter, int64_t key, unsigned value) {
  const unsigned group = __match_any_sync(__activemask(), static_cast<unsigned long long>(key));
#if __CUDA_ARCH__ >= 800
  const unsigned total = __reduce_add_sync(group, value);
#else
  unsigned total = 0;
  for (unsigned rest = group; rest; rest &= rest - 1) total += __shfl_sync(group, value, __ffs(rest) - 1);
#endif
  if ((threadIdx.x & 31) == static_cast<unsigned>(__ffs(group) - 1) && total) atomicAdd(&counter[key], total);
}

// Lists the nonzero entries of each row of `in` ([rows][width]) in ascending order: list[r][0..count[r]).
// One warp per row, 32 entries at a time, so the order is the row's order and the reads are coalesced.
template <typename T>
__global__ void compact_kernel(int64_t rows, int width, const T *in, int *list, int *count) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < rows; r += warps) {
    const T *x = in + r * width;
    int *l = list + r * width;
    int base = 0;
    for (int c0 = 0; c0 < width; c0 += 32) {
      const int c = c0 + lane;
      const bool nz = c < width && x[c] != T(0);
      const unsigned mask = __ballot_sync(0xffffffffu, nz);
      if (nz) l[base + __popc(mask & ((1u << lane) - 1u))] = c;
      base += __popc(mask);
    }
    if (lane == 0) count[r] = base;
  }
}

// Convolution, gathered per output in (ky, kx, c) order. Weights are [ky][kx][c_in_group][o]: the lanes of a
// warp are consecutive output channels of one pixel, so they share each input and read adjacent weights.
template <typename T>
__global__ void conv_kernel(Args g, const T *in, T *out, const T *w, const T *bias, unsigned long long *synops,
                            const int *list, const int *count) {
  const int per = static_cast<int>(g.b.size()), oc = static_cast<int>(g.b.c), ow = static_cast<int>(g.b.w);
  const int ac = static_cast<int>(g.a.c), ah = static_cast<int>(g.a.h), aw = static_cast<int>(g.a.w);
  const int kh = static_cast<int>(g.kh), kw = static_cast<int>(g.kw);
  const int opg = oc / static_cast<int>(g.groups), cig = ac / static_cast<int>(g.groups);
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / per;
    const int k = static_cast<int>(idx - s * per);
    const int o = k % oc, pix = k / oc, ox = pix % ow, oy = pix / ow, c0 = (o / opg) * cig;
    const T *x = in + s * g.a.size();
    T acc = T(0);
    unsigned terms = 0;
    for (int ky = 0; ky < kh; ++ky) {
      const int y = oy * static_cast<int>(g.sh) - static_cast<int>(g.ph) + ky * static_cast<int>(g.dh);
      if (y < 0 || y >= ah) continue;
      for (int kx = 0; kx < kw; ++kx) {
        const int xx = ox * static_cast<int>(g.sw) - static_cast<int>(g.pw) + kx * static_cast<int>(g.dw);
        if (xx < 0 || xx >= aw) continue;
        const T *px = x + (y * aw + xx) * ac + c0;
        const T *pw = w + static_cast<int64_t>((ky * kw + kx) * cig) * oc + o;
        if (list) {  // groups == 1: the pixel's nonzero channels, listed by compact_kernel
          const int64_t row = s * ah * aw + y * aw + xx;
          const int *l = list + row * ac, cnt = count[row];
          for (int j = 0; j < cnt; ++j) {
            const int ci = l[j];
            acc = snn::accumulate(acc, pw[static_cast<int64_t>(ci) * oc], px[ci]);
          }
          terms += static_cast<unsigned>(cnt);
          continue;
        }
        for (int ci = 0; ci < cig; ++ci) {
          const T v = px[ci];
          if (v == T(0)) continue;
          acc = snn::accumulate(acc, pw[static_cast<int64_t>(ci) * oc], v);
          ++terms;
        }
      }
    }
    out[idx] = add(acc, bias[o]);
    if (synops) add_count(synops, s, terms);
  }
}

// Fully connected, ascending inputs. Weights are [in][out], so a warp's lanes read adjacent weights.
template <typename T>
__global__ void linear_kernel(Args g, const T *in, T *out, const T *w, const T *bias, unsigned long long *synops,
                              const int *list, const int *count) {
  const int outs = static_cast<int>(g.b.size()), ins = static_cast<int>(g.a.size());
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * outs; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / outs;
    const int o = static_cast<int>(idx - s * outs);
    const T *x = in + s * ins;
    T acc = T(0);
    unsigned terms = 0;
    if (list) {  // the sample's nonzero inputs, listed by compact_kernel
      const int *l = list + s * ins, cnt = count[s];
      for (int j = 0; j < cnt; ++j) {
        const int i = l[j];
        acc = snn::accumulate(acc, w[static_cast<int64_t>(i) * outs + o], x[i]);
      }
      terms = static_cast<unsigned>(cnt);
    } else {
      for (int i = 0; i < ins; ++i) {
        const T v = x[i];
        if (v == T(0)) continue;
        acc = snn::accumulate(acc, w[static_cast<int64_t>(i) * outs + o], v);
        ++terms;
      }
    }
    out[idx] = add(acc, bias[o]);
    if (synops) add_count(synops, s, terms);
  }
}

// Max-pool; with `sum`/`prev` it pools running sums and emits their increments (snn/neuron.h).
template <typename T>
__global__ void maxpool_kernel(Args g, const T *in, T *out, T *sum, T *prev) {
  const int64_t per = g.b.size();
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / per, k = idx % per;
    const int64_t c = k % g.b.c, ox = (k / g.b.c) % g.b.w, oy = k / (g.b.c * g.b.w);
    const T *src = sum ? sum + s * g.a.size() : in + s * g.a.size();
    // Same as the CPU's std::max chain from the lowest value.
    T m = std::is_same_v<T, float> ? T(-INFINITY) : T(std::numeric_limits<int64_t>::min());
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t y = oy * g.sh - g.ph + ky * g.dh, x = ox * g.sw - g.pw + kx * g.dw;
        if (y < 0 || x < 0 || y >= g.a.h || x >= g.a.w) continue;
        const T v = src[(y * g.a.w + x) * g.a.c + c];
        if (m < v) m = v;
      }
    if (prev) {
      out[idx] = sub(m, prev[idx]);
      prev[idx] = m;
    } else {
      out[idx] = m;
    }
  }
}

template <typename T> __global__ void accumulate_kernel(int64_t count, const T *in, T *sum) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < count; idx += int64_t(gridDim.x) * blockDim.x)
    sum[idx] = add(sum[idx], in[idx]);
}

// Average pools: fp32 divides the window sum by its divisor; integer mode multiplies by lcm/divisor.
template <typename T>
__global__ void avgpool_kernel(Args g, bool adaptive, const T *in, T *out, const T *int_multiplier) {
  const int64_t per = g.b.size();
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / per, k = idx % per;
    const int64_t c = k % g.b.c, ox = (k / g.b.c) % g.b.w, oy = k / (g.b.c * g.b.w);
    const T *x = in + s * g.a.size();
    int64_t y0, y1, x0, x1, divisor;
    if (adaptive) {
      y0 = oy * g.a.h / g.b.h, y1 = ((oy + 1) * g.a.h + g.b.h - 1) / g.b.h;
      x0 = ox * g.a.w / g.b.w, x1 = ((ox + 1) * g.a.w + g.b.w - 1) / g.b.w;
      divisor = (y1 - y0) * (x1 - x0);
    } else {
      y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
      y1 = y0 + g.kh, x1 = x0 + g.kw;
      const int64_t yend = y1 < g.a.h + g.ph ? y1 : g.a.h + g.ph, xend = x1 < g.a.w + g.pw ? x1 : g.a.w + g.pw;
      const int64_t padded = (yend - y0) * (xend - x0);
      const int64_t iy0 = y0 > 0 ? y0 : 0, ix0 = x0 > 0 ? x0 : 0;
      const int64_t iy1 = y1 < g.a.h ? y1 : g.a.h, ix1 = x1 < g.a.w ? x1 : g.a.w;
      const int64_t inside = (iy1 - iy0) * (ix1 - ix0);
      divisor = g.div_override ? g.div_override : (g.count_include_pad ? padded : inside);
    }
    T acc = T(0);
    for (int64_t ky = 0; ky < y1 - y0; ++ky)
      for (int64_t kx = 0; kx < x1 - x0; ++kx) {
        const int64_t y = y0 + ky, xx = x0 + kx;
        if (y < 0 || xx < 0 || y >= g.a.h || xx >= g.a.w) continue;
        acc = add(acc, x[(y * g.a.w + xx) * g.a.c + c]);
      }
    if constexpr (std::is_same_v<T, float>) out[idx] = __fdiv_rn(acc, static_cast<float>(divisor));
    else out[idx] = acc * int_multiplier[oy * g.b.w + ox];
  }
}

// y = sum_i coeff_i[c] * x_i (fp32: coefficients, 1 when absent; integer mode: multipliers).
template <typename T>
__global__ void add_kernel(Args g, const T *const *ins, const T *coeff, T *out) {
  const int64_t per = g.b.size();
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (idx % per) % g.b.c;
    T acc = T(0);
    for (int64_t i = 0; i < g.in_count; ++i) acc = add(acc, mul(coeff[i * g.b.c + c], ins[i][idx]));
    out[idx] = acc;
  }
}

template <typename T>
__global__ void batchnorm_kernel(Args g, const T *in, const T *scale, const T *shift, T *out) {
  const int64_t per = g.b.size();
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (idx % per) % g.b.c;
    out[idx] = add(mul(in[idx], scale[c]), shift[c]);
  }
}

template <typename T> __global__ void flatten_kernel(Args g, const T *in, T *out) {
  const int64_t per = g.a.size(), hw = g.a.h * g.a.w;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / per, k = idx % per;  // k: HWC index of the input
    out[s * per + (k % g.a.c) * hw + k / g.a.c] = in[idx];
  }
}

template <typename T> __global__ void cat_kernel(Args g, const T *in, T *out, int64_t in_c, int64_t base) {
  const int64_t hw = g.b.h * g.b.w, per = hw * in_c;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / per, k = idx % per;
    out[s * g.b.size() + (k / in_c) * g.b.c + base + k % in_c] = in[idx];
  }
}

template <typename T> __global__ void relu_kernel(int64_t count, const T *in, T *out, T bound) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < count; idx += int64_t(gridDim.x) * blockDim.x)
    out[idx] = in[idx] < T(0) ? T(0) : (bound < in[idx] ? bound : in[idx]);
}

// IF step, reset by subtraction, or a graded step at timestep t when `net` (the net spike counts) is given;
// counts spikes (non-zero outputs) per sample and layer and records the trace.
template <typename T>
__global__ void if_kernel(Args g, const T *current, T *v, T *net, int64_t t, T *out, const T *threshold,
                          unsigned long long *counts, int64_t layers, int64_t layer, unsigned long long *trace,
                          int64_t trace_words, int64_t trace_base) {
  const int64_t per = g.b.size(), hw = g.b.h * g.b.w;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < g.n * per; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / per, k = idx % per, c = k % g.b.c;
    T pot = v[idx], payload;
    if (net) {
      T count = net[idx];
      if constexpr (std::is_same_v<T, float>) payload = snn::graded_step(pot, count, current[idx], static_cast<float>(t));
      else payload = snn::graded_step_int(pot, count, current[idx], threshold[c], t);
      net[idx] = count;
    } else {
      bool fired;
      if constexpr (std::is_same_v<T, float>) fired = snn::if_step(pot, current[idx]);  // threshold 1 (folded)
      else fired = snn::if_step_int(pot, current[idx], threshold[c]);
      payload = fired ? T(1) : T(0);
    }
    v[idx] = pot;
    out[idx] = payload;
    const bool spike = payload != T(0);
    add_count(counts, s * layers + layer, spike ? 1u : 0u);
    if (spike && trace) {
      const int64_t bit = trace_base + c * hw + k / g.b.c;
      atomicOr(&trace[s * trace_words + bit / 64], 1ull << (bit % 64));
    }
  }
}

template <typename T> __global__ void init_kernel(int64_t count, int64_t channels, const T *per_channel, T *v) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < count; idx += int64_t(gridDim.x) * blockDim.x)
    v[idx] = per_channel[idx % channels];
}

unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + 255) / 256;
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65535));
}

// ---- program --------------------------------------------------------------------------------

template <typename T> struct DStep {
  OpKind kind;
  std::string name;
  std::vector<int> inputs;
  int output = -1;
  Args args{};
  bool is_static = false;
  int layer = -1, pool = -1;
  bool graded = false;  // IF: graded neuron (snn/neuron.h)
  std::vector<T> weight, bias, threshold, v0, coeff, scale, shift, multiplier;
  DeviceArray<T> d_weight, d_bias, d_threshold, d_v0, d_coeff, d_scale, d_shift, d_multiplier;
  DeviceArray<const T *> d_inputs;  // add: its inputs' device buffers, set once per run
  DeviceArray<int> list, list_count;  // conv (groups 1) and linear in the time loop: nonzero inputs per row
  T relu_bound = std::numeric_limits<T>::max();  // relu (ANN check): relu6 / hardtanh / clamp upper clip
};

template <typename T> class CudaProgram : public Program {
public:
  CudaProgram(std::vector<DStep<T>> steps, std::vector<ir::Shape> shapes, int input, int output,
              std::function<T(float)> encode, double readout_unit)
      : steps_(std::move(steps)), shapes_(std::move(shapes)), input_(input), output_(output), encode_(std::move(encode)),
        readout_unit_(readout_unit) {
    for (auto &s : steps_) {
      if (s.kind == OpKind::IF) {
        s.layer = static_cast<int>(layers_.size());
        layers_.push_back({s.name, ir::numel(shapes_[static_cast<size_t>(s.output)]),
                           shapes_[static_cast<size_t>(s.output)].at(0), -1});
      }
      if (s.kind == OpKind::MaxPool2d && !s.is_static) s.pool = pools_++;
    }
    for (const auto &l : layers_) {
      offsets_.push_back(total_neurons_);
      total_neurons_ += l.neurons;
    }
    classes_ = ir::numel(shapes_[static_cast<size_t>(output_)]);
  }

  const std::vector<LayerInfo> &layers() const override { return layers_; }

  RunResult run(const Batch &batch, const RunOptions &options) override {
    const auto &in_shape = shapes_[static_cast<size_t>(input_)];
    if (batch.sample_shape != in_shape)
      throw UserError(fmt::format("input samples have shape [{}] but the network expects [{}]",
                                  fmt::join(batch.sample_shape, ", "), fmt::join(in_shape, ", ")));
    if (options.channel_spikes) throw UserError("per-channel spike counts are only available on the cpu backend");
    const int64_t n = batch.count, tmax = options.checkpoints.back();
    if (std::is_same_v<T, int64_t>)
      quant::check_graded_timesteps(
          std::any_of(steps_.begin(), steps_.end(), [](const DStep<T> &s) { return s.graded; }), tmax);
    upload_parameters();
    const size_t nl = layers_.size(), ncp = options.checkpoints.size();
    // Buffers.
    values_.resize(shapes_.size());
    for (size_t v = 0; v < shapes_.size(); ++v) values_[v].resize(static_cast<size_t>(n * ir::numel(shapes_[v])));
    for (auto &s : steps_)
      if (s.kind == OpKind::Add) {
        std::vector<const T *> ptrs;
        for (int v : s.inputs) ptrs.push_back(values_[static_cast<size_t>(v)].get());
        s.d_inputs.upload(ptrs);
      }
    membrane_.resize(nl);
    net_.resize(nl);
    pool_sum_.resize(static_cast<size_t>(pools_));
    pool_prev_.resize(static_cast<size_t>(pools_));
    readout_.resize(static_cast<size_t>(n * classes_));
    readout_.zero();
    counts_.resize(static_cast<size_t>(n) * std::max<size_t>(nl, 1));
    counts_.zero();
    synops_.resize(static_cast<size_t>(n));
    synops_.zero();
    const int64_t words = (total_neurons_ * tmax + 63) / 64;
    if (options.record_trace) {
      trace_.resize(static_cast<size_t>(n * words));
      trace_.zero();
    }
    // Input: CHW -> HWC and encoding (fp32 as is, integer mode quantized) on the host.
    {
      const Dims d = dims_of(in_shape);
      std::vector<T> x(static_cast<size_t>(n * d.size()));
      for (int64_t s = 0; s < n; ++s)
        for (int64_t c = 0; c < d.c; ++c)
          for (int64_t k = 0; k < d.h * d.w; ++k)
            x[static_cast<size_t>(s * d.size() + k * d.c + c)] = encode_(batch.data[s * d.size() + c * d.h * d.w + k]);
      values_[static_cast<size_t>(input_)].upload(x);
    }
    for (auto &s : steps_) {
      if (s.is_static && s.kind != OpKind::Input) launch(s, n, nullptr);
      if (s.kind == OpKind::IF) {
        auto &v = membrane_[static_cast<size_t>(s.layer)];
        v.resize(static_cast<size_t>(n * s.args.b.size()));
        init_kernel<T><<<grid_for(n * s.args.b.size()), 256>>>(n * s.args.b.size(), s.args.b.c, s.d_v0.get(), v.get());
        if (s.graded) {
          net_[static_cast<size_t>(s.layer)].resize(static_cast<size_t>(n * s.args.b.size()));
          net_[static_cast<size_t>(s.layer)].zero();
        }
      } else if (s.pool >= 0) {
        pool_sum_[static_cast<size_t>(s.pool)].resize(static_cast<size_t>(n * s.args.a.size()));
        pool_sum_[static_cast<size_t>(s.pool)].zero();
        pool_prev_[static_cast<size_t>(s.pool)].resize(static_cast<size_t>(n * s.args.b.size()));
        pool_prev_[static_cast<size_t>(s.pool)].zero();
      }
    }
    RunResult r;
    r.checkpoints = options.checkpoints;
    r.samples = n;
    r.classes = classes_;
    r.predictions.assign(ncp * static_cast<size_t>(n), 0);
    r.spikes.assign(ncp * nl, 0);
    r.synops.assign(ncp, 0);
    size_t cp = 0;
    for (int t = 1; t <= tmax; ++t) {
      for (auto &s : steps_) {
        if (s.is_static) continue;
        if (s.kind == OpKind::IF) {
          Args g = s.args;
          g.n = n;
          if_kernel<T><<<grid_for(n * g.b.size()), 256>>>(
              g, values_[static_cast<size_t>(s.inputs[0])].get(), membrane_[static_cast<size_t>(s.layer)].get(),
              s.graded ? net_[static_cast<size_t>(s.layer)].get() : nullptr, static_cast<int64_t>(t),
              values_[static_cast<size_t>(s.output)].get(), s.d_threshold.get(), counts_.get(), static_cast<int64_t>(nl),
              s.layer, options.record_trace ? trace_.get() : nullptr, words,
              (t - 1) * total_neurons_ + offsets_[static_cast<size_t>(s.layer)]);
        } else {
          launch(s, n, synops_.get());
        }
      }
      if (t > options.readout_delay)
        accumulate_kernel<T><<<grid_for(n * classes_), 256>>>(n * classes_, values_[static_cast<size_t>(output_)].get(), readout_.get());
      check(cudaGetLastError(), "launching kernels");
      while (cp < ncp && options.checkpoints[cp] == t) {
        const auto acc = readout_.download();
        for (int64_t s = 0; s < n; ++s) {
          int best = 0;
          for (int k = 1; k < classes_; ++k)
            if (acc[static_cast<size_t>(s * classes_ + k)] > acc[static_cast<size_t>(s * classes_ + best)]) best = k;
          r.predictions[cp * static_cast<size_t>(n) + static_cast<size_t>(s)] = best;
        }
        const auto counts = counts_.download();
        const auto ops = synops_.download();
        for (int64_t s = 0; s < n; ++s) {
          for (size_t l = 0; l < nl; ++l) r.spikes[cp * nl + l] += counts[static_cast<size_t>(s) * nl + l];
          r.synops[cp] += ops[static_cast<size_t>(s)];
        }
        ++cp;
      }
    }
    check(cudaDeviceSynchronize(), "running the network");
    const auto acc = readout_.download();
    r.readout.resize(acc.size());
    r.readout_exact.resize(acc.size());
    for (size_t k = 0; k < acc.size(); ++k) {
      if constexpr (std::is_same_v<T, float>) {
        r.readout[k] = acc[k];
        uint32_t bits;
        std::memcpy(&bits, &acc[k], 4);
        r.readout_exact[k] = bits;
      } else {
        r.readout[k] = static_cast<float>(static_cast<double>(acc[k]) * readout_unit_);
        r.readout_exact[k] = acc[k];
      }
    }
    if (options.record_trace) {
      const auto all = trace_.download();
      r.trace.resize(static_cast<size_t>(n));
      for (int64_t s = 0; s < n; ++s)
        r.trace[static_cast<size_t>(s)].assign(all.begin() + s * words, all.begin() + (s + 1) * words);
    }
    return r;
  }

private:
  void upload_parameters() {
    if (uploaded_) return;
    for (auto &s : steps_) {
      s.d_weight.upload(s.weight);
      s.d_bias.upload(s.bias);
      s.d_threshold.upload(s.threshold);
      s.d_v0.upload(s.v0);
      s.d_coeff.upload(s.coeff);
      s.d_scale.upload(s.scale);
      s.d_shift.upload(s.shift);
      s.d_multiplier.upload(s.multiplier);
    }
    uploaded_ = true;
  }

  void launch(DStep<T> &s, int64_t n, unsigned long long *synops) {
    Args g = s.args;
    g.n = n;
    T *out = values_[static_cast<size_t>(s.output)].get();
    const T *in = s.inputs.empty() ? nullptr : values_[static_cast<size_t>(s.inputs[0])].get();
    const unsigned grid = grid_for(n * g.b.size());
    switch (s.kind) {
    case OpKind::Conv2d:
    case OpKind::Linear: {
      // In the time loop the inputs are sparse spikes: list each row's nonzero inputs first, then gather
      // only those (same order, same sums). Static layers run once on dense inputs and scan them all.
      const bool conv = s.kind == OpKind::Conv2d, listed = !s.is_static && (!conv || g.groups == 1);
      const int64_t rows = conv ? n * g.a.h * g.a.w : n, width = conv ? g.a.c : g.a.size();
      if (listed) {
        s.list.resize(static_cast<size_t>(rows * width));
        s.list_count.resize(static_cast<size_t>(rows));
        compact_kernel<T><<<grid_for(rows * 32), 256>>>(rows, static_cast<int>(width), in, s.list.get(), s.list_count.get());
      }
      const int *list = listed ? s.list.get() : nullptr, *count = listed ? s.list_count.get() : nullptr;
      if (conv) conv_kernel<T><<<grid, 256>>>(g, in, out, s.d_weight.get(), s.d_bias.get(), synops, list, count);
      else linear_kernel<T><<<grid, 256>>>(g, in, out, s.d_weight.get(), s.d_bias.get(), synops, list, count);
      break;
    }
    case OpKind::MaxPool2d:
      if (s.pool >= 0) {
        auto &sum = pool_sum_[static_cast<size_t>(s.pool)];
        accumulate_kernel<T><<<grid_for(n * g.a.size()), 256>>>(n * g.a.size(), in, sum.get());
        maxpool_kernel<T><<<grid, 256>>>(g, in, out, sum.get(), pool_prev_[static_cast<size_t>(s.pool)].get());
      } else {
        maxpool_kernel<T><<<grid, 256>>>(g, in, out, nullptr, nullptr);
      }
      break;
    case OpKind::AvgPool2d:
    case OpKind::AdaptiveAvgPool2d:
      avgpool_kernel<T><<<grid, 256>>>(g, s.kind == OpKind::AdaptiveAvgPool2d, in, out, s.d_multiplier.get());
      break;
    case OpKind::Add:
      add_kernel<T><<<grid, 256>>>(g, s.d_inputs.get(), s.d_coeff.get(), out);
      break;
    case OpKind::BatchNorm:
      batchnorm_kernel<T><<<grid, 256>>>(g, in, s.d_scale.get(), s.d_shift.get(), out);
      break;
    case OpKind::Flatten:
      flatten_kernel<T><<<grid, 256>>>(g, in, out);
      break;
    case OpKind::Cat: {
      int64_t base = 0;
      for (int v : s.inputs) {
        const int64_t c = shapes_[static_cast<size_t>(v)].at(0);
        cat_kernel<T><<<grid_for(n * c * g.b.h * g.b.w), 256>>>(g, values_[static_cast<size_t>(v)].get(), out, c, base);
        base += c;
      }
      break;
    }
    case OpKind::Relu:
      relu_kernel<T><<<grid, 256>>>(n * g.b.size(), in, out, s.relu_bound);
      break;
    case OpKind::Input:
    case OpKind::IF:
      break;
    }
  }

  std::vector<DStep<T>> steps_;
  std::vector<ir::Shape> shapes_;
  int input_, output_;
  std::function<T(float)> encode_;
  double readout_unit_;
  std::vector<LayerInfo> layers_;
  std::vector<int64_t> offsets_;
  int64_t total_neurons_ = 0, classes_ = 0;
  int pools_ = 0;
  bool uploaded_ = false;
  std::vector<DeviceArray<T>> values_, membrane_, net_, pool_sum_, pool_prev_;
  DeviceArray<T> readout_;
  DeviceArray<unsigned long long> counts_, synops_, trace_;
};

// Fills the shape-related arguments shared by both modes.
Args make_args(const ir::Shape &in, const ir::Shape &out, const std::map<std::string, std::vector<int64_t>> &ints,
               const ir::Shape &weight_shape, OpKind kind, size_t inputs) {
  Args g{};
  g.a = dims_of(in);
  g.b = dims_of(out);
  g.kh = g.kw = g.sh = g.sw = g.dh = g.dw = g.groups = 1;
  auto get = [&](const char *k, size_t i, int64_t dflt) {
    auto it = ints.find(k);
    return it == ints.end() ? dflt : it->second.at(i);
  };
  if (kind == OpKind::Conv2d) {
    g.kh = weight_shape[2];
    g.kw = weight_shape[3];
    g.groups = get("groups", 0, 1);
  } else if (kind == OpKind::MaxPool2d || kind == OpKind::AvgPool2d) {
    g.kh = get("kernel", 0, 1);
    g.kw = get("kernel", 1, 1);
  }
  g.sh = get("stride", 0, 1), g.sw = get("stride", 1, 1);
  g.ph = get("padding", 0, 0), g.pw = get("padding", 1, 0);
  g.dh = get("dilation", 0, 1), g.dw = get("dilation", 1, 1);
  g.div_override = get("divisor_override", 0, 0);
  g.count_include_pad = get("count_include_pad", 0, 1);
  g.ceil_mode = get("ceil_mode", 0, 0);
  g.in_count = static_cast<int64_t>(inputs);
  return g;
}

// Conv weights for the kernel: [ky][kx][c_in_group][o] (from PyTorch's [o][c][ky][kx]).
template <typename T, typename S> std::vector<T> conv_gather_layout(const std::vector<S> &w, const ir::Shape &shape) {
  const int64_t o = shape[0], cig = shape[1], kh = shape[2], kw = shape[3];
  std::vector<T> out(w.size());
  for (int64_t oo = 0; oo < o; ++oo)
    for (int64_t c = 0; c < cig; ++c)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x)
          out[static_cast<size_t>(((y * kw + x) * cig + c) * o + oo)] = static_cast<T>(w[static_cast<size_t>(((oo * cig + c) * kh + y) * kw + x)]);
  return out;
}

// Linear weights for the kernel: [in][out] (from PyTorch's [out][in]).
template <typename T, typename S> std::vector<T> linear_gather_layout(const std::vector<S> &w, const ir::Shape &shape) {
  const int64_t o = shape[0], in = shape[1];
  std::vector<T> out(w.size());
  for (int64_t oo = 0; oo < o; ++oo)
    for (int64_t i = 0; i < in; ++i) out[static_cast<size_t>(i * o + oo)] = static_cast<T>(w[static_cast<size_t>(oo * in + i)]);
  return out;
}

std::unique_ptr<Program> compile_fp32(const ir::Graph &g) {
  std::vector<DStep<float>> steps;
  std::vector<ir::Shape> shapes;
  for (const auto &v : g.values()) shapes.push_back(v.shape);
  const auto st = ir::time_invariant_values(g);
  for (const auto &n : g.nodes()) {
    DStep<float> s;
    s.kind = n.kind;
    s.name = n.name;
    s.inputs = n.inputs;
    s.output = n.output;
    s.is_static = st[static_cast<size_t>(n.output)];
    const ir::Shape in = n.inputs.empty() ? g.value(n.output).shape : g.value(n.inputs[0]).shape;
    const ir::Shape ws = n.has_tensor("weight") ? n.attr_tensor("weight").shape : ir::Shape{};
    s.args = make_args(in, g.value(n.output).shape, n.ints, ws, n.kind, n.inputs.size());
    if (n.kind == OpKind::Relu && n.floats.count("bound")) s.relu_bound = static_cast<float>(n.floats.at("bound"));
    const auto channels = static_cast<size_t>(g.value(n.output).shape.at(0));
    switch (n.kind) {
    case OpKind::Conv2d:
      s.weight = conv_gather_layout<float>(n.attr_tensor("weight").data, ws);
      s.bias = n.attr_tensor("bias").data;
      break;
    case OpKind::Linear:
      s.weight = linear_gather_layout<float>(n.attr_tensor("weight").data, ws);
      s.bias = n.attr_tensor("bias").data;
      break;
    case OpKind::IF:
      s.threshold.assign(channels, 1.0f);
      s.v0.assign(channels, static_cast<float>(ir::if_v0(n)));
      s.graded = ir::if_graded(n);
      break;
    case OpKind::Add:
      for (const auto &c : ir::add_coefficients(n, static_cast<int64_t>(channels))) s.coeff.insert(s.coeff.end(), c.begin(), c.end());
      break;
    case OpKind::BatchNorm:
      s.scale = n.attr_tensor("scale").data;
      s.shift = n.attr_tensor("shift").data;
      break;
    default:
      break;
    }
    steps.push_back(std::move(s));
  }
  return std::make_unique<CudaProgram<float>>(std::move(steps), std::move(shapes), g.input(), g.output(),
                                               [](float x) { return x; }, 1.0);
}

std::unique_ptr<Program> compile_int(const quant::QGraph &q) {
  std::vector<DStep<int64_t>> steps;
  const auto &st = q.time_invariant;
  for (const auto &n : q.nodes) {
    DStep<int64_t> s;
    s.kind = n.kind;
    s.name = n.name;
    s.inputs = n.inputs;
    s.output = n.output;
    s.is_static = st[static_cast<size_t>(n.output)];
    const ir::Shape in = n.inputs.empty() ? q.shapes[static_cast<size_t>(n.output)] : q.shapes[static_cast<size_t>(n.inputs[0])];
    s.args = make_args(in, q.shapes[static_cast<size_t>(n.output)], n.ints, n.weight_shape, n.kind, n.inputs.size());
    switch (n.kind) {
    case OpKind::Conv2d:
      s.weight = conv_gather_layout<int64_t>(n.weight, n.weight_shape);
      s.bias = n.bias;
      break;
    case OpKind::Linear:
      s.weight = linear_gather_layout<int64_t>(n.weight, n.weight_shape);
      s.bias = n.bias;
      break;
    case OpKind::IF:
      s.threshold = n.threshold;
      s.v0 = n.v0;
      s.graded = n.graded();
      break;
    case OpKind::Add:
      for (const auto &m : n.multiplier) s.coeff.insert(s.coeff.end(), m.begin(), m.end());
      break;
    case OpKind::AvgPool2d:
    case OpKind::AdaptiveAvgPool2d:
      s.multiplier = n.pool_multiplier;
      break;
    default:
      break;
    }
    steps.push_back(std::move(s));
  }
  const quant::QGraph copy = q;
  return std::make_unique<CudaProgram<int64_t>>(std::move(steps), q.shapes, q.input, q.output,
                                                 [copy](float x) { return quant::quantize_input(copy, x); }, q.readout_unit);
}

class CudaBackend : public Backend {
public:
  std::string_view name() const override { return "cuda"; }
  Availability availability() const override {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) return {false, fmt::format("no usable CUDA device ({})", cudaGetErrorString(err))};
    if (count == 0) return {false, "no CUDA device found"};
    return {};
  }
  Support supports(const ir::Node & /*node*/) const override { return {}; }
  std::unique_ptr<Program> compile(const ir::Graph &graph, const CompileOptions &options) const override {
    check_backend(*this, graph);  // no usable device (or driver): a UserError that says so, before any allocation
    if (options.precision == Precision::Fp32) return compile_fp32(graph);
    return compile_int(quant::quantize(graph, options.precision == Precision::Int16 ? 16 : 8));
  }
};

} // namespace

std::unique_ptr<Backend> make_backend() { return std::make_unique<CudaBackend>(); }

} // namespace neurocuda::backends::cuda
