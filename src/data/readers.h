// SPDX-License-Identifier: MIT
// Internal: one reader per data format, chosen by open_dataset.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "neurocuda/data/dataset.h"

namespace neurocuda::data {

std::unique_ptr<Dataset> open_idx(const std::string &images_path);
std::unique_ptr<Dataset> open_npy(const std::string &images_path);
std::unique_ptr<Dataset> open_npz(const std::string &path);
std::unique_ptr<Dataset> open_cifar10(const std::vector<std::string> &batch_files);
std::unique_ptr<Dataset> open_image_folder(const std::string &root);

} // namespace neurocuda::data
