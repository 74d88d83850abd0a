#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The neurocuda CLI on bad input: exit code, message, and no output file left behind.

Usage: test_cli_errors.py --tool build/tools/neurocuda/neurocuda --fixtures build/tests/fixtures --models models
Needs only the standard library (the fixtures are made by make_test_models.py beforehand).
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import json
import re
import zlib

ARGS = None


def run(*args):
    p = subprocess.run([ARGS.tool, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def write_idx(folder, prefix, n, h, w):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w)))
    with open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(i % 5 for i in range(n)))


class CliErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="neurocuda_errors_")
        self.data12 = os.path.join(self.tmp, "data12")
        write_idx(self.data12, "train", 32, 12, 12)
        write_idx(self.data12, "t10k", 16, 12, 12)
        self.out = os.path.join(self.tmp, "out.snn")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def assertUserError(self, result, *fragments, code=1):
        rc, out, err = result
        self.assertEqual(rc, code, f"exit code {rc}; stderr: {err}")
        for frag in fragments:
            self.assertIn(frag, err)
        self.assertTrue(err.startswith("error:") or code == 2, err)

    def assertNoOutput(self):
        self.assertFalse(os.path.exists(self.out), "output file left behind")
        leftovers = [f for f in os.listdir(self.tmp) if f.startswith(".out.snn")]
        self.assertEqual(leftovers, [], "temporary file left behind")

    def convert_fixture(self, name="conv_forms_script.pt", neuron="graded"):
        rc, out, err = run("convert", os.path.join(ARGS.fixtures, name), "--calib", self.data12, "--neuron", neuron,
                           "-o", self.out)
        self.assertEqual(rc, 0, err)

    def test_truncated_model(self):
        bad = os.path.join(self.tmp, "truncated.pt")
        with open(os.path.join(ARGS.models, "vgg_small.pt"), "rb") as f:
            data = f.read()
        with open(bad, "wb") as f:
            f.write(data[: len(data) // 3])
        self.assertUserError(run("convert", bad, "--calib", self.data12, "-o", self.out), "cannot load", "TorchScript")
        self.assertNoOutput()

    def test_not_torchscript(self):
        self.assertUserError(run("convert", os.path.join(ARGS.fixtures, "not_torchscript.pt"), "--calib", self.data12,
                                 "-o", self.out), "cannot load", "torch.jit.script")
        self.assertNoOutput()

    def test_missing_model(self):
        self.assertUserError(run("convert", os.path.join(self.tmp, "nope.pt"), "--calib", self.data12, "-o", self.out),
                             "does not exist")
        self.assertNoOutput()

    def test_unsupported_operator_names_op_and_line(self):
        self.assertUserError(run("convert", os.path.join(ARGS.fixtures, "unsupported_gelu_script.pt"), "--calib",
                                 self.data12, "-o", self.out), "aten::gelu", "make_test_models.py:")
        self.assertNoOutput()

    def test_wrong_data_shape_names_both_shapes(self):
        cifar = os.path.join(self.tmp, "cifar.bin")
        with open(cifar, "wb") as f:
            f.write(bytes(3073 * 4))
        self.assertUserError(run("convert", os.path.join(ARGS.models, "vgg_small.pt"), "--calib", cifar, "-o", self.out),
                             "[3, 32, 32]", "[16, 1, 3, 3]")
        self.assertNoOutput()

    def test_empty_and_missing_data_folder(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        model = os.path.join(ARGS.fixtures, "conv_forms_script.pt")
        self.assertUserError(run("convert", model, "--calib", empty, "-o", self.out), "empty")
        self.assertUserError(run("convert", model, "--calib", os.path.join(self.tmp, "missing"), "-o", self.out),
                             "does not exist")
        self.assertNoOutput()

    def test_unwritable_output(self):
        model = os.path.join(ARGS.fixtures, "conv_forms_script.pt")
        target = os.path.join(self.tmp, "no_such_dir", "x.snn")
        self.assertUserError(run("convert", model, "--calib", self.data12, "-o", target), "no_such_dir")
        self.assertFalse(os.path.exists(os.path.dirname(target)))
        a_file = os.path.join(self.tmp, "plainfile")
        open(a_file, "w").close()
        self.assertUserError(run("convert", model, "--calib", self.data12, "-o", os.path.join(a_file, "x.snn")),
                             "cannot write")

    def test_corrupt_network_file(self):
        self.convert_fixture()
        with open(self.out, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x40
        bad = os.path.join(self.tmp, "corrupt.snn")
        with open(bad, "wb") as f:
            f.write(data)
        report = os.path.join(self.tmp, "report.json")
        self.assertUserError(run("eval", bad, "--data", self.data12, "--report", report),
                             "not a valid neurocuda network file")
        self.assertFalse(os.path.exists(report))
        with open(bad, "wb") as f:
            f.write(data[:100])
        self.assertUserError(run("eval", bad, "--data", self.data12), "not a valid neurocuda network file")

    def test_eval_data_shape_mismatch(self):
        self.convert_fixture()
        data28 = os.path.join(self.tmp, "data28")
        write_idx(data28, "t10k", 4, 28, 28)
        self.assertUserError(run("eval", self.out, "--data", data28), "[1, 28, 28]", "[1, 12, 12]")

    def test_bad_flag_values(self):
        self.convert_fixture(neuron="if")  # the loihi2 flags below need IF neurons
        os.rename(self.out, self.out + ".keep")
        model = os.path.join(ARGS.fixtures, "conv_forms_script.pt")
        self.assertUserError(run("convert", model, "--calib", self.data12, "-o", self.out, "--percentile", "abc"),
                             "--percentile")
        self.assertUserError(run("convert", model, "--calib", self.data12, "-o", self.out, "--percentile", "0"),
                             "--percentile")
        self.assertNoOutput()
        self.assertUserError(run("eval", self.out + ".keep", "--data", self.data12, "-T", "8,zero"), "--timesteps")
        self.assertUserError(run("eval", self.out + ".keep", "--data", self.data12, "--backend", "tpu"),
                             "unknown backend", "cpu")
        self.assertUserError(run("eval", self.out + ".keep", "--data", self.data12, "--backend", "loihi2",
                                 "--reset-mode", "halfway"), "--reset-mode", "subtract")
        self.assertUserError(run("eval", self.out + ".keep", "--data", self.data12, "--backend", "loihi2",
                                 "--precision", "int8"), "loihi2", "--precision")
        self.assertUserError(run("convert", model, "--no-such-flag"), code=2)
        self.assertUserError(run("frobnicate"), code=2)

    def test_readout_delay_is_checked_reported_and_leaves_spikes_alone(self):
        self.convert_fixture()
        report = os.path.join(self.tmp, "r.json")
        for cmd in (["eval", self.out, "--data", self.data12, "-T", "4,16", "--report", report],
                    ["verify", self.out, "--data", self.data12, "--backends", "cpu,cpu", "-T", "4", "--report", report],
                    ["sweep", os.path.join(ARGS.fixtures, "conv_forms_script.pt"), "--calib", self.data12, "--data",
                     self.data12, "-T", "4,16", "-o", os.path.join(self.tmp, "sw")]):
            self.assertUserError(run(*cmd, "--readout-delay", "4"), "--readout-delay 4", "T = 4")
            self.assertUserError(run(*cmd, "--readout-delay", "-1"), "--readout-delay")
            self.assertFalse(os.path.exists(report), "report written for a rejected run")
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "sw", "sweep.json")))
        got = {}
        for delay in ("0", "3"):
            rc, out, err = run("eval", self.out, "--data", self.data12, "-T", "4,16", "--skip-ann", "--readout-delay",
                               delay, "--report", report)
            self.assertEqual(rc, 0, err)
            with open(report) as f:
                rep = json.load(f)
            self.assertEqual(rep["readout_delay"], int(delay))
            got[delay] = rep
        self.assertIn("--readout-delay 3", out)
        # Spikes and SynOps do not depend on how the output is read.
        self.assertEqual([r["synops"] for r in got["0"]["results"]], [r["synops"] for r in got["3"]["results"]])
        rc, out, err = run("verify", self.out, "--data", self.data12, "--backends", "cpu,cpu-reference", "-T", "8",
                           "--readout-delay", "5")
        self.assertEqual(rc, 0, err)
        self.assertIn("IDENTICAL", out)

    def test_verify_identical_and_perturbed(self):
        self.convert_fixture()
        rc, out, err = run("verify", self.out, "--data", self.data12, "--backends", "cpu,cpu", "-T", "8")
        self.assertEqual(rc, 0, err)
        self.assertIn("IDENTICAL", out)
        self.assertIn("0 mismatches", out)
        # A copy with one bias of the first convolution nudged: verify must report the mismatch and fail.
        with open(self.out, "rb") as f:
            data = bytearray(f.read())
        hlen = struct.unpack_from("<Q", data, 16)[0]
        header = json.loads(data[24:24 + hlen])
        blob = 24 + hlen + 8
        conv = next(n for n in header["nodes"] if n["kind"] == "conv2d")
        at = blob + conv["tensors"]["bias"]["offset"]
        value = struct.unpack_from("<f", data, at)[0]
        struct.pack_into("<f", data, at, value + 0.05)
        struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
        perturbed = os.path.join(self.tmp, "perturbed.snn")
        with open(perturbed, "wb") as f:
            f.write(data)
        report = os.path.join(self.tmp, "verify.json")
        rc, out, err = run("verify", self.out, "--data", self.data12, "--backends", "cpu", "--against", perturbed,
                           "-T", "8", "--report", report)
        self.assertEqual(rc, 4, out + err)
        self.assertIn("MISMATCH", out)
        self.assertIn("first: sample", out)
        with open(report) as f:
            rep = json.load(f)
        self.assertFalse(rep["identical"])
        self.assertGreater(rep["comparisons"][0]["mismatches"], 0)
        self.assertIn("layer", rep["comparisons"][0]["first_mismatch"])

    def test_verify_needs_two_and_names_unavailable_backends(self):
        self.convert_fixture()
        self.assertUserError(run("verify", self.out, "--data", self.data12, "--backends", "cpu"), "two")
        rc, out, err = run("verify", self.out, "--data", self.data12, "--backends", "cpu,cuda", "-T", "4")
        if rc != 0:  # no CUDA backend built, or no GPU here
            self.assertEqual(rc, 1, err)
            self.assertIn("cuda", err)

    def test_sweep_writes_csv_json_svg_and_rejects_bad_lists(self):
        out = os.path.join(self.tmp, "sweep")
        model = os.path.join(ARGS.fixtures, "conv_forms_script.pt")
        rc, text, err = run("sweep", model, "--calib", self.data12, "--data", self.data12, "-T", "2,4",
                            "--percentiles", "99,max", "--bias-corrections", "0,4", "--correction-rounds", "2",
                            "--neurons", "if,graded", "-o", out)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(out, "sweep.csv")) as f:
            rows = f.read().splitlines()
        self.assertEqual(rows[0].split(",")[:4], ["neuron", "method", "timesteps", "ann_accuracy"])
        self.assertEqual(len(rows), 1 + 2 * 4 * 2)
        with open(os.path.join(out, "sweep.json")) as f:
            rep = json.load(f)
        self.assertEqual([m["method"] for m in rep["methods"]], ["p99", "p99+bc4", "max", "max+bc4"] * 2)
        self.assertEqual([m["neuron"] for m in rep["methods"]], ["if"] * 4 + ["graded"] * 4)
        self.assertEqual([m["bias_correction"] for m in rep["methods"]], [0, 4, 0, 4] * 2)
        self.assertIn("max+bc4", text)
        with open(os.path.join(out, "sweep.svg")) as f:
            self.assertTrue(f.read().startswith("<svg"))
        for flag, value in (("--percentiles", "99,abc"), ("--bias-corrections", "4,x"),
                            ("--threshold-searches", "8,-2"), ("--neurons", "if,lif")):
            bad = os.path.join(self.tmp, "bad_sweep")
            self.assertUserError(run("sweep", model, "--calib", self.data12, "--data", self.data12, flag, value,
                                     "-o", bad), flag.rstrip("s"))
            self.assertFalse(os.path.exists(bad))

    def test_bias_correction_rounds_shrink_the_gap_and_are_recorded(self):
        model = os.path.join(ARGS.models, "qcfs_cnn.pt")
        calib = os.path.join(ARGS.models, "fmnist_sample_256.npz")
        self.assertUserError(run("convert", model, "--calib", calib, "--bias-correction", "4",
                                 "--correction-rounds", "0", "-o", self.out), "--correction-rounds")
        self.assertFalse(os.path.exists(self.out))
        rc, text, err = run("-v", "convert", model, "--calib", calib, "--bias-correction", "4",
                            "--correction-rounds", "3", "--correction-samples", "128", "-o", self.out)
        self.assertEqual(rc, 0, err)
        self.assertIn("3 round(s)", text)
        # Per population: three steps, a measuring run, and the kept biases' mean |gap| is at most the
        # uncorrected one's (first run) and at most the last run's.
        runs, kept = {}, {}
        for m in re.finditer(r"bias correction '([^']+)' run (\d): .* mean \|gap\| ([0-9.]+)", err):
            runs.setdefault(m.group(1), {})[int(m.group(2))] = float(m.group(3))
        for m in re.finditer(r"bias correction '([^']+)' kept: mean \|gap\| ([0-9.]+)", err):
            kept[m.group(1)] = float(m.group(2))
        self.assertEqual(len(runs), 4, err)
        self.assertEqual(sorted(kept), sorted(runs))
        for name, g in runs.items():
            self.assertEqual(sorted(g), [1, 2, 3, 4], name)
            self.assertLessEqual(kept[name], min(g[1], g[4]), f"{name}: {g}, kept {kept[name]}")
        self.assertTrue(any(kept[name] < g[1] for name, g in runs.items()), runs)
        rc, out, err = run("inspect", self.out, "--json")
        self.assertEqual(rc, 0, err)
        cal = json.loads(out)["calibration"]
        self.assertEqual((cal["bias_correction_timesteps"], cal["bias_correction_rounds"]), (4, 3))
        self.assertEqual(cal["bias_correction_precision"], "fp32")

    def test_bias_correction_in_integer_mode_is_checked_and_recorded(self):
        model = os.path.join(ARGS.models, "qcfs_cnn.pt")
        calib = os.path.join(ARGS.models, "fmnist_sample_256.npz")
        self.assertUserError(run("convert", model, "--calib", calib, "--bias-correction", "4",
                                 "--correction-precision", "int4", "-o", self.out), "--correction-precision", "int8")
        self.assertNoOutput()
        outs = {}
        for p in ("fp32", "int8"):
            out = os.path.join(self.tmp, f"bc_{p}.snn")
            rc, text, err = run("-v", "convert", model, "--calib", calib, "--bias-correction", "4",
                                "--correction-samples", "128", "--correction-precision", p, "-o", out)
            self.assertEqual(rc, 0, err)
            self.assertIn(f"rates measured in {p}", text)
            rc, js, err = run("inspect", out, "--json")
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(js)["calibration"]["bias_correction_precision"], p)
            with open(out, "rb") as f:
                outs[p] = f.read()
        # Rates measured in int8 differ from fp32's, so the corrected biases (and the files) differ.
        self.assertNotEqual(outs["fp32"], outs["int8"])

    def test_graded_neurons_are_exact_recorded_and_refused_where_unsupported(self):
        model = os.path.join(ARGS.models, "qcfs_cnn.pt")
        calib = os.path.join(ARGS.models, "fmnist_sample_256.npz")
        self.assertUserError(run("convert", model, "--calib", calib, "--neuron", "lif", "-o", self.out), "--neuron", "graded")
        self.assertNoOutput()
        rc, text, err = run("convert", model, "--calib", calib, "--neuron", "graded", "-o", self.out)
        self.assertEqual(rc, 0, err)
        self.assertIn("populations      4 graded", text)
        rc, js, err = run("inspect", self.out, "--json")
        self.assertEqual(rc, 0, err)
        rep = json.loads(js)
        self.assertEqual([l["neuron"] for l in rep["layers"] if "neurons" in l], ["graded"] * 4)
        self.assertIn("--neuron if", rep["loihi2_resources"]["error"])
        # QCFS with L = 8 at T = 8: graded neurons reproduce the quantized ANN, so the accuracies agree exactly
        # (IF neurons lose 1.9 points on the full test set).
        rc, js, err = run("eval", self.out, "--data", calib, "-T", "8", "--json")
        self.assertEqual(rc, 0, err)
        rep = json.loads(js)
        self.assertEqual(rep["snn_accuracy"], rep["ann_accuracy"])
        # Where graded neurons cannot go: Loihi 2, NIR / netx, integer runs beyond the payload bound.
        self.assertUserError(run("eval", self.out, "--data", calib, "-T", "8", "--backend", "loihi2"),
                             "graded neuron", "--neuron if")
        for fmt in ("nir", "netx"):
            target = os.path.join(self.tmp, f"graded.{fmt}")
            self.assertUserError(run("export", self.out, "--format", fmt, "-o", target), "graded neuron", "--neuron if")
            self.assertFalse(os.path.exists(target))
        self.assertUserError(run("eval", self.out, "--data", calib, "-T", "300", "--precision", "int8", "--limit", "2"),
                             "T = 300", "at most T = 256")

    def test_threshold_search_moves_thresholds_and_is_recorded(self):
        model = os.path.join(ARGS.models, "vgg_small.pt")
        calib = os.path.join(ARGS.models, "fmnist_sample_256.npz")
        self.assertUserError(run("convert", model, "--calib", calib, "--threshold-search", "-1", "-o", self.out),
                             "--threshold-search")
        self.assertFalse(os.path.exists(self.out))
        plain = os.path.join(self.tmp, "plain.snn")
        rc, _, err = run("convert", model, "--calib", calib, "-o", plain)
        self.assertEqual(rc, 0, err)
        rc, text, err = run("convert", model, "--calib", calib, "--threshold-search", "8", "-o", self.out)
        self.assertEqual(rc, 0, err)
        self.assertIn("threshold search for T=8", text)
        reps = []
        for net in (plain, self.out):
            rc, out, err = run("inspect", net, "--json")
            self.assertEqual(rc, 0, err)
            reps.append(json.loads(out))
        self.assertEqual(reps[0]["calibration"]["threshold_search_timesteps"], 0)
        self.assertEqual(reps[1]["calibration"]["threshold_search_timesteps"], 8)
        self.assertNotEqual([l.get("calibrated_threshold_range") for l in reps[0]["layers"]],
                            [l.get("calibrated_threshold_range") for l in reps[1]["layers"]])

    def test_inspect_json_counts_and_loihi2_resources(self):
        self.convert_fixture(neuron="if")  # Loihi 2 maps IF neurons only
        rc, out, err = run("inspect", self.out, "--json")
        self.assertEqual(rc, 0, err)
        rep = json.loads(out)
        pops = [l for l in rep["layers"] if l["kind"] == "if_neuron"]
        self.assertEqual(rep["totals"]["populations"], len(pops))
        self.assertEqual(rep["totals"]["neurons"], sum(l["neurons"] for l in pops))
        res = rep["loihi2_resources"]
        # The mapping's populations: one per IF population, plus one before each max-pool and one-neuron bias
        # relays for deep populations.
        mapped = [p for p in res["populations"]
                  if not p["layer"].endswith(".prepool") and not p["layer"].startswith("bias_relay.")]
        self.assertEqual(len(mapped), len(pops))
        self.assertEqual(res["error"], "")
        self.assertTrue(all(p["synapses"] > 0 and p["vth"] >= 0 for p in res["populations"]))
        self.assertEqual(res["neuro_cores"], sum(-(-p["neurons"] // 4096) for p in res["populations"]))
        self.assertEqual(res["chips"], 1)
        self.assertUserError(run("inspect", os.path.join(self.tmp, "nope.snn")), "does not exist")

    def test_help_has_examples_and_exits_zero(self):
        for cmd in ("convert", "eval", "verify", "inspect", "sweep"):
            rc, out, err = run(cmd, "--help")
            self.assertEqual(rc, 0)
            self.assertIn("Examples:", out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--models", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v", *rest])
