#!/usr/bin/python3
"""Golden trajectories for nabla's optimizers, schedules and clipping, made
with PyTorch (Debian's python3-torch, 1.13). Writes
tests/data/golden/optim.txt and tests/data/golden/schedules.txt; the C tests
(tests/test_optim.c, tests/test_schedule.c) read them and need no Python.

The problem: 11 float32 parameters in two tensors (a[5], b[2,3]) with loss
sum(c * (p - t)^2); the gradient is set directly as (2c) * (p - t) in float32,
which the C test computes with the same two float operations, so both sides
start every step from identical gradients.

Run: /usr/bin/python3 tests/gen/gen_golden_optim.py  (from the repository root)
"""
import math
import os
import random

import torch

N_STEPS = 150
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "golden")


def f32(x):
    return float(torch.tensor(x, dtype=torch.float32))


def fmt(x):
    return "%.9g" % x


def problem():
    rng = random.Random(1234)
    n = 11
    init = [f32(rng.uniform(-2.0, 2.0)) for _ in range(n)]
    # targets away from 0 so relative comparisons of the trajectories are meaningful
    target = [f32(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0)) for _ in range(n)]
    coef = [f32(rng.uniform(0.5, 2.0)) for _ in range(n)]
    return init, target, coef


# name, optimizer kind, options (torch names), extra: sched / clip
CASES = [
    ("sgd_plain", "sgd", dict(lr=0.05)),
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd_dampening", "sgd", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=1)),
    ("sgd_weight_decay", "sgd", dict(lr=0.05, weight_decay=0.1)),
    ("sgd_momentum_wd_nesterov", "sgd", dict(lr=0.03, momentum=0.8, weight_decay=0.05, nesterov=1)),
    ("sgd_momentum_dampening_wd", "sgd", dict(lr=0.03, momentum=0.7, dampening=0.5, weight_decay=0.02)),
    ("adam", "adam", dict(lr=0.01)),
    ("adam_amsgrad", "adam", dict(lr=0.01, amsgrad=1)),
    ("adam_wd", "adam", dict(lr=0.01, weight_decay=0.1)),
    ("adam_amsgrad_wd", "adam", dict(lr=0.01, amsgrad=1, weight_decay=0.1)),
    ("adam_betas_eps", "adam", dict(lr=0.02, beta1=0.8, beta2=0.95, eps=1e-6)),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.1)),
    ("adamw_amsgrad", "adamw", dict(lr=0.01, weight_decay=0.05, amsgrad=1)),
    ("adamw_default_wd", "adamw", dict(lr=0.01)),
    ("rmsprop", "rmsprop", dict(lr=0.01)),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=1)),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.005, momentum=0.9)),
    ("rmsprop_centered_momentum_wd", "rmsprop", dict(lr=0.005, centered=1, momentum=0.5, weight_decay=0.1, alpha=0.9, eps=1e-6)),
    ("adagrad", "adagrad", dict(lr=0.1)),
    ("adagrad_options", "adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-8)),
    # schedules and clipping inside a training loop
    ("sgd_momentum_cosine_warmup", "sgd", dict(lr=0.05, momentum=0.9, sched="cosine", t_max=100, eta_min=0.001, warmup=10, start_factor=0.1)),
    ("adam_steplr", "adam", dict(lr=0.02, sched="step", step_size=30, gamma=0.5)),
    ("sgd_momentum_clip_norm", "sgd", dict(lr=0.05, momentum=0.9, clip_norm=1.0)),
    ("adam_clip_value", "adam", dict(lr=0.01, clip_value=0.5)),
]


def make_optimizer(kind, params, o):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o.get("momentum", 0.0),
                               dampening=o.get("dampening", 0.0),
                               weight_decay=o.get("weight_decay", 0.0),
                               nesterov=bool(o.get("nesterov", 0)), foreach=False)
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        wd = o.get("weight_decay", 0.0 if kind == "adam" else 1e-2)
        return cls(params, lr=o["lr"], betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
                   eps=o.get("eps", 1e-8), weight_decay=wd, amsgrad=bool(o.get("amsgrad", 0)),
                   foreach=False)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=o["lr"], alpha=o.get("alpha", 0.99),
                                   eps=o.get("eps", 1e-8), weight_decay=o.get("weight_decay", 0.0),
                                   momentum=o.get("momentum", 0.0),
                                   centered=bool(o.get("centered", 0)), foreach=False)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=o["lr"], lr_decay=o.get("lr_decay", 0.0),
                                   weight_decay=o.get("weight_decay", 0.0),
                                   initial_accumulator_value=o.get("initial_accumulator_value", 0.0),
                                   eps=o.get("eps", 1e-10), foreach=False)
    raise ValueError(kind)


