// SPDX-License-Identifier: MIT
// NumPy .npy and .npz readers (npz through libzip), streamed.
#include <fmt/format.h>
#include <zip.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "neurocuda/error.h"
#include "readers.h"

namespace fs = std::filesystem;

namespace neurocuda::data {
namespace {

// Sequential byte source: a plain file or a zip member.
class Source {
public:
  virtual ~Source() = default;
  virtual size_t read(void *buf, size_t n) = 0;
};

class FileSource : public Source {
public:
  explicit FileSource(const std::string &path) : in_(path, std::ios::binary) {
    if (!in_) throw UserError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  }
  size_t read(void *buf, size_t n) override {
    in_.read(static_cast<char *>(buf), static_cast<std::streamsize>(n));
    return static_cast<size_t>(in_.gcount());
  }

private:
  std::ifstream in_;
};

class ZipSource : public Source {
public:
  ZipSource(const std::string &path, const std::string &member) {
    int err = 0;
    zip_ = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (!zip_) throw UserError(fmt::format("'{}' is not a readable .npz (zip) archive (libzip error {})", path, err));
    file_ = zip_fopen(zip_, member.c_str(), 0);
    if (!file_) {
      zip_close(zip_);
      throw UserError(fmt::format("'{}' has no array '{}'; an .npz needs arrays 'x' (images) and 'y' (labels)", path,
                                  member.substr(0, member.size() - 4)));
    }
  }
  ~ZipSource() override {
    zip_fclose(file_);
    zip_close(zip_);
  }
  size_t read(void *buf, size_t n) override {
    size_t total = 0;
    while (total < n) {
      const auto got = zip_fread(file_, static_cast<char *>(buf) + total, n - total);
      if (got <= 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }

private:
  zip_t *zip_ = nullptr;
  zip_file_t *file_ = nullptr;
};

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
};

NpyHeader parse_header(Source &src, const std::string &what) {
  unsigned char pre[10];
  if (src.read(pre, 10) != 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    throw UserError(fmt::format("'{}' is not a NumPy .npy array (bad magic)", what));
  size_t len = static_cast<size_t>(pre[8]) | (static_cast<size_t>(pre[9]) << 8);
  if (pre[6] >= 2) {
    unsigned char more[2];
    if (src.read(more, 2) != 2) throw UserError(fmt::format("'{}' is truncated", what));
    len |= (static_cast<size_t>(more[0]) << 16) | (static_cast<size_t>(more[1]) << 24);
  }
  std::string h(len, '\0');
  if (src.read(h.data(), len) != len) throw UserError(fmt::format("'{}' is truncated in its header", what));
  NpyHeader out;
  auto field = [&](const std::string &key) {
    const auto at = h.find("'" + key + "'");
    if (at == std::string::npos) throw UserError(fmt::format("'{}': .npy header lacks '{}'", what, key));
    return h.substr(h.find(':', at) + 1);
  };
  const std::string d = field("descr");
  const auto q1 = d.find('\''), q2 = d.find('\'', q1 + 1);
  out.descr = d.substr(q1 + 1, q2 - q1 - 1);
  out.fortran = field("fortran_order").find("True") < field("fortran_order").find(',');
  const std::string s = field("shape");
  const auto p1 = s.find('('), p2 = s.find(')');
  std::string dims = s.substr(p1 + 1, p2 - p1 - 1);
  size_t pos = 0;
  while (pos < dims.size()) {
    const auto comma = dims.find(',', pos);
    const std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.find_first_not_of(" ") != std::string::npos) out.shape.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (out.fortran) throw UserError(fmt::format("'{}' is stored in Fortran order; save it C-contiguous", what));
  return out;
}

size_t item_size(const std::string &descr, const std::string &what) {
  if (descr == "|u1" || descr == "|i1" || descr == "|b1") return 1;
  if (descr == "<f4" || descr == "<i4" || descr == "<u4") return 4;
  if (descr == "<f8" || descr == "<i8" || descr == "<u8") return 8;
  throw UserError(fmt::format("'{}' has dtype '{}'; supported: uint8, int8, int32, int64, float32, float64", what, descr));
}

double decode(const unsigned char *p, const std::string &d) {
  if (d == "|u1" || d == "|b1") return *p;
  if (d == "|i1") return static_cast<int8_t>(*p);
  if (d == "<f4") { float v; std::memcpy(&v, p, 4); return v; }
  if (d == "<f8") { double v; std::memcpy(&v, p, 8); return v; }
  if (d == "<i4") { int32_t v; std::memcpy(&v, p, 4); return v; }
  if (d == "<u4") { uint32_t v; std::memcpy(&v, p, 4); return v; }
  if (d == "<i8") { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
  uint64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v);
}

std::vector<int32_t> read_labels(Source &src, const std::string &what, int64_t expected) {
  const auto h = parse_header(src, what);
  const size_t isz = item_size(h.descr, what);
  if (h.shape.size() != 1 || h.shape[0] != expected)
    throw UserError(fmt::format("labels '{}' have shape ({}) but there are {} images", what,
                                h.shape.empty() ? std::string() : std::to_string(h.shape[0]), expected));
  std::vector<unsigned char> raw(static_cast<size_t>(expected) * isz);
  if (src.read(raw.data(), raw.size()) != raw.size()) throw UserError(fmt::format("labels '{}' are truncated", what));
  std::vector<int32_t> out(static_cast<size_t>(expected));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int32_t>(decode(raw.data() + i * isz, h.descr));
  return out;
}

class NpyDataset : public Dataset {
public:
  using Opener = std::function<std::unique_ptr<Source>()>;
  NpyDataset(std::string format, std::string what, Opener open, std::vector<int32_t> labels)
      : format_(std::move(format)), what_(std::move(what)), open_(std::move(open)), labels_(std::move(labels)) {
    rewind();
    const auto &s = header_.shape;
    if (s.size() == 3) shape_ = {1, s[1], s[2]};
    else if (s.size() == 4 && (s[3] == 1 || s[3] == 3) && s[1] != 1 && s[1] != 3) {
      shape_ = {s[3], s[1], s[2]};
      hwc_ = true;
    } else if (s.size() == 4) shape_ = {s[1], s[2], s[3]};
    else if (s.size() == 2) shape_ = {s[1]};
    else throw UserError(fmt::format("'{}' has {} dimensions; expected images (N,H,W), (N,C,H,W), (N,H,W,C) or (N,F)",
                                     what_, s.size()));
    count_ = s[0];
    if (!labels_.empty() && static_cast<int64_t>(labels_.size()) != count_)
      throw UserError(fmt::format("'{}' has {} images but {} labels", what_, count_, labels_.size()));
  }
  std::string format() const override { return format_; }
  std::string description() const override { return what_; }
  int64_t size() const override { return count_; }
  ir::Shape sample_shape() const override { return shape_; }
  int64_t next(int64_t max_count, float *samples, int32_t *labels) override {
    const int64_t n = std::min(max_count, count_ - pos_);
    const int64_t per = ir::numel(shape_);
    const size_t isz = item_size(header_.descr, what_);
    raw_.resize(static_cast<size_t>(n * per) * isz);
    if (src_->read(raw_.data(), raw_.size()) != raw_.size())
      throw UserError(fmt::format("'{}' is truncated: fewer bytes than its shape says", what_));
    const bool u8 = header_.descr == "|u1";
    const int64_t c = shape_.size() == 3 ? shape_[0] : 1, hw = per / c;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < per; ++k) {
        // Source index: HWC arrays are transposed to CHW.
        const int64_t src = hwc_ ? (k % hw) * c + k / hw : k;
        const double v = decode(raw_.data() + static_cast<size_t>(i * per + src) * isz, header_.descr);
        samples[i * per + k] = u8 ? static_cast<float>(v) / 255.0f : static_cast<float>(v);
      }
    for (int64_t i = 0; i < n; ++i) labels[i] = labels_.empty() ? -1 : labels_[static_cast<size_t>(pos_ + i)];
    pos_ += n;
    return n;
  }
  void rewind() override {
    src_ = open_();
    header_ = parse_header(*src_, what_);
    pos_ = 0;
  }

private:
  std::string format_, what_;
  Opener open_;
  std::vector<int32_t> labels_;
  std::unique_ptr<Source> src_;
  NpyHeader header_;
  std::vector<unsigned char> raw_;
  ir::Shape shape_;
  bool hwc_ = false;
  int64_t count_ = 0, pos_ = 0;
};

std::string find_label_file(const fs::path &images) {
  const std::string stem = images.stem().string();
  std::vector<std::string> candidates;
  if (!stem.empty() && (stem[0] == 'x' || stem[0] == 'X')) candidates.push_back("y" + stem.substr(1));
  if (auto at = stem.find("images"); at != std::string::npos)
    candidates.push_back(std::string(stem).replace(at, 6, "labels"));
  candidates.push_back(stem + "_labels");
  candidates.push_back("labels");
  for (const auto &c : candidates) {
    const auto p = images.parent_path() / (c + ".npy");
    if (fs::exists(p)) return p.string();
  }
  return {};
}

} // namespace

std::unique_ptr<Dataset> open_npy(const std::string &images_path) {
  std::vector<int32_t> labels;
  const std::string label_path = find_label_file(images_path);
  auto opener = [images_path] { return std::unique_ptr<Source>(new FileSource(images_path)); };
  int64_t count = 0;
  {
    auto src = opener();
    count = parse_header(*src, images_path).shape.at(0);
  }
  if (!label_path.empty()) {
    FileSource src(label_path);
    labels = read_labels(src, label_path, count);
  }
  return std::make_unique<NpyDataset>("npy", images_path, opener, std::move(labels));
}

std::unique_ptr<Dataset> open_npz(const std::string &path) {
  auto opener = [path] { return std::unique_ptr<Source>(new ZipSource(path, "x.npy")); };
  int64_t count = 0;
  {
    auto src = opener();
    count = parse_header(*src, path + ":x").shape.at(0);
  }
  ZipSource ys(path, "y.npy");
  auto labels = read_labels(ys, path + ":y", count);
  return std::make_unique<NpyDataset>("npz", path, opener, std::move(labels));
}

} // namespace neurocuda::data
