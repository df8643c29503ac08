# PyTorch reference for single cnnc ops: forward output and autograd gradients in cnnc's layout.
"""Run with Debian's interpreter (it has python3-torch), not the python3 first on PATH:

    /usr/bin/python3 tests/torch/op_reference.py IN OUT

IN and OUT are named-tensor files (format in tests/torch/cnnc_tensors.py). IN holds one case, or
several cases whose entries are prefixed "<case>/" (one interpreter start serves them all; OUT
then uses the same prefixes). A case holds:

  "spec.json"     text entry: {"op": NAME, ...fields}, see OPS below; unknown fields are errors
  "input"         the op's input in cnnc layout: (c, x, y, n) rank 4, or flat (f, n) rank 2
  "input_1", ...  further inputs of add and concat
  "weight", "bias", "running_mean", "running_var"   parameters by role, cnnc layout
  "labels"        softmax_cross_entropy: class per sample (n), or per pixel (x, y, n), as floats
  "targets"       mse: same layout as the input
  "mask"          dropout while training: 1 keeps, 0 drops, same layout as the input
  "grad_output"   the adjoint, same element count and order as "output" (1 element for losses)

Everything is computed in float64. OUT receives, all float64:

  "output"        op(inputs) in cnnc layout: rank 4 (c, x, y, n) for spatial outputs (global pools
                  give (c, 1, 1, n)), rank 2 (f, n) for flat ones, rank 1 (1) for losses; an
                  element-wise op keeps its input's rank
  "grad.<name>"   d sum(output * grad_output) / d <name>, for input, input_<k>, weight and bias
  "running_mean.updated", "running_var.updated"   batch_norm while training

Op fields (defaults in brackets; pads are pad_top, pad_bottom, pad_left, pad_right [0]):
  conv2d            filters, kernel_h, kernel_w, stride_h [1], stride_w [1], dilation_h [1],
                    dilation_w [1], pads, groups [1], bias [true]. Weight (Cout, KW, KH, Cin/groups).
                    y = conv2d(zero_pad(x, pads), VALID).
  transposed_conv2d same fields plus output_padding_h [0], output_padding_w [0]. Weight
                    (Cout/groups, KW, KH, Cin): index co_g + Cout_g*(kx + KW*(ky + KH*ci)), torch
                    ConvTranspose2d's [Cin][Cout/groups][kH][kW]. Output extent
                    (i-1)*s - pad_before - pad_after + d*(k-1) + output_padding + 1, computed as:
                    full = conv_transpose2d(x, padding=0, output_padding=0), size (i-1)*s+d*(k-1)+1;
                    append output_padding zero rows at the bottom (columns at the right);
                    crop pad_top rows from the top and pad_bottom from the bottom (pad_left and
                    pad_right columns); then add the bias to every pixel. Equals torch's
                    ConvTranspose2d(padding=p, output_padding=op) when the pads are equal (checked
                    here whenever torch accepts that configuration).
  max_pool          kernel_h, kernel_w, stride_h [kernel], stride_w [kernel], dilation_h [1],
                    dilation_w [1], pads; padding reads as -inf; ties go to the first element in
                    (ky, kx) order (torch's max_pool2d).
  avg_pool          as max_pool plus count_include_pad [true]: divide by kernel_h*kernel_w, or by
                    the number of real (unpadded) pixels in the window.
  l2_pool           as max_pool: sqrt(sum of x^2 over the window), padding reads as zero.
  global_avg_pool, global_max_pool   no fields; output (c, 1, 1, n).
  relu, relu6, sigmoid, tanh         no fields; relu6 is min(max(x, 0), 6).
  leaky_relu, elu   alpha [0.01 for leaky_relu, 1.0 for elu].
  softmax, log_softmax   no fields; over the features of a flat input, or over the channels of
                    each pixel of a (c, x, y, n) input.
  dense             units, bias [true]; weight (units, in); a non-flat input is flattened first.
  flatten           no fields; f = c*H*W + y*W + x.
  reshape           c, h, w (per-sample CxHxW), or shape [d0, ...] (per-sample, outermost first);
                    a row-major reshape of each sample's CxHxW (or flat) tensor.
  add               inputs input, input_1, ...; their sum.
  concat            inputs input, input_1, ...; concatenated along channels (features if flat).
  zero_pad          pads.
  batch_norm        eps [1e-5], momentum [0.1], training [true]; weight (gamma), bias (beta),
                    running_mean, running_var (c). Training normalises with the batch mean and
                    biased variance over (n, y, x) and updates running_var with the unbiased one
                    (torch.nn.functional.batch_norm); inference uses the running statistics.
  dropout           rate [0.5], training [true]; training: y = x * mask / (1 - rate); else y = x.
  softmax_cross_entropy  label_smoothing [0]; logits flat (classes, n) with labels (n), or per
                    pixel (classes, x, y, n) with labels (x, y, n); mean over samples (pixels).
  mse               no fields; mean over all elements of (input - targets)^2.
"""

