// SPDX-License-Identifier: MIT
// `neurocuda verify`: bit-exact cross-backend validation of a converted network.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "neurocuda/backend.h"
#include "neurocuda/data/dataset.h"
#include "neurocuda/driver/commands.h"
#include "neurocuda/driver/compare.h"
#include "neurocuda/error.h"
#include "neurocuda/util/split.h"
#include "neurocuda/format/atomic_file.h"
#include "neurocuda/format/snn_file.h"
#include "network_data.h"
#include "progress.h"

namespace neurocuda::driver {
namespace {


struct Candidate {
  std::string label;  // "cpu", "cuda", "cpu (other.snn)"
  std::string backend;
  std::unique_ptr<Program> program;
  double seconds = 0;
};

} // namespace

bool verify(const VerifyOptions &o) {
  if (o.timesteps <= 0) throw UserError("--timesteps must be positive");
  check_readout_delay(o.readout_delay, o.timesteps);
  if (o.batch <= 0) throw UserError("--batch must be positive");
  const auto names = util::split_commas(o.backends);
  if (names.size() + (o.against.empty() ? 0 : 1) < 2)
    throw UserError("verify needs two things to compare: give two or more --backends, or --against NET");
  CompileOptions copts;
  copts.precision = parse_precision(o.precision);
  copts.reset_mode = o.reset_mode;
  copts.reset_compensation = o.reset_compensation;
  for (const auto &n : names) get_backend(n);  // unknown names fail before any work

  auto net = format::read_network(o.network);
  std::vector<Candidate> runs;
  for (const auto &n : names) {
    const Backend &b = get_backend(n);
    check_backend(b, net.graph);
    runs.push_back({n, n, b.compile(net.graph, copts)});
  }
  if (!o.against.empty()) {
    auto other = format::read_network(o.against);
    if (other.graph.value(other.graph.input()).shape != net.graph.value(net.graph.input()).shape)
      throw UserError(fmt::format("'{}' and '{}' take inputs of different shapes", o.network, o.against));
    runs.push_back({fmt::format("{} ({})", names[0], o.against), names[0], get_backend(names[0]).compile(other.graph, copts)});
  }
  const auto &layers = runs[0].program->layers();
  for (const auto &r : runs) {
    if (r.program->layers().size() != layers.size())
      throw UserError(fmt::format("'{}' has a different number of spiking layers", r.label));
    for (size_t l = 0; l < layers.size(); ++l)
      if (r.program->layers()[l].neurons != layers[l].neurons)
        throw UserError(fmt::format("'{}' differs in the size of layer '{}'", r.label, layers[l].name));
  }

  auto data = open_data_for(net, o.network, o.data, o.split, o.limit);
  const ir::Shape shape = net.graph.value(net.graph.input()).shape;
  const int threads = o.threads > 0 ? o.threads : omp_get_num_procs();
  RunOptions ropts;
  ropts.checkpoints = {o.timesteps};
  ropts.readout_delay = o.readout_delay;
  ropts.threads = threads;
  ropts.record_trace = true;
  const int64_t per = ir::numel(shape), total = data->size();
  std::vector<float> x(static_cast<size_t>(o.batch * per));
  std::vector<int32_t> labels(static_cast<size_t>(o.batch));
  std::vector<Comparison> cmp(runs.size());
  int64_t samples = 0;
  {
    Progress bar("verify", total);
    data->rewind();
    while (samples < total) {
      const int64_t n = data->next(std::min(o.batch, total - samples), x.data(), labels.data());
      if (n == 0) break;
      std::vector<RunResult> results;
      for (auto &r : runs) {
        const auto t0 = std::chrono::steady_clock::now();
        results.push_back(r.program->run(Batch{x.data(), n, shape}, ropts));
        r.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
      for (size_t k = 1; k < runs.size(); ++k) compare_runs(results[0], results[k], layers, o.timesteps, samples, cmp[k]);
      samples += n;
      bar.update(samples);
    }
  }

  bool ok = true;
  nlohmann::json rep;
  rep["schema"] = "neurocuda-verify-report";
  rep["schema_version"] = 1;
  rep["network"] = o.network;
  rep["data"] = data->description();
  rep["precision"] = o.precision;
  rep["timesteps"] = o.timesteps;
  rep["readout_delay"] = o.readout_delay;
  rep["samples"] = samples;
  rep["reference"] = runs[0].label;
  nlohmann::json list = nlohmann::json::array();
  fmt::print("verify {} ({}, T={}, {} samples), reference: {}\n", o.network, o.precision, o.timesteps, samples,
             runs[0].label);
  for (size_t k = 1; k < runs.size(); ++k) {
    const auto &c = cmp[k];
    ok = ok && c.mismatches == 0;
    nlohmann::json j{{"candidate", runs[k].label}, {"comparisons", c.comparisons}, {"mismatches", c.mismatches}};
    fmt::print("  {:<24} {} comparisons, {} mismatches", runs[k].label, c.comparisons, c.mismatches);
    if (c.mismatches) {
      j["first_mismatch"] = {{"sample", c.first.sample}, {"timestep", c.first.timestep}, {"layer", c.first.layer},
                             {"neuron", c.first.neuron}};
      fmt::print(" (first: sample {}, {} {}, timestep {})", c.first.sample, c.first.layer, c.first.neuron,
                 c.first.timestep);
    }
    fmt::print("\n");
    list.push_back(j);
  }
  rep["comparisons"] = list;
  rep["identical"] = ok;
  nlohmann::json timing = nlohmann::json::object();
  for (const auto &r : runs) {
    timing[r.label] = r.seconds > 0 ? static_cast<double>(samples) / r.seconds : 0.0;
    fmt::print("  throughput {:<24} {:.1f} images/s\n", r.label, r.seconds > 0 ? static_cast<double>(samples) / r.seconds : 0.0);
  }
  rep["timing"] = {{"images_per_second", timing}, {"threads", threads}};
  if (!o.report.empty()) format::write_file_atomic(o.report, rep.dump(2) + "\n");
  fmt::print("{}\n", ok ? "IDENTICAL: every spike and the readout agree bit for bit" : "MISMATCH");
  return ok;
}

} // namespace neurocuda::driver
