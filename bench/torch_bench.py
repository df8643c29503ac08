"""The PyTorch side of bench/run: the same layers, models and training steps as cnnc's, timed.

Run with /usr/bin/python3 (torch 1.13):
    torch_bench.py --threads 2 [--quick] {layers,models,training}
prints one line per row on stderr and one JSON object with every row as the last line on stdout.

The tables below (LAYERS, MODELS, TRAINING) are also what bench/run reads, so this module imports
torch only when it measures something: the driver can import it without paying for torch.
"""

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Layer:
    """One convolution + bias + ReLU at batch 1; `model` is its cnnc program in bench/layers/."""
    name: str
    model: str
    description: str
    in_channels: int
    size: int
    filters: int
    kernel: int = 3
    stride: int = 1
    pad: int = 1
    groups: int = 1

    @property
    def out_size(self):
        return (self.size + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def macs(self):
        return (self.filters * self.out_size * self.out_size * (self.in_channels // self.groups)
                * self.kernel * self.kernel)

    @property
    def flops(self):
        return 2 * self.macs

    def gflops(self, ms):
        """GFLOP/s of one run of the layer in `ms` milliseconds."""
        return self.flops / (ms * 1e-3) * 1e-9


# Must agree with bench/layers/layer_*.cpp; bench/run checks the MACs against cnnc's `summary`.
LAYERS = [
    Layer("conv3x3_64x56", "layer_conv3x3_64x56", "3x3 conv 64->64 @56x56", 64, 56, 64),
    Layer("conv3x3_128x28", "layer_conv3x3_128x28", "3x3 conv 128->128 @28x28", 128, 28, 128),
    Layer("conv3x3_256x14", "layer_conv3x3_256x14", "3x3 conv 256->256 @14x14", 256, 14, 256),
    Layer("conv3x3_512x7", "layer_conv3x3_512x7", "3x3 conv 512->512 @7x7", 512, 7, 512),
    Layer("stem7x7s2_3x224", "layer_stem7x7s2_3x224", "7x7/2 pad 3 conv 3->64 @224x224",
          3, 224, 64, kernel=7, stride=2, pad=3),
    Layer("dw3x3_144x56", "layer_dw3x3_144x56", "depthwise 3x3 144 @56x56 (MobileNet-v2)",
          144, 56, 144, groups=144),
]

# cnnc model programs in build/bin with a PyTorch twin in scripts/cnnc_torch_models.py.
MODELS = ["resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1", "googlenet", "vgg16"]

# Training at batch 64 with SGD + momentum 0.9, lr 0.02 (cnnc's defaults, runtime/trainer.h).
TRAINING = ["lenet5", "resnet18_fashion"]
TRAIN_BATCH = 64

# How long each row is timed: (minimum runs, minimum seconds). cnnc's `bench` times inference
# for at least 5 runs and about 2 s (runtime/model_main.cpp), so the full run matches that.
TIMING = {
    "full": {"layer": (10, 2.0), "model": (10, 3.0), "model_warmup": 3,
             "train_steps": {"lenet5": (100, 3.0), "resnet18_fashion": (8, 10.0)},
             "train_warmup": {"lenet5": 20, "resnet18_fashion": 2}},
    "quick": {"layer": (5, 0.5), "model": (3, 1.0), "model_warmup": 1,
              "train_steps": {"lenet5": (30, 1.0), "resnet18_fashion": (3, 3.0)},
              "train_warmup": {"lenet5": 5, "resnet18_fashion": 1}},
}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def median_ms(fn, min_runs, min_seconds, warmup=3):
    """Median wall time of fn() in ms, after `warmup` untimed runs (oneDNN picks and caches its
    kernels on the first calls; those calls are not what a served model costs)."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), len(times)


def layer_net(layer):
    import torch
    import torch.nn as nn
    torch.manual_seed(0)
    # The default NCHW memory format, as cnnc's `bench` is given and returns NCHW images:
    # oneDNN reorders to its blocked layout inside the call, as cnnc copies to its own.
    net = nn.Sequential(
        nn.Conv2d(layer.in_channels, layer.filters, layer.kernel, layer.stride, layer.pad,
                  groups=layer.groups, bias=True),
        nn.ReLU(inplace=True)).eval()
    return net, torch.randn(1, layer.in_channels, layer.size, layer.size)


def bench_layers(timing, only):
    import torch
    rows = []
    min_runs, min_seconds = timing["layer"]
    # PyTorch's speed for a layer depends on what its process ran before: in a fresh process the
    # first layer ran 4-5x slower than the same layer built again later (64->64@56: 3.9 against
    # 0.82 ms), and the stem and the depthwise layer ran at 12-15 ms until a layer with large
    # weights had run (then 0.9 and 0.35 ms). Every layer runs a few times first, so that each
    # is timed in the state of a process that has run them all, whatever else is measured.
    with torch.no_grad():
        for layer in LAYERS:
            net, x = layer_net(layer)
            for _ in range(3):
                net(x)
    for layer in [l for l in LAYERS if only in (None, l.name)]:
        net, x = layer_net(layer)
        with torch.no_grad():
            ms, runs = median_ms(lambda: net(x), min_runs, min_seconds)
        gflops = layer.gflops(ms)
        log(f"torch layer {layer.name}: {ms:.3f} ms, {gflops:.1f} GFLOP/s ({runs} runs)")
        rows.append({"name": layer.name, "torch_ms": ms, "torch_gflops": gflops,
                     "flops": layer.flops})
    return rows


def bench_models(timing, only):
    import torch
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from cnnc_torch_models import build_model, spec
    rows = []
    min_runs, min_seconds = timing["model"]
    for name in [n for n in MODELS if only in (None, n)]:
        model = build_model(name, seed=0)  # eval mode
        x = torch.randn(1, *spec(name).input_shape)
        with torch.no_grad():
            ms, runs = median_ms(lambda: model(x), min_runs, min_seconds, timing["model_warmup"])
        log(f"torch model {name}: {ms:.2f} ms ({runs} runs)")
        rows.append({"name": name, "torch_ms": ms})
        del model
    return rows


def lenet5():
    """examples/lenet5/lenet5.cpp in PyTorch: conv 6@5x5 same, pool, conv 16@5x5 valid, pool,
    dense 120, 84, 10, ReLU after every layer but the last."""
    import torch.nn as nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def bench_training(timing, only):
    import torch
    import torch.nn as nn
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from cnnc_torch_models import resnet18_fashion
    builders = {"lenet5": lenet5, "resnet18_fashion": resnet18_fashion}
    rows = []
    for name in [n for n in TRAINING if only in (None, n)]:
        torch.manual_seed(0)
        model = builders[name]().train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        # Random data of Fashion-MNIST's shape: the work of a step does not depend on the values.
        images = torch.randn(TRAIN_BATCH, 1, 28, 28)
        labels = torch.randint(0, 10, (TRAIN_BATCH,))

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            return loss.item()  # waits for the step, as cnnc reads its loss back every step

        for _ in range(timing["train_warmup"][name]):
            step()
        min_steps, min_seconds = timing["train_steps"][name]
        steps = 0
        start = time.perf_counter()
        while steps < min_steps or time.perf_counter() - start < min_seconds:
            step()
            steps += 1
        ips = steps * TRAIN_BATCH / (time.perf_counter() - start)
        log(f"torch training {name}: {ips:.1f} images/s at batch {TRAIN_BATCH} ({steps} steps)")
        rows.append({"name": name, "torch_images_per_second": ips, "torch_batch": TRAIN_BATCH})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["layers", "models", "training"])
    parser.add_argument("--threads", type=int, required=True,
                        help="intra-op threads (cnnc's Halide thread count)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", help="this layer or model of the part alone")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    timing = TIMING["quick" if args.quick else "full"]
    rows = {"layers": bench_layers, "models": bench_models, "training": bench_training}[
        args.part](timing, args.only)
    print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                      "part": args.part, "rows": rows}))


if __name__ == "__main__":
    main()
