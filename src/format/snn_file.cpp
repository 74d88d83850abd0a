// SPDX-License-Identifier: MIT
// Reading and writing the .snn converted-network format (docs/snn-format.md).
#include "neurocuda/format/snn_file.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "neurocuda/error.h"
#include "neurocuda/format/atomic_file.h"

namespace neurocuda::format {
namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'N', 'C', 'S', 'N', 'N', '\r', '\n', '\x1a'};

void put_u32(std::string &out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::string &out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get_le(const std::string &s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + static_cast<size_t>(i)])) << (8 * i);
  return v;
}

json tensor_ref(const ir::Tensor &t, std::string &blob) {
  json j;
  j["shape"] = t.shape;
  j["offset"] = blob.size();
  j["count"] = t.data.size();
  for (float f : t.data) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    put_u32(blob, bits);
  }
  return j;
}

} // namespace

uint32_t crc32_of(const std::string &bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < bytes.size()) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef *>(bytes.data() + done), chunk);
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

// The oldest format version that can hold the graph (kSnnFormatVersion's comment).
uint32_t format_version(const ir::Graph &g) {
  for (const auto &n : g.nodes())
    if (n.kind == ir::OpKind::IF && ir::if_graded(n)) return 2;
  return 1;
}

std::string serialize_network(const NetworkFile &net) {
  std::string blob;
  json h;
  const auto &g = net.graph;
  const uint32_t version = format_version(g);
  h["format"] = "neurocuda-snn";
  h["version"] = version;
  h["input"] = g.input();
  h["output"] = g.output();
  json values = json::array();
  for (const auto &v : g.values()) values.push_back({{"shape", v.shape}, {"name", v.name}});
  h["values"] = values;
  json nodes = json::array();
  for (const auto &n : g.nodes()) {
    json j;
    j["kind"] = std::string(ir::op_name(n.kind));
    j["name"] = n.name;
    j["source"] = n.source;
    j["inputs"] = n.inputs;
    j["output"] = n.output;
    j["ints"] = n.ints;
    j["floats"] = n.floats;
    json ts = json::object();
    for (const auto &[k, t] : n.tensors) ts[k] = tensor_ref(t, blob);
    j["tensors"] = ts;
    nodes.push_back(j);
  }
  h["nodes"] = nodes;
  const auto &i = net.info;
  h["conversion"] = {{"tool_version", i.tool_version},     {"model_file", i.model_file},
                     {"model_crc32", i.model_crc32},       {"calibration_method", i.calibration_method},
                     {"percentile", i.percentile},
                     {"threshold_scope", i.threshold_scope},
                     {"bias_correction_timesteps", i.bias_correction_timesteps},
                     {"bias_correction_samples", i.bias_correction_samples},
                     {"bias_correction_rounds", i.bias_correction_rounds},
                     {"bias_correction_precision", i.bias_correction_precision},
                     {"threshold_search_timesteps", i.threshold_search_timesteps},         {"calibration_samples", i.calibration_samples},
                     {"calibration_data", i.calibration_data}, {"mean", i.mean}, {"std", i.std}};
  h["model"] = {{"offset", blob.size()}, {"size", net.model_bytes.size()}};
  blob += net.model_bytes;
  const std::string header = h.dump();
  std::string out(kMagic, 8);
  put_u32(out, version);
  put_u32(out, 0);
  put_u64(out, header.size());
  out += header;
  put_u64(out, blob.size());
  out += blob;
  put_u32(out, crc32_of(out));
  return out;
}

