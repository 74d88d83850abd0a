// SPDX-License-Identifier: MIT
// `neurocuda convert`: load, lower, convert, calibrate, fold, write.
#include <fmt/format.h>
#include <omp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "neurocuda/backend.h"
#include "neurocuda/calibration/bias_correction.h"
#include "neurocuda/calibration/calibrate.h"
#include "neurocuda/driver/commands.h"
#include "neurocuda/error.h"
#include "neurocuda/format/atomic_file.h"
#include "neurocuda/format/snn_file.h"
#include "neurocuda/frontend/torch_model.h"
#include "neurocuda/passes/pipeline.h"
#include "neurocuda/util/split.h"
#include "pipeline_steps.h"
#include "progress.h"

#ifndef NEUROCUDA_VERSION
#define NEUROCUDA_VERSION "0.0.0"
#endif

namespace neurocuda::driver {

const char *version() { return NEUROCUDA_VERSION; }

std::vector<int> parse_timesteps(const std::string &text) {
  std::vector<int> out;
  for (const auto &item : util::split_commas(text)) {
    int t = 0;
    if (!util::parse_int(item, &t))
      throw UserError(fmt::format("--timesteps expects comma-separated positive integers such as 8,16,32, got '{}'", text));
    if (t <= 0 || t > 100000) throw UserError(fmt::format("--timesteps values must be in 1..100000, got {}", t));
    out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void check_readout_delay(int delay, int smallest_t) {
  if (delay < 0) throw UserError(fmt::format("--readout-delay must be 0 or positive, got {}", delay));
  if (delay >= smallest_t)
    throw UserError(fmt::format("--readout-delay {} leaves no timestep to read at T = {}: use a delay below the "
                                "smallest T, or drop the smaller T values",
                                delay, smallest_t));
}

void check_neuron(const std::string &name, const char *flag) {
  if (name != "if" && name != "graded")
    throw UserError(fmt::format("{}: '{}' is not a neuron model; use 'graded' or 'if' (docs/conversion.md, \"Neurons\")",
                                flag, name));
}

format::NetworkFile build_network(const ConvertOptions &o, std::string *summary_text) {
  const auto start = std::chrono::steady_clock::now();
  if (o.batch <= 0) throw UserError("--batch must be positive");
  if (o.calib_samples < 0) throw UserError("--calib-samples must be 0 (all) or positive");
  auto cal_opts = calibration::parse_percentile_flag(o.percentile);
  cal_opts.per_layer = calibration::parse_scope_is_layer(o.threshold_scope);
  if (o.bias_correction < 0 || o.bias_correction > 100000) throw UserError("--bias-correction must be in 0..100000");
  if (o.threshold_search < 0 || o.threshold_search > 100000) throw UserError("--threshold-search must be in 0..100000");
  cal_opts.search_timesteps = o.threshold_search;
  check_neuron(o.neuron, "--neuron");
  if (o.correction_samples <= 0) throw UserError("--correction-samples must be positive");
  if (o.correction_rounds < 1 || o.correction_rounds > 20) throw UserError("--correction-rounds must be in 1..20");
  const Precision correction_precision = parse_precision(o.correction_precision, "--correction-precision");
  cal_opts.batch = o.batch;
  const int threads = o.threads > 0 ? o.threads : omp_get_num_procs();
  frontend::TorchModel::set_threads(threads);

  data::Preprocess pre;
  if (!o.mean.empty()) pre.mean = data::parse_float_list(o.mean, "--mean");
  if (!o.std.empty()) pre.std = data::parse_float_list(o.std, "--std");
  auto model = frontend::TorchModel::load_file(o.model);
  auto data = data::limit_and_normalise(
      data::open_dataset(o.calib, data::parse_split(o.calib_split), data::Split::Train), o.calib_samples, pre);
  const ir::Shape shape = data->sample_shape();

  passes::PassContext ctx;
  ctx.graded_neurons = o.neuron == "graded";
  ctx.verify_each = o.verify_each;
  ctx.dump_ir_after = o.dump_ir_after;
  ir::Graph graph = model.lower(shape);
  ir::verify(graph);
  if (ctx.dump_ir_after == "lower" || ctx.dump_ir_after == "all") fmt::print(stderr, "// IR after lower\n{}", ir::dump(graph));
  passes::run_pre_calibration(graph, ctx);

  calibration::CalibrationSummary summary;
  {
    Progress bar("calibrating", data->size());
    summary = calibration::calibrate(graph, model, *data, cal_opts, [&](int64_t d, int64_t) { bar.update(d); });
  }
  passes::run_post_calibration(graph, ctx);
  ir::verify(graph);
  int corrected = 0;
  if (o.bias_correction > 0) {
    Progress bar("bias correction", 1);
    calibration::BiasCorrectionOptions bc{o.bias_correction, o.correction_samples, threads, o.correction_rounds,
                                          correction_precision};
    corrected = calibration::correct_biases(graph, model, *data, bc, [&](int d, int t) { (void)t; bar.update(d); });
  }
  check_backend(get_backend("cpu"), graph);

  format::NetworkFile net;
  net.graph = std::move(graph);
  net.model_bytes = format::read_file(o.model, "model file");
  auto &info = net.info;
  info.tool_version = version();
  info.model_file = std::filesystem::path(o.model).filename().string();
  info.model_crc32 = format::crc32_of(net.model_bytes);
  info.calibration_method = cal_opts.method;
  info.percentile = cal_opts.percentile;
  info.threshold_scope = o.threshold_scope;
  info.threshold_search_timesteps = o.threshold_search;
  info.bias_correction_timesteps = o.bias_correction;
  info.bias_correction_samples = o.bias_correction > 0 ? std::min(o.correction_samples, data->size()) : 0;
  info.bias_correction_rounds = o.bias_correction > 0 ? o.correction_rounds : 0;
  info.bias_correction_precision = o.bias_correction > 0 ? o.correction_precision : "";
  info.calibration_samples = summary.samples;
  info.calibration_data = data->description();
  info.mean = pre.mean;
  info.std = pre.std;

  int64_t neurons = 0, populations = 0, params = 0;
  int64_t fixed = 0;
  for (const auto &n : net.graph.nodes()) {
    if (n.kind == ir::OpKind::IF) {
      ++populations;
      fixed += static_cast<int64_t>(n.floats.count("threshold_fixed"));
      neurons += ir::numel(net.graph.value(n.output).shape);
    }
    if (ir::is_synaptic(n.kind)) params += static_cast<int64_t>(n.attr_tensor("weight").data.size() + n.attr_tensor("bias").data.size());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (summary_text) {
    std::string &t = *summary_text;
    t = fmt::format("  input            [{}] ({} data: {})\n", fmt::join(shape, ", "), data->format(), data->description());
    t += fmt::format("  populations      {} {} ({} neurons), {} parameters\n", populations, o.neuron == "graded" ? "graded" : "IF",
                     neurons, params);
    if (fixed < populations)
      t += fmt::format("  calibration      {} {} per {} over {} samples ({:.2f}s)\n", cal_opts.method,
                       cal_opts.method == "max" ? std::string("") : fmt::format("p{}", cal_opts.percentile),
                       o.threshold_scope, summary.samples, summary.seconds);
    if (o.threshold_search > 0)
      t += fmt::format("  threshold search for T={}: thresholds x{:.3f} on average\n", o.threshold_search,
                       summary.search_mean_ratio);
    if (fixed > 0)
      t += fmt::format("  fixed thresholds {} of {} populations (clipped or QCFS activations: threshold = bound)\n",
                       fixed, populations);
    if (o.bias_correction > 0)
      t += fmt::format("  bias correction  {} populations for T={} from {} samples, {} round(s), rates measured in {}\n",
                       corrected, o.bias_correction, info.bias_correction_samples, o.correction_rounds,
                       o.correction_precision);
    t += fmt::format("  total time       {:.1f}s\n", secs);
  }
  return net;
}

void convert(const ConvertOptions &o) {
  // Check the output location before the expensive work.
  const std::string output =
      o.output.empty() ? std::filesystem::path(o.model).stem().string() + ".snn" : o.output;
  {
    std::error_code ec;
    const auto dir = std::filesystem::path(output).has_parent_path() ? std::filesystem::path(output).parent_path()
                                                                     : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir, ec))
      throw UserError(fmt::format("cannot write '{}': folder '{}' does not exist", output, dir.string()));
  }
  std::string summary;
  const auto net = build_network(o, &summary);
  format::write_network(output, net);
  fmt::print("converted {} -> {}\n{}", o.model, output, summary);
}

} // namespace neurocuda::driver
