# SPDX-License-Identifier: MIT
"""Lava-dl netx export read back with h5py (Lava-dl's own netx loader does not install here: lava-nc needs an older
Python, and its loader raises NotImplementedError on 'pool' layers anyway) and checked against the converted
network, parsed from the .snn file with no neurocuda code: the layer chain and its types, shapes and conv
parameters; every weight, bias, threshold mantissa and v(0) recomputed from the float weights with the documented
fixed-point rule (docs/export.md); the pool and readout layers; and the errors for graphs that are not chains."""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from snn_tools import read_snn, run_tool  # the script's folder is on sys.path

ARGS = None


def run(*args):
    return run_tool(ARGS.tool, *args)


def convert(tmp, name):
    net = os.path.join(tmp, f"{name}.snn")
    run("convert", os.path.join(ARGS.models, f"{name}.pt"), "--calib", ARGS.data, "--calib-samples", "500", "--neuron", "if",
        "-o", net)
    return net


def fixed(w, b):
    """The documented rule: V = floor(254 / max|w|), W = 2 round(w V / 2), B = round(b V) (round half away)."""
    v = int(np.floor(254.0 / np.abs(w.astype(np.float64)).max()))
    half_away = lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5)
    return v, (2 * half_away(w.astype(np.float64) * v / 2)).astype(np.int64), half_away(b.astype(np.float64) * v).astype(np.int64)


def text(ds):
    v = ds[()]
    return v.decode() if isinstance(v, bytes) else str(v)


class NetxExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        import h5py  # noqa: F401

    def test_vgg_small_layers_and_values(self):
        import h5py
        net = convert(self.tmp.name, "vgg_small")
        out = os.path.join(self.tmp.name, "vgg_small.net")
        p = run("export", net, "--format", "netx", "-o", out)
        self.assertIn("(netx): 9 layers", p.stdout)
        self.assertIn("resets by subtraction", p.stderr)  # the semantics netx cannot hold are announced
        self.assertIn("OR-pooling", p.stderr)
        snn = read_snn(net)
        nodes = snn["nodes"]
        values = snn["values"]
        with h5py.File(out, "r") as f:
            layers = [f["layer"][str(i)] for i in range(len(f["layer"]))]
            self.assertEqual([text(l["type"]) for l in layers],
                             ["input", "conv", "conv", "pool", "conv", "pool", "flatten", "dense", "dense"])
            np.testing.assert_array_equal(layers[0]["shape"][()], values[snn["input"]]["shape"])
            syn = [n for n in nodes if n["kind"] in ("conv2d", "linear")]
            ifs = [n for n in nodes if n["kind"] == "if_neuron"]
            pools = [n for n in nodes if n["kind"] == "max_pool2d"]
            synapse_layers = [l for l in layers if text(l["type"]) in ("conv", "dense")]
            self.assertEqual(len(synapse_layers), len(syn))
            for k, (layer, node) in enumerate(zip(synapse_layers, syn)):
                w, b = node["tensors"]["weight"], node["tensors"]["bias"]
                v, wq, bq = fixed(w, b)
                np.testing.assert_array_equal(layer["weight"][()], wq, err_msg=node["name"])
                np.testing.assert_array_equal(layer["bias"][()], bq, err_msg=node["name"])
                self.assertLessEqual(np.abs(layer["weight"][()]).max(), 254)
                self.assertTrue(np.all(layer["weight"][()] % 2 == 0))
                neuron = layer["neuron"]
                self.assertEqual(text(neuron["type"]), "CUBA")
                self.assertEqual(neuron["iDecay"][()], 4096)
                self.assertEqual(neuron["vDecay"][()], 0)
                if k < len(ifs):
                    self.assertEqual(neuron["vThMant"][()], v, node["name"])
                    self.assertEqual(text(neuron["resetMode"]), "subtract")
                    v0 = ifs[k].get("floats", {}).get("v0", 0.5)
                    self.assertEqual(neuron["vInit"][()], int(np.floor(v0 * v + 0.5)))
                else:  # the readout: never spikes, v sums the input
                    self.assertEqual(neuron["vThMant"][()], 2**17 - 1)
                    self.assertIn("argmax", text(neuron["readout"]))
                if text(layer["type"]) == "conv":
                    ints = node["ints"]
                    for key in ("stride", "padding", "dilation"):
                        np.testing.assert_array_equal(layer[key][()], ints[key])
                    self.assertEqual(layer["groups"][()], ints["groups"][0])
                    np.testing.assert_array_equal(layer["kernelSize"][()], w.shape[2:])
                    self.assertEqual(layer["outChannels"][()], w.shape[0])
                else:
                    self.assertEqual(layer["inFeatures"][()], w.shape[1])
                    self.assertEqual(layer["outFeatures"][()], w.shape[0])
            # Pools: the max-pool's geometry, OR-pooling neurons, output shapes of the pooled IF populations.
            pool_layers = [l for l in layers if text(l["type"]) == "pool"]
            self.assertEqual(len(pool_layers), len(pools))
            for layer, node in zip(pool_layers, pools):
                np.testing.assert_array_equal(layer["kernelSize"][()], node["ints"]["kernel"])
                np.testing.assert_array_equal(layer["stride"][()], node["ints"]["stride"])
                np.testing.assert_array_equal(layer["shape"][()], values[node["output"]]["shape"])
                self.assertEqual(text(layer["neuron"]["resetMode"]), "zero")
            self.assertIn("neurocuda", text(f["neurocuda"]["metadata"]))

    def check_refused(self, name, why):
        net = convert(self.tmp.name, name)
        out = os.path.join(self.tmp.name, f"{name}.net")
        p = subprocess.run([ARGS.tool, "export", net, "--format", "netx", "-o", out], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(why, p.stderr)
        self.assertIn("use --format nir", p.stderr)
        self.assertFalse(os.path.exists(out), "a refused export must leave no file")

    def test_resnet_small_is_refused_with_a_pointer_to_nir(self):
        # netx's loader builds a chain: the residual branches cannot be described.
        self.check_refused("resnet_small", "a branch")

    def test_average_pool_is_refused(self):
        self.check_refused("relu6_avgpool_cnn", "average pool")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
