// SPDX-License-Identifier: MIT
// IDX reader (MNIST / Fashion-MNIST), plain or gzip, streamed.
#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "neurocuda/error.h"
#include "readers.h"

namespace neurocuda::data {
namespace {

uint32_t be32(const unsigned char *p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

class GzReader {
public:
  explicit GzReader(std::string path) : path_(std::move(path)) { open(); }
  ~GzReader() {
    if (f_) gzclose(f_);
  }
  void open() {
    if (f_) gzclose(f_);
    f_ = gzopen(path_.c_str(), "rb");
    if (!f_) throw UserError(fmt::format("cannot open '{}': {}", path_, std::strerror(errno)));
  }
  void read_exact(void *buf, size_t n) {
    const int got = gzread(f_, buf, static_cast<unsigned>(n));
    if (got != static_cast<int>(n))
      throw UserError(fmt::format("'{}' is truncated or corrupt (wanted {} bytes, got {}); re-download it", path_, n,
                                  got < 0 ? 0 : got));
  }
  const std::string &path() const { return path_; }

private:
  std::string path_;
  gzFile f_ = nullptr;
};

class IdxDataset : public Dataset {
public:
  IdxDataset(const std::string &images, const std::string &labels) : images_(images) {
    unsigned char hdr[16];
    images_.read_exact(hdr, 16);
    if (be32(hdr) != 0x803) throw UserError(fmt::format("'{}' is not an IDX image file (bad magic)", images));
    count_ = be32(hdr + 4);
    rows_ = be32(hdr + 8);
    cols_ = be32(hdr + 12);
    if (!labels.empty()) {
      GzReader lab(labels);
      unsigned char lh[8];
      lab.read_exact(lh, 8);
      if (be32(lh) != 0x801) throw UserError(fmt::format("'{}' is not an IDX label file (bad magic)", labels));
      if (be32(lh + 4) != count_)
        throw UserError(fmt::format("'{}' has {} labels but '{}' has {} images", labels, be32(lh + 4), images, count_));
      labels_.resize(count_);
      lab.read_exact(labels_.data(), count_);
    }
    desc_ = images;
  }
  std::string format() const override { return "idx"; }
  std::string description() const override { return desc_; }
  int64_t size() const override { return count_; }
  ir::Shape sample_shape() const override { return {1, rows_, cols_}; }
  int64_t next(int64_t max_count, float *samples, int32_t *labels) override {
    const int64_t n = std::min<int64_t>(max_count, count_ - pos_);
    const size_t per = static_cast<size_t>(rows_ * cols_);
    buf_.resize(static_cast<size_t>(n) * per);
    if (n > 0) images_.read_exact(buf_.data(), buf_.size());
    for (size_t i = 0; i < buf_.size(); ++i) samples[i] = static_cast<float>(buf_[i]) / 255.0f;
    for (int64_t i = 0; i < n; ++i) labels[i] = labels_.empty() ? -1 : labels_[static_cast<size_t>(pos_ + i)];
    pos_ += n;
    return n;
  }
  void rewind() override {
    images_.open();
    unsigned char hdr[16];
    images_.read_exact(hdr, 16);
    pos_ = 0;
  }

private:
  GzReader images_;
  std::string desc_;
  uint32_t count_ = 0;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<unsigned char> labels_;
  std::vector<unsigned char> buf_;
  int64_t pos_ = 0;
};

} // namespace

std::unique_ptr<Dataset> open_idx(const std::string &images_path) {
  std::string labels = images_path;
  const auto at = labels.rfind("images-idx3");
  if (at != std::string::npos) labels.replace(at, 11, "labels-idx1");
  if (labels == images_path || !std::filesystem::exists(labels)) labels.clear();
  return std::make_unique<IdxDataset>(images_path, labels);
}

} // namespace neurocuda::data
