// SPDX-License-Identifier: MIT
// What an exporter reports back to `neurocuda export`.
#pragma once

#include <string>
#include <vector>

namespace neurocuda::exporters {

/// What the exporter wants the user to know (semantics the format cannot hold exactly; printed as
/// warnings) and what it wrote.
struct ExportNotes {
  std::vector<std::string> warnings;
  int nodes = 0, edges = 0;  ///< NIR: graph nodes and edges; netx: layers (nodes), edges unused
};

} // namespace neurocuda::exporters
