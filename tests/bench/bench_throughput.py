#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Throughput benchmark (not a test): images per second at T=32 for the SNN on each backend and
precision, next to the LibTorch ANN forward on the same samples, batch and threads, with the peak
memory of each run; and calibration time against one ANN pass over the calibration set. All
measured in one run on this machine.

Both neuron models (convert --neuron graded, the default, and if) run on the fast path; cpu-reference
and cuda rows are for the first of --neurons.

Usage: tests/bench/bench_throughput.py [--tool build/tools/neurocuda/neurocuda] [--samples 2000] [--T 32]
                                       [--neurons graded,if] [--calib-reps 3]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_measured(cmd):
    """Runs cmd; returns (stdout, peak resident memory of that process in MB, from wait4's rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read()}")
        return out.read(), usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default=os.path.join(ROOT, "build/tools/neurocuda/neurocuda"))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--T", type=int, default=32)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--neurons", default="graded,if")
    ap.add_argument("--calib-reps", type=int, default=3, help="convert / ANN pass pairs timed; the fastest of each is kept")
    args = ap.parse_args()
    backends = ["cpu"]
    tmp = tempfile.mkdtemp(prefix="neurocuda_bench_")
    rows, calib = [], []
    for model in ("vgg_small", "resnet_small"):
        neurons = args.neurons.split(",")
        nets = {n: os.path.join(tmp, f"{model}_{n}.snn") for n in neurons}
        for n in neurons[1:]:
            run_measured([args.tool, "convert", os.path.join(ROOT, "models", model + ".pt"), "--calib", args.data,
                          "--neuron", n, "-o", nets[n], "--threads", str(args.threads)])
        net = nets[neurons[0]]
        # Calibration against one ANN pass over the same calibration samples (training split, first N),
        # same threads: alternated --calib-reps times, the fastest of each (this machine's speed swings
        # within a run; single timings moved the ratio by up to 0.2).
        cal_times, ann_times = [], []
        for _ in range(args.calib_reps):
            out, _ = run_measured([args.tool, "convert", os.path.join(ROOT, "models", model + ".pt"), "--calib",
                                   args.data, "--neuron", neurons[0], "-o", net, "--threads", str(args.threads)])
            m = re.search(r"calibration .* over (\d+) samples \(([0-9.]+)s\)", out)
            cal_times.append(float(m.group(2)))
            rep = os.path.join(tmp, f"{model}_annpass.json")
            run_measured([args.tool, "eval", net, "--data", args.data, "--split", "train", "--limit", m.group(1), "-T",
                          "1", "--threads", str(args.threads), "--report", rep])
            with open(rep) as f:
                ann_times.append(json.load(f)["timing"]["ann_seconds"])
        calib.append((model, int(m.group(1)), min(cal_times), min(ann_times), cal_times, ann_times))
        cuda = subprocess.run([args.tool, "eval", net, "--data", args.data, "--limit", "1", "-T", "1", "--backend", "cuda",
                               "--skip-ann"], capture_output=True, text=True)
        # cpu = the fast path; cpu-reference = the plain scatter it is checked against bit for bit.
        runs = [(n, "cpu", p) for n in neurons for p in ("fp32", "int8")]
        runs += [(neurons[0], "cpu-reference", "fp32"), (neurons[0], "cpu-reference", "int8")]
        runs += [(neurons[0], "cuda", "fp32"), (neurons[0], "cuda", "int8")] if cuda.returncode == 0 else []
        for neuron, backend, precision in runs:
            rep = os.path.join(tmp, f"{model}_{neuron}_{backend}_{precision}.json")
            _, peak = run_measured([args.tool, "eval", nets[neuron], "--data", args.data, "--limit", str(args.samples), "-T",
                                    str(args.T), "--backend", backend, "--precision", precision, "--batch",
                                    str(args.batch), "--threads", str(args.threads), "--report", rep])
            with open(rep) as f:
                r = json.load(f)
            t = r["timing"]
            rows.append((model, neuron, backend, precision, t["snn_images_per_second"], t["ann_images_per_second"],
                         r["spike_rate"], r["synops_per_sample"] * t["snn_images_per_second"], t["threads"], peak))
    # Every row of a model times the same ANN (same network, samples, batch, threads) next to its SNN;
    # the machine's drift moves that number between rows, so each ratio is also given against the
    # median of the model's ANN timings in this run.
    ann_median = {model: statistics.median(r[5] for r in rows if r[0] == model) for model in {r[0] for r in rows}}
    print(f"T={args.T}, {args.samples} Fashion-MNIST test images, batch {args.batch}; ANN = LibTorch forward, same samples and threads")
    print(f"{'model':<13} {'neuron':<7} {'backend':<13} {'mode':<5} {'SNN img/s':>10} {'ANN img/s':>10} {'SNN/ANN time':>13} {'vs median':>10} {'spike rate':>10} {'SynOps/s':>10} threads {'peak MB':>8}")
    for m, n, b, p, snn, ann, rate, sops, th, peak in rows:
        print(f"{m:<13} {n:<7} {b:<13} {p:<5} {snn:>10.1f} {ann:>10.1f} {ann / snn:>12.1f}x {ann_median[m] / snn:>9.1f}x {rate:>10.4f} {sops:>10.3g} {th:>7} {peak:>8.0f}")
    print("SNN/ANN time: against the ANN timed in the same process; vs median: against the median of the "
          "model's ANN timings in this run (" + ", ".join(f"{m} {ann_median[m]:.1f} img/s" for m in sorted(ann_median)) + ")")
    if not any(b == "cuda" for _, _, b, *_ in rows):
        print("(no CUDA backend or GPU here: CUDA rows omitted)")
    print()
    print(f"calibration (convert) against one LibTorch ANN pass over the same calibration samples, "
          f"fastest of {args.calib_reps} alternated runs each")
    print(f"{'model':<13} {'samples':>8} {'calibration s':>14} {'ANN pass s':>11} {'ratio':>7}   all runs (calibration / ANN s)")
    for m, n, cal, ann, cals, anns in calib:
        runs = ", ".join(f"{c:.2f}/{a:.2f}" for c, a in zip(cals, anns))
        print(f"{m:<13} {n:>8} {cal:>14.2f} {ann:>11.2f} {cal / ann:>6.2f}x   {runs}")


if __name__ == "__main__":
    sys.exit(main())
