// SPDX-License-Identifier: MIT
// Export of a converted network to Lava-dl's netx HDF5 layout (the `layer/N` groups lava.lib.dl.netx.hdf5
// reads): docs/export.md says how each IR node, the fixed-point values and the IF semantics are carried.
#pragma once

#include <string>

#include "neurocuda/export/notes.h"
#include "neurocuda/ir/graph.h"

namespace neurocuda::exporters {

/// Writes `graph` (converted: IF neurons, thresholds folded) to `path` as netx HDF5, atomically.
/// netx describes a chain of layers: anything else (residual adds, concatenation, average pools)
/// is a UserError naming the node and pointing to NIR.
ExportNotes write_netx(const ir::Graph &graph, const std::string &path, const std::string &metadata_json);

} // namespace neurocuda::exporters
