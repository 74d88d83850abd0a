// SPDX-License-Identifier: MIT
// `neurocuda sweep`: calibrate once per method, evaluate at every T, write CSV, JSON and an SVG plot.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "neurocuda/backend.h"
#include "neurocuda/calibration/calibrate.h"
#include "neurocuda/driver/commands.h"
#include "neurocuda/error.h"
#include "neurocuda/util/split.h"
#include "neurocuda/format/atomic_file.h"
#include "pipeline_steps.h"

namespace neurocuda::driver {
namespace {

using nlohmann::json;


// One calibration method of the sweep: a neuron model and a percentile, optionally with threshold search
// and bias correction for a T.
struct Method {
  std::string neuron;
  std::string percentile;
  int bias_correction = 0;
  int threshold_search = 0;
  // The calibration part ("p99+bc32"); the neuron model is a column of its own.
  std::string label() const {
    return (percentile == "max" ? "max" : "p" + percentile) +
           (threshold_search > 0 ? fmt::format("+ts{}", threshold_search) : std::string()) +
           (bias_correction > 0 ? fmt::format("+bc{}", bias_correction) : std::string());
  }
  std::string display() const { return neuron + " " + label(); }
};

const char *kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

// Two panels: accuracy vs T (log2 axis) per method with the ANN as a dashed line; spike rate
// per layer at the largest T per method.
std::string svg_plot(const json &sweep) {
  const double W = 1030, H = 420, pad = 60, panel = 400;
  std::string s = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)"
                              "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
                              W, H);
  const auto &methods = sweep["methods"];
  std::vector<int> ts = sweep["timesteps"].get<std::vector<int>>();
  double lo = sweep["ann_accuracy"].is_null() ? 1.0 : sweep["ann_accuracy"].get<double>();
  double hi = lo;
  for (const auto &m : methods)
    for (const auto &r : m["results"]) {
      lo = std::min(lo, r["snn_accuracy"].get<double>());
      hi = std::max(hi, r["snn_accuracy"].get<double>());
    }
  lo = std::floor(lo * 50) / 50;
  hi = std::ceil(hi * 50) / 50 + 0.005;
  const double x0 = pad, y0 = pad - 20, pw = panel, ph = H - 2 * pad;
  const double lt0 = std::log2(ts.front()), lt1 = std::log2(std::max(ts.back(), ts.front() * 2));
  auto X = [&](double t) { return x0 + (std::log2(t) - lt0) / (lt1 - lt0) * pw; };
  auto Y = [&](double a) { return y0 + ph - (a - lo) / (hi - lo) * ph; };
  const int delay = sweep.value("readout_delay", 0);
  const std::string mode = sweep["precision"].get<std::string>() +
                           (delay > 0 ? fmt::format(", readout delay {}", delay) : std::string());
  s += fmt::format("<text x=\"{}\" y=\"20\" font-size=\"14\">SNN accuracy vs timesteps ({})</text>\n", x0, mode);
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", x0, y0, pw, ph);
  for (int t : ts)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", X(t), y0 + ph + 16, t);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">T (timesteps)</text>\n", x0 + pw / 2, y0 + ph + 34);
  for (int k = 0; k <= 4; ++k) {
    const double a = lo + (hi - lo) * k / 4;
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.1f}%</text>\n", x0 - 4, Y(a) + 4, a * 100);
  }
  if (!sweep["ann_accuracy"].is_null()) {
    const double a = sweep["ann_accuracy"].get<double>();
    s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"black\" stroke-dasharray=\"6,4\"/>\n", x0,
                     Y(a), x0 + pw, Y(a));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">ANN {:.2f}%</text>\n", x0 + pw - 4, Y(a) - 4, a * 100);
  }
  for (size_t m = 0; m < methods.size(); ++m) {
    std::string pts;
    for (const auto &r : methods[m]["results"])
      pts += fmt::format("{:.1f},{:.1f} ", X(r["timesteps"].get<int>()), Y(r["snn_accuracy"].get<double>()));
    const char *c = kColors[m % 8];
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", pts, c);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\" text-anchor=\"end\">{}</text>\n", x0 + pw - 8,
                     y0 + ph - 10 - 14.0 * static_cast<double>(methods.size() - 1 - m), c, methods[m]["neuron"].get<std::string>() + " " + methods[m]["method"].get<std::string>());
  }
  // Right panel: spike rate per layer at the largest T.
  const double x1 = x0 + pw + 2 * pad;
  double rmax = 0;
  size_t layers = 0;
  for (const auto &m : methods) {
    layers = std::max(layers, m["layers"].size());
    for (const auto &l : m["layers"]) rmax = std::max(rmax, l["spike_rate"].get<double>());
  }
  rmax = rmax > 0 ? rmax * 1.1 : 1;
  s += fmt::format("<text x=\"{}\" y=\"20\" font-size=\"14\">spike rate per layer at T={}</text>\n", x1, ts.back());
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", x1, y0, pw, ph);
  auto LX = [&](size_t i) { return x1 + (layers > 1 ? static_cast<double>(i) / static_cast<double>(layers - 1) : 0.5) * (pw - 20) + 10; };
  auto RY = [&](double r) { return y0 + ph - r / rmax * ph; };
  for (int k = 0; k <= 4; ++k)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3f}</text>\n", x1 - 4, RY(rmax * k / 4) + 4, rmax * k / 4);
  for (size_t i = 0; i < layers; ++i)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">L{}</text>\n", LX(i), y0 + ph + 16, i + 1);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">spiking layer (order of execution)</text>\n",
                   x1 + pw / 2, y0 + ph + 34);
  for (size_t m = 0; m < methods.size(); ++m) {
    std::string pts;
    size_t i = 0;
    for (const auto &l : methods[m]["layers"]) pts += fmt::format("{:.1f},{:.1f} ", LX(i++), RY(l["spike_rate"].get<double>()));
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", pts, kColors[m % 8]);
  }
  return s + "</svg>\n";
}

