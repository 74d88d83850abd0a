// SPDX-License-Identifier: MIT
// Export of a converted network to NIR, the Neuromorphic Intermediate Representation (HDF5, as written by the
// `nir` package's nir.write): docs/export.md says how each IR node and the IF semantics are carried.
#pragma once

#include <string>

#include "neurocuda/export/notes.h"
#include "neurocuda/ir/graph.h"

namespace neurocuda::exporters {

/// Writes `graph` (converted: IF neurons, thresholds folded) to `path` as NIR HDF5, atomically.
/// Throws UserError naming the node for anything NIR cannot express.
ExportNotes write_nir(const ir::Graph &graph, const std::string &path, const std::string &metadata_json);

} // namespace neurocuda::exporters