import json
import math
import sys

import numpy as np

from cnnc_tensors import fail, join_cases, read_tensors, split_cases, write_tensors

# Imported once every spec has been validated: a bad spec is reported without torch's second of
# start-up.
torch = None
F = None


def import_torch():
    global torch, F
    import torch as torch_module
    import torch.nn.functional as functional
    torch, F = torch_module, functional


PADS = {"pad_top", "pad_bottom", "pad_left", "pad_right"}
WINDOW = {"kernel_h", "kernel_w", "stride_h", "stride_w", "dilation_h", "dilation_w"} | PADS
# The fields each op accepts; anything else in a spec is an error, not silently a default.
OP_FIELDS = {
    "conv2d": WINDOW | {"filters", "groups", "bias"},
    "transposed_conv2d": WINDOW | {"filters", "groups", "bias", "output_padding_h",
                                   "output_padding_w"},
    "max_pool": WINDOW,
    "avg_pool": WINDOW | {"count_include_pad"},
    "l2_pool": WINDOW,
    "global_avg_pool": set(),
    "global_max_pool": set(),
    "relu": set(),
    "relu6": set(),
    "leaky_relu": {"alpha"},
    "elu": {"alpha"},
    "sigmoid": set(),
    "tanh": set(),
    "softmax": set(),
    "log_softmax": set(),
    "dense": {"units", "bias"},
    "flatten": set(),
    "reshape": {"c", "h", "w", "shape"},
    "add": set(),
    "concat": set(),
    "zero_pad": PADS,
    "batch_norm": {"eps", "momentum", "training"},
    "dropout": {"rate", "training"},
    "softmax_cross_entropy": {"label_smoothing"},
    "mse": set(),
}


class Spec:
    """The op's JSON fields, checked against OP_FIELDS."""

    def __init__(self, text):
        try:
            self.fields = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"spec.json is not JSON: {e}") from e
        if not isinstance(self.fields, dict) or "op" not in self.fields:
            raise ValueError('spec.json must be an object with an "op" field')
        self.op = self.fields["op"]
        if self.op not in OP_FIELDS:
            raise ValueError(f"unknown op '{self.op}' (known: {', '.join(sorted(OP_FIELDS))})")
        unknown = sorted(set(self.fields) - OP_FIELDS[self.op] - {"op"})
        if unknown:
            raise ValueError(f"op {self.op}: unknown fields {unknown} (it takes "
                             f"{sorted(OP_FIELDS[self.op])})")

    def get(self, name, default=None):
        assert name in OP_FIELDS[self.op], f"{self.op} reads undeclared field {name}"
        if name in self.fields:
            return self.fields[name]
        if default is None:
            raise ValueError(f"op {self.op}: missing field '{name}'")
        return default

    def int(self, name, default=None):
        value = self.get(name, default)
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"op {self.op}: field '{name}' must be an integer, got {value!r}")
        return int(value)

    def float(self, name, default=None):
        return float(self.get(name, default))

    def bool(self, name, default=None):
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise ValueError(f"op {self.op}: field '{name}' must be true or false, got {value!r}")
        return value

    def pads(self):
        """(left, right, top, bottom): the order F.pad takes for the last two dimensions."""
        return (self.int("pad_left", 0), self.int("pad_right", 0), self.int("pad_top", 0),
                self.int("pad_bottom", 0))



# ---- layouts -------------------------------------------------------------------------------------
# Leaves are kept in cnnc layout (numpy shapes), so autograd hands back gradients in that layout.

def leaf(array):
    return torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64,
                        requires_grad=True)


