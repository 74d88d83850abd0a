# SPDX-License-Identifier: MIT
"""An independent reference of the Loihi 2 equations (DESIGN.md), in plain Python integers.

Written from the published equations, sharing no code with backends/loihi2/.
"""


def _trunc_div(x, d):
    q = abs(x) // d
    return q if x >= 0 else -q


def sign_mode_of(weights, given):
    if given is not None:
        return given
    flat = [w for row in weights for w in row]
    if min(flat) >= 0:
        return "excitatory"
    if max(flat) <= 0:
        return "inhibitory"
    return "mixed"


def effective(w, mode, nbits):
    lo, hi = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}[mode]
    w = min(max(w, lo), hi)
    cut = 8 - nbits + (1 if mode == "mixed" else 0)
    if cut <= 0:
        return w
    step = 2 ** cut
    if mode == "inhibitory":
        return -((-w) // step * step)
    return (w // step) * step  # floor, also for negative weights


def to_int32(x):
    x &= 0xFFFFFFFF
    return x - 2 ** 32 if x >= 2 ** 31 else x


def trace(case):
    T = case["T"]
    W = case["weights"]
    mode = sign_mode_of(W, case.get("sign_mode"))
    weff = [[effective(w, mode, case["num_weight_bits"]) for w in row] for row in W]
    n_out, n_in = len(W), len(W[0])
    u, v = list(case["u0"]), list(case["v0"])
    du, dv, vth = case["du"], case["dv"], case["vth"]
    buf = [0] * n_out
    out = {"w_eff": weff, "a_in": [], "u": [], "v": [], "s": []}
    for t in range(T):
        a = list(buf)
        s = [0] * n_out
        for o in range(n_out):
            uu = _trunc_div(u[o] * (4096 - du - 1), 4096) + a[o] * 64
            if uu > 2 ** 23:
                uu -= 2 ** 24
            elif uu <= -(2 ** 23):
                uu += 2 ** 24
            u[o] = uu
            vv = _trunc_div(v[o] * (4096 - dv), 4096) + uu + case["bias_mant"][o] * 2 ** case["bias_exp"][o]
            vv = max(-(2 ** 23 - 1), min(2 ** 23 - 1, vv))
            if vv > vth * 64:
                s[o] = 1
                vv = 0
            v[o] = vv
        x = case["input"][t]
        for o in range(n_out):
            if case["num_message_bits"] == 0:
                acc = sum(weff[o][i] for i in range(n_in) if x[i] != 0)
            else:
                acc = sum(weff[o][i] * x[i] for i in range(n_in))
            e = case["weight_exp"]
            acc = acc * 2 ** e if e >= 0 else acc // 2 ** (-e)  # // floors: arithmetic shift
            buf[o] = to_int32(acc)
        out["a_in"].append(a)
        out["u"].append(list(u))
        out["v"].append(list(v))
        out["s"].append(s)
    return out
