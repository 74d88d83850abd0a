// SPDX-License-Identifier: MIT
// A small RAII writer over Debian's libhdf5 C API: groups, numeric datasets and UTF-8 string datasets,
// built in memory (core driver) so that the caller can write the bytes atomically.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace neurocuda::exporters {

class Hdf5Writer {
public:
  Hdf5Writer();
  ~Hdf5Writer();
  Hdf5Writer(const Hdf5Writer &) = delete;
  Hdf5Writer &operator=(const Hdf5Writer &) = delete;

  /// Creates group `path` ("/node/nodes/conv1"); parents must exist.
  void group(const std::string &path);
  /// Float32 dataset of `shape` (empty shape: scalar).
  void floats(const std::string &path, const std::vector<int64_t> &shape, const std::vector<float> &data);
  /// Int64 dataset of `shape` (empty shape: scalar).
  void ints(const std::string &path, const std::vector<int64_t> &shape, const std::vector<int64_t> &data);
  /// Scalar variable-length UTF-8 string.
  void string(const std::string &path, const std::string &value);
  /// [rows, cols] array of variable-length UTF-8 strings, row-major.
  void strings(const std::string &path, int64_t rows, int64_t cols, const std::vector<std::string> &values);
  /// The finished file's bytes (closes the file).
  std::string bytes();

private:
  hid_t file_ = -1;
};

} // namespace neurocuda::exporters