def act_to_torch(t):
    """cnnc activation leaf -> torch layout: [n][y][x][c] -> [n][c][y][x]; [n][f] unchanged."""
    if t.dim() == 4:
        return t.permute(0, 3, 1, 2)
    if t.dim() == 2:
        return t
    raise ValueError(f"an activation must have rank 4 (c, x, y, n) or 2 (f, n), got shape "
                     f"{tuple(reversed(t.shape))} (innermost first)")


def act_from_torch(t):
    """Inverse of act_to_torch: [n][c][y][x] -> [n][y][x][c]; [n][f] and scalars unchanged."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1)
    return t


def as_nchw(x):
    """A torch activation as [n][c][y][x] (a flat one becomes [n][f][1][1])."""
    return x if x.dim() == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)


def window(spec, pool):
    kh, kw = spec.int("kernel_h"), spec.int("kernel_w")
    sh = spec.int("stride_h", kh if pool else 1)
    sw = spec.int("stride_w", kw if pool else 1)
    dh, dw = spec.int("dilation_h", 1), spec.int("dilation_w", 1)
    return (kh, kw), (sh, sw), (dh, dw)


def window_sum(x, kernel, stride, dilation):
    """Sum over every window of an already padded NCHW tensor (any dilation)."""
    n, c, h, w = x.shape
    oh = (h - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f"the window does not fit the padded input {h}x{w}")
    cols = F.unfold(x, kernel, dilation=dilation, stride=stride)  # [n][c*kh*kw][oh*ow]
    return cols.reshape(n, c, kernel[0] * kernel[1], oh, ow).sum(2)


# ---- ops: each takes (spec, inputs as cnnc-layout leaves, params) and returns the torch output ----

def op_conv2d(spec, xs, p):
    kernel, stride, dilation = window(spec, pool=False)
    groups = spec.int("groups", 1)
    filters = spec.int("filters")
    has_bias = spec.bool("bias", True)
    x = F.pad(act_to_torch(xs[0]), spec.pads())
    w = p["weight"].permute(3, 0, 1, 2)  # (co, kx, ky, ci) -> [co][ci][ky][kx]
    if w.shape[0] != filters or w.shape[2:] != kernel:
        raise ValueError(f"weight extents {tuple(reversed(p['weight'].shape))} do not match "
                         f"filters {filters}, kernel {kernel[0]}x{kernel[1]}")
    bias = p["bias"] if has_bias else None
    return F.conv2d(x, w, bias, stride, 0, dilation, groups)


def op_transposed_conv2d(spec, xs, p):
    kernel, stride, dilation = window(spec, pool=False)
    groups = spec.int("groups", 1)
    filters = spec.int("filters")
    has_bias = spec.bool("bias", True)
    left, right, top, bottom = spec.pads()
    out_pad = (spec.int("output_padding_h", 0), spec.int("output_padding_w", 0))
    x = act_to_torch(xs[0])
    w = p["weight"].permute(0, 3, 1, 2)  # (co_g, kx, ky, ci) -> [ci][co_g][ky][kx]
    if w.shape[1] * groups != filters or w.shape[2:] != kernel:
        raise ValueError(f"weight extents {tuple(reversed(p['weight'].shape))} do not match "
                         f"filters {filters}, groups {groups}, kernel {kernel[0]}x{kernel[1]}")
    full = F.conv_transpose2d(x, w, None, stride, 0, 0, groups, dilation)
    full = F.pad(full, (0, out_pad[1], 0, out_pad[0]))
    h, w_ = full.shape[2], full.shape[3]
    if top + bottom >= h or left + right >= w_:
        raise ValueError(f"pads leave no output of the full {h}x{w_} transposed convolution")
    y = full[:, :, top:h - bottom, left:w_ - right]
    if has_bias:
        y = y + p["bias"].reshape(1, -1, 1, 1)
    # Self-check of the construction against torch's own module where torch can express it.
    if top == bottom and left == right and all(
            o < max(s, d) for o, s, d in zip(out_pad, stride, dilation)):
        with torch.no_grad():
            native = F.conv_transpose2d(x, w, p["bias"] if has_bias else None, stride,
                                        (top, left), out_pad, groups, dilation)
            if native.shape != y.shape or not torch.allclose(native, y, rtol=1e-12, atol=1e-12):
                raise AssertionError("transposed conv construction disagrees with torch's")
    return y


def op_max_pool(spec, xs, p):
    kernel, stride, dilation = window(spec, pool=True)
    x = F.pad(act_to_torch(xs[0]), spec.pads(), value=-math.inf)
    return F.max_pool2d(x, kernel, stride, 0, dilation)


def op_avg_pool(spec, xs, p):
    kernel, stride, dilation = window(spec, pool=True)
    include_pad = spec.bool("count_include_pad", True)
    pads = spec.pads()
    x = act_to_torch(xs[0])
    sums = window_sum(F.pad(x, pads), kernel, stride, dilation)
    if include_pad:
        return sums / (kernel[0] * kernel[1])
    counts = window_sum(F.pad(torch.ones_like(x), pads), kernel, stride, dilation)
    return sums / counts


def op_l2_pool(spec, xs, p):
    kernel, stride, dilation = window(spec, pool=True)
    x = act_to_torch(xs[0])
    return torch.sqrt(window_sum(F.pad(x * x, spec.pads()), kernel, stride, dilation))


def op_global_avg_pool(spec, xs, p):
    return as_nchw(act_to_torch(xs[0])).mean((2, 3), keepdim=True)


def op_global_max_pool(spec, xs, p):
    x = as_nchw(act_to_torch(xs[0]))
    return F.max_pool2d(x, (x.shape[2], x.shape[3]))  # first maximum wins ties, like max_pool


def op_relu(spec, xs, p):
    return F.relu(act_to_torch(xs[0]))


def op_relu6(spec, xs, p):
    return F.relu6(act_to_torch(xs[0]))


def op_leaky_relu(spec, xs, p):
    return F.leaky_relu(act_to_torch(xs[0]), spec.float("alpha", 0.01))


def op_elu(spec, xs, p):
    return F.elu(act_to_torch(xs[0]), spec.float("alpha", 1.0))


def op_sigmoid(spec, xs, p):
    return torch.sigmoid(act_to_torch(xs[0]))


def op_tanh(spec, xs, p):
    return torch.tanh(act_to_torch(xs[0]))


def op_softmax(spec, xs, p):
    return F.softmax(act_to_torch(xs[0]), dim=1)


def op_log_softmax(spec, xs, p):
    return F.log_softmax(act_to_torch(xs[0]), dim=1)


def op_dense(spec, xs, p):
    units = spec.int("units")
    has_bias = spec.bool("bias", True)
    x = act_to_torch(xs[0])
    x = x.reshape(x.shape[0], -1)
    w = p["weight"].t()  # (o, i) -> [o][i]
    if w.shape != (units, x.shape[1]):
        raise ValueError(f"weight extents {tuple(reversed(p['weight'].shape))} do not match "
                         f"units {units} and {x.shape[1]} inputs")
    return F.linear(x, w, p["bias"] if has_bias else None)


def op_flatten(spec, xs, p):
    x = act_to_torch(xs[0])
    return x.reshape(x.shape[0], -1)


def op_reshape(spec, xs, p):
    if "shape" in spec.fields:
        shape = [int(d) for d in spec.get("shape")]
    else:
        shape = [spec.int("c"), spec.int("h"), spec.int("w")]
    if len(shape) not in (1, 3):
        raise ValueError(f"reshape: shape {shape} must be flat or CxHxW")
    x = act_to_torch(xs[0])
    return x.reshape(x.shape[0], *shape)


def op_add(spec, xs, p):
    if len(xs) < 2:
        raise ValueError("add needs at least two inputs (input, input_1, ...)")
    total = act_to_torch(xs[0])
    for x in xs[1:]:
        total = total + act_to_torch(x)
    return total


def op_concat(spec, xs, p):
    if len(xs) < 2:
        raise ValueError("concat needs at least two inputs (input, input_1, ...)")
    return torch.cat([act_to_torch(x) for x in xs], dim=1)


def op_zero_pad(spec, xs, p):
    return F.pad(act_to_torch(xs[0]), spec.pads())


def op_batch_norm(spec, xs, p):
    eps = spec.float("eps", 1e-5)
    momentum = spec.float("momentum", 0.1)
    training = spec.bool("training", True)
    # F.batch_norm updates these in place while training; the caller writes them out.
    return F.batch_norm(act_to_torch(xs[0]), p["running_mean"], p["running_var"], p.get("weight"),
                        p.get("bias"), training, momentum, eps)


def op_dropout(spec, xs, p):
    rate = spec.float("rate", 0.5)
    training = spec.bool("training", True)
    x = act_to_torch(xs[0])
    if not training:
        return x
    if "mask" not in p:
        raise ValueError("dropout while training needs a 'mask' tensor (1 keeps, 0 drops)")
    return x * act_to_torch(p["mask"]) / (1 - rate)


def op_softmax_cross_entropy(spec, xs, p):
    smoothing = spec.float("label_smoothing", 0.0)
    logits = act_to_torch(xs[0])
    if "labels" not in p:
        raise ValueError("softmax_cross_entropy needs 'labels'")
    labels = p["labels"].detach()
    expected = (logits.shape[0],) + tuple(logits.shape[2:])
    if labels.numel() != math.prod(expected):
        raise ValueError(f"{labels.numel()} labels for logits of torch shape {tuple(logits.shape)}")
    labels = labels.reshape(expected).round().long()  # (x, y, n) is numpy [n][y][x]
    return F.cross_entropy(logits, labels, label_smoothing=smoothing).reshape(1)


def op_mse(spec, xs, p):
    if "targets" not in p:
        raise ValueError("mse needs 'targets'")
    x, t = xs[0], p["targets"].detach()
    if x.shape != t.shape:
        raise ValueError(f"targets shape {tuple(t.shape)} differs from input {tuple(x.shape)}")
    return F.mse_loss(x, t).reshape(1)  # layout-independent: stays in cnnc layout


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}
assert set(OPS) == set(OP_FIELDS), "every op needs a function and a field list"
PARAMS = ["weight", "bias", "running_mean", "running_var", "labels", "targets", "mask"]


class Params(dict):
    """The case's parameter tensors; a missing one is reported by name."""

    def __missing__(self, key):
        raise ValueError(f"no '{key}' tensor (the case has {sorted(self) or 'none'})")


