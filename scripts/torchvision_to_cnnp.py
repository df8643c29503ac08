#!/usr/bin/python3
"""Writes a cnnc parameter file (.cnnp) from a torchvision model, for cnnc's architectures.

Usage (run with /usr/bin/python3, which has torch 1.13 and torchvision 0.14):

  scripts/torchvision_to_cnnp.py MODEL --out FILE.cnnp [--seed S] [--randomize-bn]
                                       [--state-dict PATH] [--calibrate]

MODEL is a cnnc model name: alexnet, vgg16, vgg16_bn, googlenet, inception_v3, resnet18,
resnet34, resnet50, resnet101, resnet152, preact_resnet18, squeezenet1_1, mobilenet_v2, unet,
resnet18_fashion (examples/architectures/). The weights are either torchvision's random
initialisation with --seed, or a saved state dict (--state-dict: a .pt/.pth file holding
model.state_dict(), such as torchvision's published ImageNet weights downloaded elsewhere).
--randomize-bn gives every batch norm random statistics (weight 1 +- 0.2, bias and running mean
0 +- 0.2, running variance 0.5..1.5), which a test of batch-norm folding needs; it applies after
--state-dict too. --calibrate (for tests, with random weights) sets the running statistics from
what each batch norm actually receives on random normal images, perturbed as --randomize-bn
does, scales the last batch norm of each ResNet residual branch by 0.2 and the last layer so
that the logits' standard deviation is 2: without it the random logits of deep ResNets explode
(and float32 rounding dominates them) and those of AlexNet, VGG or MobileNet nearly vanish.
This is what tests/e2e/architectures_numerics.sh checks cnnc against (--randomize-bn
--calibrate); details in cnnc_torch_models.calibrate.

The file then runs with the model program built by `ninja -C build MODEL`:

  build/bin/MODEL infer --weights FILE.cnnp --input x.f32 --output y.f32

where x.f32 holds float32 NCHW images as the first layer sees them (no normalisation is
applied) and y.f32 receives class probabilities (N x classes; N x classes x H x W for unet).

Examples:

  # ResNet-50 with random weights (seed 1):
  /usr/bin/python3 scripts/torchvision_to_cnnp.py resnet50 --out resnet50.cnnp --seed 1

  # The weights the numerics test uses for MobileNet-v2:
  /usr/bin/python3 scripts/torchvision_to_cnnp.py mobilenet_v2 --out m.cnnp --randomize-bn \
      --calibrate

  # torchvision's published ResNet-18 weights, downloaded on another machine with
  #   torch.save(torchvision.models.resnet18(weights="DEFAULT").state_dict(), "r18.pt")
  /usr/bin/python3 scripts/torchvision_to_cnnp.py resnet18 --state-dict r18.pt --out r18.cnnp

  # A milesial/Pytorch-UNet checkpoint (UNet(3, 2, bilinear=False)):
  /usr/bin/python3 scripts/torchvision_to_cnnp.py unet --state-dict unet.pth --out unet.cnnp

Notes:
- Tensor names follow the torchvision module paths ('.' -> '_'): state_dict key
  "layer1.0.conv1.weight" becomes cnnc tensor "layer1_0_conv1.weight"; the file holds exactly
  the tensors the cnnc model expects. A state dict that does not fit is rejected with every
  missing, unexpected or wrongly shaped key named together with both shapes.
- GoogLeNet and Inception-v3 have no auxiliary classifiers in cnnc: aux1/aux2/AuxLogits keys
  of a state dict are dropped (and listed). torchvision uses their published weights with
  transform_input=True; cnnc has no such step, so feed them images normalised as
  (x - 0.5) / 0.5 per channel (x in [0, 1]) instead of the ImageNet mean and deviation.
- With --state-dict the file's metadata records the input normalisation the published weights
  expect (ImageNet's mean and deviation; 0.5 and 0.5 for GoogLeNet and Inception-v3), which the
  program's uint8 image paths use; `infer` takes its input as given.
- preact_resnet18 and unet are not in torchvision: their PyTorch definitions, with module paths
  equal to cnnc's layer names, are in scripts/cnnc_torch_models.py.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import cnnc_torch_models as models  # noqa: E402


def convert(name, out, seed=0, randomize_bn=False, state_dict_path=None, calibrate=False,
            quiet=False, durable=True):
    """Builds model `name`, optionally loads a state dict, writes `out` (flushed to disk when
    `durable`); returns the model (eval mode) whose tensors were written."""
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    model = models.build_model(name, seed)
    if state_dict_path is not None:
        try:
            state_dict = torch.load(state_dict_path, map_location="cpu")
        except Exception as e:  # a missing file, not a torch file, ...
            raise models.ConversionError(f"{state_dict_path}: cannot read a state dict: {e}")
        if isinstance(state_dict, torch.nn.Module):
            state_dict = state_dict.state_dict()
        try:
            dropped = models.load_state_dict_checked(model, name, state_dict)
        except models.ConversionError as e:
            raise models.ConversionError(f"{state_dict_path}: {e}")
        if dropped:
            say(f"dropped {len(dropped)} tensors of the auxiliary classifiers "
                f"({', '.join(sorted({k.split('.')[0] for k in dropped}))}), which cnnc's {name} "
                "does not have")
    if calibrate:
        models.calibrate(model, name, seed, randomize_bn)
    elif randomize_bn:
        models.randomize_batch_norm(model, seed)
    tensors = models.cnnc_tensors(model)
    meta = models.metadata(name, pretrained=state_dict_path is not None,
                           weights=os.path.basename(state_dict_path) if state_dict_path
                           else f"random, seed {seed}",
                           randomized_batch_norm=bool(randomize_bn), calibrated=bool(calibrate))
    size = models.write_cnnp(out, name, tensors, meta, durable)
    say(f"wrote {out}: {name}, {len(tensors)} tensors, "
        f"{sum(a.size for a in tensors.values()):,} values, {size / 1e6:.1f} MB")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a cnnc parameter file (.cnnp) from a torchvision model.",
        epilog="See the module docstring (head of this file) for examples.")
    parser.add_argument("model", metavar="MODEL", choices=sorted(models.MODELS),
                        help="cnnc model name: " + ", ".join(models.MODELS))
    parser.add_argument("--out", required=True, metavar="FILE.cnnp", help="file to write")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random initialisation and of --randomize-bn "
                             "(default 0)")
    parser.add_argument("--randomize-bn", action="store_true",
                        help="random batch-norm weight, bias and running statistics")
    parser.add_argument("--state-dict", metavar="PATH",
                        help="a saved state dict (torch.save(model.state_dict(), PATH)) to "
                             "take the weights from instead of the random initialisation")
    parser.add_argument("--calibrate", action="store_true",
                        help="batch-norm statistics from random images and logits of standard "
                             "deviation 2 (the numerics test's weights)")
    args = parser.parse_args(argv)
    start = time.time()
    try:
        convert(args.model, args.out, args.seed, args.randomize_bn, args.state_dict,
                args.calibrate)
    except (models.ConversionError, OSError) as e:
        sys.exit(f"torchvision_to_cnnp: error: {e}")
    print(f"done in {time.time() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
