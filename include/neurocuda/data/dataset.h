// SPDX-License-Identifier: MIT
// Calibration and evaluation data: formats detected from content, read in batches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "neurocuda/ir/graph.h"

namespace neurocuda::data {

/// Which split to read when a folder holds both a training and a test split.
enum class Split { Auto, Train, Test };

/// Parses "auto", "train" or "test"; throws UserError otherwise.
Split parse_split(const std::string &text);

/// How raw samples become model inputs: x = (raw / 255 - mean[c]) / std[c] for 8-bit data.
struct Preprocess {
  std::vector<float> mean;  ///< per channel, or one value for all; empty = 0
  std::vector<float> std;   ///< per channel, or one value for all; empty = 1
};

/// A data set read sequentially in batches; memory use is bounded by the batch.
class Dataset {
public:
  virtual ~Dataset() = default;
  /// Format name ("idx", "npy", "npz", "cifar10", "image-folder").
  virtual std::string format() const = 0;
  /// What was opened (file or files), for messages and reports.
  virtual std::string description() const = 0;
  /// Number of samples.
  virtual int64_t size() const = 0;
  /// Per-sample shape [C, H, W] (or [F]).
  virtual ir::Shape sample_shape() const = 0;
  /// Reads up to `max_count` next samples as floats in [0, 1] (8-bit) or raw (float data),
  /// plus labels (-1 when unknown); returns the number read, 0 at the end.
  virtual int64_t next(int64_t max_count, float *samples, int32_t *labels) = 0;
  /// Starts reading from the first sample again.
  virtual void rewind() = 0;
};

/// Opens a file or folder, detecting its format from its contents; `split` picks
/// train or test files when a folder holds both (Auto picks `fallback`).
/// Throws UserError naming the path and the formats it understands.
std::unique_ptr<Dataset> open_dataset(const std::string &path, Split split, Split fallback);

/// Wraps a data set: stops after `limit` samples (0 = all) and applies `pre`.
std::unique_ptr<Dataset> limit_and_normalise(std::unique_ptr<Dataset> inner, int64_t limit, const Preprocess &pre);

/// Parses a comma-separated float list such as "0.5,0.5,0.5"; throws UserError naming `flag`.
std::vector<float> parse_float_list(const std::string &text, const std::string &flag);

} // namespace neurocuda::data
