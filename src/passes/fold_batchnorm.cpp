// SPDX-License-Identifier: MIT
// Pass fold_batchnorm.
#include "neurocuda/passes/fold_batchnorm.h"

#include "neurocuda/passes/pipeline.h"

namespace neurocuda::passes {

void fold_batchnorm(ir::Graph &graph, const PassContext & /*ctx*/) {
  auto &nodes = graph.nodes();
  std::vector<bool> dead(nodes.size(), false);
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto &bn = nodes[i];
    if (bn.kind != ir::OpKind::BatchNorm) continue;
    const int src = bn.inputs[0];
    const int p = graph.value(src).producer;
    if (p < 0) continue;
    auto &layer = nodes[static_cast<size_t>(p)];
    if (layer.kind != ir::OpKind::Conv2d && layer.kind != ir::OpKind::Linear) continue;
    if (graph.consumers(src).size() != 1 || graph.output() == src) continue;
    const auto &scale = bn.attr_tensor("scale").data;
    const auto &shift = bn.attr_tensor("shift").data;
    auto &w = layer.tensors.at("weight");
    auto &b = layer.tensors.at("bias");
    const size_t per_out = w.data.size() / scale.size();
    for (size_t o = 0; o < scale.size(); ++o) {
      for (size_t k = 0; k < per_out; ++k) w.data[o * per_out + k] *= scale[o];
      b.data[o] = b.data[o] * scale[o] + shift[o];
    }
    graph.value(src).name = graph.value(bn.output).name;
    replace_all_uses(graph, bn.output, src);
    dead[i] = true;
  }
  graph.compact(dead);
}

} // namespace neurocuda::passes