def make_schedule(opt, o):
    """Inner torch scheduler for o['sched'], wrapped in SequentialLR with a
    LinearLR warmup when o has 'warmup' — the composition nabla documents."""
    kind = o.get("sched")
    if kind is None:
        return None
    S = torch.optim.lr_scheduler
    if kind == "constant":
        inner = S.LambdaLR(opt, lambda e: 1.0)
    elif kind == "step":
        inner = S.StepLR(opt, step_size=o["step_size"], gamma=o["gamma"])
    elif kind == "multistep":
        inner = S.MultiStepLR(opt, milestones=o["milestones"], gamma=o["gamma"])
    elif kind == "exponential":
        inner = S.ExponentialLR(opt, gamma=o["gamma"])
    elif kind == "cosine":
        inner = S.CosineAnnealingLR(opt, T_max=o["t_max"], eta_min=o["eta_min"])
    elif kind == "plateau":
        return S.ReduceLROnPlateau(opt, mode="max" if o.get("mode_max") else "min",
                                   factor=o["factor"], patience=o["patience"],
                                   threshold=o["threshold"],
                                   threshold_mode="abs" if o.get("threshold_abs") else "rel",
                                   cooldown=o["cooldown"], min_lr=o["min_lr"])
    else:
        raise ValueError(kind)
    w = o.get("warmup", 0)
    if w:
        # the inner scheduler must be built before SequentialLR resets the rates
        warm = S.LinearLR(opt, start_factor=o["start_factor"], end_factor=1.0, total_iters=w)
        # re-create inner after warm so both see initial_lr; SequentialLR undoes their steps
        return S.SequentialLR(opt, schedulers=[warm, inner], milestones=[w])
    return inner


def opts_line(o):
    parts = []
    for k, v in o.items():
        if isinstance(v, list):
            v = ",".join(str(x) for x in v)
        parts.append("%s=%s" % (k, v))
    return " ".join(parts)


def gen_optim(f):
    init, target, coef = problem()
    f.write("# generated by tests/gen/gen_golden_optim.py with torch %s\n" % torch.__version__)
    f.write("# loss = sum(c*(p-t)^2) over a[5] ++ b[2,3]; grad = (2c)*(p-t) in float32\n")
    f.write("init %s\n" % " ".join(fmt(x) for x in init))
    f.write("target %s\n" % " ".join(fmt(x) for x in target))
    f.write("coef %s\n" % " ".join(fmt(x) for x in coef))
    for name, kind, o in CASES:
        a = torch.tensor(init[:5], dtype=torch.float32, requires_grad=True)
        b = torch.tensor(init[5:], dtype=torch.float32).reshape(2, 3).requires_grad_(True)
        ta = torch.tensor(target[:5], dtype=torch.float32)
        tb = torch.tensor(target[5:], dtype=torch.float32).reshape(2, 3)
        ca = torch.tensor(coef[:5], dtype=torch.float32) * 2
        cb = torch.tensor(coef[5:], dtype=torch.float32).reshape(2, 3) * 2
        opt = make_optimizer(kind, [a, b], o)
        sched = make_schedule(opt, o)
        f.write("case %s kind=%s %s\n" % (name, kind, opts_line(o)))
        for t in range(N_STEPS):
            lr = opt.param_groups[0]["lr"]
            with torch.no_grad():
                a.grad = ca * (a - ta)
                b.grad = cb * (b - tb)
            if "clip_norm" in o:
                torch.nn.utils.clip_grad_norm_([a, b], o["clip_norm"])
            if "clip_value" in o:
                torch.nn.utils.clip_grad_value_([a, b], o["clip_value"])
            opt.step()
            vals = a.detach().flatten().tolist() + b.detach().flatten().tolist()
            f.write("%d %s %s\n" % (t, repr(lr), " ".join(fmt(v) for v in vals)))
            if sched is not None:
                sched.step()
        f.write("end\n")


