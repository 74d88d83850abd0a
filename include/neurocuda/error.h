// SPDX-License-Identifier: MIT
// Error types: user errors (fixable by the user) and internal errors (bugs).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace neurocuda {

/// Something the user can fix: bad file, unsupported operator, bad flag value.
/// The message says what is wrong, where, and what to do.
class UserError : public std::runtime_error {
public:
  explicit UserError(const std::string &message) : std::runtime_error(message) {}
};

/// A broken invariant inside neurocuda: a bug. Thrown by NEUROCUDA_CHECK.
class InternalError : public std::runtime_error {
public:
  explicit InternalError(const std::string &message) : std::runtime_error(message) {}
};

namespace detail {
/// Collects the streamed context of a failed check and throws on destruction.
class CheckFailure {
public:
  CheckFailure(const char *file, int line, const char *cond) {
    stream_ << file << ":" << line << ": check failed: " << cond << ": ";
  }
  CheckFailure(const CheckFailure &) = delete;
  [[noreturn]] ~CheckFailure() noexcept(false) { throw InternalError(stream_.str()); }
  template <typename T> CheckFailure &operator<<(const T &value) {
    stream_ << value;
    return *this;
  }

private:
  std::ostringstream stream_;
};
} // namespace detail

} // namespace neurocuda

/// NEUROCUDA_CHECK(cond) << "context"; throws InternalError with file and line when cond is false.
#define NEUROCUDA_CHECK(cond)                                                                      \
  if (cond) {                                                                                      \
  } else                                                                                           \
    ::neurocuda::detail::CheckFailure(__FILE__, __LINE__, #cond)
