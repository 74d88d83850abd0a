#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`neurocuda loihi2 trace` against an independent reference of the Loihi 2 equations:
hand-built edge cases and random cases (>= 100,000 neuron-steps). Prints its comparison count.

Usage: test_loihi2_conformance.py --tool build/tools/neurocuda/neurocuda
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

ARGS = None
COUNT = {"neuron_steps": 0, "values": 0}


def run_tool(case):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(case, f)
        path = f.name
    try:
        p = subprocess.run([ARGS.tool, "loihi2", "trace", path], capture_output=True, text=True)
    finally:
        os.remove(path)
    return p


def base_case(**kw):
    case = {"T": 4, "weights": [[1]], "sign_mode": None, "num_weight_bits": 8, "weight_exp": 0,
            "num_message_bits": 0, "du": 4095, "dv": 0, "vth": 10, "bias_mant": [0], "bias_exp": [0],
            "u0": [0], "v0": [0], "input": [[0]] * 4}
    case.update(kw)
    case["input"] = case["input"][: case["T"]] + [[0] * len(case["weights"][0])] * max(0, case["T"] - len(case["input"]))
    n_out = len(case["weights"])
    for key in ("bias_mant", "bias_exp", "u0", "v0"):
        case[key] = (case[key] * n_out)[:n_out]
    return case


