// SPDX-License-Identifier: MIT
// Format detection, split selection, limiting and normalisation of data sets.
#include "neurocuda/data/dataset.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "neurocuda/error.h"
#include "neurocuda/util/split.h"
#include "readers.h"

namespace fs = std::filesystem;

namespace neurocuda::data {
namespace {

constexpr const char *kFormats =
    "IDX (MNIST/Fashion-MNIST, optionally gzip), NumPy .npy/.npz, CIFAR-10 binary batches, "
    "or a folder of PNG/JPEG images with one sub-folder per class";

// First bytes of a file, transparently gunzipped.
std::string head_bytes(const std::string &path, size_t n) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw UserError(fmt::format("cannot open data file '{}': {}", path, std::strerror(errno)));
  std::string buf(n, '\0');
  const int got = gzread(f, buf.data(), static_cast<unsigned>(n));
  gzclose(f);
  buf.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return buf;
}

std::string raw_head(const std::string &path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string buf(n, '\0');
  in.read(buf.data(), static_cast<std::streamsize>(n));
  buf.resize(static_cast<size_t>(in.gcount()));
  return buf;
}

bool is_idx_images(const std::string &head) {
  return head.size() >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] == 3;
}

std::unique_ptr<Dataset> open_file(const std::string &path) {
  const std::string raw = raw_head(path, 8);
  if (raw.size() >= 4 && raw.compare(0, 4, "PK\x03\x04", 4) == 0) return open_npz(path);
  if (raw.size() >= 6 && raw.compare(0, 6, "\x93NUMPY", 6) == 0) return open_npy(path);
  const std::string head = head_bytes(path, 4);
  if (is_idx_images(head)) return open_idx(path);
  if (head.size() >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] == 1)
    throw UserError(fmt::format("'{}' is an IDX label file; pass the images file (or its folder) instead", path));
  const auto size = fs::file_size(path);
  if (size > 0 && size % 3073 == 0) return open_cifar10({path});
  throw UserError(fmt::format("cannot tell the format of data file '{}'; supported: {}", path, kFormats));
}

bool has_word(const std::string &name, std::initializer_list<const char *> words) {
  for (const char *w : words)
    if (name.find(w) != std::string::npos) return true;
  return false;
}

// Picks the training or test member of a folder's candidate files.
std::string pick_split(const std::vector<std::string> &files, Split split, const std::string &dir) {
  if (files.size() == 1) return files[0];
  std::vector<std::string> train, test;
  for (const auto &f : files) {
    const auto name = fs::path(f).filename().string();
    if (has_word(name, {"train"})) train.push_back(f);
    else if (has_word(name, {"test", "t10k"})) test.push_back(f);
  }
  const auto &chosen = split == Split::Train ? train : test;
  if (chosen.size() == 1) return chosen[0];
  throw UserError(fmt::format("folder '{}' holds {} candidate data files and none is clearly the {} split; "
                              "pass one file instead of the folder",
                              dir, files.size(), split == Split::Train ? "training" : "test"));
}

std::unique_ptr<Dataset> open_folder(const std::string &dir, Split split) {
  std::vector<std::string> files, subdirs;
  for (const auto &e : fs::directory_iterator(dir)) {
    if (e.is_directory()) subdirs.push_back(e.path().string());
    else if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::sort(subdirs.begin(), subdirs.end());

  std::vector<std::string> idx, npz, npy, cifar_train, cifar_test;
  for (const auto &f : files) {
    const auto name = fs::path(f).filename().string();
    if (name.find("-images-idx3-ubyte") != std::string::npos) idx.push_back(f);
    else if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npz") == 0) npz.push_back(f);
    else if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0 && !has_word(name, {"label"}) &&
             name[0] != 'y')
      npy.push_back(f);
    else if (name.rfind("data_batch_", 0) == 0) cifar_train.push_back(f);
    else if (name.rfind("test_batch", 0) == 0) cifar_test.push_back(f);
  }
  if (!idx.empty()) return open_idx(pick_split(idx, split, dir));
  if (!cifar_train.empty() || !cifar_test.empty()) {
    const auto &chosen = split == Split::Train && !cifar_train.empty() ? cifar_train
                         : !cifar_test.empty()                        ? cifar_test
                                                                      : cifar_train;
    return open_cifar10(chosen);
  }
  if (!npz.empty()) return open_npz(pick_split(npz, split, dir));
  if (!npy.empty()) return open_npy(pick_split(npy, split, dir));
  if (!subdirs.empty()) {
    // A folder of split folders (train/, test/) or of class folders.
    for (const auto &s : subdirs) {
      const auto name = fs::path(s).filename().string();
      if ((split == Split::Train && name == "train") || (split == Split::Test && (name == "test" || name == "val")))
        return open_folder(s, split);
    }
    if (subdirs.size() == 1 && fs::path(subdirs[0]).filename() == "cifar-10-batches-bin")
      return open_folder(subdirs[0], split);
    return open_image_folder(dir);
  }
  if (files.empty()) throw UserError(fmt::format("data folder '{}' is empty; it should hold {}", dir, kFormats));
  throw UserError(fmt::format("found no data in folder '{}'; supported: {}", dir, kFormats));
}

