"""PyTorch twins of cnnc's architectures and their conversion to cnnc parameter files (.cnnp).

Used by scripts/torchvision_to_cnnp.py (the user-facing importer) and by the numerics test
tests/torch/architecture_reference.py; run both with /usr/bin/python3 (torch 1.13,
torchvision 0.14).

What is here:
  MODELS                    cnnc model name -> Spec (input shape C,H,W; classes; builder)
  build_model(name, seed)   the PyTorch model, initialised as torchvision does with `seed`
  randomize_batch_norm      random BN weight/bias/running statistics, so that folding batch norm
                            into the convolutions is really exercised
  calibrate                 the same relative to the actual activations, plus logits of a set
                            scale: what the numerics test uses
  PreActResNet18, UNet      the two networks torchvision lacks, with module paths equal to the
                            cnnc layer names (examples/architectures/resnet.h, unet.h)
  load_state_dict_checked   a saved state dict into a model, with errors naming key and shapes
  cnnc_tensors(model)       {cnnc tensor name: numpy array in cnnc's layout}
  write_cnnp(path, ...)     the parameter file (layout in runtime/param_file.h)

Naming rule (examples/architectures/common.h): the cnnc layer holding a module's tensors is
named after the module path with '.' replaced by '_', so state_dict key "layer1.0.conv1.weight"
is cnnc tensor "layer1_0_conv1.weight". BN's num_batches_tracked has no cnnc counterpart.

Layouts (numpy shapes; cnnc's extents are the reverse, innermost first):
  Conv2d weight             torch [co][ci/g][ky][kx]   cnnc [ci/g][ky][kx][co]
  ConvTranspose2d weight    torch [ci][co/g][ky][kx]   cnnc [ci][ky][kx][co/g]
  Linear weight             torch [out][in]            cnnc [in][out]  (in: torch's C,H,W order)
  biases, BN vectors        identical
"""

import json
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Callable, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# ---- the networks torchvision lacks ---------------------------------------------------------


class PreActBlock(nn.Module):
    """The pre-activation basic block of cnnc's preact_block (resnet.h): BN-ReLU before each
    convolution, nothing after the sum. The projection shortcut (a bare 1x1 convolution at
    shortcut.0) reads the pre-activated input, and so does the identity shortcut of the
    network's first block (`share_preact`)."""

    def __init__(self, in_planes, planes, stride, share_preact):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.project = stride != 1 or in_planes != planes
        self.share_preact = share_preact
        if self.project:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, 0, bias=False))

    def forward(self, x):
        a = self.relu1(self.bn1(x))
        y = self.conv2(self.relu2(self.bn2(self.conv1(a))))
        if self.project:
            shortcut = self.shortcut(a)
        else:
            shortcut = a if self.share_preact else x
        return y + shortcut


class PreActResNet18(nn.Module):
    """cnnc's preact_resnet18: conv1 7x7/2, max pool 3x3/2, four stages of two PreActBlocks at
    layer<s>.<i>, then bn_final, ReLU, global average pool and fc. 11,687,720 parameters."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_planes = 64
        for stage in range(4):
            planes = 64 << stage
            blocks = []
            for i in range(2):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(PreActBlock(in_planes, planes, stride, stage == 0 and i == 0))
                in_planes = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.bn_final = nn.BatchNorm2d(512)
        self.relu_final = nn.ReLU(inplace=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        # torchvision's ResNet initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.relu_final(self.bn_final(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class DoubleConv(nn.Module):
    """milesial/Pytorch-UNet's DoubleConv: (3x3 conv without bias, BN, ReLU) twice."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    """2x2 max pool, then DoubleConv (maxpool_conv.0 and maxpool_conv.1)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """bilinear=False: a 2x2 stride-2 transposed convolution halves the channels (up), the skip
    goes in front of it in the concatenation, then DoubleConv (conv)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.size(2) - x1.size(2), x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])  # no-op for sizes % 16 == 0
        return self.conv(torch.cat([x2, x1], dim=1))


class OutConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Module):
    """milesial/Pytorch-UNet's UNet(n_channels=3, n_classes=2, bilinear=False): per-pixel class
    scores N x classes x H x W; 31,037,698 parameters with two classes."""

    def __init__(self, n_channels=3, n_classes=2):
        super().__init__()
        self.inc = DoubleConv(n_channels, 64)
        self.down1 = Down(64, 128)
        self.down2 = Down(128, 256)
        self.down3 = Down(256, 512)
        self.down4 = Down(512, 1024)
        self.up1 = Up(1024, 512)
        self.up2 = Up(512, 256)
        self.up3 = Up(256, 128)
        self.up4 = Up(128, 64)
        self.outc = OutConv(64, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def resnet18_fashion():
    """cnnc's resnet18_fashion: torchvision resnet18(num_classes=10) for 1x28x28 images, with a
    3x3 stride-1 conv1 on one channel and no stem max pool."""
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    model.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


# ---- the catalogue -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    input_shape: Tuple[int, int, int]  # C, H, W of one image
    classes: int
    build: Callable[[], nn.Module]
    # Input normalisation that goes with the architecture's published weights, stored in the
    # file's metadata for cnnc's uint8 image paths (the `infer` subcommand does not apply it).
    normalisation: dict = None


def _torchvision(name, **kwargs):
    return lambda: getattr(torchvision.models, name)(weights=None, **kwargs)


# torchvision's ImageNet weights expect (x/255 - mean) / std per channel.
IMAGENET = {"mode": "standardise", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
# GoogLeNet's and Inception-v3's published weights are used with transform_input=True, which
# turns ImageNet-standardised input into (x/255 - 0.5) / 0.5; cnnc has no transform_input, so
# its input must be normalised that way directly.
HALF = {"mode": "standardise", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}

MODELS = {
    "alexnet": Spec((3, 224, 224), 1000, _torchvision("alexnet"), IMAGENET),
    "vgg16": Spec((3, 224, 224), 1000, _torchvision("vgg16"), IMAGENET),
    "vgg16_bn": Spec((3, 224, 224), 1000, _torchvision("vgg16_bn"), IMAGENET),
    "googlenet": Spec((3, 224, 224), 1000,
                      _torchvision("googlenet", aux_logits=False, init_weights=True,
                                   transform_input=False), HALF),
    "inception_v3": Spec((3, 299, 299), 1000,
                         _torchvision("inception_v3", aux_logits=False, init_weights=True,
                                      transform_input=False), HALF),
    "resnet18": Spec((3, 224, 224), 1000, _torchvision("resnet18"), IMAGENET),
    "resnet34": Spec((3, 224, 224), 1000, _torchvision("resnet34"), IMAGENET),
    "resnet50": Spec((3, 224, 224), 1000, _torchvision("resnet50"), IMAGENET),
    "resnet101": Spec((3, 224, 224), 1000, _torchvision("resnet101"), IMAGENET),
    "resnet152": Spec((3, 224, 224), 1000, _torchvision("resnet152"), IMAGENET),
    "preact_resnet18": Spec((3, 224, 224), 1000, PreActResNet18, IMAGENET),
    "squeezenet1_1": Spec((3, 224, 224), 1000, _torchvision("squeezenet1_1"), IMAGENET),
    "mobilenet_v2": Spec((3, 224, 224), 1000, _torchvision("mobilenet_v2"), IMAGENET),
    "unet": Spec((3, 224, 224), 2, UNet, None),
    "resnet18_fashion": Spec((1, 28, 28), 10, resnet18_fashion, None),
}

# State-dict prefixes of torchvision modules that cnnc's networks leave out: the auxiliary
# classifiers, which the published GoogLeNet and Inception-v3 weights still hold.
AUXILIARY_PREFIXES = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}


def spec(name):
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name, seed=0):
    """The PyTorch model `name` in eval mode, initialised as torchvision does, seeded."""
    torch.manual_seed(seed)
    model = spec(name).build()
    return model.eval()


def _uniform(g, like, low, high):
    return torch.rand(like.shape, generator=g, dtype=like.dtype) * (high - low) + low


