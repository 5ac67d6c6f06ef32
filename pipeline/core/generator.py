"""The DIP skip encoder-decoder (Ulyanov et al., `models/skip.py`), built from a NetworkShape."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.settings import NetworkShape


def conv_block(c_in: int, c_out: int, kernel: int, stride: int, separable: bool) -> nn.Sequential:
    """Reflection-padded conv, BatchNorm, LeakyReLU(0.2)."""
    layers: list[nn.Module] = []
    if kernel > 1:
        layers.append(nn.ReflectionPad2d(kernel // 2))
    if separable:  # depthwise then pointwise, as the reference watermark remover builds it
        layers += [
            nn.Conv2d(c_in, c_in, kernel, stride, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1),
        ]
    else:
        layers.append(nn.Conv2d(c_in, c_out, kernel, stride, bias=False))
    layers += [nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers)


class Level(nn.Module):
    """One resolution level: a skip branch beside a strided branch that recurses, then merge."""

    def __init__(self, shape: NetworkShape, index: int, c_in: int) -> None:
        super().__init__()
        down = shape.channels_down[index]
        up = shape.channels_up[index]
        skip = shape.channels_skip[index]
        last = index == shape.levels - 1
        self.skip = conv_block(c_in, skip, 1, 1, shape.separable) if skip else None
        deeper: list[nn.Module] = [
            conv_block(c_in, down, 3, 2, shape.separable),
            conv_block(down, down, 3, 1, shape.separable),
        ]
        if not last:
            deeper.append(Level(shape, index + 1, down))
        align = False if shape.upsample == "bilinear" else None
        deeper.append(nn.Upsample(scale_factor=2, mode=shape.upsample, align_corners=align))
        self.deeper = nn.Sequential(*deeper)
        merged = skip + (down if last else shape.channels_up[index + 1])
        self.merge = nn.Sequential(
            nn.BatchNorm2d(merged),
            conv_block(merged, up, 3, 1, shape.separable),
            conv_block(up, up, 1, 1, shape.separable),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.deeper(x)
        if self.skip is not None:
            deep = torch.cat([self.skip(x), deep], dim=1)
        return self.merge(deep)


class SkipNet(nn.Module):
    def __init__(self, shape: NetworkShape, out_channels: int) -> None:
        super().__init__()
        self.body = Level(shape, 0, shape.input_depth)
        self.head = nn.Conv2d(shape.channels_up[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.body(x)))


def build_skip(shape: NetworkShape, out_channels: int = 3) -> SkipNet:
    return SkipNet(shape, out_channels)


def size_multiple(shape: NetworkShape) -> int:
    """Input height and width must be multiples of this (one halving per level)."""
    return 2**shape.levels
