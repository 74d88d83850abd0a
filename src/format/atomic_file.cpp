// SPDX-License-Identifier: MIT
// Atomic file writes and whole-file reads.
#include "neurocuda/format/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "neurocuda/error.h"

namespace neurocuda::format {

void write_file_atomic(const std::string &path, const std::string &contents) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (path.empty()) throw UserError("output path is empty");
  std::error_code ec;
  if (fs::is_directory(target, ec))
    throw UserError(fmt::format("cannot write '{}': it is a directory; give a file name", path));
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0)
    throw UserError(fmt::format("cannot write '{}': {} (check that the folder '{}' exists and is writable)", path,
                                std::strerror(errno), dir.string()));
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmpl.c_str());
      throw UserError(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  fchmod(fd, 0644);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw UserError(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw UserError(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
  }
}

std::string read_file(const std::string &path, const std::string &what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UserError(fmt::format("{} '{}' does not exist or is not a file", what, path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot read {} '{}': {}", what, path, std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace neurocuda::format