class Conformance(unittest.TestCase):
    def compare(self, case, got):
        want = reference.trace(case)
        for key in ("w_eff", "a_in", "u", "v", "s"):
            self.assertEqual(got[key], want[key], f"{key} differs for case {json.dumps(case)[:300]}")
        n = len(case["weights"]) * case["T"]
        COUNT["neuron_steps"] += n
        COUNT["values"] += 4 * n + len(case["weights"]) * len(case["weights"][0])
        return got

    def check(self, case):
        p = run_tool(case)
        self.assertEqual(p.returncode, 0, p.stderr)
        return self.compare(case, json.loads(p.stdout))

    def test_u_wraps_at_2_pow_23(self):
        # u = (2^23 - 64) + 2 * 64 crosses 2^23 and wraps to negative; and the negative side.
        got = self.check(base_case(T=2, du=4095, u0=[0], input=[[1], [0]], weights=[[255]], weight_exp=7,
                                   num_weight_bits=8, vth=131071))
        got = self.check(base_case(T=3, du=0, u0=[2 ** 23 - 1], weights=[[2]], input=[[1], [1], [0]], vth=131071))
        self.check(base_case(T=3, du=0, u0=[-(2 ** 23)], weights=[[-2]], input=[[1], [1], [0]], vth=131071,
                             sign_mode="inhibitory"))

    def test_v_saturates(self):
        got = self.check(base_case(T=4, du=0, dv=0, weights=[[255]], weight_exp=7, input=[[1]] * 4,
                                   vth=131071, u0=[2 ** 23 - 2 ** 20], v0=[2 ** 23 - 10]))
        # Positive saturation is above any threshold (vth << 6 <= 2^23 - 64): the neuron spikes and resets.
        self.assertEqual(got["s"][0], [1])
        got = self.check(base_case(T=4, weights=[[-256]], sign_mode="mixed", weight_exp=7, input=[[1]] * 4,
                                   v0=[-(2 ** 23) + 10]))
        self.assertEqual(min(min(r) for r in got["v"]), -(2 ** 23 - 1))

    def test_negative_values_round_toward_zero(self):
        got = self.check(base_case(T=3, du=1000, dv=1000, u0=[-4097], v0=[-4097], vth=0))
        self.assertEqual(got["u"][0][0], -((4097 * 3095) // 4096))

    def test_du_zero_still_decays(self):
        got = self.check(base_case(T=2, du=0, u0=[4096 * 100], vth=131071))
        self.assertEqual(got["u"][0][0], 4096 * 100 - 100)

    def test_strict_threshold(self):
        # v reaches exactly vth << 6: no spike; one more makes it spike.
        got = self.check(base_case(T=3, du=4095, bias_mant=[640], bias_exp=[0], vth=10, input=[[0]] * 3))
        self.assertEqual(got["s"], [[0], [1], [0]])  # 640 (no spike), 1280 > 640 (spike, v=0), 640

    def test_weight_clipping_and_truncation_each_sign_mode(self):
        W = [[300, -300, 255, -256, 129, -129, 7, -7, 1, -1]]
        for mode in ("mixed", "excitatory", "inhibitory"):
            for bits in (1, 3, 6, 7, 8):
                self.check(base_case(T=1, weights=W, sign_mode=mode, num_weight_bits=bits, input=[[1] * 10]))
        self.check(base_case(T=1, weights=[[0, 3, 200]], sign_mode=None, num_weight_bits=5, input=[[1] * 3]))
        self.check(base_case(T=1, weights=[[0, -3, -200]], sign_mode=None, num_weight_bits=5, input=[[1] * 3]))

    def test_negative_weight_exp_floors(self):
        got = self.check(base_case(T=2, weights=[[-3]], weight_exp=-1, input=[[1], [0]], vth=131071))
        self.assertEqual(got["a_in"][1][0], -2)  # -4 (floored weight, mixed) >> 1

    def test_graded_payloads(self):
        self.check(base_case(T=3, weights=[[5, -7]], num_message_bits=8, input=[[3, 100], [255, 0], [0, 1]],
                             weight_exp=2, vth=1000, du=2000, dv=100))

    def test_random_cases(self):
        rng = random.Random(20261125)
        steps = 0
        cases = []
        while steps < 100_000:
            n_out, n_in, T = rng.randint(1, 12), rng.randint(1, 12), rng.randint(1, 60)
            graded = rng.random() < 0.3
            mode = rng.choice([None, None, "mixed", "excitatory", "inhibitory"])
            case = {
                "T": T,
                "weights": [[rng.randint(-300, 300) for _ in range(n_in)] for _ in range(n_out)],
                "sign_mode": mode,
                "num_weight_bits": rng.randint(1, 8),
                "weight_exp": rng.randint(-8, 7),
                "num_message_bits": rng.choice([8, 16]) if graded else 0,
                "du": rng.choice([0, 4095, rng.randint(0, 4095)]),
                "dv": rng.choice([0, 4095, rng.randint(0, 4095)]),
                "vth": rng.randint(0, 2 ** 17 - 1) if rng.random() < 0.5 else rng.randint(0, 2000),
                "bias_mant": [rng.randint(-4096, 4095) for _ in range(n_out)],
                "bias_exp": [rng.randint(0, 7) for _ in range(n_out)],
                "u0": [rng.randint(-(2 ** 23), 2 ** 23 - 1) for _ in range(n_out)],
                "v0": [rng.randint(-(2 ** 23), 2 ** 23 - 1) for _ in range(n_out)],
                "input": [[(rng.randint(0, 255) if graded else int(rng.random() < 0.4)) for _ in range(n_in)]
                          for _ in range(T)],
                "extra_field_is_ignored": True,
            }
            cases.append(case)
            steps += n_out * T
        p = run_tool(cases)  # one process for all cases
        self.assertEqual(p.returncode, 0, p.stderr)
        traces = json.loads(p.stdout)
        self.assertEqual(len(traces), len(cases))
        for case, got in zip(cases, traces):
            self.compare(case, got)

    def test_bad_cases_are_user_errors(self):
        for bad in (base_case(du=4096), base_case(bias_exp=[8]), base_case(vth=2 ** 17), dict(base_case(), T=0),
                    base_case(sign_mode="both"), dict(base_case(), input=[[0]] * 3), dict(base_case(), weights=[[1], [1, 2]])):
            p = run_tool(bad)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertTrue(p.stderr.startswith("error: trace case"), p.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ARGS, rest = ap.parse_known_args()
    prog = unittest.main(argv=[sys.argv[0], "-v", *rest], exit=False)
    print(f"loihi2 conformance: {COUNT['neuron_steps']} neuron-steps, {COUNT['values']} values compared with the reference")
    sys.exit(0 if prog.result.wasSuccessful() else 1)
