// SPDX-License-Identifier: MIT
// Internal to the driver: the steps `convert`, `eval` and `sweep` share.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "neurocuda/driver/commands.h"
#include "neurocuda/format/snn_file.h"

namespace neurocuda::driver {

/// Loads, lowers, converts and calibrates a model in memory; `summary` gets the text convert prints.
format::NetworkFile build_network(const ConvertOptions &options, std::string *summary);

/// Runs a network and its embedded ANN over the data; returns the eval report (without gates).
nlohmann::json evaluate(const format::NetworkFile &net, const std::string &label, const EvalOptions &options);

} // namespace neurocuda::driver
