// SPDX-License-Identifier: MIT
// Options shared by all passes.
#pragma once

#include <string>

namespace neurocuda::passes {

/// What every pass may read: conversion choices and debugging switches of the pipeline.
struct PassContext {
  bool verify_each = false;       ///< run ir::verify after every pass
  std::string dump_ir_after;      ///< pass name whose result is printed to stderr ("" = none, "all")
  bool graded_neurons = false;    ///< lower activations to graded neurons (snn/neuron.h) instead of IF
};

} // namespace neurocuda::passes
