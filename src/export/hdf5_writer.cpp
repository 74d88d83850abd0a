// SPDX-License-Identifier: MIT
#include "hdf5_writer.h"

#include <fmt/format.h>

#include "neurocuda/error.h"

namespace neurocuda::exporters {
namespace {

void check(herr_t status, const std::string &what) {
  if (status < 0) throw InternalError(fmt::format("HDF5 failed while {}", what));
}
hid_t check_id(hid_t id, const std::string &what) {
  if (id < 0) throw InternalError(fmt::format("HDF5 failed while {}", what));
  return id;
}

// Closes an HDF5 handle with its matching close function.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

hid_t utf8_string_type() {
  const hid_t t = check_id(H5Tcopy(H5T_C_S1), "making a string type");
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

void write_dataset(hid_t file, const std::string &path, hid_t type, const std::vector<int64_t> &shape, const void *data) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space{check_id(shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                        "making a dataspace"),
               H5Sclose};
  Handle set{check_id(H5Dcreate2(file, path.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "creating dataset " + path),
             H5Dclose};
  check(H5Dwrite(set.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing dataset " + path);
}

} // namespace

Hdf5Writer::Hdf5Writer() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions here, not stderr noise
  Handle fapl{check_id(H5Pcreate(H5P_FILE_ACCESS), "making file properties"), H5Pclose};
  check(H5Pset_fapl_core(fapl.id, 1 << 20, 0), "selecting the in-memory driver");
  file_ = check_id(H5Fcreate("neurocuda-export.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id), "creating the file");
}

Hdf5Writer::~Hdf5Writer() {
  if (file_ >= 0) H5Fclose(file_);
}

void Hdf5Writer::group(const std::string &path) {
  Handle g{check_id(H5Gcreate2(file_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "creating group " + path),
           H5Gclose};
}

void Hdf5Writer::floats(const std::string &path, const std::vector<int64_t> &shape, const std::vector<float> &data) {
  write_dataset(file_, path, H5T_NATIVE_FLOAT, shape, data.data());
}

void Hdf5Writer::ints(const std::string &path, const std::vector<int64_t> &shape, const std::vector<int64_t> &data) {
  write_dataset(file_, path, H5T_NATIVE_INT64, shape, data.data());
}

void Hdf5Writer::string(const std::string &path, const std::string &value) {
  Handle type{utf8_string_type(), H5Tclose};
  const char *p = value.c_str();
  write_dataset(file_, path, type.id, {}, &p);
}

void Hdf5Writer::strings(const std::string &path, int64_t rows, int64_t cols, const std::vector<std::string> &values) {
  Handle type{utf8_string_type(), H5Tclose};
  std::vector<const char *> p;
  for (const auto &v : values) p.push_back(v.c_str());
  write_dataset(file_, path, type.id, {rows, cols}, p.data());
}

std::string Hdf5Writer::bytes() {
  check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "flushing the file");
  const ssize_t size = H5Fget_file_image(file_, nullptr, 0);
  if (size < 0) throw InternalError("HDF5 failed while measuring the file image");
  std::string out(static_cast<size_t>(size), '\0');
  if (H5Fget_file_image(file_, out.data(), out.size()) != size) throw InternalError("HDF5 failed while copying the file image");
  H5Fclose(file_);
  file_ = -1;
  return out;
}

} // namespace neurocuda::exporters