class Limited : public Dataset {
public:
  Limited(std::unique_ptr<Dataset> inner, int64_t limit, Preprocess pre)
      : inner_(std::move(inner)), limit_(limit), pre_(std::move(pre)) {
    const auto shape = inner_->sample_shape();
    const size_t channels = shape.size() == 3 ? static_cast<size_t>(shape[0]) : 1;
    for (auto *v : {&pre_.mean, &pre_.std}) {
      if (v->size() == 1) v->assign(channels, (*v)[0]);
      if (!v->empty() && v->size() != channels)
        throw UserError(fmt::format("--{} has {} values but the data has {} channels", v == &pre_.mean ? "mean" : "std",
                                    v->size(), channels));
    }
    for (float s : pre_.std)
      if (!(s > 0)) throw UserError("--std values must be positive");
  }
  std::string format() const override { return inner_->format(); }
  std::string description() const override { return inner_->description(); }
  int64_t size() const override { return limit_ > 0 ? std::min(limit_, inner_->size()) : inner_->size(); }
  ir::Shape sample_shape() const override { return inner_->sample_shape(); }
  int64_t next(int64_t max_count, float *samples, int32_t *labels) override {
    const int64_t n = inner_->next(std::min(max_count, size() - read_), samples, labels);
    read_ += n;
    if (!pre_.mean.empty() || !pre_.std.empty()) {
      const auto shape = sample_shape();
      const int64_t per = ir::numel(shape);
      const int64_t channels = shape.size() == 3 ? shape[0] : 1;
      const int64_t plane = per / channels;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < channels; ++c) {
          const float m = pre_.mean.empty() ? 0.0f : pre_.mean[static_cast<size_t>(c)];
          const float s = pre_.std.empty() ? 1.0f : pre_.std[static_cast<size_t>(c)];
          float *p = samples + i * per + c * plane;
          for (int64_t k = 0; k < plane; ++k) p[k] = (p[k] - m) / s;
        }
    }
    return n;
  }
  void rewind() override {
    inner_->rewind();
    read_ = 0;
  }

private:
  std::unique_ptr<Dataset> inner_;
  int64_t limit_;
  Preprocess pre_;
  int64_t read_ = 0;
};

} // namespace

Split parse_split(const std::string &text) {
  if (text == "auto") return Split::Auto;
  if (text == "train") return Split::Train;
  if (text == "test") return Split::Test;
  throw UserError(fmt::format("unknown split '{}'; use auto, train or test", text));
}

std::unique_ptr<Dataset> open_dataset(const std::string &path, Split split, Split fallback) {
  if (split == Split::Auto) split = fallback;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status))
    throw UserError(fmt::format("data path '{}' does not exist; pass a file or folder holding {}", path, kFormats));
  auto ds = fs::is_directory(status) ? open_folder(path, split) : open_file(path);
  if (ds->size() == 0) throw UserError(fmt::format("data '{}' holds no samples", path));
  return ds;
}

std::unique_ptr<Dataset> limit_and_normalise(std::unique_ptr<Dataset> inner, int64_t limit, const Preprocess &pre) {
  return std::make_unique<Limited>(std::move(inner), limit, pre);
}

std::vector<float> parse_float_list(const std::string &text, const std::string &flag) {
  std::vector<float> out;
  for (const auto &item : util::split_commas(text)) {
    try {
      size_t used = 0;
      out.push_back(std::stof(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception &) {
      throw UserError(fmt::format("{} expects comma-separated numbers, got '{}'", flag, text));
    }
  }
  return out;
}

} // namespace neurocuda::data