// A comma-separated list of T values, 0 meaning "none".
std::vector<int> parse_t_list(const std::string &text, const char *flag) {
  std::vector<int> out;
  for (const auto &item : util::split_commas(text)) {
    int t = -1;
    if (!util::parse_int(item, &t) || t < 0 || t > 100000)
      throw UserError(fmt::format("{} expects comma-separated T values in 0..100000 (0 = none), got '{}'", flag, text));
    out.push_back(t);
  }
  return out;
}

} // namespace

void sweep(const SweepOptions &o) {
  const auto corrections = parse_t_list(o.bias_corrections, "--bias-corrections");
  const auto searches = parse_t_list(o.threshold_searches, "--threshold-searches");
  std::vector<Method> methods;
  const auto neurons = util::split_commas(o.neurons);
  for (const auto &neuron : neurons) check_neuron(neuron, "--neurons");  // before any output
  for (const auto &neuron : neurons)
    for (const auto &p : util::split_commas(o.percentiles)) {
      calibration::parse_percentile_flag(p);  // bad values fail before any output
      for (int ts : searches)
        for (int bc : corrections) methods.push_back(Method{neuron, p, bc, ts});
    }
  const auto timesteps = parse_timesteps(o.timesteps);
  check_readout_delay(o.readout_delay, timesteps.front());
  parse_precision(o.precision);
  if (o.output.empty()) throw UserError("sweep needs an output folder: -o DIR");
  std::error_code ec;
  std::filesystem::create_directories(o.output, ec);
  if (ec || !std::filesystem::is_directory(o.output))
    throw UserError(fmt::format("cannot create output folder '{}': {}", o.output, ec.message()));

  json sweep;
  sweep["schema"] = "neurocuda-sweep";
  sweep["schema_version"] = 1;
  sweep["model"] = o.model;
  sweep["precision"] = o.precision;
  sweep["timesteps"] = timesteps;
  sweep["readout_delay"] = o.readout_delay;
  sweep["ann_accuracy"] = nullptr;
  json list = json::array();
  std::string csv = "neuron,method,timesteps,ann_accuracy,snn_accuracy,gap_pp,spike_rate,synops_per_sample\n";
  for (const auto &m : methods) {
    ConvertOptions c = o.convert;
    c.neuron = m.neuron;
    c.percentile = m.percentile;
    c.bias_correction = m.bias_correction;
    c.threshold_search = m.threshold_search;
    const auto net = build_network(c, nullptr);  // calibrated once per method
    EvalOptions e;
    e.data = o.data;
    e.timesteps = o.timesteps;
    e.readout_delay = o.readout_delay;
    e.precision = o.precision;
    e.limit = o.limit;
    e.batch = o.eval_batch;
    e.threads = o.convert.threads;
    const auto rep = evaluate(net, fmt::format("{} ({})", o.model, m.display()), e);
    sweep["ann_accuracy"] = rep["ann_accuracy"];
    sweep["samples"] = rep["samples"];
    const double ann = rep["ann_accuracy"].get<double>();
    for (const auto &r : rep["results"])
      csv += fmt::format("{},{},{},{:.6f},{:.6f},{:.4f},{:.6f},{:.6g}\n", m.neuron, m.label(), r["timesteps"].get<int>(), ann,
                         r["snn_accuracy"].get<double>(), 100.0 * (ann - r["snn_accuracy"].get<double>()),
                         r["spike_rate"].get<double>(), r["synops_per_sample"].get<double>());
    list.push_back(json{{"method", m.label()}, {"neuron", m.neuron}, {"percentile", m.percentile}, {"bias_correction", m.bias_correction},
                        {"threshold_search", m.threshold_search}, {"results", rep["results"]}, {"layers", rep["layers"]}});
    fmt::print(stderr, "sweep: {} done\n", m.display());
  }
  sweep["methods"] = list;
  const auto dir = std::filesystem::path(o.output);
  format::write_file_atomic((dir / "sweep.csv").string(), csv);
  format::write_file_atomic((dir / "sweep.json").string(), sweep.dump(2) + "\n");
  format::write_file_atomic((dir / "sweep.svg").string(), svg_plot(sweep));

  const double ann = sweep["ann_accuracy"].get<double>();
  fmt::print("sweep {} ({}{}, {} samples), ANN accuracy {:.4f}\n\n{:<22}", o.model, o.precision,
             o.readout_delay > 0 ? fmt::format(", readout delay {}", o.readout_delay) : std::string(),
             sweep["samples"].get<int64_t>(),
             ann, "neuron  method");
  for (int t : sweep["timesteps"].get<std::vector<int>>()) fmt::print(" {:>15}", fmt::format("T={}", t));
  fmt::print("\n");
  for (const auto &m : list) {
    fmt::print("{:<8}{:<14}", m["neuron"].get<std::string>(), m["method"].get<std::string>());
    for (const auto &r : m["results"])
      fmt::print(" {:>15}", fmt::format("{:.2f} ({:+.2f})", 100 * r["snn_accuracy"].get<double>(),
                                        100 * (ann - r["snn_accuracy"].get<double>())));
    fmt::print("\n");
  }
  fmt::print("\naccuracy in %, (ANN - SNN) in percentage points\nwrote {}/sweep.csv, sweep.json, sweep.svg\n", o.output);
}

} // namespace neurocuda::driver
