// SPDX-License-Identifier: MIT
// Library entry points behind each command of the `neurocuda` tool.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace neurocuda::driver {

/// Flags of `neurocuda convert`.
struct ConvertOptions {
  std::string model;                ///< TorchScript file
  std::string calib;                ///< calibration data (file or folder)
  std::string output;               ///< .snn path ("" = <model stem>.snn)
  std::string calib_split = "auto"; ///< auto = train split when the folder has both
  int64_t calib_samples = 10000;    ///< 0 = all
  std::string percentile = "99";    ///< or "max"; 99 chosen by measurement (README, "Numbers")
  std::string threshold_scope = "channel";  ///< or "layer"
  std::string neuron = "graded";    ///< graded (snn/neuron.h; the default, by measurement: README) or if (DESIGN.md IF)
  int threshold_search = 0;         ///< T to refine thresholds for (0 = off)
  int bias_correction = 0;          ///< T to correct biases for (0 = off)
  int64_t correction_samples = 512;
  int correction_rounds = 1;         ///< SNN runs per population for --bias-correction
  std::string correction_precision = "fp32";  ///< numeric mode the correction measures rates in
  std::string mean, std;            ///< comma-separated normalisation, "" = none
  int64_t batch = 256;
  int threads = 0;                  ///< 0 = all cores
  bool verify_each = false;
  std::string dump_ir_after;
};

/// Flags of `neurocuda eval`.
struct EvalOptions {
  std::string network;
  std::string data;
  std::string split = "auto";       ///< auto = test split when the folder has both
  std::string timesteps = "32";     ///< comma-separated list, evaluated in one run
  int readout_delay = 0;            ///< leave the first D timesteps' outputs out of the readout (RunOptions)
  std::string backend = "cpu";
  std::string precision = "fp32";   ///< fp32, int8 or int16
  std::string reset_mode = "subtract";  ///< loihi2: subtract or zero (docs/loihi2.md)
  double reset_compensation = -1;   ///< loihi2, zero mode: threshold lowering, < 0 = default
  std::string report;               ///< JSON report path, "" = none
  int64_t limit = 0;                ///< evaluate only the first N samples, 0 = all
  int64_t batch = 500;
  int threads = 0;
  bool skip_ann = false;            ///< do not run the ANN baseline
  bool json = false;                ///< print the JSON report on stdout instead of text
  bool quiet = false;               ///< print nothing on success (errors still go to stderr)
  // Gates (NaN = off): the run fails with exit code 4 when one is exceeded at the largest T.
  double max_accuracy_drop = std::nan("");  ///< ANN - SNN accuracy, percentage points (may be negative)
  double max_spike_rate = std::nan("");     ///< spikes per neuron per timestep
  double max_synops = std::nan("");         ///< synaptic operations per sample
};

/// Flags of `neurocuda verify`.
struct VerifyOptions {
  std::string network;
  std::string data;
  std::string split = "auto";
  std::string backends = "cpu,cuda";  ///< comma-separated; every one is compared with the first
  std::string against;                ///< optional second network, run on the first backend and compared
  std::string precision = "fp32";
  std::string reset_mode = "subtract";  ///< loihi2: see EvalOptions
  double reset_compensation = -1;
  int timesteps = 32;
  int readout_delay = 0;
  int64_t limit = 0;
  int64_t batch = 64;
  int threads = 0;
  std::string report;
};

/// Flags of `neurocuda inspect`.
struct InspectOptions {
  std::string network;
  bool json = false;
};

/// Flags of `neurocuda export`.
struct ExportOptions {
  std::string network;
  std::string format = "nir";
  std::string output;
  bool quiet = false;
};

/// Writes a converted network in an ecosystem format (NIR); warns about semantics the format cannot hold.
void export_network(const ExportOptions &options);

/// Prints what a converted network holds: layers, shapes, thresholds, weight ranges, quantization, counts.
void inspect(const InspectOptions &options);

/// Flags of `neurocuda sweep`.
struct SweepOptions {
  std::string model;
  ConvertOptions convert;             ///< calibration settings shared by every method (percentile is swept)
  std::string data;                   ///< evaluation data
  std::string timesteps = "4,8,16,32,64";
  int readout_delay = 0;              ///< as EvalOptions::readout_delay, for every method and T
  std::string neurons = "graded";     ///< neuron models to compare (if, graded); methods = neurons x the lists below
  std::string percentiles = "99,99.9,99.99,max";
  std::string bias_corrections = "0"; ///< T values for --bias-correction, 0 = none; methods = percentiles x these
  std::string threshold_searches = "0";  ///< T values for --threshold-search, 0 = none; also crossed with the above
  std::string precision = "fp32";
  int64_t limit = 0;
  int64_t eval_batch = 500;
  std::string output;                 ///< folder for sweep.csv, sweep.json, sweep.svg
};

/// Calibrates once per method, evaluates each at every T, writes CSV, JSON and an SVG plot, prints a table.
void sweep(const SweepOptions &options);

/// Converts a model; prints a summary to stdout. Throws UserError / InternalError.
void convert(const ConvertOptions &options);

/// Evaluates a converted network; prints the report to stdout and writes the JSON report.
/// Returns false if a gate was exceeded.
bool eval(const EvalOptions &options);

/// Runs the same samples through several backends and compares every spike and the readout bit for
/// bit; prints and reports the result. Returns false if anything differs.
bool verify(const VerifyOptions &options);

/// Parses a comma-separated list of positive timesteps ("8,16,32"); throws UserError.
std::vector<int> parse_timesteps(const std::string &text);
/// Checks --readout-delay against the smallest T of a run; throws UserError.
void check_readout_delay(int delay, int smallest_t);
/// Checks a neuron model name ("graded" or "if") given to `flag`; throws UserError.
void check_neuron(const std::string &name, const char *flag);

/// The tool's version string.
const char *version();

} // namespace neurocuda::driver