NetworkFile parse_network(const std::string &bytes, const std::string &what) {
  auto corrupt = [&](const std::string &why) {
    return UserError(fmt::format("'{}' is not a valid neurocuda network file ({}); re-create it with `neurocuda convert`",
                                 what, why));
  };
  if (bytes.size() < 8 + 16 + 8 + 4 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw corrupt("missing NCSNN magic bytes");
  const auto version = static_cast<uint32_t>(get_le(bytes, 8, 4));
  if (version > kSnnFormatVersion)
    throw UserError(fmt::format("'{}' has format version {}, newer than this neurocuda reads ({}); upgrade neurocuda",
                                what, version, kSnnFormatVersion));
  const uint32_t stored = static_cast<uint32_t>(get_le(bytes, bytes.size() - 4, 4));
  if (crc32_of(bytes.substr(0, bytes.size() - 4)) != stored) throw corrupt("checksum mismatch: truncated or modified");
  const uint64_t hlen = get_le(bytes, 16, 8);
  if (24 + hlen + 8 + 4 > bytes.size()) throw corrupt("header length out of range");
  const uint64_t blen = get_le(bytes, 24 + hlen, 8);
  if (24 + hlen + 8 + blen + 4 != bytes.size()) throw corrupt("blob length out of range");
  const size_t blob_at = 24 + hlen + 8;
  NetworkFile net;
  try {
    const json h = json::parse(bytes.substr(24, hlen));
    auto tensor = [&](const json &j) {
      ir::Tensor t;
      t.shape = j.at("shape").get<ir::Shape>();
      const auto off = j.at("offset").get<uint64_t>(), count = j.at("count").get<uint64_t>();
      if (off + count * 4 > blen || static_cast<int64_t>(count) != ir::numel(t.shape)) throw corrupt("bad tensor reference");
      t.data.resize(count);
      std::memcpy(t.data.data(), bytes.data() + blob_at + off, count * 4);
      return t;
    };
    auto &g = net.graph;
    for (const auto &v : h.at("values")) g.add_value(v.at("shape").get<ir::Shape>(), v.at("name").get<std::string>());
    for (const auto &j : h.at("nodes")) {
      ir::Node n;
      n.kind = ir::op_from_name(j.at("kind").get<std::string>());
      n.name = j.at("name").get<std::string>();
      n.source = j.at("source").get<std::string>();
      n.inputs = j.at("inputs").get<std::vector<int>>();
      n.output = j.at("output").get<int>();
      n.ints = j.at("ints").get<std::map<std::string, std::vector<int64_t>>>();
      n.floats = j.at("floats").get<std::map<std::string, double>>();
      for (const auto &[k, t] : j.at("tensors").items()) n.tensors[k] = tensor(t);
      if (n.output < 0 || n.output >= static_cast<int>(g.values().size())) throw corrupt("bad node output");
      g.value(n.output).producer = static_cast<int>(g.nodes().size());
      g.nodes().push_back(std::move(n));
    }
    g.set_input(h.at("input").get<int>());
    g.set_output(h.at("output").get<int>());
    const auto &c = h.at("conversion");
    auto &i = net.info;
    i.tool_version = c.at("tool_version").get<std::string>();
    i.model_file = c.at("model_file").get<std::string>();
    i.model_crc32 = c.at("model_crc32").get<uint32_t>();
    i.calibration_method = c.at("calibration_method").get<std::string>();
    i.percentile = c.at("percentile").get<double>();
    i.threshold_scope = c.value("threshold_scope", std::string("channel"));
    i.bias_correction_timesteps = c.value("bias_correction_timesteps", 0);
    i.bias_correction_samples = c.value("bias_correction_samples", int64_t{0});
    i.threshold_search_timesteps = c.value("threshold_search_timesteps", 0);
    i.bias_correction_rounds = c.value("bias_correction_rounds", i.bias_correction_timesteps > 0 ? 1 : 0);
    i.bias_correction_precision = c.value("bias_correction_precision", std::string(i.bias_correction_timesteps > 0 ? "fp32" : ""));
    i.calibration_samples = c.at("calibration_samples").get<int64_t>();
    i.calibration_data = c.at("calibration_data").get<std::string>();
    i.mean = c.at("mean").get<std::vector<float>>();
    i.std = c.at("std").get<std::vector<float>>();
    const auto moff = h.at("model").at("offset").get<uint64_t>(), msize = h.at("model").at("size").get<uint64_t>();
    if (moff + msize > blen) throw corrupt("bad model reference");
    net.model_bytes = bytes.substr(blob_at + moff, msize);
    if (crc32_of(net.model_bytes) != i.model_crc32) throw corrupt("embedded model checksum mismatch");
  } catch (const json::exception &e) {
    throw corrupt(fmt::format("malformed header: {}", e.what()));
  }
  try {
    ir::verify(net.graph);
  } catch (const InternalError &e) {
    throw corrupt(fmt::format("inconsistent graph: {}", e.what()));
  }
  return net;
}

void write_network(const std::string &path, const NetworkFile &net) { write_file_atomic(path, serialize_network(net)); }

NetworkFile read_network(const std::string &path) { return parse_network(read_file(path, "network file"), path); }

} // namespace neurocuda::format
