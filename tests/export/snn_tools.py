# SPDX-License-Identifier: MIT
"""Shared by the export read-back tests: running the neurocuda CLI, and parsing a .snn file
(docs/snn-format.md) with no neurocuda code."""
import json
import struct
import subprocess

import numpy as np


def run_tool(tool, *args):
    """Runs `tool args...`; fails the test with its stderr unless it exits 0."""
    p = subprocess.run([tool, *args], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise AssertionError(f"{args}: exit {p.returncode}\n{p.stderr}")
    return p


def read_snn(path):
    """The .snn header (JSON) with every node's tensors as numpy arrays."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"NCSNN\r\n\x1a"
    (hlen,) = struct.unpack_from("<Q", data, 16)
    header = json.loads(data[24:24 + hlen])
    (blen,) = struct.unpack_from("<Q", data, 24 + hlen)
    blob = data[32 + hlen:32 + hlen + blen]
    for node in header["nodes"]:
        for name, t in node.get("tensors", {}).items():
            arr = np.frombuffer(blob, dtype="<f4", count=t["count"], offset=t["offset"])
            node["tensors"][name] = arr.reshape(t["shape"])
    return header
