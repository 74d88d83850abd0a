#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Throughput benchmark (not a test): images per second at T=32 for the SNN on each backend and
precision, next to the LibTorch ANN forward on the same samples, batch and threads, measured in
one run on this machine.

Usage: tests/bench/bench_throughput.py [--tool build/tools/neurocuda/neurocuda] [--samples 2000] [--T 32]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default=os.path.join(ROOT, "build/tools/neurocuda/neurocuda"))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--T", type=int, default=32)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    backends = ["cpu"]
    tmp = tempfile.mkdtemp(prefix="neurocuda_bench_")
    rows = []
    for model in ("vgg_small", "resnet_small"):
        net = os.path.join(tmp, model + ".snn")
        subprocess.run([args.tool, "convert", os.path.join(ROOT, "models", model + ".pt"), "--calib", args.data, "-o", net,
                        "--threads", str(args.threads)], check=True, capture_output=True)
        cuda = subprocess.run([args.tool, "eval", net, "--data", args.data, "--limit", "1", "-T", "1", "--backend", "cuda",
                               "--skip-ann"], capture_output=True, text=True)
        runs = [("cpu", "fp32"), ("cpu", "int8")] + ([("cuda", "fp32"), ("cuda", "int8")] if cuda.returncode == 0 else [])
        for backend, precision in runs:
            rep = os.path.join(tmp, f"{model}_{backend}_{precision}.json")
            subprocess.run([args.tool, "eval", net, "--data", args.data, "--limit", str(args.samples), "-T", str(args.T),
                            "--backend", backend, "--precision", precision, "--batch", str(args.batch),
                            "--threads", str(args.threads), "--report", rep], check=True, capture_output=True)
            with open(rep) as f:
                r = json.load(f)
            t = r["timing"]
            rows.append((model, backend, precision, t["snn_images_per_second"], t["ann_images_per_second"],
                         r["spike_rate"], r["synops_per_sample"] * t["snn_images_per_second"], t["threads"]))
    print(f"T={args.T}, {args.samples} Fashion-MNIST test images, batch {args.batch}; ANN = LibTorch forward, same samples and threads")
    print(f"{'model':<13} {'backend':<7} {'mode':<5} {'SNN img/s':>10} {'ANN img/s':>10} {'SNN/ANN time':>13} {'spike rate':>10} {'SynOps/s':>10} threads")
    for m, b, p, snn, ann, rate, sops, th in rows:
        print(f"{m:<13} {b:<7} {p:<5} {snn:>10.1f} {ann:>10.1f} {ann / snn:>12.1f}x {rate:>10.4f} {sops:>10.3g} {th}")
    if not any(b == "cuda" for _, b, *_ in rows):
        print("(no CUDA backend or GPU here: CUDA rows omitted)")


if __name__ == "__main__":
    sys.exit(main())
