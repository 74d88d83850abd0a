// SPDX-License-Identifier: MIT
// A TorchScript model: loading, lowering to the IR, and running the ANN (LibTorch inside, not in this header).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "neurocuda/ir/graph.h"

namespace neurocuda::frontend {

/// A loaded TorchScript model, both as saved (for ANN accuracy) and frozen (for lowering and calibration).
class TorchModel {
public:
  /// Loads a TorchScript file; throws UserError if it is missing, corrupt or not TorchScript.
  static TorchModel load_file(const std::string &path);
  /// Loads a TorchScript archive held in memory (as embedded in a .snn file); `name` is used in messages.
  static TorchModel load_bytes(const std::string &bytes, const std::string &name);

  TorchModel(TorchModel &&) noexcept;
  TorchModel &operator=(TorchModel &&) noexcept;
  ~TorchModel();

  /// Lowers the frozen graph for per-sample input `input_shape` ([C, H, W]).
  /// Throws UserError naming the operator and Python source line of anything unsupported.
  ir::Graph lower(const ir::Shape &input_shape) const;

  /// Runs the model as saved (eval mode) on `n` samples; returns logits [n, classes] row-major.
  std::vector<float> forward(const float *x, int64_t n, const ir::Shape &shape, int64_t *classes) const;

  /// Runs the frozen model and returns the values named `taps` (IR value names), each [n, ...] row-major.
  std::vector<std::vector<float>> forward_taps(const float *x, int64_t n, const ir::Shape &shape,
                                               const std::vector<std::string> &taps) const;

  /// One chunk of forward_taps_each: samples [begin, begin + count); values[i] points to taps[i] for them
  /// (row-major), per_sample[i] floats per sample.
  struct TapChunk {
    int64_t begin = 0, count = 0;
    std::vector<const float *> values;
    std::vector<int64_t> per_sample;
  };
  /// Like forward_taps, but hands each chunk to `consume` as soon as it is computed, without copying or
  /// gathering: calls come in no particular order and concurrently from the worker threads (chunks are
  /// disjoint; `consume` guards whatever state it shares).
  void forward_taps_each(const float *x, int64_t n, const ir::Shape &shape, const std::vector<std::string> &taps,
                         const std::function<void(const TapChunk &)> &consume) const;

  /// Sets LibTorch's intra-op thread count.
  static void set_threads(int threads);

  struct Impl;  ///< LibTorch state, defined only inside src/frontend/

private:
  explicit TorchModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace neurocuda::frontend