def randomize_batch_norm(model, seed=0):
    """Gives every BatchNorm2d random statistics (fixed by `seed`): weight 1 +- 0.2, bias
    0 +- 0.2, running_mean 0 +- 0.2, running_var 0.5..1.5. The defaults (1, 0, 0, 1) would make
    batch norm an identity that a wrong folding could not be told apart from."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(_uniform(g, m.weight, 0.8, 1.2))
                m.bias.copy_(_uniform(g, m.bias, -0.2, 0.2))
                m.running_mean.copy_(_uniform(g, m.running_mean, -0.2, 0.2))
                m.running_var.copy_(_uniform(g, m.running_var, 0.5, 1.5))
    return model


def calibrate(model, name, seed=0, randomize_bn=True, logit_std=2.0, images=2,
              residual_scale=0.2):
    """Random weights whose activations neither vanish nor explode and whose outputs are not
    dominated by float32 rounding, as a numerics test wants.

    With torchvision's initialisation and fixed batch-norm statistics the logits of the deep
    networks explode (ResNet-152: standard deviation ~1e9, every probability 0 or 1) and those of
    AlexNet, VGG, GoogLeNet, MobileNet-v2 nearly vanish (~0.01: every probability ~1/1000), and
    neither tells a correct network from a wrong one. So, on `images` random normal inputs:
    every batch norm's running statistics are set, in forward order, from the mean m and
    variance v of what it actually receives, then perturbed per channel as randomize_batch_norm
    does in absolute terms: running_mean = m + (+-0.2) sqrt(v), running_var = v * (0.5..1.5)
    (v floored at 1e-3 of the layer's mean variance: a dead channel would otherwise be divided
    by sqrt(eps) and turn rounding noise into signal); with `randomize_bn` weight and bias are
    random too (1 +- 0.2, 0 +- 0.2). Then the last convolution or dense layer is scaled so that
    the logits' standard deviation is `logit_std`.

    The last batch norm of each ResNet residual branch (BasicBlock.bn2, Bottleneck.bn3) has its
    weight and bias scaled by `residual_scale`, as torchvision's zero_init_residual does in the
    limit: with full-size branches the rectified residual stream of ResNet-101/152 grows a large
    per-channel mean that each block's batch norms cancel, and rounding errors grow with it, so
    much that PyTorch's own float32 result is 2e-3 (in log-probability) away from its float64
    one, 5x beyond the test's tolerance. With 0.2 it is 3e-5. Returns the model."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((images,) + spec(name).input_shape, generator=g)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]

    def set_statistics(m, inputs):
        v = inputs[0].var(dim=(0, 2, 3), unbiased=False)
        v = torch.maximum(v, 1e-3 * v.mean())
        m.running_mean.copy_(inputs[0].mean(dim=(0, 2, 3)) + _uniform(g, v, -0.2, 0.2) * v.sqrt())
        m.running_var.copy_(v * _uniform(g, v, 0.5, 1.5))

    with torch.no_grad():
        model.eval()
        if randomize_bn:
            for m in bns:
                m.weight.copy_(_uniform(g, m.weight, 0.8, 1.2))
                m.bias.copy_(_uniform(g, m.bias, -0.2, 0.2))
        for m in model.modules():
            branch_end = (m.bn2 if isinstance(m, torchvision.models.resnet.BasicBlock)
                          else m.bn3 if isinstance(m, torchvision.models.resnet.Bottleneck)
                          else None)
            if branch_end is not None:
                branch_end.weight.mul_(residual_scale)
                branch_end.bias.mul_(residual_scale)
        hooks = [m.register_forward_pre_hook(set_statistics) for m in bns]
        try:
            model(x)
        finally:
            for h in hooks:
                h.remove()
        last = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
        factor = logit_std / model(x).std().item()
        last.weight.mul_(factor)
        if last.bias is not None:
            last.bias.mul_(factor)
    return model


class ConversionError(ValueError):
    """A state dict or model that does not fit cnnc's architecture; the message says why."""


