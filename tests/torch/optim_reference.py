# PyTorch reference for cnnc's optimizers: torch.optim run on given gradients, in float64.
"""Run with Debian's interpreter (it has python3-torch), not the python3 first on PATH:

    /usr/bin/python3 tests/torch/optim_reference.py IN OUT

IN and OUT are named-tensor files (format in tests/torch/cnnc_tensors.py). IN holds one case, or
several whose entries are prefixed "<case>/" (OUT then uses the same prefixes). A case holds:

  "spec.json"          text entry, the optimizer (fields below; unknown fields are errors)
  "param.<i>"          initial value of parameter i = 0, 1, ... (any extents)
  "grad.<i>.step<k>"   the gradient at step k = 0 .. K-1 (same extents): the one that takes the
                       parameter from param.<i>.step<k> to param.<i>.step<k+1>

The optimizer runs K steps; in step k each p.grad is set to grad.<i>.step<k>, plus
l1 * sign(p) when l1 != 0 (cnnc's L1 decay: added to the gradient before the optimizer sees it,
sign(0) = 0). Every optimizer here updates each element from its own history only, so parameters
with different hyper-parameters (cnnc's decay_biases, per-layer decay) are separate cases.
OUT receives, all float64:

  "param.<i>.step<k>"    parameter i after k steps, k = 0 .. K (step0 is the initial value)
  "state.<i>.<name>"     optimizer state after the last step, torch's names:
      sgd, momentum, nesterov: momentum_buffer (when momentum != 0)
      adagrad:   step, sum
      adadelta:  step, square_avg, acc_delta
      rmsprop:   step, square_avg, momentum_buffer (momentum > 0), grad_avg (centered)
      adam, adamw: step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
    ("step" is a 1-element tensor.)

Spec fields (torch's defaults when absent):
  name       sgd | momentum | nesterov | adagrad | adadelta | rmsprop | adam | adamw
  lr, weight_decay, l1 [0]
  lr_per_step [lr, lr, ...]  the learning rate of the step applying grad.<i>.step<k> is
                             lr_per_step[k] (learning-rate decay between steps)
  momentum, dampening        sgd (momentum [0]); momentum and nesterov: torch.optim.SGD with
                             momentum (required > 0), nesterov=True for nesterov; rmsprop momentum
  betas [b1, b2], eps, amsgrad                  adam, adamw
  initial_accumulator_value, lr_decay, eps      adagrad
  rho, eps                                      adadelta
  alpha, eps, centered, momentum                rmsprop
"""

import json
import re
import sys

import numpy as np

from cnnc_tensors import fail, join_cases, read_tensors, split_cases, write_tensors

# Which fields each optimizer reads, with torch's default (None: required).
FIELDS = {
    "sgd": {"lr": None, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0},
    "momentum": {"lr": None, "momentum": None, "dampening": 0.0, "weight_decay": 0.0},
    "nesterov": {"lr": None, "momentum": None, "dampening": 0.0, "weight_decay": 0.0},
    "adagrad": {"lr": 0.01, "lr_decay": 0.0, "weight_decay": 0.0,
                "initial_accumulator_value": 0.0, "eps": 1e-10},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
    "rmsprop": {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False},
    "adam": {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
             "amsgrad": False},
    "adamw": {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
              "amsgrad": False},
}
# Fields every optimizer accepts, applied outside torch.optim: cnnc's L1 decay, and a learning
# rate per step (the step that applies grad.<i>.step<k> runs with lr_per_step[k]).
COMMON = {"name", "l1", "lr_per_step"}


def optimizer_arguments(spec):
    """Validates a spec without torch; returns (name, torch.optim keyword arguments)."""
    if not isinstance(spec, dict):
        raise ValueError("spec.json must be a JSON object")
    name = spec.get("name")
    if name not in FIELDS:
        raise ValueError(f"unknown optimizer '{name}' (known: {', '.join(FIELDS)})")
    allowed = FIELDS[name]
    unknown = sorted(set(spec) - set(allowed) - COMMON)
    if unknown:
        raise ValueError(f"optimizer {name}: fields {unknown} do not apply "
                         f"(it reads {sorted(set(allowed) | COMMON)})")
    args = {}
    for field, default in allowed.items():
        if field in spec:
            args[field] = spec[field]
        elif default is None:
            raise ValueError(f"optimizer {name}: missing field '{field}'")
        else:
            args[field] = default
    if "betas" in args:
        args["betas"] = tuple(float(b) for b in args["betas"])
    if name in ("momentum", "nesterov") and not args["momentum"] > 0:
        raise ValueError(f"optimizer {name}: momentum must be positive")
    return name, args


