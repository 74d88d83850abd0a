// SPDX-License-Identifier: MIT
// `neurocuda export`: a converted network in the neuromorphic ecosystem's formats.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "neurocuda/driver/commands.h"
#include "neurocuda/error.h"
#include "neurocuda/export/netx.h"
#include "neurocuda/export/nir.h"
#include "neurocuda/format/snn_file.h"
#include "neurocuda/ir/graph.h"

namespace neurocuda::driver {

void export_network(const ExportOptions &o) {
  if (o.format != "nir" && o.format != "netx")
    throw UserError(fmt::format("unknown export format '{}'; supported: nir, netx", o.format));
  if (o.output.empty()) throw UserError("export needs an output file: -o FILE");
  const auto net = format::read_network(o.network);
  for (const auto &n : net.graph.nodes())
    if (n.kind == ir::OpKind::IF && ir::if_graded(n))
      throw UserError(fmt::format(
          "export {}: node '{}' is a graded neuron ('{}' was converted with --neuron graded); neither NIR nor netx has "
          "a neuron that emits signed integer payloads and remembers its spike count. Convert with --neuron if to "
          "export (docs/conversion.md, \"Neurons\")",
          o.format, n.name, o.network));
  const auto &info = net.info;
  const nlohmann::json meta{
      {"tool", "neurocuda"},
      {"tool_version", info.tool_version},
      {"source_network", o.network},
      {"model_file", info.model_file},
      {"model_crc32", info.model_crc32},
      {"normalisation", {{"mean", info.mean}, {"std", info.std}}},
      {"semantics",
       o.format == "nir"
           ? "IF neurons with thresholds folded into the weights (v_threshold 1), reset by subtraction, v(0) = v_init "
             "x threshold (node metadata); direct input encoding (the input is presented at every timestep); the class "
             "is the argmax of the output summed over the timesteps; max-pools are exported as OR-pooling "
             "(docs/export.md)"
           : "IF neurons as CUBA (iDecay 4096, vDecay 0) with an integer threshold per layer (vThMant) and 8-bit even "
             "weights on the same scale, reset by subtraction (neuron/resetMode), v(0) = neuron/vInit; direct input "
             "encoding (the normalised input, as graded values, at every timestep); the last dense layer's v sums its "
             "input over the timesteps and the class is its argmax; max-pools are OR-pooling 'pool' layers "
             "(docs/export.md)"}};
  const auto notes = o.format == "nir" ? exporters::write_nir(net.graph, o.output, meta.dump())
                                       : exporters::write_netx(net.graph, o.output, meta.dump());
  const auto log = spdlog::get("export") ? spdlog::get("export") : spdlog::default_logger();
  for (const auto &w : notes.warnings) log->warn("{}", w);
  if (!o.quiet) {
    if (o.format == "nir") fmt::print("wrote {} (NIR): {} nodes, {} edges\n", o.output, notes.nodes, notes.edges);
    else fmt::print("wrote {} (netx): {} layers\n", o.output, notes.nodes);
  }
}

} // namespace neurocuda::driver
