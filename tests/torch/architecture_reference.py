# PyTorch reference for the architectures' inference: weights, inputs, expected outputs, checks.
"""Run with Debian's interpreter (it has python3-torch), not the python3 first on PATH:

    /usr/bin/python3 tests/torch/architecture_reference.py prepare MODEL DIR [--batches 1 2]
                                                           [--seed S]
    /usr/bin/python3 tests/torch/architecture_reference.py compare MODEL DIR BATCH OUTPUT

prepare builds the PyTorch twin of cnnc model MODEL (scripts/cnnc_torch_models.py) with
torchvision's initialisation seeded by S and random batch-norm statistics, calibrated so that
activations neither vanish nor explode and the logits have standard deviation 2
(cnnc_torch_models.calibrate; the importer's --randomize-bn --calibrate), writes its weights
as DIR/MODEL.cnnp through the importer (scripts/torchvision_to_cnnp.py), and for each batch size
B an input DIR/x_bB.f32 (B images of normal values, raw little-endian float32, NCHW) and the
expected outputs DIR/expected_bB.npz: torch.softmax and torch.log_softmax of the logits, over
the classes (dim 1; per pixel for unet), computed in float64 from the same float32 weights and
images: the exact answer, not a second float32 implementation's. (Against PyTorch's float32,
whose sums run in another order, Inception-v3 came out 1.2-1.5x beyond the bounds below at one
batch or the other with cnnc's schedules of revision 3, and within 0.86 against float64.) The
batches share their images (batch B holds the first B of the largest batch), so one forward pass
of the largest batch covers them all (eval-mode networks treat the images of a batch
independently); float64 is slow in PyTorch on the CPU (VGG-16: about 11 s per image here).

compare reads OUTPUT, cnnc's `infer --output` file for DIR/x_bBATCH.f32, and checks both

    max |p_cnnc - p_torch|                  <= 1e-4 * max |p_torch|
    max |log p_cnnc - log p_torch|          <= 1e-4 * max |log p_torch|

(log p_cnnc from cnnc's probabilities, clamped at the smallest normal float; entries whose
torch log-probability is below -80, where float32 probabilities are denormal or zero, are left
out of the second check). The first bounds the error of the likeliest classes (relative to
the largest probability, i.e. about 1e-4 in their log-probability); the second also sees the
unlikely classes, whose probabilities are too small for the first. It prints one line with
both ratios (diff / bound, <= 1 passes) and exits non-zero with a message on a mismatch. The
weights are chosen so that PyTorch's own float32 result is within 0.25 of these bounds of its
float64 one for every architecture (measured; without the calibration ResNet-152's is 5x
beyond them).
"""

import argparse
import os
import sys
import time

import numpy as np

# torch is imported by `prepare` only: `compare` runs twice per model and starts faster without.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

TOLERANCE = 1e-4
LOG_FLOOR = -80.0  # below it a float32 probability is (nearly) denormal: no log to compare
TINY = np.finfo(np.float32).tiny


def fail(message):
    # On standard output, after the figures, so that a log reads in order.
    print(f"FAILED: {message}", flush=True)
    sys.exit(1)


def prepare(name, folder, batches, seed):
    import torch

    import cnnc_torch_models as models
    from torchvision_to_cnnp import convert

    if name not in models.MODELS:
        fail(f"unknown model '{name}'; known: {', '.join(models.MODELS)}")
    os.makedirs(folder, exist_ok=True)
    start = time.time()
    model = convert(name, os.path.join(folder, f"{name}.cnnp"), seed=seed, randomize_bn=True,
                    calibrate=True, quiet=True, durable=False)
    written = time.time()
    shape = models.spec(name).input_shape
    g = torch.Generator().manual_seed(seed + 1)  # calibrate's images use `seed`
    x = torch.randn((max(batches),) + shape, generator=g, dtype=torch.float32)
    with torch.no_grad():
        logits = model.double()(x.double())
    if not torch.is_tensor(logits):  # GoogLeNet/Inception return named tuples in train mode
        logits = logits[0]
    prob = torch.softmax(logits, dim=1).numpy()
    logprob = torch.log_softmax(logits, dim=1).numpy()
    for b in batches:
        part = slice(0, b)
        x[part].numpy().astype("<f4").tofile(os.path.join(folder, f"x_b{b}.f32"))
        np.savez(os.path.join(folder, f"expected_b{b}.npz"), prob=prob[part],
                 logprob=logprob[part])
    print(f"{name}: weights written in {written - start:.1f} s, torch reference for batches "
          f"{', '.join(map(str, batches))} ({max(batches)} images) in "
          f"{time.time() - written:.1f} s; logits std "
          f"{logits.std().item():.3g}, log-probabilities in [{logprob.min():.3g}, "
          f"{logprob.max():.3g}]")


def compare(name, folder, batch, output):
    expected = np.load(os.path.join(folder, f"expected_b{batch}.npz"))
    prob, logprob = expected["prob"], expected["logprob"]
    try:
        got = np.fromfile(output, dtype="<f4")
    except OSError as e:
        fail(f"{name} batch {batch}: cannot read cnnc's output: {e}")
    if got.size != prob.size:
        fail(f"{name} batch {batch}: {output} holds {got.size} floats, expected {prob.size} "
             f"(shape {list(prob.shape)})")
    got = got.reshape(prob.shape).astype(np.float64)
    if not np.all(np.isfinite(got)):
        fail(f"{name} batch {batch}: cnnc's output has {np.sum(~np.isfinite(got))} non-finite "
             "values")

    prob_diff = np.abs(got - prob)
    prob_ratio = prob_diff.max() / (TOLERANCE * np.abs(prob).max())
    kept = logprob >= LOG_FLOOR
    log_diff = np.where(kept, np.abs(np.log(np.maximum(got, TINY)) - logprob), 0.0)
    log_ratio = log_diff.max() / (TOLERANCE * np.abs(logprob[kept]).max())
    agree = np.mean(got.argmax(axis=1) == prob.argmax(axis=1))
    left_out = f", {np.sum(~kept)} below {LOG_FLOOR:g} left out" if not kept.all() else ""
    ok = prob_ratio <= 1 and log_ratio <= 1
    print(f"{'ok' if ok else 'FAILED'}: {name} batch {batch}: "
          f"max|dp| = {prob_diff.max():.3g} ({prob_ratio:.3f} of 1e-4*max|p|), "
          f"max|dlog p| = {log_diff.max():.3g} ({log_ratio:.3f} of 1e-4*max|log p|{left_out}), "
          f"argmax agrees for {100 * agree:.1f}%")
    if not ok:
        where = np.unravel_index(np.argmax(log_diff if log_ratio > 1 else prob_diff), prob.shape)
        fail(f"{name} batch {batch}: cnnc's probabilities differ from torch's by more than 1e-4 "
             f"of the largest value; worst at index {list(map(int, where))}: cnnc "
             f"{got[where]:.8g}, torch {prob[where]:.8g} (log {logprob[where]:.8g})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="weights, inputs and expected outputs")
    p.add_argument("model")
    p.add_argument("folder")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("compare", help="check cnnc's output against the expected one")
    c.add_argument("model")
    c.add_argument("folder")
    c.add_argument("batch", type=int)
    c.add_argument("output")
    args = parser.parse_args()
    if args.command == "prepare":
        if len(set(args.batches)) != len(args.batches) or min(args.batches) < 1:
            parser.error("--batches: distinct sizes >= 1")
        prepare(args.model, args.folder, args.batches, args.seed)
    else:
        compare(args.model, args.folder, args.batch, args.output)


if __name__ == "__main__":
    main()