def make_optimizer(spec, params):
    import torch

    name, args = optimizer_arguments(spec)
    if name in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(params, nesterov=name == "nesterov", **args)
    cls = {"adagrad": torch.optim.Adagrad, "adadelta": torch.optim.Adadelta,
           "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam,
           "adamw": torch.optim.AdamW}[name]
    return cls(params, **args)


def parse_spec(tensors):
    if not isinstance(tensors.get("spec.json"), str):
        raise ValueError("no text entry 'spec.json'")
    spec = json.loads(tensors["spec.json"])
    optimizer_arguments(spec)
    return spec


def run_case(tensors):
    import torch

    spec = parse_spec(tensors)
    l1 = float(spec.get("l1", 0.0))
    lr_per_step = spec.get("lr_per_step")

    count = 0
    while f"param.{count}" in tensors:
        count += 1
    if count == 0:
        raise ValueError("no 'param.0' tensor")
    steps = 0
    while f"grad.0.step{steps}" in tensors:
        steps += 1
    pattern = re.compile(r"^(param\.\d+|grad\.\d+\.step\d+|spec\.json)$")
    stray = [n for n in tensors if not pattern.match(n)]
    if stray:
        raise ValueError(f"unexpected entries {stray}")

    params = [torch.tensor(np.asarray(tensors[f"param.{i}"], dtype=np.float64),
                           requires_grad=True) for i in range(count)]
    optimizer = make_optimizer(spec, params)
    if lr_per_step is not None and len(lr_per_step) < steps:
        raise ValueError(f"lr_per_step has {len(lr_per_step)} values for {steps} steps")
    out = {f"param.{i}.step0": p.detach().numpy().copy() for i, p in enumerate(params)}
    for k in range(steps):
        if lr_per_step is not None:
            for group in optimizer.param_groups:
                group["lr"] = float(lr_per_step[k])
        for i, p in enumerate(params):
            name = f"grad.{i}.step{k}"
            if name not in tensors:
                raise ValueError(f"missing '{name}'")
            g = torch.tensor(np.asarray(tensors[name], dtype=np.float64))
            if g.shape != p.shape:
                raise ValueError(f"'{name}' has shape {tuple(g.shape)}, the parameter "
                                 f"{tuple(p.shape)}")
            if l1 != 0:
                g = g + l1 * torch.sign(p.detach())
            p.grad = g
        optimizer.step()
        for i, p in enumerate(params):
            out[f"param.{i}.step{k + 1}"] = p.detach().numpy().copy()
    for i, p in enumerate(params):
        for key, value in optimizer.state[p].items():
            if value is None:  # SGD keeps momentum_buffer = None without momentum
                continue
            if torch.is_tensor(value):
                array = value.detach().double().numpy()
                out[f"state.{i}.{key}"] = array.reshape(1) if key == "step" else array.copy()
            else:
                out[f"state.{i}.{key}"] = np.array([float(value)])
    return out


def main():
    if len(sys.argv) != 3:
        fail(f"usage: {sys.argv[0]} IN OUT\n{__doc__}")
    cases = split_cases(read_tensors(sys.argv[1]))
    for case, tensors in cases.items():  # before importing torch: bad specs fail fast
        try:
            parse_spec(tensors)
        except (ValueError, json.JSONDecodeError) as e:
            fail(f"case '{case or '(single)'}': {type(e).__name__}: {e}")
    results = {}
    for case, tensors in cases.items():
        try:
            results[case] = run_case(tensors)
        except (ValueError, RuntimeError, TypeError, json.JSONDecodeError) as e:
            fail(f"case '{case or '(single)'}': {type(e).__name__}: {e}")
    write_tensors(sys.argv[2], join_cases(results), float64=True)


if __name__ == "__main__":
    main()
