#!/usr/bin/python3
"""LGMSNet (2D "SegmsNet", 3D "SegmsNet3D") in plain PyTorch 1.13, for measuring the authors' framework side by side
with ours (issue 33). Run with Debian's python3-torch (/usr/bin/python3); nothing here is imported by the project's
tests, and no third-party package besides torch is used.

The authors' code is not in this repository, so this is a re-implementation written from
../shared/reference/ARCHITECTURE.md, block by block, with the authors' module names, so that its state_dict keys are
the reference fixtures' keys. What makes it trustworthy as "the authors' PyTorch" is `verify`:

    /usr/bin/python3 tests/LGMSNet.Benchmarks/pytorch/lgmsnet_torch.py verify [--reference ../shared/reference]

loads the fixtures made with the authors' own classes (lgmsnet2d/, lgmsnet3d-small/: weights and inputs), runs them
through this implementation and checks eval_output, train_output and the loss within the reference README's
tolerances, printing max |Δ|; it also checks the full-width parameter counts (2,321,393 in 2D, 6,193,742 in 3D) and
exits 1 on any failure. Same operators, same order, so PyTorch runs the same kernels the authors' classes run.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
from torch import nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------------------------------
# safetensors, by hand: 8-byte little-endian header length N, N bytes of JSON, then raw little-endian data.

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "F16": torch.float16, "BF16": torch.bfloat16,
           "I32": torch.int32, "U8": torch.uint8, "I8": torch.int8}


def read_safetensors(path):
    """All tensors of a .safetensors file as a dict name -> tensor (the __metadata__ map under '__metadata__')."""
    if sys.byteorder != "little":
        raise RuntimeError("this reader assumes a little-endian host")
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length].decode("utf-8"))
    data = memoryview(blob)[8 + length:]
    result = {}
    for name, entry in header.items():
        if name == "__metadata__":
            result[name] = entry
            continue
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        shape = entry["shape"]
        if end == begin:
            tensor = torch.empty(shape, dtype=dtype)
        else:
            tensor = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(shape)
        result[name] = tensor
    return result


# --------------------------------------------------------------------------------------------------------------------
# Building blocks (ARCHITECTURE.md §2; 3D differences §5). `d` is the number of spatial dimensions, 2 or 3.

def _conv(d):
    return nn.Conv2d if d == 2 else nn.Conv3d


def _norm(d, channels):
    """BatchNorm2d in 2D; InstanceNorm3d (no affine, no running statistics, no keys) in 3D."""
    return nn.BatchNorm2d(channels) if d == 2 else nn.InstanceNorm3d(channels)


def cbs(d, cin, cout, k):
    """conv_1x1_bn (k=1) / conv_nxn_bn (k=3): conv without bias -> norm -> SiLU."""
    return nn.Sequential(_conv(d)(cin, cout, k, 1, k // 2, bias=False), _norm(d, cout), nn.SiLU())


class conv_block(nn.Module):
    def __init__(self, d, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(_conv(d)(cin, cout, 3, 1, 1, bias=True), _norm(d, cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.conv(x)


class up_conv(nn.Module):
    def __init__(self, d, cin, cout):
        super().__init__()
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear" if d == 2 else "trilinear"),
                                _conv(d)(cin, cout, 3, 1, 1, bias=True), _norm(d, cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.up(x)


class fusion_conv(nn.Module):
    """Grouped 3x3 (groups 2) -> GELU -> norm, 1x1 to 4·Cout -> GELU -> norm, 1x1 to Cout -> GELU -> norm; no residual."""

    def __init__(self, d, cin, cout):
        super().__init__()
        conv = _conv(d)
        self.conv = nn.Sequential(conv(cin, cin, 3, 1, 1, groups=2, bias=True), nn.GELU(), _norm(d, cin),
                                  conv(cin, cout * 4, 1, bias=True), nn.GELU(), _norm(d, cout * 4),
                                  conv(cout * 4, cout, 1, bias=True), nn.GELU(), _norm(d, cout))

    def forward(self, x):
        return self.conv(x)


class CMUNeXtBlock_MK_resiual2(nn.Module):
    """The LMS block: four depthwise convs (3, 5, 7, 9) on channel quarters, + x, GroupNorm(4) -> GELU, CBS(1) C -> C/4,
    CBS(3) C/4 -> C, + x."""

    def __init__(self, d, c):
        super().__init__()
        g = c // 4
        conv = _conv(d)
        self.norm_act = nn.Sequential(nn.GroupNorm(4, c), nn.GELU())
        self.local_dwc = conv(g, g, 3, 1, 1, groups=g, bias=True)
        self.global_dwc_s = conv(g, g, 5, 1, 2, groups=g, bias=True)
        self.global_dwc_m = conv(g, g, 7, 1, 3, groups=g, bias=True)
        self.global_dwc_l = conv(g, g, 9, 1, 4, groups=g, bias=True)
        self.conv_1x1_bn = cbs(d, c, g, 1)
        self.conv_nxn_bn = cbs(d, g, c, 3)
        self.g = g

    def forward(self, x):
        g = self.g
        y = torch.cat([self.local_dwc(x[:, 0:g]), self.global_dwc_s(x[:, g:2 * g]),
                       self.global_dwc_m(x[:, 2 * g:3 * g]), self.global_dwc_l(x[:, 3 * g:4 * g])], dim=1)
        y = self.norm_act(y + x)
        y = self.conv_nxn_bn(self.conv_1x1_bn(y))
        return y + x


class DWConv_BN_ReLU(nn.Module):
    """The GMS conv branch: depthwise 3x3 (no bias) -> BN -> ReLU -> depthwise 1x1 (no bias) -> BN. BatchNorm in 3D too."""

    def __init__(self, d, c):
        super().__init__()
        conv = _conv(d)
        bn = nn.BatchNorm2d if d == 2 else nn.BatchNorm3d
        suffix = "x".join(["3"] * d), "x".join(["1"] * d)
        setattr(self, "dwconv" + suffix[0], conv(c, c, 3, 1, 1, groups=c, bias=False))
        self.bn1 = bn(c)
        self.act = nn.ReLU(inplace=True)
        setattr(self, "dwconv" + suffix[1], conv(c, c, 1, 1, 0, groups=c, bias=False))
        self.bn2 = bn(c)
        self._names = ["dwconv" + s for s in suffix]

    def forward(self, x):
        x = self.act(self.bn1(getattr(self, self._names[0])(x)))
        return self.bn2(getattr(self, self._names[1])(x))


class Attention(nn.Module):
    """Pre-norm multi-head attention over tokens [b, p, n, dim]; 4 heads of 8 (inner width 32) whatever dim is."""

    def __init__(self, dim, heads=4, dim_head=8):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.attend = nn.Softmax(dim=-1)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x):
        b, p, n, _ = x.shape
        qkv = self.to_qkv(self.norm(x)).chunk(3, dim=-1)
        # 'b p n (h d) -> b p h n d'
        q, k, v = (t.reshape(b, p, n, self.heads, -1).permute(0, 1, 3, 2, 4) for t in qkv)
        attn = self.attend(torch.matmul(q, k.transpose(-1, -2)) * self.scale)
        out = torch.matmul(attn, v)
        # 'b p h n d -> b p n (h d)'
        out = out.permute(0, 1, 3, 2, 4).reshape(b, p, n, -1)
        return self.to_out(out)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.SiLU(), nn.Dropout(0.0),
                                 nn.Linear(hidden, dim), nn.Dropout(0.0))

    def forward(self, x):
        return self.net(x)


class Transformer(nn.Module):
    def __init__(self, dim, depth, mlp_dim):
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([Attention(dim), FeedForward(dim, mlp_dim)]) for _ in range(depth)])

    def forward(self, x):
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return x


class MobileViTBlocktem_CT(nn.Module):
    """The GMS block: CBS(3) Cin -> Cout, CBS(1); split [a, b]: transformer over 2x2(x2) patch offsets on the first a
    channels, conv branch + residual on the other b; concat, CBS(1); concat with the block input, CBS(3) -> Cout."""

    def __init__(self, d, cin, cout, split):
        super().__init__()
        a, b = split
        assert a + b == cout, (split, cout)
        self.d = d
        self.split = (a, b)
        self.conv1 = cbs(d, cin, cout, 3)
        self.conv2 = cbs(d, cout, cout, 1)
        self.conv_spilt = DWConv_BN_ReLU(d, b)
        self.transformer = Transformer(a, 1, 2 * cout)
        self.conv3 = cbs(d, cout, cout, 1)
        self.conv4 = cbs(d, cout + cin, cout, 3)

    def _unfold(self, x):
        if self.d == 2:
            bsz, c, h, w = x.shape
            # T[b, p = 2i + j, n = hh·(W/2) + ww, c] = x[b, c, 2hh + i, 2ww + j]
            t = x.reshape(bsz, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 2, 4, 1)
            return t.reshape(bsz, 4, (h // 2) * (w // 2), c)
        bsz, c, dd, h, w = x.shape
        # T[b, p = 4i + 2j + k, n = (dd·(H/2) + hh)·(W/2) + ww, c] = x[b, c, 2dd + i, 2hh + j, 2ww + k]
        t = x.reshape(bsz, c, dd // 2, 2, h // 2, 2, w // 2, 2).permute(0, 3, 5, 7, 2, 4, 6, 1)
        return t.reshape(bsz, 8, (dd // 2) * (h // 2) * (w // 2), c)

    def _fold(self, t, like):
        if self.d == 2:
            bsz, c, h, w = like.shape
            x = t.reshape(bsz, 2, 2, h // 2, w // 2, c).permute(0, 5, 3, 1, 4, 2)
            return x.reshape(bsz, c, h, w)
        bsz, c, dd, h, w = like.shape
        x = t.reshape(bsz, 2, 2, 2, dd // 2, h // 2, w // 2, c).permute(0, 7, 4, 1, 5, 2, 6, 3)
        return x.reshape(bsz, c, dd, h, w)

    def forward(self, y):
        x = self.conv2(self.conv1(y))
        a, b = self.split
        x1, x2 = x[:, :a], x[:, a:a + b]
        x2 = self.conv_spilt(x2) + x2
        x1 = self._fold(self.transformer(self._unfold(x1)), x1)
        x = self.conv3(torch.cat((x1, x2), 1))
        return self.conv4(torch.cat((x, y), 1))


class MKtinyvit4_CT(nn.Module):
    """The whole network (ARCHITECTURE.md §3; §5 for 3D). Logits out, no sigmoid/softmax."""

    def __init__(self, d=2, input_channel=3, num_classes=1, dims=(16, 32, 64, 128, 128),
                 spilt_list=((96, 32), (96, 32), (96, 32), (48, 16))):
        super().__init__()
        self.Maxpool = nn.MaxPool2d(2, 2) if d == 2 else nn.MaxPool3d(2, 2)
        self.stem = conv_block(d, input_channel, dims[0])
        self.encoder1 = nn.Sequential(CMUNeXtBlock_MK_resiual2(d, dims[0]), cbs(d, dims[0], dims[0], 1))
        self.encoder2 = nn.Sequential(CMUNeXtBlock_MK_resiual2(d, dims[0]), cbs(d, dims[0], dims[1], 1))
        self.encoder3 = nn.Sequential(CMUNeXtBlock_MK_resiual2(d, dims[1]), cbs(d, dims[1], dims[2], 1))
        self.encoder4 = nn.Sequential(MobileViTBlocktem_CT(d, dims[2], dims[3], spilt_list[0]))
        self.encoder5 = nn.Sequential(MobileViTBlocktem_CT(d, dims[3], dims[4], spilt_list[1]))
        self.Up5 = up_conv(d, dims[4], dims[3])
        self.Up_conv5 = MobileViTBlocktem_CT(d, dims[3] * 2, dims[3], spilt_list[2])
        self.Up4 = up_conv(d, dims[3], dims[2])
        self.Up_conv4 = nn.Sequential(fusion_conv(d, dims[2] * 2, dims[2]),
                                      MobileViTBlocktem_CT(d, dims[2], dims[2], spilt_list[3]))
        self.Up3 = up_conv(d, dims[2], dims[1])
        self.Up_conv3 = fusion_conv(d, dims[1] * 2, dims[1])
        self.Up2 = up_conv(d, dims[1], dims[0])
        self.Up_conv2 = fusion_conv(d, dims[0] * 2, dims[0])
        self.Conv_1x1 = _conv(d)(dims[0], num_classes, 1, 1, 0)

    def forward(self, x):
        x1 = self.encoder1(self.stem(x))
        x2 = self.encoder2(self.Maxpool(x1))
        x3 = self.encoder3(self.Maxpool(x2))
        x4 = self.encoder4(self.Maxpool(x3))
        x5 = self.encoder5(self.Maxpool(x4))
        d5 = self.Up_conv5(torch.cat((x4, self.Up5(x5)), dim=1))
        d4 = self.Up_conv4(torch.cat((x3, self.Up4(d5)), dim=1))
        d3 = self.Up_conv3(torch.cat((x2, self.Up3(d4)), dim=1))
        d2 = self.Up_conv2(torch.cat((x1, self.Up2(d3)), dim=1))
        return self.Conv_1x1(d2)


def lgmsnet2d():
    """The paper's 2D LGMSNet (SegmsNet): 3 input channels, 1 output, 2,321,393 parameters."""
    return MKtinyvit4_CT(2, 3, 1)


