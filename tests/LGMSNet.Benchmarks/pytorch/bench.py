#!/usr/bin/python3
"""Times the authors' networks under PyTorch (Debian python3-torch 1.13), for `LGMSNet.Benchmarks pytorch-compare`
(issue 33), which runs this as a subprocess and the same measurements on our TorchSharp engine in-process.

    /usr/bin/python3 tests/LGMSNet.Benchmarks/pytorch/bench.py [--what 3d-infer,3d-train,2d-infer,2d-train]
        [--iterations 3] [--warmup 1] [--threads 2] [--infer-3d 96] [--train-3d 64] [--infer-2d 256] [--train-2d 128]
        [--train-batch 8]

Full-width networks (lgmsnet_torch.py, checked against the authors' fixtures by its `verify`) with PyTorch's default
random initialisation (speed does not depend on the values). Measurements, each after its warm-up iterations:
  3d-infer   one 96³ window of SegmsNet3D: eval mode, no_grad, batch 1, 1 input channel
  3d-train   one training step of SegmsNet3D at 64³ with what `bench lgmsnet-3d --train-size 64` runs: batch 8,
             14 classes (random labels), CE + soft Dice (MONAI DiceCELoss as main3d.py configures it), backward,
             SGD lr 0.01, momentum 0.9, weight decay 1e-4
  2d-infer   one 256² image of SegmsNet: eval mode, no_grad, batch 1, 3 input channels
  2d-train   one training step of SegmsNet at 128², batch 8: BCE + Dice, backward, the same SGD
Prints one JSON line per measurement: name, framework, torch version, threads, input shape, the seconds of every timed
iteration and their median (the element at round((n−1)/2) of the sorted list, the rule of our BenchCommand.Timing).
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lgmsnet_torch as L  # noqa: E402

MEASUREMENTS = ("3d-infer", "3d-train", "2d-infer", "2d-train")


def median(seconds):
    s = sorted(seconds)
    return s[round(0.5 * (len(s) - 1))]


def time_inference(model, x, warmup, iterations):
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + iterations):
            start = time.perf_counter()
            out = model(x)
            elapsed = time.perf_counter() - start
            del out
            if i >= warmup:
                times.append(elapsed)
    return times


def time_training(model, x, target, loss_fn, warmup, iterations):
    """The step of our TrainingStep.Run: forward, loss (read out, as ours checks it is finite), zero the gradients,
    backward, optimizer step."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    times = []
    for i in range(warmup + iterations):
        start = time.perf_counter()
        loss = loss_fn(model(x), target)
        value = loss.item()
        if value != value:
            raise RuntimeError("the loss is NaN")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        del loss
        if i >= warmup:
            times.append(elapsed)
    return times


def run(name, args):
    torch.manual_seed(0)
    if name == "3d-infer":
        shape = [1, 1] + [args.infer_3d] * 3
        return shape, time_inference(L.lgmsnet3d(), torch.randn(shape), args.warmup, args.iterations)
    if name == "2d-infer":
        shape = [1, 3] + [args.infer_2d] * 2
        return shape, time_inference(L.lgmsnet2d(), torch.randn(shape), args.warmup, args.iterations)
    if name == "3d-train":
        shape = [args.train_batch, 1] + [args.train_3d] * 3
        model = L.lgmsnet3d()
        target = torch.randint(0, 14, [args.train_batch, 1] + [args.train_3d] * 3)
        return shape, time_training(model, torch.randn(shape), target, L.ce_dice, args.warmup, args.iterations)
    if name == "2d-train":
        shape = [args.train_batch, 3] + [args.train_2d] * 2
        model = L.lgmsnet2d()
        target = (torch.rand([args.train_batch, 1] + [args.train_2d] * 2) > 0.7).float()
        return shape, time_training(model, torch.randn(shape), target, L.bce_dice, args.warmup, args.iterations)
    raise ValueError(name)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--what", default=",".join(MEASUREMENTS), help="comma-separated: " + ", ".join(MEASUREMENTS))
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--infer-3d", type=int, default=96, help="3D inference window edge")
    parser.add_argument("--train-3d", type=int, default=64, help="3D training-step edge")
    parser.add_argument("--infer-2d", type=int, default=256, help="2D inference image edge")
    parser.add_argument("--train-2d", type=int, default=128, help="2D training-step image edge")
    parser.add_argument("--train-batch", type=int, default=8)
    args = parser.parse_args(argv)
    what = [w.strip() for w in args.what.split(",") if w.strip()]
    unknown = [w for w in what if w not in MEASUREMENTS]
    if unknown or not what:
        print(f"--what: unknown measurement {', '.join(unknown) or '(none)'}; choose from {', '.join(MEASUREMENTS)}", file=sys.stderr)
        return 2
    for edge, flag in ((args.infer_3d, "--infer-3d"), (args.train_3d, "--train-3d"), (args.infer_2d, "--infer-2d"), (args.train_2d, "--train-2d")):
        if edge <= 0 or edge % 32 != 0:
            print(f"{flag} {edge}: every edge must be a positive multiple of 32 (ARCHITECTURE.md §4)", file=sys.stderr)
            return 2
    if args.iterations < 1 or args.warmup < 0 or args.threads < 1 or args.train_batch < 1:
        print("--iterations, --threads and --train-batch must be at least 1, --warmup at least 0", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    for name in what:
        shape, seconds = run(name, args)
        print(json.dumps({"name": name, "framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "shape": shape, "seconds": seconds, "median": median(seconds)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
