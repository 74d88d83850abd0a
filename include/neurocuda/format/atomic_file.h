// SPDX-License-Identifier: MIT
// Atomic file writes: a temporary file in the target folder, then rename.
#pragma once

#include <string>

namespace neurocuda::format {

/// Writes `contents` to `path` atomically: readers see the old file or the whole new one,
/// and a failure leaves no partial file. Throws UserError saying why the path is unwritable.
void write_file_atomic(const std::string &path, const std::string &contents);

/// Reads a whole file; throws UserError if it cannot be read.
std::string read_file(const std::string &path, const std::string &what);

} // namespace neurocuda::format
