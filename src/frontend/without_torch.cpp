// SPDX-License-Identifier: MIT
// TorchModel for a build without LibTorch (NEUROCUDA_WITH_TORCH=OFF): every entry point is a user error
// that says which build can do it. Such a build still inspects, evaluates (--skip-ann) and verifies .snn files.
#include "neurocuda/error.h"
#include "neurocuda/frontend/torch_model.h"

namespace neurocuda::frontend {

struct TorchModel::Impl {};

namespace {
[[noreturn]] void no_torch(const std::string &what) {
  throw UserError(what + " needs LibTorch, and this neurocuda was built without it (NEUROCUDA_WITH_TORCH=OFF). "
                         "Convert and calibrate with a LibTorch build; here pass --skip-ann to eval.");
}
} // namespace

TorchModel TorchModel::load_file(const std::string &path) { no_torch("loading the TorchScript model '" + path + "'"); }
TorchModel TorchModel::load_bytes(const std::string &, const std::string &name) {
  no_torch("running the ANN embedded in '" + name + "'");
}
TorchModel::TorchModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchModel::TorchModel(TorchModel &&) noexcept = default;
TorchModel &TorchModel::operator=(TorchModel &&) noexcept = default;
TorchModel::~TorchModel() = default;
ir::Graph TorchModel::lower(const ir::Shape &) const { no_torch("lowering"); }
std::vector<float> TorchModel::forward(const float *, int64_t, const ir::Shape &, int64_t *) const {
  no_torch("the ANN baseline");
}
std::vector<std::vector<float>> TorchModel::forward_taps(const float *, int64_t, const ir::Shape &,
                                                         const std::vector<std::string> &) const {
  no_torch("calibration");
}
void TorchModel::forward_taps_each(const float *, int64_t, const ir::Shape &, const std::vector<std::string> &,
                                   const std::function<void(const TapChunk &)> &) const {
  no_torch("calibration");
}
void TorchModel::set_threads(int) {}

} // namespace neurocuda::frontend
