// SPDX-License-Identifier: MIT
// CIFAR-10 binary batches: records of 1 label byte and 3x32x32 image bytes.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "neurocuda/error.h"
#include "readers.h"

namespace neurocuda::data {
namespace {

constexpr int64_t kImage = 3 * 32 * 32;
constexpr int64_t kRecord = kImage + 1;

class CifarDataset : public Dataset {
public:
  explicit CifarDataset(std::vector<std::string> files) : files_(std::move(files)) {
    for (const auto &f : files_) {
      const auto bytes = static_cast<int64_t>(std::filesystem::file_size(f));
      if (bytes == 0 || bytes % kRecord != 0)
        throw UserError(fmt::format("'{}' is not a CIFAR-10 binary batch: its size {} is not a multiple of {} bytes",
                                    f, bytes, kRecord));
      count_ += bytes / kRecord;
    }
    rewind();
  }
  std::string format() const override { return "cifar10"; }
  std::string description() const override {
    return files_.size() == 1 ? files_[0] : fmt::format("{} (+{} more batches)", files_[0], files_.size() - 1);
  }
  int64_t size() const override { return count_; }
  ir::Shape sample_shape() const override { return {3, 32, 32}; }
  int64_t next(int64_t max_count, float *samples, int32_t *labels) override {
    int64_t n = 0;
    unsigned char rec[kRecord];
    while (n < max_count) {
      if (!in_.is_open() || in_.peek() == std::char_traits<char>::eof()) {
        if (file_ >= files_.size()) break;
        in_.close();
        in_.open(files_[file_], std::ios::binary);
        if (!in_) throw UserError(fmt::format("cannot open '{}': {}", files_[file_], std::strerror(errno)));
        ++file_;
        continue;
      }
      in_.read(reinterpret_cast<char *>(rec), kRecord);
      if (in_.gcount() != kRecord) throw UserError(fmt::format("'{}' is truncated", files_[file_ - 1]));
      labels[n] = rec[0];
      for (int64_t k = 0; k < kImage; ++k) samples[n * kImage + k] = static_cast<float>(rec[k + 1]) / 255.0f;
      ++n;
    }
    return n;
  }
  void rewind() override {
    in_.close();
    in_.clear();
    file_ = 0;
  }

private:
  std::vector<std::string> files_;
  int64_t count_ = 0;
  std::ifstream in_;
  size_t file_ = 0;
};

} // namespace

std::unique_ptr<Dataset> open_cifar10(const std::vector<std::string> &batch_files) {
  return std::make_unique<CifarDataset>(batch_files);
}

} // namespace neurocuda::data
