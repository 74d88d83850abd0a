// SPDX-License-Identifier: MIT
// Explicit registration of the built-in backends.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "neurocuda/backend.h"
#include "neurocuda/error.h"
#include "cpu/cpu_backend.h"
#ifdef NEUROCUDA_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif
#include "loihi2/loihi2_backend.h"

namespace neurocuda {
namespace {

const std::vector<std::unique_ptr<Backend>> &registry() {
  static const std::vector<std::unique_ptr<Backend>> backends = [] {
    std::vector<std::unique_ptr<Backend>> b;
    b.push_back(backends::cpu::make_backend());
    b.push_back(backends::cpu::make_reference_backend());
#ifdef NEUROCUDA_WITH_CUDA
    b.push_back(backends::cuda::make_backend());
#endif
    b.push_back(backends::loihi2::make_backend());
    return b;
  }();
  return backends;
}

} // namespace

Precision parse_precision(const std::string &text, const char *flag) {
  if (text == "fp32") return Precision::Fp32;
  if (text == "int8") return Precision::Int8;
  if (text == "int16") return Precision::Int16;
  throw UserError(fmt::format("{}unknown precision '{}'; use fp32, int8 or int16", flag ? fmt::format("{}: ", flag) : "", text));
}

std::string precision_name(Precision precision) {
  switch (precision) {
  case Precision::Fp32: return "fp32";
  case Precision::Int8: return "int8";
  case Precision::Int16: return "int16";
  }
  return "?";
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto &b : registry()) names.emplace_back(b->name());
  return names;
}

const Backend &get_backend(const std::string &name) {
  for (const auto &b : registry())
    if (b->name() == name) return *b;
  throw UserError(fmt::format("unknown backend '{}'; registered backends: {}", name, fmt::join(backend_names(), ", ")));
}

void check_backend(const Backend &backend, const ir::Graph &graph) {
  const auto avail = backend.availability();
  if (!avail.available)
    throw UserError(fmt::format("backend '{}' is not available here: {}", backend.name(), avail.reason));
  for (const auto &n : graph.nodes()) {
    const auto s = backend.supports(n);
    if (!s.supported)
      throw UserError(fmt::format("node '{}' ({}) is not supported by backend '{}': {}", n.name, ir::op_name(n.kind),
                                  backend.name(), s.reason));
  }
}

} // namespace neurocuda
