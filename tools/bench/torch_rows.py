"""The PyTorch contenders: ResNet-20 with option A shortcuts, trained and inferred.

``pip install torch==2.13.0`` (benchmark-only). The torch rows run with
``OMP_WAIT_POLICY=PASSIVE`` by default (``--torch-omp-wait``; see bench_train's
docstring for why).
"""

from __future__ import annotations

from bench.data import infer_images
from bench.protocol import TRAIN_REWARM, Channel, loop_windows

TRAINABLE_PARAMS = 269_722  # the resnet20 model card's figure; the PyTorch net must match it


def torch_resnet20():
    """ResNet-20 of He et al. 2016 §4.2 with option A shortcuts, in PyTorch."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            shortcut = x
            if self.stride > 1:
                shortcut = shortcut[:, :, :: self.stride, :: self.stride]
            if self.extra:
                # Zero channels appended last, as cnnzoo's ZeroPadShortcut does.
                shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
            return F.relu(y + shortcut)

    class ResNet20(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            blocks, cin = [], 16
            # He et al. 2016 §4.2: three stages of n = 3 units, 16/32/64 filters.
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for b in range(3):
                    blocks.append(Block(cin, cout, stride if b == 0 else 1))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(64, classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.blocks(x)
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return self.fc(x)

    model = ResNet20()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if params != TRAINABLE_PARAMS:
        raise AssertionError(f"PyTorch ResNet-20 has {params} parameters, not {TRAINABLE_PARAMS}")
    return model


def _set_up(config: dict):
    """torch, the model in the row's memory format, that format and the row's info."""
    import torch

    torch.set_num_threads(config["torch_threads"])
    torch.manual_seed(0)
    fmt = config.get("memory_format", config["torch_memory_format"])
    memory_format = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    model = torch_resnet20().to(memory_format=memory_format)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "layout": fmt}
    if config.get("torch_compile"):
        # TorchInductor; the worker's warm-up pays the compilation (tens of seconds).
        model = torch.compile(model)
        info["compiled"] = "inductor"
    info["precision"] = config.get("precision", "float32")
    return torch, model, memory_format, info


def _autocast(torch, config: dict):
    """bfloat16 autocast for the bf16 rows (PyTorch's recipe for CPU mixed precision)."""
    return torch.autocast("cpu", torch.bfloat16, enabled=config.get("precision") == "bfloat16")


def run_train(config: dict, channel: Channel) -> None:
    """SGD momentum 0.9, weight decay 1e-4, on random tensors in memory."""
    import numpy as np

    torch, model, memory_format, info = _set_up(config)
    bs, rng = config["batch_size"], np.random.default_rng(0)
    xs = [
        torch.from_numpy(rng.uniform(0, 1, (bs, 3, 32, 32)).astype("float32")).to(
            memory_format=memory_format
        )
        for _ in range(8)
    ]
    ys = [torch.from_numpy(rng.integers(0, 10, bs)) for _ in range(8)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    state = {"i": 0}

    def steps(n: int) -> int:
        for _ in range(n):
            i = state["i"] = (state["i"] + 1) % len(xs)
            opt.zero_grad(set_to_none=True)
            with _autocast(torch, config):
                loss = loss_fn(model(xs[i]), ys[i])
            loss.backward()
            opt.step()
            loss.item()  # as Keras's per-batch logs do, wait for the result
        return n * bs

    steps(config["warmup_steps"])
    loop_windows(
        channel, lambda: steps(TRAIN_REWARM), lambda: steps(config["steps"]), info, warmup=0
    )


def run_infer(config: dict, channel: Channel) -> None:
    """Eval mode under ``torch.inference_mode()``, uint8 NHWC batches in (cast timed)."""
    torch, model, memory_format, info = _set_up(config)
    images, _ = infer_images(config)
    bs = config["infer_batch_size"]
    # uint8 NHWC in, as the SavedModel takes it; the cast and transpose are timed.
    batches = [torch.from_numpy(images[i : i + bs]) for i in range(0, len(images), bs)]
    model.eval()

    def infer(b):
        with torch.inference_mode(), _autocast(torch, config):
            x = b.permute(0, 3, 1, 2).float().contiguous(memory_format=memory_format)
            return torch.softmax(model(x).float(), dim=1)

    def window():
        for b in batches:
            infer(b)
        return len(images)

    loop_windows(channel, lambda: infer(batches[0]), window, info)
