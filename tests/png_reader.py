"""A small PNG decoder (standard library only) so tests can look at the pixels of a rendered picture.

Handles what renderers such as ``rsvg-convert`` write: 8-bit greyscale, RGB or RGBA,
with or without alpha, not interlaced, all five row filters. Enough to ask "what colour is
the pixel at (x, y)?"; not a general PNG library.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel


@dataclass
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: float, y: float) -> tuple[int, int, int]:
        """The RGB colour at (x, y), composited over white when the image has alpha."""
        col, row = int(x), int(y)
        if not (0 <= col < self.width and 0 <= row < self.height):
            raise IndexError(f"({col}, {row}) is outside the {self.width}x{self.height} picture")
        start = col * self.channels
        sample = self.rows[row][start:start + self.channels]
        if self.channels in (1, 2):
            rgb, alpha = (sample[0],) * 3, sample[1] if self.channels == 2 else 255
        else:
            rgb, alpha = tuple(sample[:3]), sample[3] if self.channels == 4 else 255
        return tuple(round(c * alpha / 255 + 255 * (255 - alpha) / 255) for c in rgb)  # type: ignore[return-value]


def read(path: Path) -> Image:
    data = Path(path).read_bytes()
    if not data.startswith(SIGNATURE):
        raise ValueError(f"{path} is not a PNG file")
    pos, header, compressed = len(SIGNATURE), None, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path} has no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    channels = CHANNELS[colour]
    return Image(width, height, channels, _unfilter(zlib.decompress(compressed), width * channels, height, channels))


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    rows, previous, pos = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown PNG row filter {kind}")
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
