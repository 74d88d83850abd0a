// SPDX-License-Identifier: MIT
// Every data format: written here, read back through open_dataset (format detected from content).
#include <gtest/gtest.h>
#include <zip.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "neurocuda/data/dataset.h"
#include "neurocuda/error.h"

namespace fs = std::filesystem;
using namespace neurocuda;

namespace {

class TempDir {
public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("neurocuda_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path operator/(const std::string &p) const { return path_ / p; }
  std::string str() const { return path_.string(); }

private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

void write_bytes(const fs::path &p, const std::string &bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(p, std::ios::binary) << bytes;
  }
}

// n images of h x w with pixel value (i * 10 + k) % 256, labels i % 10.
void write_idx(const fs::path &dir, const std::string &prefix, uint32_t n, uint32_t h, uint32_t w, bool gz) {
  std::string img = be32(0x803) + be32(n) + be32(h) + be32(w), lab = be32(0x801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t k = 0; k < h * w; ++k) img.push_back(static_cast<char>((i * 10 + k) % 256));
    lab.push_back(static_cast<char>(i % 10));
  }
  const std::string ext = gz ? ".gz" : "";
  write_bytes(dir / (prefix + "-images-idx3-ubyte" + ext), img, gz);
  write_bytes(dir / (prefix + "-labels-idx1-ubyte" + ext), lab, gz);
}

std::string npy(const std::string &descr, const std::vector<int64_t> &shape, const std::string &payload) {
  std::string dims;
  for (auto d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header.push_back(' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY\x01";
  out.push_back('\0');
  out.push_back(static_cast<char>(header.size() & 0xFF));
  out.push_back(static_cast<char>(header.size() >> 8));
  return out + header + payload;
}

struct Read {
  std::vector<float> x;
  std::vector<int32_t> y;
};

Read read_all(data::Dataset &ds, int64_t batch = 2) {
  Read r;
  const int64_t per = ir::numel(ds.sample_shape());
  std::vector<float> x(static_cast<size_t>(batch * per));
  std::vector<int32_t> y(static_cast<size_t>(batch));
  while (int64_t n = ds.next(batch, x.data(), y.data())) {
    r.x.insert(r.x.end(), x.begin(), x.begin() + n * per);
    r.y.insert(r.y.end(), y.begin(), y.begin() + n);
  }
  return r;
}

} // namespace

TEST(Data, IdxGzipFolderPicksSplitAndScalesTo01) {
  TempDir dir;
  write_idx(dir / "", "train", 5, 2, 3, true);
  write_idx(dir / "", "t10k", 3, 2, 3, true);
  auto train = data::open_dataset(dir.str(), data::Split::Auto, data::Split::Train);
  EXPECT_EQ(train->format(), "idx");
  EXPECT_EQ(train->size(), 5);
  EXPECT_EQ(train->sample_shape(), (ir::Shape{1, 2, 3}));
  auto test = data::open_dataset(dir.str(), data::Split::Auto, data::Split::Test);
  EXPECT_EQ(test->size(), 3);
  auto r = read_all(*test);
  ASSERT_EQ(r.x.size(), 18u);
  EXPECT_EQ(r.x[7], static_cast<float>(11) / 255.0f);  // image 1, pixel 1
  EXPECT_EQ(r.y, (std::vector<int32_t>{0, 1, 2}));
  auto forced = data::open_dataset(dir.str(), data::Split::Train, data::Split::Test);
  EXPECT_EQ(forced->size(), 5);
  test->rewind();
  EXPECT_EQ(read_all(*test, 3).x, r.x);
}

TEST(Data, IdxPlainFile) {
  TempDir dir;
  write_idx(dir / "", "t10k", 4, 3, 3, false);
  auto ds = data::open_dataset((dir / "t10k-images-idx3-ubyte").string(), data::Split::Auto, data::Split::Test);
  EXPECT_EQ(ds->size(), 4);
  EXPECT_EQ(read_all(*ds).y, (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(Data, TruncatedIdxIsUserError) {
  TempDir dir;
  write_bytes(dir / "t10k-images-idx3-ubyte", be32(0x803) + be32(100) + be32(28) + be32(28) + "abc", false);
  auto ds = data::open_dataset((dir / "t10k-images-idx3-ubyte").string(), data::Split::Auto, data::Split::Test);
  std::vector<float> x(784 * 4);
  std::vector<int32_t> y(4);
  EXPECT_THROW(ds->next(4, x.data(), y.data()), UserError);
}

TEST(Data, NpyUint8WithSiblingLabels) {
  TempDir dir;
  std::string px;
  for (int i = 0; i < 2 * 4; ++i) px.push_back(static_cast<char>(i * 30));
  write_bytes(dir / "x_test.npy", npy("|u1", {2, 2, 2}, px), false);
  std::string lab(16, '\0');
  lab[0] = 7;
  lab[8] = 3;
  write_bytes(dir / "y_test.npy", npy("<i8", {2}, lab), false);
  auto ds = data::open_dataset(dir.str(), data::Split::Auto, data::Split::Test);
  EXPECT_EQ(ds->format(), "npy");
  EXPECT_EQ(ds->sample_shape(), (ir::Shape{1, 2, 2}));
  auto r = read_all(*ds);
  EXPECT_EQ(r.y, (std::vector<int32_t>{7, 3}));
  EXPECT_EQ(r.x[5], 150.0f / 255.0f);
}

TEST(Data, NpyFloatNchwIsNotRescaled) {
  TempDir dir;
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  std::string payload(reinterpret_cast<const char *>(v.data()), v.size() * 4);
  write_bytes(dir / "images.npy", npy("<f4", {1, 2, 3, 4}, payload), false);
  auto ds = data::open_dataset((dir / "images.npy").string(), data::Split::Auto, data::Split::Test);
  EXPECT_EQ(ds->sample_shape(), (ir::Shape{2, 3, 4}));
  auto r = read_all(*ds);
  EXPECT_EQ(r.x, v);
  EXPECT_EQ(r.y, (std::vector<int32_t>{-1}));  // no labels file
}

TEST(Data, NpzWithXAndY) {
  TempDir dir;
  std::string px;
  for (int i = 0; i < 3 * 4; ++i) px.push_back(static_cast<char>(i));
  const std::string x = npy("|u1", {3, 2, 2}, px), y = npy("|u1", {3}, std::string("\x01\x02\x09", 3));
  int err = 0;
  zip_t *z = zip_open((dir / "d.npz").c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  zip_file_add(z, "x.npy", zip_source_buffer(z, x.data(), x.size(), 0), ZIP_FL_OVERWRITE);
  zip_file_add(z, "y.npy", zip_source_buffer(z, y.data(), y.size(), 0), ZIP_FL_OVERWRITE);
  ASSERT_EQ(zip_close(z), 0);
  auto ds = data::open_dataset((dir / "d.npz").string(), data::Split::Auto, data::Split::Train);
  EXPECT_EQ(ds->format(), "npz");
  auto r = read_all(*ds);
  EXPECT_EQ(r.y, (std::vector<int32_t>{1, 2, 9}));
  EXPECT_EQ(r.x[11], 11.0f / 255.0f);
}

TEST(Data, Cifar10BatchesChooseSplit) {
  TempDir dir;
  auto batch = [](int n, int label0) {
    std::string b;
    for (int i = 0; i < n; ++i) {
      b.push_back(static_cast<char>(label0 + i));
      for (int k = 0; k < 3072; ++k) b.push_back(static_cast<char>(k % 251));
    }
    return b;
  };
  write_bytes(dir / "data_batch_1.bin", batch(2, 0), false);
  write_bytes(dir / "data_batch_2.bin", batch(1, 5), false);
  write_bytes(dir / "test_batch.bin", batch(1, 9), false);
  auto train = data::open_dataset(dir.str(), data::Split::Auto, data::Split::Train);
  EXPECT_EQ(train->format(), "cifar10");
  EXPECT_EQ(train->size(), 3);
  EXPECT_EQ(train->sample_shape(), (ir::Shape{3, 32, 32}));
  auto r = read_all(*train);
  EXPECT_EQ(r.y, (std::vector<int32_t>{0, 1, 5}));
  EXPECT_EQ(r.x[1024 + 5], static_cast<float>(1029 % 251) / 255.0f);  // channel 1, pixel 5
  auto test = data::open_dataset(dir.str(), data::Split::Auto, data::Split::Test);
  EXPECT_EQ(read_all(*test).y, (std::vector<int32_t>{9}));
}

TEST(Data, ImageFolderPngGrayAndClasses) {
  TempDir dir;
  for (const char *cls : {"cat", "dog"}) {
    fs::create_directories(dir / cls);
    for (int i = 0; i < 2; ++i) {
      unsigned char px[4 * 3];
      for (int k = 0; k < 12; ++k) px[k] = static_cast<unsigned char>(k * 20 + i);
      stbi_write_png((dir / cls / ("img" + std::to_string(i) + ".png")).c_str(), 4, 3, 1, px, 4);
    }
  }
  auto ds = data::open_dataset(dir.str(), data::Split::Auto, data::Split::Train);
  EXPECT_EQ(ds->format(), "image-folder");
  EXPECT_EQ(ds->sample_shape(), (ir::Shape{1, 3, 4}));
  auto r = read_all(*ds);
  EXPECT_EQ(r.y, (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(r.x[12 + 5], static_cast<float>(5 * 20 + 1) / 255.0f);
}

TEST(Data, NormalisationAndLimit) {
  TempDir dir;
  write_idx(dir / "", "t10k", 6, 1, 2, true);
  auto ds = data::limit_and_normalise(data::open_dataset(dir.str(), data::Split::Auto, data::Split::Test), 4,
                                      data::Preprocess{{0.5f}, {0.25f}});
  EXPECT_EQ(ds->size(), 4);
  auto r = read_all(*ds, 3);
  ASSERT_EQ(r.y.size(), 4u);
  EXPECT_FLOAT_EQ(r.x[2], (10.0f / 255.0f - 0.5f) / 0.25f);
  EXPECT_THROW(data::limit_and_normalise(data::open_dataset(dir.str(), data::Split::Auto, data::Split::Test), 0,
                                         data::Preprocess{{0.1f, 0.2f}, {}}),
               UserError);  // two means for one channel
}

TEST(Data, MissingEmptyAndUnknownAreUserErrors) {
  TempDir dir;
  EXPECT_THROW(data::open_dataset((dir / "nope").string(), data::Split::Auto, data::Split::Test), UserError);
  EXPECT_THROW(data::open_dataset(dir.str(), data::Split::Auto, data::Split::Test), UserError);
  write_bytes(dir / "junk.bin", "hello", false);
  EXPECT_THROW(data::open_dataset((dir / "junk.bin").string(), data::Split::Auto, data::Split::Test), UserError);
  EXPECT_THROW(data::parse_split("validation"), UserError);
  EXPECT_THROW(data::parse_float_list("0.5,x", "--mean"), UserError);
}
