// SPDX-License-Identifier: MIT
// The backend interface: compile a converted network for a target, then run it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "neurocuda/ir/graph.h"

namespace neurocuda {

/// Whether a backend can run here, and why not.
struct Availability {
  bool available = true;
  std::string reason;
};

/// Whether a backend supports a node, and why not.
struct Support {
  bool supported = true;
  std::string reason;
};

/// Numeric mode of execution (DESIGN.md, "Numeric modes"; docs/integer-mode.md).
enum class Precision { Fp32, Int8, Int16 };

/// Parses "fp32", "int8" or "int16"; throws UserError otherwise (naming `flag` when given).
Precision parse_precision(const std::string &text, const char *flag = nullptr);
/// Printed name of a precision.
std::string precision_name(Precision precision);

/// Options every backend understands at compile time.
struct CompileOptions {
  Precision precision = Precision::Fp32;
  /// loihi2: how IF's reset by subtraction is mapped ("subtract" or "zero"; "" = subtract), and for "zero"
  /// the fraction by which thresholds are lowered (< 0 = the backend's default). docs/loihi2.md.
  std::string reset_mode;
  double reset_compensation = -1;
};

/// A batch of input samples, row-major [count, sample_shape...].
struct Batch {
  const float *data = nullptr;
  int64_t count = 0;
  ir::Shape sample_shape;
};

/// Options for one run.
struct RunOptions {
  std::vector<int> checkpoints;  ///< ascending timesteps at which predictions are taken; the run lasts the last one
  int threads = 0;               ///< 0 = all cores
  bool channel_spikes = false;   ///< also count spikes per channel (RunResult::channel_spikes)
  bool record_trace = false;     ///< record every spike (RunResult::trace), for cross-backend verification
  /// The readout leaves out the output of the first `readout_delay` timesteps: a prediction at checkpoint T
  /// is the argmax of the outputs summed over timesteps readout_delay + 1 .. T. Less than every checkpoint.
  int readout_delay = 0;
};

/// One spiking population as the backend laid it out.
struct LayerInfo {
  std::string name;
  int64_t neurons = 0;   ///< per sample
  int64_t channels = 0;  ///< channels (or features) of the population
  int node = -1;         ///< index of its IF node in the graph
};

/// What a run measured, summed over the batch.
struct RunResult {
  std::vector<int> checkpoints;
  int64_t samples = 0;
  int64_t classes = 0;
  std::vector<int32_t> predictions;  ///< [checkpoint][sample]
  std::vector<uint64_t> spikes;      ///< [checkpoint][layer]: spikes emitted up to that timestep
  std::vector<uint64_t> synops;      ///< [checkpoint]: spike-driven synaptic operations up to that timestep
  /// [checkpoint]: steps simulated up to it, which spike counts cover; empty means the checkpoint itself
  /// (loihi2 runs T + D steps for T timesteps, D the hops to the readout).
  std::vector<int> steps;
  std::vector<float> readout;        ///< [sample][class]: readout current summed over all timesteps
  /// [layer][channel] net spike totals over the run, if requested (graded neurons: sum of payloads)
  std::vector<std::vector<uint64_t>> channel_spikes;
  /// If requested: per sample, bits of every spike, ordered [timestep][layer][neuron], neurons in
  /// PyTorch (CHW) order, 64 per word; identical on every backend that implements the contract.
  std::vector<std::vector<uint64_t>> trace;
  /// Per sample and class, the exact accumulated readout: fp32 bit patterns, or integers in int mode.
  std::vector<int64_t> readout_exact;
};

/// A network laid out for one backend.
class Program {
public:
  virtual ~Program() = default;
  /// The spiking populations in execution order (what spike counts refer to).
  virtual const std::vector<LayerInfo> &layers() const = 0;
  /// Runs the batch for checkpoints.back() timesteps. Throws UserError on bad input.
  virtual RunResult run(const Batch &inputs, const RunOptions &options) = 0;
};

/// A target that compiles converted networks.
class Backend {
public:
  virtual ~Backend() = default;
  /// Registered name, e.g. "cpu".
  virtual std::string_view name() const = 0;
  /// Whether it can run on this machine.
  virtual Availability availability() const = 0;
  /// Whether it can execute `node`.
  virtual Support supports(const ir::Node &node) const = 0;
  /// Lays out a converted network; needs no device. Throws UserError for unsupported graphs.
  virtual std::unique_ptr<Program> compile(const ir::Graph &graph, const CompileOptions &options) const = 0;
};

/// Names of all registered backends, in registration order.
std::vector<std::string> backend_names();
/// The backend called `name`; throws UserError listing the registered names if there is none.
const Backend &get_backend(const std::string &name);
/// Checks every node with backend.supports() and availability; throws UserError naming node and backend.
void check_backend(const Backend &backend, const ir::Graph &graph);

} // namespace neurocuda
