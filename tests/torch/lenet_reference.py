# PyTorch reference for LeNet-5: loss, logits and parameter gradients in cnnc's storage layout.
"""Run with Debian's interpreter (it has python3-torch), not the python3 first on PATH:

    /usr/bin/python3 tests/torch/lenet_reference.py IN OUT \
        [--momentum-steps K --lr LR --momentum M]

IN and OUT are named-tensor files (format in tests/torch/cnnc_tensors.py): extents are stored
innermost first, so a numpy array's shape is the reverse of the stored extents.

IN holds the parameters conv2d.weight, conv2d.bias, conv2d_1.weight, conv2d_1.bias, dense.weight,
dense.bias, dense_1.weight, dense_1.bias, dense_2.weight, dense_2.bias in cnnc layout, "images"
(c, x, y, n) and "labels" (n, float32 holding integers).

OUT receives "loss", "logits" and "probabilities" ((class, n)) and "grad.<param>" in cnnc layout,
computed in float64 and stored as float32; the same computed in float32 under "float32.<name>";
and with --momentum-steps K > 0, "updated.<param>" after K SGD-with-momentum steps on the batch
(PyTorch semantics, float64) and "momentum.losses" (the loss before each step).
"""

import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as F

from cnnc_tensors import (conv_weight_from_torch, conv_weight_to_torch, dense_weight_from_torch,
                          dense_weight_to_torch, read_tensors, write_tensors)

CONVS = ["conv2d", "conv2d_1"]
DENSES = ["dense", "dense_1", "dense_2"]


def to_torch(name, array):
    if name.endswith(".weight"):
        if name.split(".")[0] in CONVS:
            return conv_weight_to_torch(array)
        return dense_weight_to_torch(array)
    return array


def from_torch(name, array):
    if name.endswith(".weight"):
        if name.split(".")[0] in CONVS:
            return conv_weight_from_torch(array)
        return dense_weight_from_torch(array)
    return array


def build_lenet(params, dtype):
    """torch.nn LeNet-5 at `dtype` whose widths and values come from torch-layout parameters."""
    c1 = params["conv2d.weight"]  # [co][ci][ky][kx]
    c2 = params["conv2d_1.weight"]
    k1 = c1.shape[2]
    if k1 % 2 != 1 or c1.shape[3] != k1:
        sys.exit("the first convolution must have a square odd kernel (SAME padding)")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(c1.shape[1], c1.shape[0], k1, padding=k1 // 2),  # SAME at stride 1
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(c2.shape[1], c2.shape[0], (c2.shape[2], c2.shape[3])),  # VALID
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),  # (c, y, x) order: f = c*H*W + y*W + x
        torch.nn.Linear(params["dense.weight"].shape[1], params["dense.weight"].shape[0]),
        torch.nn.ReLU(),
        torch.nn.Linear(params["dense_1.weight"].shape[1], params["dense_1.weight"].shape[0]),
        torch.nn.ReLU(),
        torch.nn.Linear(params["dense_2.weight"].shape[1], params["dense_2.weight"].shape[0]),
    )
    # Converted before the copy, so float64 values are not rounded through float32 on the way in.
    model = model.to(dtype)
    modules = {"conv2d": model[0], "conv2d_1": model[3], "dense": model[7], "dense_1": model[9],
               "dense_2": model[11]}
    named = {}
    with torch.no_grad():
        for prefix, module in modules.items():
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[prefix + ".weight"])))
            module.bias.copy_(torch.from_numpy(np.ascontiguousarray(params[prefix + ".bias"])))
            named[prefix + ".weight"] = module.weight
            named[prefix + ".bias"] = module.bias
    return model, named


def run(tensors, dtype):
    """Forward + backward at `dtype`; returns {name: numpy array} in cnnc layout."""
    names = [f"{p}.{kind}" for p in CONVS + DENSES for kind in ("weight", "bias")]
    params = {n: to_torch(n, tensors[n].astype(np.float64)) for n in names}
    model, named = build_lenet(params, dtype)
    # numpy [n][y][x][c] -> torch [n][c][y][x]
    images = torch.from_numpy(np.ascontiguousarray(tensors["images"].transpose(0, 3, 1, 2)))
    images = images.to(dtype)
    labels = torch.from_numpy(tensors["labels"].astype(np.int64))
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out = {
        "loss": np.array([loss.item()]),
        "logits": logits.detach().double().numpy(),  # [n][class] is cnnc's (class, n)
        "probabilities": torch.softmax(logits.detach(), dim=1).double().numpy(),
    }
    for name in names:
        out["grad." + name] = from_torch(name, named[name].grad.double().numpy())
    return out


def momentum_steps(tensors, steps, lr, momentum):
    names = [f"{p}.{kind}" for p in CONVS + DENSES for kind in ("weight", "bias")]
    params = {n: to_torch(n, tensors[n].astype(np.float64)) for n in names}
    model, named = build_lenet(params, torch.float64)
    images = torch.from_numpy(np.ascontiguousarray(tensors["images"].transpose(0, 3, 1, 2)))
    images = images.double()
    labels = torch.from_numpy(tensors["labels"].astype(np.int64))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    out = {"momentum.losses": np.array(losses)}
    for name in names:
        out["updated." + name] = from_torch(name, named[name].detach().numpy())
    return out


def main():
    parser = argparse.ArgumentParser(
        description="LeNet-5 loss and gradients from PyTorch, in cnnc's storage layout.",
        epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--momentum-steps", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    args = parser.parse_args()

    torch.manual_seed(0)
    tensors = read_tensors(args.input)
    out = run(tensors, torch.float64)
    for name, value in run(tensors, torch.float32).items():
        out["float32." + name] = value
    if args.momentum_steps > 0:
        out.update(momentum_steps(tensors, args.momentum_steps, args.lr, args.momentum))
    write_tensors(args.output, out)


if __name__ == "__main__":
    main()
