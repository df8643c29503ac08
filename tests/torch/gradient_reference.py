# PyTorch reference for one training step of a whole architecture: loss, gradients, statistics.
"""Run with Debian's interpreter (it has python3-torch), not the python3 first on PATH:

    /usr/bin/python3 tests/torch/gradient_reference.py prepare MODEL DIR [--batch B] [--seed S]
    /usr/bin/python3 tests/torch/gradient_reference.py compare MODEL DIR GRADIENTS

prepare builds the PyTorch twin of cnnc model MODEL (scripts/cnnc_torch_models.py) with
torchvision's initialisation seeded by S and random batch-norm statistics, writes its weights as
DIR/MODEL.cnnp through the importer (scripts/torchvision_to_cnnp.py), B random normal images
DIR/x.f32 (raw float32, NCHW) and B random labels DIR/labels.i32 (raw int32). It then runs one
training step in train mode (batch statistics, mean softmax cross-entropy) in float64 and in
float32 and keeps, per cnnc tensor name and in cnnc's layout, the gradient of every learnable
tensor and the running statistics the step leaves, with the loss: DIR/expected.npz (float64)
and DIR/torch32.npz (float32).

compare reads GRADIENTS, the parameter file of cnnc's `gradients --input DIR/x.f32 --labels
DIR/labels.i32 --weights DIR/MODEL.cnnp --output GRADIENTS`, and checks it against the float64
step:

    |loss_cnnc - loss_64| <= 1e-5 * |loss_64|
    ||g_cnnc - g_64|| <= 1e-2 * ||g_64||      per tensor (L2 norms)
    ||G_cnnc - G_64|| <= 1e-3 * ||G_64||      all tensors as one vector

Why L2 and not each value: a ResNet step has about 4e5 ReLU inputs per image, and some fall
within float32 rounding of 0 (seen: 2.8e-6). Where cnnc's float32 value lands on the other side
than float64's, that pixel's whole contribution moves, and batch norm spreads it over its
channel: in the case seen, a bias gradient moved by 1e-2 of its largest value in one element,
and the tensors it reached by 3e-3 in L2, while every other tensor stayed at float32 level
(about 1e-6). A wrong backward pass (a dropped term, a wrong index) is off by order 1.
It prints the worst tensors next to PyTorch's own float32 error, and exits non-zero with a
message naming what fails.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

TENSOR_TOLERANCE = 1e-2  # per tensor, relative L2
TOTAL_TOLERANCE = 1e-3   # all tensors as one vector, relative L2
FLOAT32_LEVEL = 1e-4     # reported: tensors that no ReLU flip reached
LOSS_TOLERANCE = 1e-5


def fail(message):
    print(f"FAILED: {message}", flush=True)
    sys.exit(1)


def one_step(model, x, labels, dtype):
    """The gradients and updated statistics after one train-mode step, as cnnc tensors."""
    import copy

    import torch

    import cnnc_torch_models as models

    m = copy.deepcopy(model).to(dtype).train()
    loss = torch.nn.functional.cross_entropy(m(x.to(dtype)), labels)
    loss.backward()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.grad)
    # cnnc_tensors converts to float32: keep the float64 values by converting the layout only.
    tensors = {k: v for k, v in cnnc_layout(m, models).items()}
    tensors["__loss__"] = np.array(loss.item())
    return tensors


def cnnc_layout(model, models):
    """cnnc_tensors without the cast to float32."""
    import torch

    original = torch.Tensor.to

    def keep(t, *args, **kwargs):
        return t if args == (torch.float32,) and not kwargs else original(t, *args, **kwargs)

    torch.Tensor.to = keep
    try:
        return models.cnnc_tensors(model)
    finally:
        torch.Tensor.to = original


def prepare(name, folder, batch, seed):
    import torch

    import cnnc_torch_models as models
    from torchvision_to_cnnp import convert

    if name not in models.MODELS:
        fail(f"unknown model '{name}'; known: {', '.join(models.MODELS)}")
    os.makedirs(folder, exist_ok=True)
    model = convert(name, os.path.join(folder, f"{name}.cnnp"), seed=seed, randomize_bn=True,
                    quiet=True, durable=False)
    spec = models.spec(name)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn((batch,) + spec.input_shape, generator=g, dtype=torch.float32)
    labels = torch.randint(0, spec.classes, (batch,), generator=g)
    x.numpy().astype("<f4").tofile(os.path.join(folder, "x.f32"))
    labels.numpy().astype("<i4").tofile(os.path.join(folder, "labels.i32"))
    np.savez(os.path.join(folder, "expected.npz"), **one_step(model, x, labels, torch.float64))
    np.savez(os.path.join(folder, "torch32.npz"), **one_step(model, x, labels, torch.float32))
    print(f"{name}: one training step on {batch} images in float64 and float32")


def compare(name, folder, gradients):
    import cnnp

    expected = np.load(os.path.join(folder, "expected.npz"))
    torch32 = np.load(os.path.join(folder, "torch32.npz"))
    _, tensors, meta = cnnp.read(gradients)
    want_names = sorted(k for k in expected.files if k != "__loss__")
    if sorted(tensors) != want_names:
        fail(f"{gradients} holds tensors {sorted(set(tensors) ^ set(want_names))} that differ "
             "from the model's")
    rows, diff, norm = [], 0.0, 0.0
    for k in want_names:
        want = expected[k].astype(np.float64)
        extents, raw = tensors[k]
        got = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        if got.size != want.size:
            fail(f"{k}: {got.size} values, expected {want.size}")
        got = got.reshape(want.shape)
        scale = max(np.linalg.norm(want), 1e-30)
        rows.append((np.linalg.norm(got - want) / scale, k,
                     np.linalg.norm(torch32[k] - want) / scale))
        diff += np.sum((got - want) ** 2)
        norm += np.sum(want ** 2)
    rows.sort(reverse=True)
    overall = np.sqrt(diff / norm)
    loss, loss64 = float(meta["loss"]), float(expected["__loss__"])
    loss_ratio = abs(loss - loss64) / (LOSS_TOLERANCE * abs(loss64))
    exact = sum(r < FLOAT32_LEVEL for r, _, _ in rows)
    print(f"{name}: loss cnnc {loss:.7f}, float64 {loss64:.7f} ({loss_ratio:.3f} of the bound); "
          f"all gradients together {overall:.2e} off in L2 (bound {TOTAL_TOLERANCE:g}); "
          f"{exact} of {len(rows)} tensors within {FLOAT32_LEVEL:g}; the worst (bound "
          f"{TENSOR_TOLERANCE:g}, torch float32 alongside):")
    for ratio, k, ratio32 in rows[:5]:
        print(f"  {k}: {ratio:.2e} (torch float32 {ratio32:.2e})")
    if loss_ratio > 1:
        fail(f"{name}: loss {loss:.8g} differs from {loss64:.8g} by more than 1e-5 relative")
    if rows[0][0] > TENSOR_TOLERANCE:
        fail(f"{name}: gradient of {rows[0][1]} is {rows[0][0]:.3g} off (L2, relative)")
    if overall > TOTAL_TOLERANCE:
        fail(f"{name}: the gradients together are {overall:.3g} off (L2, relative)")
    print(f"ok: {name}: loss, gradients and running statistics match float64 PyTorch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="weights, batch and the expected step")
    p.add_argument("model")
    p.add_argument("folder")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("compare", help="check cnnc's gradients file")
    c.add_argument("model")
    c.add_argument("folder")
    c.add_argument("gradients")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.model, args.folder, args.batch, args.seed)
    else:
        compare(args.model, args.folder, args.gradients)


if __name__ == "__main__":
    main()
