// SPDX-License-Identifier: MIT
// TorchScript loading and ANN execution through LibTorch.
#include "neurocuda/frontend/torch_model.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <sstream>

#include "neurocuda/error.h"
#include "torch_model_impl.h"

namespace neurocuda::frontend {
namespace {

// LibTorch's results can depend on its intra-op thread count (GEMM blocking). For results that
// do not depend on --threads, every batch is cut into fixed chunks, each run single-threaded;
// the chunks are spread over our own worker threads.
constexpr int64_t kChunk = 32;
int g_threads = 1;

template <typename Fn> void for_each_chunk(int64_t n, Fn &&fn) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    at::set_num_threads(1);
    for (int64_t c; (c = next++) < chunks;) {
      try {
        fn(c * kChunk, std::min(kChunk, n - c * kChunk));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  const int workers = static_cast<int>(std::min<int64_t>(g_threads, chunks));
  std::vector<std::thread> pool;
  for (int i = 1; i < workers; ++i) pool.emplace_back(worker);
  worker();
  for (auto &t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

std::string first_line(const std::string &s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::unique_ptr<TorchModel::Impl> finish_load(torch::jit::Module module, const std::string &name) {
  auto impl = std::make_unique<TorchModel::Impl>();
  impl->name = name;
  module.eval();
  if (!module.find_method("forward"))
    throw UserError(fmt::format("model '{}' has no forward method; export it with torch.jit.script or torch.jit.trace",
                                name));
  impl->original = module;
  try {
    impl->frozen = torch::jit::freeze(module.clone());
  } catch (const c10::Error &e) {
    throw UserError(fmt::format("cannot freeze model '{}': {}", name, first_line(e.what_without_backtrace())));
  }
  return impl;
}

torch::Tensor make_input(const float *x, int64_t n, const ir::Shape &shape) {
  std::vector<int64_t> sizes{n};
  sizes.insert(sizes.end(), shape.begin(), shape.end());
  return torch::from_blob(const_cast<float *>(x), sizes, torch::kFloat32).clone();
}

std::vector<float> to_vector(const torch::Tensor &t) {
  auto c = t.to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// A copy of the frozen graph that returns the tapped values (cloned where they are made when later
// in-place ops could change them) instead of the model output, with its executor.
std::shared_ptr<torch::jit::GraphExecutor> make_tap_executor(TorchModel::Impl &impl, const std::vector<std::string> &taps) {
  // Value names are looked up in the frozen graph and mapped to the copy by position:
  // copies keep node order but not the numeric names of unnamed values.
  auto original = impl.frozen.get_method("forward").graph();
  auto graph = original->copy();
  std::unordered_map<std::string, std::pair<size_t, size_t>> where;
  {
    size_t i = 0;
    for (auto *node : original->nodes()) {
      for (size_t k = 0; k < node->outputs().size(); ++k) where[node->output(k)->debugName()] = {i, k};
      ++i;
    }
  }
  std::vector<torch::jit::Node *> copy_nodes(graph->nodes().begin(), graph->nodes().end());
  // A tapped value is cloned only if something writes to it or to an alias of it later (an in-place
  // relu_, say): copying every activation costs a sixth of calibration on the residual model.
  torch::jit::AliasDb aliases(graph);
  while (!graph->outputs().empty()) graph->eraseOutput(0);
  for (const auto &tap : taps) {
    auto it = where.find(tap);
    if (it == where.end())
      throw UserError(fmt::format("cannot calibrate model '{}': activation '{}' is computed inside control flow that "
                                  "neurocuda cannot tap",
                                  impl.name, tap));
    auto *value = copy_nodes.at(it->second.first)->output(it->second.second);
    bool written_later = false;
    for (auto *node = value->node()->next(); node != graph->return_node() && !written_later; node = node->next())
      written_later = aliases.writesToAlias(node, {value});
    if (!written_later) {
      graph->registerOutput(value);
      continue;
    }
    torch::jit::WithInsertPoint guard(value->node()->next());
    graph->registerOutput(graph->insert(c10::Symbol::fromQualString("aten::clone"), {value}));
  }
  return std::make_shared<torch::jit::GraphExecutor>(graph, "neurocuda_calibration");
}

} // namespace

TorchModel::TorchModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchModel::TorchModel(TorchModel &&) noexcept = default;
TorchModel &TorchModel::operator=(TorchModel &&) noexcept = default;
TorchModel::~TorchModel() = default;

TorchModel TorchModel::load_file(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UserError(fmt::format("model file '{}' does not exist or is not a file", path));
  try {
    return TorchModel(finish_load(torch::jit::load(path), path));
  } catch (const c10::Error &e) {
    throw UserError(fmt::format("cannot load '{}' as TorchScript ({}); save the model with "
                                "torch.jit.script(model).save(path) or torch.jit.trace(model, example).save(path)",
                                path, first_line(e.what_without_backtrace())));
  }
}

TorchModel TorchModel::load_bytes(const std::string &bytes, const std::string &name) {
  try {
    std::istringstream in(bytes);
    return TorchModel(finish_load(torch::jit::load(in), name));
  } catch (const c10::Error &e) {
    throw UserError(fmt::format("cannot load the model embedded in '{}' ({})", name, first_line(e.what_without_backtrace())));
  }
}

ir::Graph TorchModel::lower(const ir::Shape &input_shape) const { return lower_graph(*impl_, input_shape); }

std::vector<float> TorchModel::forward(const float *x, int64_t n, const ir::Shape &shape, int64_t *classes) const {
  const int64_t per = ir::numel(shape);
  std::vector<std::vector<float>> parts(static_cast<size_t>((n + kChunk - 1) / kChunk));
  std::atomic<int64_t> width{-1};
  for_each_chunk(n, [&](int64_t begin, int64_t count) {
    torch::InferenceMode guard;
    torch::jit::IValue out;
    try {
      out = impl_->original.forward({make_input(x + begin * per, count, shape)});
    } catch (const c10::Error &e) {
      throw UserError(fmt::format("model '{}' failed on input of shape [{}]: {}", impl_->name, fmt::join(shape, ", "),
                                  first_line(e.what_without_backtrace())));
    }
    if (out.isTuple()) out = out.toTupleRef().elements().at(0);
    if (!out.isTensor()) throw UserError(fmt::format("model '{}' does not return a tensor", impl_->name));
    auto t = out.toTensor();
    if (t.dim() != 2 || t.size(0) != count)
      throw UserError(fmt::format("model '{}' returns shape [{}]; a classifier must return [batch, classes]",
                                  impl_->name, fmt::join(t.sizes(), ", ")));
    width = t.size(1);
    parts[static_cast<size_t>(begin / kChunk)] = to_vector(t);
  });
  *classes = width;
  std::vector<float> logits;
  for (auto &p : parts) logits.insert(logits.end(), p.begin(), p.end());
  return logits;
}

void TorchModel::forward_taps_each(const float *x, int64_t n, const ir::Shape &shape,
                                   const std::vector<std::string> &taps,
                                   const std::function<void(const TapChunk &)> &consume) const {
  std::shared_ptr<torch::jit::GraphExecutor> exec;
  {
    std::lock_guard<std::mutex> lock(impl_->tap_mutex);
    auto &cached = impl_->tap_executors[taps];
    if (!cached) cached = make_tap_executor(*impl_, taps);
    exec = cached;
  }
  const int64_t per = ir::numel(shape);
  for_each_chunk(n, [&](int64_t begin, int64_t count) {
    torch::InferenceMode guard;
    torch::jit::Stack stack{impl_->frozen._ivalue(), make_input(x + begin * per, count, shape)};
    exec->run(stack);
    NEUROCUDA_CHECK(stack.size() == taps.size()) << "tap outputs " << stack.size() << " != " << taps.size();
    std::vector<torch::Tensor> held;  // keeps the values alive while consume reads them
    TapChunk chunk;
    chunk.begin = begin;
    chunk.count = count;
    for (auto &v : stack) {
      held.push_back(v.toTensor().to(torch::kFloat32).contiguous());
      chunk.values.push_back(held.back().data_ptr<float>());
      chunk.per_sample.push_back(held.back().numel() / count);
    }
    consume(chunk);
  });
}

std::vector<std::vector<float>> TorchModel::forward_taps(const float *x, int64_t n, const ir::Shape &shape,
                                                         const std::vector<std::string> &taps) const {
  std::vector<std::vector<float>> out(taps.size());
  std::mutex sizing;
  forward_taps_each(x, n, shape, taps, [&](const TapChunk &c) {
    {
      std::lock_guard<std::mutex> lock(sizing);
      for (size_t i = 0; i < taps.size(); ++i)
        if (out[i].empty()) out[i].resize(static_cast<size_t>(n * c.per_sample[i]));
    }
    for (size_t i = 0; i < taps.size(); ++i) {
      std::copy_n(c.values[i], c.count * c.per_sample[i], out[i].begin() + c.begin * c.per_sample[i]);
    }
  });
  return out;
}

void TorchModel::set_threads(int threads) {
  g_threads = std::max(threads, 1);
  at::set_num_threads(1);
}

} // namespace neurocuda::frontend
