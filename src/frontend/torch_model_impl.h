// SPDX-License-Identifier: MIT
// Internal: the LibTorch state behind TorchModel (only the frontend's .cpp files include this).
#pragma once

#include <torch/script.h>

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "neurocuda/frontend/torch_model.h"

namespace neurocuda::frontend {

struct TorchModel::Impl {
  std::string name;              // file name, for messages
  torch::jit::Module original;   // as saved, eval mode: the ANN accuracy reference
  torch::jit::Module frozen;     // torch::jit::freeze(original): what is lowered and calibrated
  // forward_taps_each's graphs, one per list of taps, built on first use and kept: a GraphExecutor
  // profiles and optimises its graph over its first runs, which a fresh one per batch would repeat.
  std::map<std::vector<std::string>, std::shared_ptr<torch::jit::GraphExecutor>> tap_executors;
  std::mutex tap_mutex;
};

/// Lowers the frozen forward graph (lower_torchscript.cpp).
ir::Graph lower_graph(const TorchModel::Impl &impl, const ir::Shape &input_shape);

} // namespace neurocuda::frontend
