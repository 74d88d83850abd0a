// SPDX-License-Identifier: MIT
// Internal: the LibTorch state behind TorchModel (only the frontend's .cpp files include this).
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>

#include "neurocuda/frontend/torch_model.h"

namespace neurocuda::frontend {

struct TorchModel::Impl {
  std::string name;              // file name, for messages
  torch::jit::Module original;   // as saved, eval mode: the ANN accuracy reference
  torch::jit::Module frozen;     // torch::jit::freeze(original): what is lowered and calibrated
};

/// Lowers the frozen forward graph (lower_torchscript.cpp).
ir::Graph lower_graph(const TorchModel::Impl &impl, const ir::Shape &input_shape);

} // namespace neurocuda::frontend
