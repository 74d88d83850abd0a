// SPDX-License-Identifier: MIT
// Pass move_maxpool_before_relu.
#include "neurocuda/passes/move_maxpool_before_relu.h"

#include <utility>

namespace neurocuda::passes {

void move_maxpool_before_relu(ir::Graph &graph, const PassContext & /*ctx*/) {
  auto &nodes = graph.nodes();
  for (size_t i = 0; i + 1 < nodes.size(); ++i) {
    if (nodes[i].kind != ir::OpKind::Relu) continue;
    const int a = nodes[i].output;
    const auto uses = graph.consumers(a);
    if (uses.size() != 1 || graph.output() == a) continue;
    const auto m = static_cast<size_t>(uses[0]);
    if (nodes[m].kind != ir::OpKind::MaxPool2d) continue;
    // relu(x) -> pool  becomes  pool(x) -> relu: max commutes with a monotone function.
    const int x = nodes[i].inputs[0];
    const int b = nodes[m].output;
    ir::Node pool = std::move(nodes[m]);
    ir::Node relu = std::move(nodes[i]);
    pool.inputs = {x};
    pool.output = a;
    relu.inputs = {a};
    relu.output = b;
    graph.value(a).shape = graph.value(b).shape;
    graph.value(a).name.clear();  // pooled pre-activation: no ANN value equals it
    // Keep topological order: the pool takes the relu's slot, the relu follows right after.
    nodes.erase(nodes.begin() + static_cast<std::ptrdiff_t>(m));
    nodes[i] = std::move(pool);
    nodes.insert(nodes.begin() + static_cast<std::ptrdiff_t>(i) + 1, std::move(relu));
    for (size_t k = 0; k < nodes.size(); ++k) graph.value(nodes[k].output).producer = static_cast<int>(k);
  }
}

} // namespace neurocuda::passes
