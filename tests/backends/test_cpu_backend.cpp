// SPDX-License-Identifier: MIT
// The CPU backend against an independent dense reference of the spiking contract (snn/neuron.h),
// written here in CHW layout with gather loops: the results must agree bit for bit.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_backend.h"
#include "neurocuda/backend.h"
#include "neurocuda/error.h"
#include "test_graphs.h"

using namespace neurocuda;

namespace {

struct RefState {
  std::vector<std::vector<float>> vals, mem, pool_sum, pool_max;
};

// Dense reference: one sample, T steps; returns the summed readout and spike count per IF layer.
std::vector<float> reference_run(const ir::Graph &g, const std::vector<float> &x, int T, std::vector<uint64_t> &spikes) {
  const size_t nv = g.values().size();
  RefState st;
  st.vals.resize(nv);
  st.mem.resize(nv);
  st.pool_sum.resize(nv);
  st.pool_max.resize(nv);
  std::vector<float> readout(static_cast<size_t>(ir::numel(g.value(g.output()).shape)), 0.0f);
  spikes.clear();
  for (int t = 1; t <= T; ++t) {
    size_t layer = 0;
    for (const auto &n : g.nodes()) {
      const auto &os = g.value(n.output).shape;
      auto &out = st.vals[static_cast<size_t>(n.output)];
      out.assign(static_cast<size_t>(ir::numel(os)), 0.0f);
      const auto &in = n.inputs.empty() ? x : st.vals[static_cast<size_t>(n.inputs[0])];
      const auto &is = n.inputs.empty() ? os : g.value(n.inputs[0]).shape;
      switch (n.kind) {
      case ir::OpKind::Input:
        out = x;
        break;
      case ir::OpKind::Conv2d: {
        const auto &w = n.attr_tensor("weight");
        const auto &b = n.attr_tensor("bias").data;
        const int64_t C = is[0], H = is[1], W = is[2], O = os[0], OH = os[1], OW = os[2];
        const int64_t KH = w.shape[2], KW = w.shape[3], G = n.attr_ints("groups")[0], cig = C / G, opg = O / G;
        const auto &st_ = n.attr_ints("stride"), &pd = n.attr_ints("padding"), &dl = n.attr_ints("dilation");
        for (int64_t o = 0; o < O; ++o)
          for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
              float acc = 0.0f;
              for (int64_t ky = 0; ky < KH; ++ky)
                for (int64_t kx = 0; kx < KW; ++kx)
                  for (int64_t ci = 0; ci < cig; ++ci) {
                    const int64_t y = oy * st_[0] - pd[0] + ky * dl[0], xx = ox * st_[1] - pd[1] + kx * dl[1];
                    if (y < 0 || xx < 0 || y >= H || xx >= W) continue;
                    const int64_t c = (o / opg) * cig + ci;
                    const float v = in[static_cast<size_t>((c * H + y) * W + xx)];
                    if (v != 0.0f) acc = acc + w.data[static_cast<size_t>(((o * cig + ci) * KH + ky) * KW + kx)] * v;
                  }
              out[static_cast<size_t>((o * OH + oy) * OW + ox)] = acc + b[static_cast<size_t>(o)];
            }
        break;
      }
      case ir::OpKind::Linear: {
        const auto &w = n.attr_tensor("weight");
        const auto &b = n.attr_tensor("bias").data;
        for (size_t o = 0; o < out.size(); ++o) {
          float acc = 0.0f;
          for (size_t i = 0; i < in.size(); ++i)
            if (in[i] != 0.0f) acc = acc + w.data[o * in.size() + i] * in[i];
          out[o] = acc + b[o];
        }
        break;
      }
      case ir::OpKind::MaxPool2d: {
        auto &sum = st.pool_sum[static_cast<size_t>(n.output)];
        auto &prev = st.pool_max[static_cast<size_t>(n.output)];
        if (sum.empty()) {
          sum.assign(in.size(), 0.0f);
          prev.assign(out.size(), 0.0f);
        }
        for (size_t k = 0; k < in.size(); ++k) sum[k] = sum[k] + in[k];
        const int64_t C = is[0], H = is[1], W = is[2], OH = os[1], OW = os[2];
        const auto &k = n.attr_ints("kernel"), &s = n.attr_ints("stride");
        for (int64_t c = 0; c < C; ++c)
          for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
              float m = -INFINITY;
              for (int64_t ky = 0; ky < k[0]; ++ky)
                for (int64_t kx = 0; kx < k[1]; ++kx)
                  m = std::max(m, sum[static_cast<size_t>((c * H + oy * s[0] + ky) * W + ox * s[1] + kx)]);
              const size_t o = static_cast<size_t>((c * OH + oy) * OW + ox);
              out[o] = m - prev[o];
              prev[o] = m;
            }
        break;
      }
      case ir::OpKind::Flatten:
        out = in;
        break;
      case ir::OpKind::Add: {
        const auto &a = st.vals[static_cast<size_t>(n.inputs[0])], &b = st.vals[static_cast<size_t>(n.inputs[1])];
        const auto &c0 = n.attr_tensor("coeff0").data, &c1 = n.attr_tensor("coeff1").data;
        const size_t plane = out.size() / c0.size();
        for (size_t k = 0; k < out.size(); ++k) out[k] = c0[k / plane] * a[k] + c1[k / plane] * b[k];
        break;
      }
      case ir::OpKind::IF: {
        auto &v = st.mem[static_cast<size_t>(n.output)];
        if (v.empty()) v.assign(out.size(), 0.5f);
        uint64_t count = 0;
        for (size_t k = 0; k < out.size(); ++k) {
          v[k] = v[k] + in[k];
          const bool s = v[k] >= 1.0f;
          if (s) v[k] = v[k] - 1.0f;
          out[k] = s ? 1.0f : 0.0f;
          count += s;
        }
        if (spikes.size() <= layer) spikes.push_back(0);
        spikes[layer++] += count;
        break;
      }
      default:
        ADD_FAILURE() << "reference lacks " << ir::op_name(n.kind);
      }
    }
    const auto &o = st.vals[static_cast<size_t>(g.output())];
    for (size_t k = 0; k < readout.size(); ++k) readout[k] = readout[k] + o[k];
  }
  return readout;
}

} // namespace

