// SPDX-License-Identifier: MIT
// Image folders: one sub-folder per class (sorted names give label indices), PNG or JPEG.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO_WARNINGS
#include <stb/stb_image.h>

#include "neurocuda/error.h"
#include "readers.h"

namespace fs = std::filesystem;

namespace neurocuda::data {
namespace {

bool is_image(const fs::path &p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

class ImageFolder : public Dataset {
public:
  explicit ImageFolder(const std::string &root) : root_(root) {
    std::vector<fs::path> classes;
    for (const auto &e : fs::directory_iterator(root))
      if (e.is_directory()) classes.push_back(e.path());
    std::sort(classes.begin(), classes.end());
    for (size_t c = 0; c < classes.size(); ++c) {
      std::vector<fs::path> files;
      for (const auto &e : fs::directory_iterator(classes[c]))
        if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (auto &f : files) items_.emplace_back(f.string(), static_cast<int32_t>(c));
    }
    if (items_.empty())
      throw UserError(fmt::format("image folder '{}' has no .png/.jpg files in its class sub-folders", root));
    int w = 0, h = 0, comp = 0;
    if (!stbi_info(items_[0].first.c_str(), &w, &h, &comp))
      throw UserError(fmt::format("cannot read image '{}': {}", items_[0].first, stbi_failure_reason()));
    channels_ = comp <= 2 ? 1 : 3;
    width_ = w;
    height_ = h;
  }
  std::string format() const override { return "image-folder"; }
  std::string description() const override { return root_; }
  int64_t size() const override { return static_cast<int64_t>(items_.size()); }
  ir::Shape sample_shape() const override { return {channels_, height_, width_}; }
  int64_t next(int64_t max_count, float *samples, int32_t *labels) override {
    int64_t n = 0;
    const int64_t plane = width_ * height_;
    for (; n < max_count && pos_ < items_.size(); ++n, ++pos_) {
      const auto &[path, label] = items_[pos_];
      int w = 0, h = 0, comp = 0;
      unsigned char *px = stbi_load(path.c_str(), &w, &h, &comp, static_cast<int>(channels_));
      if (!px) throw UserError(fmt::format("cannot decode image '{}': {}", path, stbi_failure_reason()));
      if (w != width_ || h != height_) {
        stbi_image_free(px);
        throw UserError(fmt::format("image '{}' is {}x{} but '{}' is {}x{}; all images must have one size", path, w, h,
                                    items_[0].first, width_, height_));
      }
      float *out = samples + n * channels_ * plane;
      for (int64_t c = 0; c < channels_; ++c)
        for (int64_t k = 0; k < plane; ++k) out[c * plane + k] = static_cast<float>(px[k * channels_ + c]) / 255.0f;
      stbi_image_free(px);
      labels[n] = label;
    }
    return n;
  }
  void rewind() override { pos_ = 0; }

private:
  std::string root_;
  std::vector<std::pair<std::string, int32_t>> items_;
  int64_t channels_ = 1, width_ = 0, height_ = 0;
  size_t pos_ = 0;
};

} // namespace

std::unique_ptr<Dataset> open_image_folder(const std::string &root) { return std::make_unique<ImageFolder>(root); }

} // namespace neurocuda::data
