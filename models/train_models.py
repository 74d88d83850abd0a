#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Train and export neurocuda's reference models on Fashion-MNIST.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 models/train_models.py
Deterministic: fixed seeds, single-process data loading, deterministic algorithms.
Writes models/<name>.pt (TorchScript), models/manifest.json and a small
calibration sample models/fmnist_sample_256.npz.
"""
import argparse
import gzip
import hashlib
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(prefix):
    x = read_idx(os.path.join(DATA, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DATA, f"{prefix}-labels-idx1-ubyte.gz"))
    # 8-bit images scale to [0, 1], exactly as neurocuda's loaders do (x / 255).
    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


class VGGSmall(nn.Module):
    """conv+BN+ReLU blocks with max-pooling, dropout and a linear head (exported with torch.jit.script)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(inplace=True), nn.Dropout(0.25),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)  # one module, used twice
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:  # 1x1 projection shortcut
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        out = self.relu(out)
        return out


class ResNetSmall(nn.Module):
    """Residual CNN with in-place adds, projection shortcuts and adaptive average pooling (exported with torch.jit.trace)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class QCFS(nn.Module):
    """Quantization clip-floor-shift activation (Bu et al., ICLR 2022): lam * floor(clamp(x / lam, 0, 1) * L + 0.5) / L,
    with a trainable lam and the straight-through floor in training. neurocuda maps it to IF with threshold lam."""

    def __init__(self, levels: int = 8, lam: float = 4.0):
        super().__init__()
        self.levels = levels
        self.lam = nn.Parameter(torch.tensor(lam))

    def forward(self, x):
        x = torch.clamp(x / self.lam, 0, 1) * self.levels + 0.5
        if self.training:
            x = x + (torch.floor(x) - x).detach()
        else:
            x = torch.floor(x)
        return x / self.levels * self.lam


def small_cnn(act):
    """conv+BN+act blocks with average pooling and a linear head; `act` builds the activation."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), act(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), act(),
        nn.AvgPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), act(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), act(),
        nn.Linear(128, 10),
    )


class QcfsCNN(nn.Module):
    """The CNN with QCFS activations (L = 8), trained quantization-aware (exported with torch.jit.script)."""

    def __init__(self):
        super().__init__()
        self.net = small_cnn(lambda: QCFS(8))

    def forward(self, x):
        return self.net(x)


class Relu6AvgPoolCNN(nn.Module):
    """The CNN with ReLU6 and average pooling (exported with torch.jit.trace)."""

    def __init__(self):
        super().__init__()
        self.net = small_cnn(nn.ReLU6)

    def forward(self, x):
        return self.net(x)


def accuracy(model, x, y, batch=1000):
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def train(model, x, y, epochs, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * ((len(x) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        t0, total = time.time(), 0.0
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", default=None, help="train only these models (comma-separated)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    xtr, ytr = load_split("train")
    xte, yte = load_split("t10k")
    manifest_path = os.path.join(HERE, "manifest.json")
    manifest = {"dataset": "fashion-mnist", "test_samples": len(xte), "models": {}}
    if os.path.exists(manifest_path):
        manifest = json.load(open(manifest_path))

    specs = [("vgg_small", VGGSmall, "script"), ("resnet_small", ResNetSmall, "trace"),
             ("qcfs_cnn", QcfsCNN, "script"), ("relu6_avgpool_cnn", Relu6AvgPoolCNN, "trace")]
    for name, cls, export in specs:
        if args.only and name not in args.only.split(","):
            continue
        torch.manual_seed(0)
        model = cls()
        print(f"training {name} ({export})", flush=True)
        train(model, xtr, ytr, args.epochs, seed=1)
        if export == "script":
            ts = torch.jit.script(model)
        else:
            ts = torch.jit.trace(model, xte[:2])
        path = os.path.join(HERE, f"{name}.pt")
        ts.save(path)
        # The manifest's accuracy is what the saved TorchScript file gives in PyTorch.
        acc = accuracy(torch.jit.load(path).eval(), xte, yte)
        print(f"  {name}: test accuracy {acc:.4f}", flush=True)
        manifest["models"][name] = {
            "file": f"{name}.pt", "export": export, "input_shape": [1, 28, 28],
            "ann_test_accuracy": acc, "ann_test_correct": int(round(acc * len(xte))),
            "epochs": args.epochs, "seed": 0, "sha256": sha256(path),
        }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    sample = os.path.join(HERE, "fmnist_sample_256.npz")
    if not os.path.exists(sample):
        xs = (xte[:256, 0] * 255).round().to(torch.uint8).numpy()
        np.savez(sample, x=xs, y=yte[:256].numpy().astype(np.uint8))


if __name__ == "__main__":
    main()
