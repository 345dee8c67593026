"""He et al. 2016 ("Deep residual learning") Table 1, typed from the paper, and the
counts it implies: what the ImageNet ResNet tests check the builders and cards against,
independently of the module's own tables."""

from __future__ import annotations

# Table 1: bottleneck units or not, and units per stage (conv2_x .. conv5_x).
TABLE1 = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}
# Table 1, "FLOPs" row: multiply-adds per 224x224 image.
TABLE1_FLOPS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}
# Option-B trainable counts (torchvision's resnet18..152 have the same).
RESNET_PARAMS = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}


def derive(depth, unit="original", shortcut="B", use_bias=False, stride_on="1x1"):
    """Trainable parameters, BN moving statistics and multiply-adds from Table 1's shapes.

    conv1 7x7/2 to 112x112, 3x3/2 max pooling to 56x56, stages of widths 64, 128, 256,
    512 on 56, 28, 14, 7, the first unit of stages 3-5 with stride 2; unit outputs
    4x their width for bottlenecks. BN after every conv (He et al. 2016a) or, for the
    pre-activation nets (He et al. 2016b / preresnet.lua), before every conv of a
    unit but the first's, none on projections, and one after the last unit.
    """
    bottleneck, blocks = TABLE1[depth]
    convs = [(7, 3, 64, 112)]  # (kernel, in, out, output size)
    bns = [64]  # conv1's BN: every variant has it
    cin, size = 64, 56
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        cout = 4 * width if bottleneck else width
        in_size, size = size, size // 2 if stage else size
        for b in range(count):
            stride = 2 if stage and b == 0 else 1
            if unit == "preact" and (stage or b):
                bns.append(cin)
            changes_shape = stride != 1 or cin != cout
            if unit != "plain" and (shortcut == "C" or (shortcut == "B" and changes_shape)):
                convs.append((1, cin, cout, size))
                bns += [] if unit == "preact" else [cout]
            if bottleneck:
                first_size = in_size if stride == 2 and stride_on == "3x3" else size
                branch = [(1, cin, width, first_size), (3, width, width, size)]
                branch.append((1, width, cout, size))
            else:
                branch = [(3, cin, width, size), (3, width, width, size)]
            convs += branch
            bns += [c[2] for c in (branch[:-1] if unit == "preact" else branch)]
            cin = cout
    if unit == "preact":
        bns.append(cin)  # post_bn
    weights = sum(k * k * i * o + (o if use_bias else 0) for k, i, o, _ in convs)
    trainable = weights + 2 * sum(bns) + cin * 1000 + 1000
    macs = sum(k * k * i * o * s * s for k, i, o, s in convs) + cin * 1000
    return trainable, 2 * sum(bns), macs