TEST(CpuBackend, MatchesDenseReferenceBitForBit) {
  const auto g = test::spiking_net();
  const auto &backend = get_backend("cpu");
  auto program = backend.compile(g, {});
  ASSERT_EQ(program->layers().size(), 3u);
  const int64_t n = 6;
  const auto x = test::random_values(static_cast<size_t>(n * 128), 5, 0.0f, 1.0f);
  RunOptions opts;
  opts.checkpoints = {3, 10, 25};
  opts.threads = 2;
  const auto r = program->run(Batch{x.data(), n, {2, 8, 8}}, opts);
  uint64_t total_spikes = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> xi(x.begin() + i * 128, x.begin() + (i + 1) * 128);
    std::vector<uint64_t> spikes;
    const auto readout = reference_run(g, xi, 25, spikes);
    for (size_t k = 0; k < 4; ++k)
      EXPECT_EQ(r.readout[static_cast<size_t>(i) * 4 + k], readout[k]) << "sample " << i << " class " << k;
    for (auto s : spikes) total_spikes += s;
    std::vector<uint64_t> s3;
    const auto early = reference_run(g, xi, 3, s3);
    EXPECT_EQ(r.predictions[static_cast<size_t>(i)], std::max_element(early.begin(), early.end()) - early.begin());
  }
  uint64_t got = 0;
  for (size_t l = 0; l < 3; ++l) got += r.spikes[2 * 3 + l];
  EXPECT_EQ(got, total_spikes);
  EXPECT_GT(total_spikes, 0u);
  EXPECT_GT(r.synops[2], r.synops[0]);
}

TEST(CpuBackend, ResultsDoNotDependOnThreadCount) {
  const auto g = test::spiking_net();
  auto program = get_backend("cpu").compile(g, {});
  const auto x = test::random_values(9 * 128, 8, 0.0f, 1.0f);
  RunOptions one{{16}, 1}, two{{16}, 2};
  const auto a = program->run(Batch{x.data(), 9, {2, 8, 8}}, one);
  const auto b = program->run(Batch{x.data(), 9, {2, 8, 8}}, two);
  EXPECT_EQ(a.readout, b.readout);
  EXPECT_EQ(a.spikes, b.spikes);
  EXPECT_EQ(a.synops, b.synops);
}

TEST(CpuBackend, WrongInputShapeIsUserError) {
  auto program = get_backend("cpu").compile(test::spiking_net(), {});
  std::vector<float> x(100);
  EXPECT_THROW(program->run(Batch{x.data(), 1, {1, 10, 10}}, RunOptions{{4}, 1}), UserError);
}

TEST(BackendRegistry, UnknownBackendListsRegisteredNames) {
  try {
    get_backend("tpu");
    FAIL();
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find("cpu"), std::string::npos) << e.what();
  }
}

// A registered backend this machine cannot run (cuda without a device or driver) refuses to compile
// with a UserError naming the reason, before it allocates anything. Every backend registered in a
// plain build is available, so this checks something only where one is not (a CUDA build here).
TEST(BackendRegistry, UnavailableBackendRefusesToCompileWithItsReason) {
  int unavailable = 0;
  for (const auto &name : backend_names()) {
    const Backend &b = get_backend(name);
    const auto avail = b.availability();
    if (avail.available) continue;
    ++unavailable;
    try {
      b.compile(test::spiking_net(), {});
      ADD_FAILURE() << name << " compiled although unavailable";
    } catch (const UserError &e) {
      EXPECT_NE(std::string(e.what()).find(avail.reason), std::string::npos) << e.what();
    }
  }
  if (unavailable == 0) GTEST_SKIP() << "every registered backend is available here";
}
