// SPDX-License-Identifier: MIT
// `neurocuda inspect`: what a converted network holds, per layer.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "neurocuda/driver/commands.h"
#include "neurocuda/error.h"
#include "neurocuda/format/snn_file.h"
#include "loihi2/limits.h"
#include "loihi2/mapping.h"
#include "neurocuda/quantize/quantize.h"

namespace neurocuda::driver {
namespace {

std::pair<float, float> range_of(const std::vector<float> &v) {
  if (v.empty()) return {0.0f, 0.0f};
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return {*lo, *hi};
}

} // namespace

void inspect(const InspectOptions &o) {
  using nlohmann::json;
  const auto net = format::read_network(o.network);
  const auto &g = net.graph;
  // Integer-mode view, if the network can be quantized.
  std::vector<const quant::QNode *> qnodes(g.nodes().size(), nullptr);
  quant::QGraph q;
  std::string int_note;
  try {
    q = quant::quantize(g, 8);
    for (size_t i = 0; i < q.nodes.size(); ++i) qnodes[i] = &q.nodes[i];
  } catch (const UserError &e) {
    int_note = e.what();
  }
  json layers = json::array();
  int64_t params = 0, neurons = 0, synapses = 0;
  // Loihi 2 resources of the mapping the loihi2 backend runs (backends/loihi2/mapping.h), counted against
  // the limits table (backends/loihi2/limits.h): each population on its own cores.
  using L2 = backends::loihi2::Limits;
  json loihi = json::array();
  int64_t cores = 0;
  std::string loihi_note;
  try {
    const auto mapped = backends::loihi2::map_network(g);
    for (const auto &p : mapped.populations) {
      int64_t syn = 0;
      json exps = json::array();
      for (const auto &h : p.hops) {
        syn += static_cast<int64_t>(h.weights.size());
        exps.push_back(h.weight_exp);
      }
      const int64_t c = (p.neurons + L2::kNeuronsPerCore - 1) / L2::kNeuronsPerCore;
      cores += c;
      loihi.push_back(json{{"layer", p.name}, {"neurons", p.neurons}, {"synapses", syn},
                           {"synaptic_memory_bytes", syn * L2::kWeightBits / 8}, {"neuro_cores", c},
                           {"vth", p.vth}, {"du", p.du}, {"dv", p.dv}, {"weight_exponents", exps}, {"depth", p.depth}});
    }
  } catch (const UserError &e) {
    loihi_note = e.what();
  }
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const auto &n = g.nodes()[i];
    const auto &shape = g.value(n.output).shape;
    json l{{"index", i}, {"name", n.name}, {"kind", std::string(ir::op_name(n.kind))}, {"shape", shape},
           {"inputs", n.inputs}, {"source", n.source}};
    if (ir::is_synaptic(n.kind)) {
      const auto &w = n.attr_tensor("weight");
      const auto [lo, hi] = range_of(w.data);
      const int64_t p = static_cast<int64_t>(w.data.size() + n.attr_tensor("bias").data.size());
      // Synapses: weights times the output positions they are applied at.
      const int64_t uses = n.kind == ir::OpKind::Conv2d ? shape[1] * shape[2] : 1;
      l["parameters"] = p;
      l["synapses"] = static_cast<int64_t>(w.data.size()) * uses;
      l["weight_range"] = {lo, hi};
      params += p;
      synapses += static_cast<int64_t>(w.data.size()) * uses;
      if (qnodes[i]) l["int8_accumulator_bits"] = qnodes[i]->accumulator_bits;
    }
    if (n.kind == ir::OpKind::IF) {
      const int64_t k = ir::numel(shape);
      neurons += k;
      l["neurons"] = k;
      l["v0"] = ir::if_v0(n);
      l["neuron"] = ir::if_graded(n) ? "graded" : "if";
      if (n.has_tensor("calibrated_threshold")) {
        const auto [lo, hi] = range_of(n.attr_tensor("calibrated_threshold").data);
        l["calibrated_threshold_range"] = {lo, hi};
      }
      if (qnodes[i]) {
        const auto [lo, hi] = std::minmax_element(qnodes[i]->threshold.begin(), qnodes[i]->threshold.end());
        l["int8_threshold_range"] = {*lo, *hi};
      }
    }
    if (n.kind == ir::OpKind::Add)
      for (size_t k = 0; k < n.inputs.size(); ++k)
        if (n.has_tensor(fmt::format("coeff{}", k))) {
          const auto [lo, hi] = range_of(n.attr_tensor(fmt::format("coeff{}", k)).data);
          l[fmt::format("coeff{}_range", k)] = {lo, hi};
        }
    layers.push_back(l);
  }
  const auto &info = net.info;
  json rep{{"schema", "neurocuda-inspect"},
           {"schema_version", 1},
           {"network", o.network},
           {"format_version", format::format_version(g)},
           {"tool_version", info.tool_version},
           {"model_file", info.model_file},
           {"model_crc32", info.model_crc32},
           {"input_shape", g.value(g.input()).shape},
           {"classes", ir::numel(g.value(g.output()).shape)},
           {"calibration", {{"method", info.calibration_method}, {"percentile", info.percentile},
                            {"threshold_scope", info.threshold_scope}, {"samples", info.calibration_samples},
                            {"data", info.calibration_data}, {"bias_correction_timesteps", info.bias_correction_timesteps},
                            {"bias_correction_rounds", info.bias_correction_rounds},
                            {"bias_correction_precision", info.bias_correction_precision},
                            {"threshold_search_timesteps", info.threshold_search_timesteps}}},
           {"normalisation", {{"mean", info.mean}, {"std", info.std}}},
           {"totals", {{"parameters", params}, {"neurons", neurons}, {"synapses", synapses},
                       {"populations", std::count_if(g.nodes().begin(), g.nodes().end(),
                                                     [](const ir::Node &n) { return n.kind == ir::OpKind::IF; })}}},
           {"int8", int_note.empty() ? json{{"input_scale", q.input_scale}, {"input_range", {q.input_min, q.input_max}},
                                            {"readout_unit", q.readout_unit}}
                                     : json{{"error", int_note}}},
           {"layers", layers},
           {"loihi2_resources", {{"populations", loihi}, {"neuro_cores", cores}, {"error", loihi_note},
                                 {"chips", (cores + L2::kNeuroCoresPerChip - 1) / L2::kNeuroCoresPerChip},
                                 {"limits", {{"neurons_per_core", L2::kNeuronsPerCore},
                                             {"neuro_cores_per_chip", L2::kNeuroCoresPerChip}}}}}};
  if (o.json) {
    fmt::print("{}\n", rep.dump(2));
    return;
  }
  fmt::print("network      {} (format v{}, written by neurocuda {})\n", o.network, format::format_version(net.graph), info.tool_version);
  fmt::print("model        {} (crc32 {:08x})\n", info.model_file, info.model_crc32);
  fmt::print("calibration  {} {} per {}, {} samples of {}{}{}\n", info.calibration_method,
             info.calibration_method == "max" ? std::string() : fmt::format("p{}", info.percentile), info.threshold_scope,
             info.calibration_samples, info.calibration_data,
             info.threshold_search_timesteps ? fmt::format(", threshold search for T={}", info.threshold_search_timesteps) : "",
             info.bias_correction_timesteps ? fmt::format(", bias correction for T={} ({} round(s), {})", info.bias_correction_timesteps,
                                                        info.bias_correction_rounds, info.bias_correction_precision)
                                          : "");
  fmt::print("input        [{}]{}\n", fmt::join(g.value(g.input()).shape, ", "),
             info.mean.empty() ? "" : fmt::format(", mean {} std {}", fmt::join(info.mean, ","), fmt::join(info.std, ",")));
  fmt::print("\n{:>3}  {:<22} {:<20} {:<14} {:>9} {:>8}  {}\n", "#", "name", "kind", "shape", "params", "neurons",
             "weights / thresholds");
  for (const auto &l : layers) {
    std::string detail;
    if (l.contains("weight_range"))
      detail = fmt::format("w [{:.3g}, {:.3g}], int8 acc {} bits", l["weight_range"][0].get<float>(),
                           l["weight_range"][1].get<float>(), l.value("int8_accumulator_bits", 0));
    if (l.contains("calibrated_threshold_range"))
      detail = fmt::format("theta [{:.3g}, {:.3g}]{}", l["calibrated_threshold_range"][0].get<float>(),
                           l["calibrated_threshold_range"][1].get<float>(),
                           l.contains("int8_threshold_range")
                               ? fmt::format(", int8 theta [{}, {}]", l["int8_threshold_range"][0].get<int64_t>(),
                                             l["int8_threshold_range"][1].get<int64_t>())
                               : "");
    if (l.contains("coeff1_range"))
      detail = fmt::format("shortcut coeff [{:.3g}, {:.3g}]", l["coeff1_range"][0].get<float>(), l["coeff1_range"][1].get<float>());
    fmt::print("{:>3}  {:<22} {:<20} {:<14} {:>9} {:>8}  {}\n", l["index"].get<int>(), l["name"].get<std::string>(),
               l.value("neuron", "") == "graded" ? "if_neuron (graded)" : l["kind"].get<std::string>(), fmt::format("[{}]", fmt::join(l["shape"].get<std::vector<int64_t>>(), ",")),
               l.contains("parameters") ? std::to_string(l["parameters"].get<int64_t>()) : "",
               l.contains("neurons") ? std::to_string(l["neurons"].get<int64_t>()) : "", detail);
  }
  fmt::print("\ntotals       {} parameters, {} synapses, {} neurons in {} populations\n", params, synapses, neurons,
             rep["totals"]["populations"].get<int64_t>());
  if (!loihi_note.empty()) {
    fmt::print("loihi2       not mappable: {}\n", loihi_note);
  } else {
    fmt::print("loihi2       {} neuro-cores on {} chip(s) at {} neurons per core, {} per chip (mapping of the loihi2 "
               "backend, one population per core group)\n",
               cores, (cores + L2::kNeuroCoresPerChip - 1) / L2::kNeuroCoresPerChip, L2::kNeuronsPerCore,
               L2::kNeuroCoresPerChip);
    for (const auto &l : rep["loihi2_resources"]["populations"])
      fmt::print("             {:<22} {:>6} neurons {:>9} synapses {:>9} B weights {:>3} cores  vth {:<5} du {:<4} dv {:<4} "
                 "exp {}\n",
                 l["layer"].get<std::string>(), l["neurons"].get<int64_t>(), l["synapses"].get<int64_t>(),
                 l["synaptic_memory_bytes"].get<int64_t>(), l["neuro_cores"].get<int64_t>(), l["vth"].get<int64_t>(),
                 l["du"].get<int64_t>(), l["dv"].get<int64_t>(), fmt::join(l["weight_exponents"].get<std::vector<int>>(), ","));
  }
  if (int_note.empty())
    fmt::print("int8         input scale {:.6g} (integers {}..{}), readout unit {:.3g}\n", q.input_scale, q.input_min,
               q.input_max, q.readout_unit);
  else
    fmt::print("int8         not available: {}\n", int_note);
}

} // namespace neurocuda::driver
