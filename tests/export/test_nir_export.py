# SPDX-License-Identifier: MIT
"""NIR export read back with the ecosystem's own reader (PyPI `nir`, nir.read with type checking) and checked
against the converted network, parsed here from the .snn file (docs/snn-format.md) with no neurocuda code:
every conv/linear's weights bit for bit, IF parameters and metadata, residual coefficients, pooling,
and the edges (every node is driven and reaches the output)."""
import argparse
import json
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


class NirExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        import nir  # noqa: F401  (fails the suite clearly if the environment lacks it)

    def export(self, name):
        net = os.path.join(self.tmp.name, f"{name}.snn")
        run("convert", os.path.join(ARGS.models, f"{name}.pt"), "--calib", ARGS.data, "--calib-samples", "1000",
            "--neuron", "if", "-o", net)
        out = os.path.join(self.tmp.name, f"{name}.nir")
        p = run("export", net, "--format", "nir", "-o", out)
        self.assertIn("NIR", p.stdout)
        self.assertIn("resets by subtraction", p.stderr)  # the semantics NIR cannot hold are announced
        import nir
        return read_snn(net), nir.read(out), out

    def reachable(self, graph, src, dst):
        succ = {}
        for a, b in graph.edges:
            succ.setdefault(a, []).append(b)
        seen, stack = set(), [src]
        while stack:
            n = stack.pop()
            if n == dst:
                return True
            if n not in seen:
                seen.add(n)
                stack.extend(succ.get(n, []))
        return False

    def check(self, name):
        import nir
        snn, graph, path = self.export(name)
        nodes = graph.nodes
        self.assertIsInstance(nodes["input"], nir.Input)
        self.assertIsInstance(nodes["output"], nir.Output)
        np.testing.assert_array_equal(nodes["input"].input_type["input"], snn["values"][snn["input"]]["shape"])
        np.testing.assert_array_equal(nodes["output"].output_type["output"], snn["values"][snn["output"]]["shape"])
        # Every node but the input is driven; every node reaches the output.
        targets = {b for _, b in graph.edges}
        for k in nodes:
            if k != "input":
                self.assertIn(k, targets, k)
            self.assertTrue(self.reachable(graph, k, "output"), k)
        checked = 0
        for node in snn["nodes"]:
            kind, t = node["kind"], node.get("tensors", {})
            if kind in ("conv2d", "linear"):
                match = [v for k, v in nodes.items() if k == node["name"] or k.startswith(node["name"] + "_")]
                match = [v for v in match if isinstance(v, nir.Conv2d if kind == "conv2d" else nir.Affine)
                         and v.weight.shape == t["weight"].shape and np.array_equal(v.weight, t["weight"])]
                self.assertEqual(len(match), 1, node["name"])
                np.testing.assert_array_equal(match[0].bias, t["bias"])
                if kind == "conv2d":
                    np.testing.assert_array_equal(match[0].stride, node["ints"]["stride"])
                    np.testing.assert_array_equal(match[0].padding, node["ints"]["padding"])
                    self.assertEqual(int(match[0].groups), node["ints"]["groups"][0])
                checked += 1
            if kind == "add":
                for i in range(2):
                    c = t.get(f"coeff{i}")
                    if c is None or np.all(c == 1):
                        continue
                    scale = nodes[f"{node['name']}.scale{i}"]
                    self.assertIsInstance(scale, nir.Scale)
                    np.testing.assert_array_equal(scale.scale[:, 0, 0], c)
                    checked += 1
        ifs = [v for v in nodes.values() if isinstance(v, nir.IF)]
        pops = [n for n in snn["nodes"] if n["kind"] == "if_neuron"]
        maxpools = [n for n in snn["nodes"] if n["kind"] == "max_pool2d"]
        self.assertEqual(len(ifs), len(pops) + len(maxpools))
        for v in ifs:
            self.assertTrue(np.all(v.r == 1) and np.all(v.v_reset == 0))
            mode = v.metadata["reset_mode"]
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode == "subtract":
                self.assertTrue(np.all(v.v_threshold == 1))
                self.assertAlmostEqual(float(v.metadata["v_init"]), 0.5)
            else:
                self.assertEqual(mode, "zero")
                self.assertTrue(np.all(v.v_threshold == 0.5))
        self.assertEqual(len([v for v in nodes.values() if isinstance(v, nir.SumPool2d)]), len(maxpools))
        meta = json.loads(graph.metadata["neurocuda"])
        self.assertEqual(meta["tool"], "neurocuda")
        print(f"{name}: {len(nodes)} NIR nodes, {len(graph.edges)} edges, {checked} weight/coefficient tensors "
              f"equal to the .snn, {len(ifs)} IF nodes checked")
        return checked

    def test_vgg_small(self):
        self.assertGreater(self.check("vgg_small"), 3)

    def test_resnet_small(self):
        self.assertGreater(self.check("resnet_small"), 8)

    def test_unknown_format_is_an_error_and_leaves_no_file(self):
        net = os.path.join(self.tmp.name, "fixture.snn")
        run("convert", os.path.join(ARGS.models, "resnet_small.pt"), "--calib", ARGS.data, "--calib-samples", "200",
            "--neuron", "if", "-o", net)
        out = os.path.join(self.tmp.name, "x.out")
        p = subprocess.run([ARGS.tool, "export", net, "--format", "onnx", "-o", out], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("unknown export format 'onnx'", p.stderr)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