def load_state_dict_checked(model, name, state_dict):
    """Loads `state_dict` into `model` (model `name`), after checking that every key exists and
    has the model's shape: an error names each key that is missing, unexpected or of another
    shape, with both shapes. Keys of the auxiliary classifiers (aux1/aux2, AuxLogits) are
    dropped; returns the list of dropped keys."""
    if not isinstance(state_dict, dict):
        raise ConversionError("expected a state dict (a dict of tensors), got "
                              f"{type(state_dict).__name__}")
    for wrapper in ("state_dict", "model"):  # checkpoints that wrap the state dict
        if wrapper in state_dict and isinstance(state_dict[wrapper], dict):
            state_dict = state_dict[wrapper]
    # nn.DataParallel / DistributedDataParallel save keys as "module.<path>".
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    aux = AUXILIARY_PREFIXES.get(name, ())
    dropped = [k for k in state_dict if k.startswith(aux)] if aux else []
    state_dict = {k: v for k, v in state_dict.items() if k not in dropped}

    expected = model.state_dict()
    problems = []
    for key, value in expected.items():
        if key not in state_dict:
            problems.append(f"missing key '{key}' (the model's shape {list(value.shape)})")
    for key, value in state_dict.items():
        if key not in expected:
            shape = list(value.shape) if hasattr(value, "shape") else type(value).__name__
            problems.append(f"unexpected key '{key}' (shape {shape}): {name} has no such tensor")
        elif not torch.is_tensor(value):
            problems.append(f"key '{key}' is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != tuple(expected[key].shape):
            problems.append(f"key '{key}': the state dict's shape {list(value.shape)} differs "
                            f"from {name}'s {list(expected[key].shape)}")
    if problems:
        raise ConversionError(f"the state dict does not fit {name}: {len(problems)} problem(s):\n  "
                           + "\n  ".join(problems))
    model.load_state_dict(state_dict, strict=True)
    return dropped


def cnnc_tensors(model):
    """{cnnc tensor name: float32 numpy array in cnnc's layout (numpy shape)} for every tensor
    of `model`, in module order. Raises ConversionError for a module kind cnnc has no layer for."""

    def array(t):
        return t.detach().to(torch.float32).cpu().numpy()

    out = {}
    for path, m in model.named_modules():
        own = dict(m.named_parameters(recurse=False))
        own.update(dict(m.named_buffers(recurse=False)))
        if not own:
            continue
        layer = path.replace(".", "_")
        if isinstance(m, nn.Conv2d):
            out[f"{layer}.weight"] = array(m.weight).transpose(1, 2, 3, 0)
        elif isinstance(m, nn.ConvTranspose2d):
            out[f"{layer}.weight"] = array(m.weight).transpose(0, 2, 3, 1)
        elif isinstance(m, nn.Linear):
            out[f"{layer}.weight"] = array(m.weight).T
        elif isinstance(m, nn.BatchNorm2d):
            if not m.affine or not m.track_running_stats:
                raise ConversionError(f"module '{path}': cnnc's batch norm needs affine=True and "
                                   "track_running_stats=True")
            for role in ("weight", "bias", "running_mean", "running_var"):
                out[f"{layer}.{role}"] = array(getattr(m, role))
            continue
        else:
            raise ConversionError(f"module '{path}' ({type(m).__name__}) holds tensors "
                               f"{sorted(own)} but cnnc has no matching layer")
        if m.bias is not None:
            out[f"{layer}.bias"] = array(m.bias)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def write_cnnp(path, model_name, tensors, meta=None, durable=True):
    """Writes a cnnc parameter file (runtime/param_file.h, version 1): `tensors` maps names to
    numpy arrays in cnnc's layout; extents are stored innermost first (the reversed numpy
    shape). Streams the data and checksums it on the way, then renames path + ".tmp" over
    `path`, so an interrupted write leaves no half file under the real name; `durable` flushes
    it to disk first (a scratch file for a test need not wait for that)."""

    def text(s):
        b = s.encode("utf-8")
        return struct.pack("<I", len(b)) + b

    header = bytearray(text(model_name))
    header += struct.pack("<I", len(tensors))
    data_bytes = 0
    for name, a in tensors.items():
        extents = tuple(reversed(a.shape))
        header += text(name) + struct.pack("<I", len(extents))
        header += struct.pack(f"<{len(extents)}q", *extents)
        data_bytes += 4 * a.size
    meta_bytes = json.dumps(meta or {}, sort_keys=True).encode("utf-8")
    file_len = 24 + len(header) + 8 + len(meta_bytes) + data_bytes + 4

    tmp = path + ".tmp"
    crc = 0
    with open(tmp, "wb") as f:
        def put(b):
            nonlocal crc
            crc = zlib.crc32(b, crc)
            f.write(b)

        put(b"CNNCPRM\0" + struct.pack("<IIQ", 1, len(header), file_len))
        put(bytes(header))
        put(struct.pack("<Q", len(meta_bytes)) + meta_bytes)
        for a in tensors.values():
            put(memoryview(np.ascontiguousarray(a, dtype="<f4")).cast("B"))
        f.write(struct.pack("<I", crc))
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    return file_len


def metadata(name, pretrained, **extra):
    """The meta JSON written with imported weights: where they came from and, for `pretrained`
    weights of an architecture with published ImageNet weights, the input normalisation that
    goes with them (random weights have none to speak of)."""
    meta = {"source": f"torch {torch.__version__}, torchvision {torchvision.__version__}",
            "imported_by": "scripts/torchvision_to_cnnp.py"}
    meta.update(extra)
    if pretrained and spec(name).normalisation is not None:
        meta["input_normalisation"] = spec(name).normalisation
    return meta