def lgmsnet3d():
    """SegmsNet3D as main3d.py builds it: 1 input channel, 14 classes, 6,193,742 parameters."""
    return MKtinyvit4_CT(3, 1, 14)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------------------------------
# The authors' losses (ARCHITECTURE.md §6), as our trainer computes them (src/LGMSNet.Runtime/Training/Losses.cs).

def bce_dice(logits, target):
    bce = F.binary_cross_entropy_with_logits(logits, target)
    b = logits.shape[0]
    p = torch.sigmoid(logits).reshape(b, -1)
    t = target.reshape(b, -1)
    dice = (2 * (p * t).sum(1) + 1e-5) / (p.sum(1) + t.sum(1) + 1e-5)
    return 0.5 * bce + (1 - dice.mean())


def ce_dice(logits, labels):
    """MONAI DiceCELoss(to_onehot_y, softmax, squared_pred, smooth_nr=0, smooth_dr=1e-6) as main3d.py configures it."""
    indices = (labels.squeeze(1) if labels.dim() == logits.dim() else labels).long()
    ce = F.cross_entropy(logits, indices)
    b, c = logits.shape[:2]
    p = torch.softmax(logits, 1).reshape(b, c, -1)
    onehot = F.one_hot(indices.reshape(b, -1), c).permute(0, 2, 1).to(logits.dtype)
    dice = 1 - 2 * (p * onehot).sum(2) / ((onehot * onehot).sum(2) + (p * p).sum(2) + 1e-6)
    return ce + dice.mean()


