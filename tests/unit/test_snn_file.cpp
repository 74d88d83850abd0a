// SPDX-License-Identifier: MIT
// The .snn format: round trip, determinism, corruption detection, atomic writes.
#include <gtest/gtest.h>

#include <filesystem>

#include "neurocuda/error.h"
#include "neurocuda/format/atomic_file.h"
#include "neurocuda/format/snn_file.h"
#include "neurocuda/passes/pipeline.h"
#include "test_graphs.h"

namespace fs = std::filesystem;
using namespace neurocuda;

namespace {
format::NetworkFile sample_network() {
  format::NetworkFile net;
  net.graph = test::tiny_cnn();
  passes::run_pre_calibration(net.graph, {});
  for (auto &n : net.graph.nodes())
    if (n.kind == ir::OpKind::IF) n.tensors["threshold"].data = {1.5f, 0.25f, 3.0f, 1.0f};
  passes::run_post_calibration(net.graph, {});
  net.model_bytes = std::string("PK\x03\x04 pretend torchscript archive \0 with nul", 40);
  net.info.tool_version = "test";
  net.info.model_file = "m.pt";
  net.info.model_crc32 = format::crc32_of(net.model_bytes);
  net.info.calibration_method = "percentile";
  net.info.percentile = 99.99;
  net.info.calibration_samples = 123;
  net.info.calibration_data = "somewhere";
  net.info.mean = {0.5f};
  net.info.std = {0.25f};
  return net;
}
} // namespace

TEST(SnnFile, RoundTripPreservesGraphBitForBit) {
  const auto net = sample_network();
  const std::string bytes = format::serialize_network(net);
  const auto back = format::parse_network(bytes, "mem");
  EXPECT_EQ(ir::dump(back.graph), ir::dump(net.graph));
  for (size_t i = 0; i < net.graph.nodes().size(); ++i)
    for (const auto &[k, t] : net.graph.nodes()[i].tensors) EXPECT_EQ(back.graph.nodes()[i].tensors.at(k).data, t.data) << k;
  EXPECT_EQ(back.model_bytes, net.model_bytes);
  EXPECT_EQ(back.info.mean, net.info.mean);
  EXPECT_EQ(back.info.calibration_samples, 123);
  EXPECT_EQ(format::serialize_network(back), bytes);  // deterministic
}

TEST(SnnFile, AnyFlippedByteIsDetected) {
  const std::string bytes = format::serialize_network(sample_network());
  for (size_t at : {size_t{3}, size_t{30}, bytes.size() / 2, bytes.size() - 10, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x5A);
    EXPECT_THROW(format::parse_network(bad, "bad"), UserError) << "flip at " << at;
  }
  EXPECT_THROW(format::parse_network(bytes.substr(0, bytes.size() / 2), "half"), UserError);
  EXPECT_THROW(format::parse_network("", "empty"), UserError);
}

TEST(SnnFile, NewerVersionIsRejectedWithUpgradeHint) {
  std::string bytes = format::serialize_network(sample_network());
  bytes[8] = 99;
  try {
    format::parse_network(bytes, "future.snn");
    FAIL();
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find("upgrade"), std::string::npos) << e.what();
  }
}

TEST(AtomicFile, UnwritableTargetLeavesNothing) {
  const auto dir = fs::temp_directory_path() / "neurocuda_atomic_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_THROW(format::write_file_atomic((dir / "missing" / "x.snn").string(), "data"), UserError);
  EXPECT_THROW(format::write_file_atomic(dir.string(), "data"), UserError);  // a directory
  format::write_file_atomic((dir / "ok.snn").string(), "data");
  EXPECT_EQ(format::read_file((dir / "ok.snn").string(), "file"), "data");
  size_t files = 0;
  for ([[maybe_unused]] const auto &e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);  // no temporaries left behind
  fs::remove_all(dir);
}

// Graded neurons need format version 2 (an older reader must refuse them rather than run IF neurons); a
// network without them stays version 1, as earlier releases wrote it. The flag survives a round trip.
TEST(SnnFile, GradedNeuronsAreVersion2AndRoundTrip) {
  auto net = sample_network();
  EXPECT_EQ(format::serialize_network(net)[8], 1);
  for (auto &n : net.graph.nodes())
    if (n.kind == ir::OpKind::IF) n.ints["graded"] = {1};
  const std::string bytes = format::serialize_network(net);
  EXPECT_EQ(bytes[8], 2);
  const auto back = format::parse_network(bytes, "graded.snn");
  int graded = 0;
  for (const auto &n : back.graph.nodes()) graded += n.kind == ir::OpKind::IF && ir::if_graded(n);
  EXPECT_GT(graded, 0);
  EXPECT_EQ(format::format_version(back.graph), 2u);
}
