#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints the README's fidelity table (markdown) from the eval reports in a results folder."""
import json
import os
import sys

folder = sys.argv[1] if len(sys.argv) > 1 else "results"
rows = []
for model in ("vgg_small", "resnet_small"):
    for precision in ("fp32", "int8"):
        path = os.path.join(folder, f"{model}_{precision}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            r = json.load(f)
        ann = r["ann_accuracy"]
        cells = [f"{x['snn_accuracy'] * 100:.2f} ({(ann - x['snn_accuracy']) * 100:+.2f})" for x in r["results"]]
        ts = [x["timesteps"] for x in r["results"]]
        rows.append((model, precision, ann, cells, r["results"][-2]["spike_rate"] if len(ts) > 1 else r["spike_rate"], ts))
if rows:
    ts = rows[0][5]
    print("| model | mode | ANN | " + " | ".join(f"SNN T={t} (gap pp)" for t in ts) + " | spike rate T=32 |")
    print("|---|---|---|" + "---|" * len(ts) + "---|")
    for model, precision, ann, cells, rate, _ in rows:
        print(f"| {model} | {precision} | {ann * 100:.2f} | " + " | ".join(cells) + f" | {rate:.3f} |")
