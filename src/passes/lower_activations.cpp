// SPDX-License-Identifier: MIT
// Pass lower_activations.
#include "neurocuda/passes/lower_activations.h"

namespace neurocuda::passes {

void lower_activations(ir::Graph &graph, const PassContext &ctx) {
  for (auto &n : graph.nodes()) {
    if (n.kind != ir::OpKind::Relu) continue;
    n.kind = ir::OpKind::IF;
    // v(0) = theta / 2 halves the expected quantisation error of the spike count.
    if (!n.floats.count("v0")) n.floats["v0"] = 0.5;  // QCFS sets v(0) from its shift
    if (ctx.graded_neurons) n.ints["graded"] = {1};
    const int64_t channels = graph.value(n.output).shape.at(0);
    // A clipped activation (relu6, hardtanh(0, a), clamp(0, a)) saturates at its bound, and so does an IF
    // neuron at one spike per step: the threshold is the bound, fixed, and calibration leaves it alone.
    const auto bound = n.floats.find("bound");
    const float theta = bound != n.floats.end() ? static_cast<float>(bound->second) : 0.0f;
    if (bound != n.floats.end()) {
      n.floats["threshold_fixed"] = 1.0;
      n.floats.erase(bound);
    }
    n.tensors["threshold"] = ir::Tensor{{channels}, std::vector<float>(static_cast<size_t>(channels), theta)};
  }
}

} // namespace neurocuda::passes
