"""The DIP skip encoder-decoder (Ulyanov et al., `models/skip.py`), built from a NetworkShape.

`members` > 1 builds that many independent networks evaluated in one call, sample i of the
batch through member i: their channels are stacked (member after member) and every convolution
is grouped by member, so no weight, no BatchNorm statistic and no gradient is shared between
them. `stack` fills such a network from single ones (the same weights: the same fits).
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.core.dip.inputs import size_multiple  # noqa: F401 (reached from here too)
from pipeline.settings import NetworkShape


def conv_block(
    c_in: int, c_out: int, kernel: int, stride: int, separable: bool, members: int = 1
) -> nn.Sequential:
    """Reflection-padded conv, BatchNorm, LeakyReLU(0.2); channel counts are per member."""
    layers: list[nn.Module] = []
    if kernel > 1:
        layers.append(nn.ReflectionPad2d(kernel // 2))
    m = members
    if separable:  # depthwise then pointwise, as the reference watermark remover builds it
        layers += [
            nn.Conv2d(m * c_in, m * c_in, kernel, stride, groups=m * c_in, bias=False),
            nn.Conv2d(m * c_in, m * c_out, 1, groups=m),
        ]
    else:
        layers.append(nn.Conv2d(m * c_in, m * c_out, kernel, stride, groups=m, bias=False))
    layers += [nn.BatchNorm2d(m * c_out), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers)


class Level(nn.Module):
    """One resolution level: a skip branch beside a strided branch that recurses, then merge."""

    def __init__(self, shape: NetworkShape, index: int, c_in: int, members: int = 1) -> None:
        super().__init__()
        down = shape.channels_down[index]
        up = shape.channels_up[index]
        skip = shape.channels_skip[index]
        last = index == shape.levels - 1
        block = {"separable": shape.separable, "members": members}
        self.members = members
        self.skip = conv_block(c_in, skip, 1, 1, **block) if skip else None
        deeper: list[nn.Module] = [
            conv_block(c_in, down, 3, 2, **block),
            conv_block(down, down, 3, 1, **block),
        ]
        if not last:
            deeper.append(Level(shape, index + 1, down, members))
        align = False if shape.upsample == "bilinear" else None
        deeper.append(nn.Upsample(scale_factor=2, mode=shape.upsample, align_corners=align))
        self.deeper = nn.Sequential(*deeper)
        merged = skip + (down if last else shape.channels_up[index + 1])
        self.merge = nn.Sequential(
            nn.BatchNorm2d(members * merged),
            conv_block(merged, up, 3, 1, **block),
            conv_block(up, up, 1, 1, **block),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.deeper(x)
        if self.skip is not None:
            deep = _join(self.skip(x), deep, self.members)
        return self.merge(deep)


def _join(first: torch.Tensor, second: torch.Tensor, members: int) -> torch.Tensor:
    """Each member's channels of `first`, then its channels of `second`, member after member."""
    batch, _, height, width = first.shape
    parts = [t.view(batch, members, -1, height, width) for t in (first, second)]
    return torch.cat(parts, dim=2).view(batch, -1, height, width)


class SkipNet(nn.Module):
    def __init__(self, shape: NetworkShape, out_channels: int, members: int = 1) -> None:
        super().__init__()
        self.shape, self.out_channels, self.members = shape, out_channels, members
        self.body = Level(shape, 0, shape.input_depth, members)
        self.head = nn.Conv2d(members * shape.channels_up[0], members * out_channels, 1,
                              groups=members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_depth, H, W) -> (B, out_channels, H, W); with members, sample i of the
        batch goes through member i (B = members)."""
        height, width = x.shape[-2:]
        x = x.reshape(-1, self.members * self.shape.input_depth, height, width)
        return torch.sigmoid(self.head(self.body(x))).reshape(-1, self.out_channels, height, width)


def build_skip(shape: NetworkShape, out_channels: int = 3, members: int = 1) -> SkipNet:
    return SkipNet(shape, out_channels, members)


def stack(nets: list[SkipNet]) -> SkipNet:
    """One network holding `nets` as its members, each with the weights and statistics it had."""
    first = nets[0]
    stacked = build_skip(first.shape, first.out_channels, members=len(nets))
    states = [net.state_dict() for net in nets]
    stacked.load_state_dict({
        name: torch.cat([state[name] for state in states]) if value.dim() else value
        for name, value in states[0].items()
    })
    return stacked.to(next(first.parameters()).device)


def member_state(stacked: SkipNet, index: int) -> dict[str, torch.Tensor]:
    """Member `index`'s state_dict, as a single network (members=1) would hold it."""
    return {
        name: value.chunk(stacked.members)[index].clone() if value.dim() else value.clone()
        for name, value in stacked.state_dict().items()
    }


