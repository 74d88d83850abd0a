// SPDX-License-Identifier: MIT
// Internal to the driver: opening evaluation data for a converted network.
#pragma once

#include <memory>
#include <string>

#include "neurocuda/data/dataset.h"
#include "neurocuda/format/snn_file.h"

namespace neurocuda::driver {

/// Opens `path` (test split by default), applies the network's normalisation and `limit`, and
/// checks the samples fit the network's input; throws UserError naming both shapes otherwise.
std::unique_ptr<data::Dataset> open_data_for(const format::NetworkFile &net, const std::string &network_path,
                                             const std::string &path, const std::string &split, int64_t limit);

} // namespace neurocuda::driver
