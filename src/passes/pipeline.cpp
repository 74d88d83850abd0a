// SPDX-License-Identifier: MIT
// The conversion pipeline as one readable list.
#include "neurocuda/passes/pipeline.h"

#include <cstdio>
#include <functional>
#include <utility>

#include "neurocuda/error.h"
#include "neurocuda/passes/fold_batchnorm.h"
#include "neurocuda/passes/fold_thresholds.h"
#include "neurocuda/passes/lower_activations.h"
#include "neurocuda/passes/move_maxpool_before_relu.h"

namespace neurocuda::passes {
namespace {

using PassFn = std::function<void(ir::Graph &, const PassContext &)>;

const std::vector<std::pair<std::string, PassFn>> &pre_list() {
  static const std::vector<std::pair<std::string, PassFn>> list = {
      {"fold_batchnorm", fold_batchnorm},
      {"move_maxpool_before_relu", move_maxpool_before_relu},
      {"lower_activations", lower_activations},
  };
  return list;
}

const std::vector<std::pair<std::string, PassFn>> &post_list() {
  static const std::vector<std::pair<std::string, PassFn>> list = {
      {"fold_thresholds", fold_thresholds},
  };
  return list;
}

void run(const std::vector<std::pair<std::string, PassFn>> &list, ir::Graph &graph, const PassContext &ctx) {
  for (const auto &[name, fn] : list) {
    fn(graph, ctx);
    if (ctx.verify_each) ir::verify(graph);
    if (ctx.dump_ir_after == name || ctx.dump_ir_after == "all")
      std::fprintf(stderr, "// IR after %s\n%s", name.c_str(), ir::dump(graph).c_str());
  }
}

std::vector<std::string> names(const std::vector<std::pair<std::string, PassFn>> &list) {
  std::vector<std::string> out;
  for (const auto &p : list) out.push_back(p.first);
  return out;
}

} // namespace

std::vector<std::string> pre_calibration_passes() { return names(pre_list()); }
std::vector<std::string> post_calibration_passes() { return names(post_list()); }

void run_pre_calibration(ir::Graph &graph, const PassContext &ctx) { run(pre_list(), graph, ctx); }
void run_post_calibration(ir::Graph &graph, const PassContext &ctx) { run(post_list(), graph, ctx); }

void replace_all_uses(ir::Graph &graph, int from, int to) {
  for (auto &n : graph.nodes())
    for (auto &in : n.inputs)
      if (in == from) in = to;
  if (graph.output() == from) graph.set_output(to);
}

} // namespace neurocuda::passes
