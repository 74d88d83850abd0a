// SPDX-License-Identifier: MIT
// Calibration driver: taps the frozen ANN at every IF population and keeps per-channel percentiles.
#include "neurocuda/calibration/calibrate.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>

#include "neurocuda/calibration/percentile.h"
#include "neurocuda/calibration/threshold_search.h"
#include "neurocuda/error.h"

namespace neurocuda::calibration {

CalibrationOptions parse_percentile_flag(const std::string &text) {
  CalibrationOptions o;
  if (text == "max") {
    o.method = "max";
    o.percentile = 100.0;
    return o;
  }
  try {
    size_t used = 0;
    o.percentile = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception &) {
    throw UserError(fmt::format("--percentile expects a number in (0, 100] or 'max', got '{}'", text));
  }
  if (!(o.percentile > 0 && o.percentile <= 100))
    throw UserError(fmt::format("--percentile must be in (0, 100], got {}", text));
  return o;
}

bool parse_scope_is_layer(const std::string &text) {
  if (text == "channel") return false;
  if (text == "layer") return true;
  throw UserError(fmt::format("--threshold-scope expects 'channel' or 'layer', got '{}'", text));
}

CalibrationSummary calibrate(ir::Graph &graph, const frontend::TorchModel &model, data::Dataset &data,
                             const CalibrationOptions &options, const std::function<void(int64_t, int64_t)> &progress) {
  auto log = spdlog::get("calibration");
  const auto start = std::chrono::steady_clock::now();
  const double pct = options.method == "max" ? 100.0 : options.percentile;
  std::vector<ir::Node *> pops;
  std::vector<std::string> taps;
  for (auto &n : graph.nodes())
    if (n.kind == ir::OpKind::IF && !n.floats.count("threshold_fixed")) {  // fixed: a clipped activation's bound
      const auto &name = graph.value(n.output).name;
      NEUROCUDA_CHECK(!name.empty()) << "IF node '" << n.name << "' has no ANN value to calibrate from";
      pops.push_back(&n);
      taps.push_back(name);
    }
  const ir::Shape shape = graph.value(graph.input()).shape;
  if (data.sample_shape() != shape)
    throw UserError(fmt::format("calibration data '{}' has samples of shape [{}] but the model input is [{}]",
                                data.description(), fmt::join(data.sample_shape(), ", "), fmt::join(shape, ", ")));
  const int64_t total = data.size();
  std::vector<ChannelPercentile> stats;
  std::vector<ChannelHistogram> histograms;  // only for the threshold search
  for (auto *n : pops) {
    const auto &s = graph.value(n->output).shape;
    if (options.per_layer) stats.emplace_back(1, total * ir::numel(s), pct);
    else stats.emplace_back(s[0], total * (ir::numel(s) / s[0]), pct);
    if (options.search_timesteps > 0) histograms.emplace_back(options.per_layer ? 1 : s[0]);
  }
  std::vector<std::mutex> locks(pops.size());
  const int64_t per = ir::numel(shape);
  std::vector<float> x(static_cast<size_t>(options.batch * per));
  std::vector<int32_t> labels(static_cast<size_t>(options.batch));
  data.rewind();
  int64_t done = 0;
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  while (done < total) {
    const int64_t n = data.next(std::min(options.batch, total - done), x.data(), labels.data());
    if (n == 0) break;
    for (int64_t k = 0; k < n * per; ++k) {
      lo = std::min(lo, x[static_cast<size_t>(k)]);
      hi = std::max(hi, x[static_cast<size_t>(k)]);
    }
    // Each chunk's activations go straight into the statistics (no gathered copy); the exact percentile
    // does not depend on the order chunks arrive in. Chunks arrive concurrently: each population's
    // statistics have their own lock, and a chunk starts at a different population than its neighbour
    // so two workers rarely wait for each other.
    model.forward_taps_each(x.data(), n, shape, taps, [&](const frontend::TorchModel::TapChunk &c) {
      const size_t first = static_cast<size_t>(c.begin / std::max<int64_t>(c.count, 1));
      for (size_t k = 0; k < pops.size(); ++k) {
        const size_t i = (first + k) % pops.size();
        const auto &s = graph.value(pops[i]->output).shape;
        std::lock_guard<std::mutex> lock(locks[i]);
        const int64_t plane = options.per_layer ? ir::numel(s) : ir::numel(s) / s[0];
        stats[i].add(c.values[i], c.count, plane);
        if (!histograms.empty()) histograms[i].add(c.values[i], c.count, plane);
      }
    });
    done += n;
    if (progress) progress(done, total);
  }
  NEUROCUDA_CHECK(done == total) << "data set ended after " << done << " of " << total << " samples";
  CalibrationSummary summary;
  summary.samples = done;
  // The input range sets integer mode's 8-bit input scale.
  for (auto &n : graph.nodes())
    if (n.kind == ir::OpKind::Input) {
      n.floats["min"] = lo;
      n.floats["max"] = hi;
    }
  double ratio_sum = 0;
  int64_t ratio_count = 0;
  for (size_t i = 0; i < pops.size(); ++i) {
    auto theta = stats[i].result();
    if (!histograms.empty())
      for (size_t c = 0; c < theta.size(); ++c)
        if (theta[c] > 0) {  // a dead channel stays as it is (below)
          const float refined = histograms[i].best_threshold(static_cast<int64_t>(c), theta[c], options.search_timesteps);
          ratio_sum += static_cast<double>(refined) / static_cast<double>(theta[c]);
          ++ratio_count;
          theta[c] = refined;
        }
    if (options.per_layer) theta.assign(static_cast<size_t>(graph.value(pops[i]->output).shape[0]), theta[0]);
    const float top = *std::max_element(theta.begin(), theta.end());
    for (auto &t : theta)
      if (!(t > 1e-6f * std::max(top, 1e-30f)) || !(t > 0)) {
        // A channel that never fires in the ANN: any positive threshold keeps it silent.
        t = top > 0 ? top : 1.0f;
        ++summary.dead_channels;
      }
    pops[i]->tensors["threshold"] = ir::Tensor{{static_cast<int64_t>(theta.size())}, theta};
  }
  if (summary.dead_channels > 0 && log)
    log->info("{} channels never activated during calibration; they keep their layer's largest threshold",
              summary.dead_channels);
  if (ratio_count > 0) summary.search_mean_ratio = ratio_sum / static_cast<double>(ratio_count);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

} // namespace neurocuda::calibration