WITH_GRAD = ["weight", "bias"]


def parse_spec(tensors):
    if "spec.json" not in tensors or not isinstance(tensors["spec.json"], str):
        raise ValueError("no text entry 'spec.json'")
    return Spec(tensors["spec.json"])


def run_case(tensors):
    spec = parse_spec(tensors)
    input_names = ["input"]
    while f"input_{len(input_names)}" in tensors:
        input_names.append(f"input_{len(input_names)}")
    if "input" not in tensors:
        raise ValueError("no 'input' tensor")
    inputs = [leaf(tensors[n]) for n in input_names]
    params = Params()
    for name in PARAMS:
        if name in tensors:
            params[name] = leaf(tensors[name]) if name in WITH_GRAD else torch.tensor(
                np.asarray(tensors[name], dtype=np.float64))

    output = act_from_torch(OPS[spec.op](spec, inputs, params))

    if "grad_output" not in tensors:
        raise ValueError("no 'grad_output' tensor")
    grad_output = np.asarray(tensors["grad_output"], dtype=np.float64)
    if grad_output.size != output.numel():
        raise ValueError(f"grad_output has {grad_output.size} values, the output "
                         f"{output.numel()} (extents {tuple(reversed(output.shape))})")
    adjoint = torch.from_numpy(grad_output.reshape(tuple(output.shape)))
    (output * adjoint).sum().backward()

    out = {"output": output.detach().numpy()}
    for name, x in zip(input_names, inputs):
        out["grad." + name] = x.grad.numpy()
    for name in WITH_GRAD:
        if name in params:
            grad = params[name].grad
            out["grad." + name] = (grad if grad is not None else
                                   torch.zeros_like(params[name])).numpy()
    if spec.op == "batch_norm" and spec.bool("training", True):
        out["running_mean.updated"] = params["running_mean"].numpy()
        out["running_var.updated"] = params["running_var"].numpy()
    return out


def main():
    if len(sys.argv) != 3:
        fail(f"usage: {sys.argv[0]} IN OUT\n{__doc__}")
    cases = split_cases(read_tensors(sys.argv[1]))
    for case, tensors in cases.items():
        try:
            parse_spec(tensors)
        except ValueError as e:
            fail(f"case '{case or '(single)'}': {e}")
    import_torch()
    results = {}
    for case, tensors in cases.items():
        try:
            results[case] = run_case(tensors)
        except (ValueError, RuntimeError, AssertionError, KeyError) as e:
            fail(f"case '{case or '(single)'}': {type(e).__name__}: {e}")
    write_tensors(sys.argv[2], join_cases(results), float64=True)


if __name__ == "__main__":
    main()
