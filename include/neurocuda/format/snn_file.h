// SPDX-License-Identifier: MIT
// The converted-network file (.snn): versioned, checksummed, self-contained. Layout in docs/snn-format.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "neurocuda/ir/graph.h"

namespace neurocuda::format {

/// Newest version of the .snn format this build reads and writes; readers reject newer versions.
/// Version 2 added graded neurons (if_neuron ints `graded`); a file without them is written as
/// version 1, byte for byte what earlier releases wrote, so older readers still take it, and refuse a
/// graded network instead of running it as IF.
constexpr uint32_t kSnnFormatVersion = 2;

/// The format version a graph is written as: 2 if it has graded neurons, else 1.
uint32_t format_version(const ir::Graph &graph);

/// How the network was made: enough for `eval` to reproduce the ANN baseline.
struct ConversionInfo {
  std::string tool_version;
  std::string model_file;          ///< file name the model was converted from
  uint32_t model_crc32 = 0;        ///< CRC-32 of the embedded TorchScript archive
  std::string calibration_method;  ///< "percentile" or "max"
  double percentile = 0;
  std::string threshold_scope = "channel";  ///< "channel" or "layer"
  int bias_correction_timesteps = 0;        ///< T of the bias correction, 0 = none
  int64_t bias_correction_samples = 0;
  int bias_correction_rounds = 0;
  std::string bias_correction_precision;    ///< numeric mode the correction measured rates in, "" = none
  int threshold_search_timesteps = 0;       ///< T of --threshold-search, 0 = none           ///< 0 when there was no correction
  int64_t calibration_samples = 0;
  std::string calibration_data;
  std::vector<float> mean, std;    ///< input normalisation applied to data before the model
};

/// A converted network plus the TorchScript model it came from.
struct NetworkFile {
  ir::Graph graph;
  ConversionInfo info;
  std::string model_bytes;  ///< the original TorchScript archive, byte for byte
};

/// Serialises deterministically (same network, same bytes).
std::string serialize_network(const NetworkFile &net);
/// Parses and checks magic, version and checksum; throws UserError on any corruption.
NetworkFile parse_network(const std::string &bytes, const std::string &what);

/// Writes `net` atomically to `path`.
void write_network(const std::string &path, const NetworkFile &net);
/// Reads a .snn file; throws UserError if missing, truncated, corrupt or of a newer version.
NetworkFile read_network(const std::string &path);

/// CRC-32 (zlib) of a byte string.
uint32_t crc32_of(const std::string &bytes);

} // namespace neurocuda::format