SCHEDS = [
    ("constant", dict(lr=0.1, sched="constant")),
    ("step", dict(lr=0.1, sched="step", step_size=17, gamma=0.5)),
    ("multistep", dict(lr=0.1, sched="multistep", milestones=[10, 35, 36, 80], gamma=0.3)),
    ("exponential", dict(lr=0.1, sched="exponential", gamma=0.97)),
    ("cosine", dict(lr=0.1, sched="cosine", t_max=40, eta_min=0.002)),
    ("cosine_zero_min", dict(lr=0.05, sched="cosine", t_max=120, eta_min=0.0)),
    ("warmup_constant", dict(lr=0.1, sched="constant", warmup=12, start_factor=0.01)),
    ("warmup_step", dict(lr=0.1, sched="step", step_size=20, gamma=0.1, warmup=5, start_factor=0.2)),
    ("warmup_multistep", dict(lr=0.1, sched="multistep", milestones=[30, 60], gamma=0.5, warmup=10, start_factor=0.1)),
    ("warmup_exponential", dict(lr=0.1, sched="exponential", gamma=0.95, warmup=8, start_factor=0.25)),
    ("warmup_cosine", dict(lr=0.1, sched="cosine", t_max=90, eta_min=0.001, warmup=10, start_factor=0.1)),
    ("plateau_min_rel", dict(lr=0.1, sched="plateau", factor=0.5, patience=5, threshold=1e-2, cooldown=0, min_lr=0.0)),
    ("plateau_cooldown_minlr", dict(lr=0.1, sched="plateau", factor=0.3, patience=3, threshold=1e-3, cooldown=4, min_lr=0.004)),
    ("plateau_max_abs", dict(lr=0.1, sched="plateau", mode_max=1, threshold_abs=1, factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.0)),
]


def metrics(n, seed):
    """A loss-like curve: improving, then noisy plateaus, then a late drop."""
    rng = random.Random(seed)
    out = []
    for t in range(n):
        base = 1.0 / (1.0 + 0.15 * t) if t < 30 else (0.18 if t < 80 else 0.1)
        out.append(base * (1.0 + 0.02 * rng.uniform(-1.0, 1.0)))
    return out


def gen_sched(f):
    f.write("# generated by tests/gen/gen_golden_optim.py with torch %s\n" % torch.__version__)
    f.write("# per line: step lr-before-step metric (plateau only uses the metric)\n")
    n = 130
    for name, o in SCHEDS:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=o["lr"])
        sched = make_schedule(opt, o)
        ms = metrics(n, 7)
        if o.get("mode_max"):
            ms = [1.0 - m for m in ms]
        f.write("sched %s %s\n" % (name, opts_line(o)))
        for t in range(n):
            lr = opt.param_groups[0]["lr"]
            f.write("%d %s %s\n" % (t, repr(lr), repr(ms[t])))
            opt.step()
            if o["sched"] == "plateau":
                sched.step(ms[t])
            else:
                sched.step()
        f.write("end\n")


def write_torch_safetensors(path):
    """A small file in the reference safetensors layout, from torch tensors:
    with the `safetensors` package when installed, otherwise with struct+json
    exactly as its serializer lays files out (8-byte LE length, compact JSON
    padded with spaces to 8 bytes, tensors sorted by dtype size then name)."""
    tensors = {
        "linear.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1.5,
        "linear.bias": 1.0 / torch.arange(1, 4, dtype=torch.float32),
        "num_batches_tracked": torch.tensor(17, dtype=torch.int64),
    }
    try:
        from safetensors.torch import save_file
        save_file(tensors, path, metadata={"format": "pt"})
        return
    except ImportError:
        pass
    import json
    import struct
    dt = {torch.float32: ("F32", 4), torch.int64: ("I64", 8)}
    order = sorted(tensors, key=lambda k: (-dt[tensors[k].dtype][1], k))
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for k in order:
        t = tensors[k]
        b = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": dt[t.dtype][0], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "optim.txt"), "w") as f:
        gen_optim(f)
    with open(os.path.join(OUT, "schedules.txt"), "w") as f:
        gen_sched(f)
    write_torch_safetensors(os.path.join(OUT, "torch_small.safetensors"))


if __name__ == "__main__":
    main()