# --------------------------------------------------------------------------------------------------------------------
# verify

def _strip(prefix, tensors):
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _load(model, state):
    """Strict load: every fixture key must be one of ours and vice versa (that is the naming check)."""
    ours = set(model.state_dict().keys())
    theirs = set(state.keys())
    if ours != theirs:
        raise SystemExit(f"state_dict keys differ: only ours {sorted(ours - theirs)[:5]}, only the fixture's {sorted(theirs - ours)[:5]}")
    model.load_state_dict(state, strict=True)


def verify(reference):
    # This check is what makes the port trustworthy as "the authors' PyTorch": the fixtures were computed with the
    # authors' own classes, and a strict load_state_dict plus equal outputs (bit for bit at 2 threads, measured) leave
    # no room for a different block, order or operator. pytorch-compare's PyTorch numbers are only as good as this.
    torch.set_num_threads(2)  # the fixtures were made with 2 threads
    failures = []

    def check(what, got, ref, tolerance, criterion="max"):
        """criterion "max": max |Δ| ≤ tolerance·max |ref|; "abs": max |Δ| ≤ tolerance; "relL2": ‖Δ‖₂/‖ref‖₂ ≤ tolerance
        (the reference README's criteria for each tensor)."""
        diff = got.detach().double() - ref.double()
        delta = diff.abs().max().item()
        scale = ref.double().abs().max().item()
        if criterion == "max":
            value, limit, rule = delta, tolerance * scale, f"{tolerance:g}·max|ref|"
        elif criterion == "abs":
            value, limit, rule = delta, tolerance, "absolute"
        else:
            value, limit, rule = diff.norm().item() / ref.double().norm().item(), tolerance, "relL2"
        ok = value <= limit
        extra = "" if criterion != "relL2" else f", relL2 {value:.3e}"
        print(f"{what:<38} max |Δ| {delta:.3e}{extra}  (max |ref| {scale:.3e}; allowed {rule} ≤ {limit:.3e})  {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(what)

    for name, build, expected in (("2D SegmsNet", lgmsnet2d, 2_321_393), ("3D SegmsNet3D", lgmsnet3d, 6_193_742)):
        count = parameter_count(build())
        print(f"{name + ' parameters':<38} {count:,} (README {expected:,})  {'ok' if count == expected else 'FAIL'}")
        if count != expected:
            failures.append(name + " parameters")

    folder = os.path.join(reference, "lgmsnet2d")
    weights = read_safetensors(os.path.join(folder, "weights.safetensors"))
    weights.pop("__metadata__", None)
    inputs = read_safetensors(os.path.join(folder, "input.safetensors"))
    expected = read_safetensors(os.path.join(folder, "expected.safetensors"))
    model = lgmsnet2d()
    _load(model, weights)
    model.eval()
    with torch.no_grad():
        check("2D eval_output", model(inputs["input"]), expected["eval_output"], 1e-4)
    model = lgmsnet2d()
    _load(model, weights)
    model.train()
    out = model(inputs["input"])
    check("2D train_output", out, expected["train_output"], 3e-4)
    loss = bce_dice(out, inputs["target"])
    check("2D loss (BCE+Dice)", loss.detach().reshape(1), expected["loss"], 1e-5)  # one element: max = relative
    loss.backward()
    check("2D grad.Conv_1x1.weight", model.Conv_1x1.weight.grad, expected["grad.Conv_1x1.weight"], 1e-4, "relL2")
    check("2D bn_after.stem.conv.1.running_var", model.stem.conv[1].running_var, expected["bn_after.stem.conv.1.running_var"], 1e-6, "abs")
    calibrated = read_safetensors(os.path.join(folder, "weights_calibrated.safetensors"))
    calibrated.pop("__metadata__", None)
    model = lgmsnet2d()
    _load(model, calibrated)
    model.eval()
    with torch.no_grad():
        check("2D calibrated eval_output", model(inputs["input"]),
              read_safetensors(os.path.join(folder, "expected_calibrated.safetensors"))["eval_output"], 1e-4)

    golden = read_safetensors(os.path.join(reference, "lgmsnet3d-small", "golden.safetensors"))
    meta = golden["__metadata__"]
    small = lambda: MKtinyvit4_CT(3, int(meta["in_channels"]), int(meta["classes"]), json.loads(meta["widths"]),
                                  [tuple(s) for s in json.loads(meta["gms_split"])])
    state = _strip("weights.", golden)
    count = parameter_count(small())
    print(f"{'3D small parameters':<38} {count:,} (fixture {int(meta['parameters']):,})  {'ok' if count == int(meta['parameters']) else 'FAIL'}")
    if count != int(meta["parameters"]):
        failures.append("3D small parameters")
    model = small()
    _load(model, state)
    model.eval()
    with torch.no_grad():
        check("3D small eval_output", model(golden["input"]), golden["output.eval"], 3e-4)
    model = small()
    _load(model, state)
    model.train()
    with torch.no_grad():
        check("3D small train_output", model(golden["input"]), golden["output.train"], 3e-4)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: " +
          ("every check passed" if not failures else f"{len(failures)} FAILED: {', '.join(failures)}"))
    return 0 if not failures else 1


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check this port against the reference fixtures")
    here = os.path.dirname(os.path.abspath(__file__))
    v.add_argument("--reference", default=os.path.normpath(os.path.join(here, "..", "..", "..", "..", "shared", "reference")))
    args = parser.parse_args(argv)
    if not os.path.isdir(args.reference):
        print(f"reference folder not found: {args.reference} (give --reference)", file=sys.stderr)
        return 2
    return verify(args.reference)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
