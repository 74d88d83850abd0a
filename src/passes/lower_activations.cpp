// SPDX-License-Identifier: MIT
// Pass lower_activations.
#include "neurocuda/passes/lower_activations.h"

namespace neurocuda::passes {

void lower_activations(ir::Graph &graph, const PassContext & /*ctx*/) {
  for (auto &n : graph.nodes()) {
    if (n.kind != ir::OpKind::Relu) continue;
    n.kind = ir::OpKind::IF;
    // v(0) = theta / 2 halves the expected quantisation error of the spike count.
    n.floats["v0"] = 0.5;
    const int64_t channels = graph.value(n.output).shape.at(0);
    n.tensors["threshold"] = ir::Tensor{{channels}, std::vector<float>(static_cast<size_t>(channels), 0.0f)};
  }
}

} // namespace neurocuda::passes
