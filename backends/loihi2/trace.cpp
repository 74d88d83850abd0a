// SPDX-License-Identifier: MIT
// Conformance trace of one Dense -> LIF population.
#include "loihi2/trace.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "loihi2/equations.h"
#include "loihi2/limits.h"
#include "neurocuda/error.h"

namespace neurocuda::backends::loihi2 {

using nlohmann::json;

namespace {

int64_t int_field(const json &j, const char *key, int64_t lo, int64_t hi) {
  if (!j.contains(key) || !j.at(key).is_number_integer())
    throw UserError(fmt::format("trace case: field '{}' must be an integer", key));
  const int64_t v = j.at(key).get<int64_t>();
  if (v < lo || v > hi) throw UserError(fmt::format("trace case: '{}' = {} is outside {}..{}", key, v, lo, hi));
  return v;
}

std::vector<int64_t> int_list(const json &j, const char *key, size_t n, int64_t lo, int64_t hi) {
  if (!j.contains(key) || !j.at(key).is_array() || j.at(key).size() != n)
    throw UserError(fmt::format("trace case: field '{}' must be a list of {} integers", key, n));
  std::vector<int64_t> out;
  for (const auto &x : j.at(key)) {
    if (!x.is_number_integer()) throw UserError(fmt::format("trace case: '{}' holds a non-integer", key));
    const int64_t v = x.get<int64_t>();
    if (v < lo || v > hi) throw UserError(fmt::format("trace case: a value of '{}' ({}) is outside {}..{}", key, v, lo, hi));
    out.push_back(v);
  }
  return out;
}

std::vector<std::vector<int64_t>> int_matrix(const json &j, const char *key, size_t rows, int64_t cols) {
  if (!j.contains(key) || !j.at(key).is_array() || (rows && j.at(key).size() != rows))
    throw UserError(fmt::format("trace case: field '{}' must be a list of {} rows", key, rows));
  std::vector<std::vector<int64_t>> out;
  for (const auto &row : j.at(key)) {
    if (!row.is_array() || (cols >= 0 && static_cast<int64_t>(row.size()) != cols))
      throw UserError(fmt::format("trace case: every row of '{}' must hold {} integers", key, cols));
    std::vector<int64_t> r;
    for (const auto &x : row) {
      if (!x.is_number_integer()) throw UserError(fmt::format("trace case: '{}' holds a non-integer", key));
      r.push_back(x.get<int64_t>());
    }
    out.push_back(std::move(r));
  }
  return out;
}


json run_one(const json &c);

} // namespace

std::string run_trace_case(const std::string &case_json) {
  json c;
  try {
    c = json::parse(case_json);
  } catch (const json::exception &e) {
    throw UserError(fmt::format("trace case is not valid JSON: {}", e.what()));
  }
  // A list of cases gives a list of traces (one process for many cases).
  if (c.is_array()) {
    json all = json::array();
    for (const auto &one : c) all.push_back(run_one(one));
    return all.dump();
  }
  return run_one(c).dump();
}

namespace {

json run_one(const json &c) {
  if (!c.is_object()) throw UserError("trace case must be a JSON object");
  const int64_t T = int_field(c, "T", 1, 1000000);
  const auto weights = int_matrix(c, "weights", 0, -1);
  if (weights.empty() || weights[0].empty()) throw UserError("trace case: 'weights' must be a non-empty [n_out][n_in] matrix");
  const size_t n_out = weights.size(), n_in = weights[0].size();
  for (const auto &row : weights)
    if (row.size() != n_in) throw UserError("trace case: every row of 'weights' must have the same length");
  SignMode mode;
  if (!c.contains("sign_mode") || c.at("sign_mode").is_null()) mode = infer_sign_mode(weights);
  else {
    const auto s = c.at("sign_mode").get<std::string>();
    if (s == "mixed") mode = SignMode::Mixed;
    else if (s == "excitatory") mode = SignMode::Excitatory;
    else if (s == "inhibitory") mode = SignMode::Inhibitory;
    else throw UserError(fmt::format("trace case: sign_mode '{}' is not null, mixed, excitatory or inhibitory", s));
  }
  const int bits = static_cast<int>(int_field(c, "num_weight_bits", 1, Limits::kWeightBits));
  const int wexp = static_cast<int>(int_field(c, "weight_exp", Limits::kWeightExpMin, Limits::kWeightExpMax));
  const int64_t message_bits = int_field(c, "num_message_bits", 0, 24);
  LifParams p;
  p.du = int_field(c, "du", 0, Limits::kDecayUnity - 1);
  p.dv = int_field(c, "dv", 0, Limits::kDecayUnity - 1);
  p.vth = int_field(c, "vth", 0, (int64_t{1} << Limits::kThresholdBits) - 1);
  const int64_t bm_lim = int64_t{1} << (Limits::kBiasMantBits - 1);
  const auto bias_mant = int_list(c, "bias_mant", n_out, -bm_lim, bm_lim - 1);
  const auto bias_exp = int_list(c, "bias_exp", n_out, 0, Limits::kBiasExpMax);
  const int64_t state = (int64_t{1} << (Limits::kStateBits - 1));
  auto u = int_list(c, "u0", n_out, -state, state - 1);
  auto v = int_list(c, "v0", n_out, -state, state - 1);
  const auto input = int_matrix(c, "input", static_cast<size_t>(T), static_cast<int64_t>(n_in));

  std::vector<std::vector<int32_t>> w_eff(n_out, std::vector<int32_t>(n_in));
  for (size_t o = 0; o < n_out; ++o)
    for (size_t i = 0; i < n_in; ++i) w_eff[o][i] = effective_weight(weights[o][i], mode, bits);

  json out;
  out["w_eff"] = w_eff;
  json a_in = json::array(), us = json::array(), vs = json::array(), ss = json::array();
  std::vector<int32_t> buffer(n_out, 0);  // what the synapses computed last step (one step of delay)
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> at(n_out), st(n_out);
    for (size_t o = 0; o < n_out; ++o) {
      at[o] = buffer[o];
      LifParams q = p;
      q.bias_mant = bias_mant[o];
      q.bias_exp = bias_exp[o];
      st[o] = lif_step(u[o], v[o], at[o], q) ? 1 : 0;
    }
    const auto &x = input[static_cast<size_t>(t)];
    for (size_t o = 0; o < n_out; ++o) {
      int64_t sum = 0;
      for (size_t i = 0; i < n_in; ++i) {
        if (message_bits == 0) sum += x[i] != 0 ? w_eff[o][i] : 0;  // binary spikes
        else sum += static_cast<int64_t>(w_eff[o][i]) * x[i];      // graded payloads
      }
      buffer[o] = scale_accumulator(sum, wexp);
    }
    a_in.push_back(at);
    us.push_back(u);
    vs.push_back(v);
    ss.push_back(st);
  }
  out["a_in"] = a_in;
  out["u"] = us;
  out["v"] = vs;
  out["s"] = ss;
  return out;
}

} // namespace
} // namespace neurocuda::backends::loihi2
