"""A picture of an X display: ``xwd -root`` (Debian package x11-apps), read here without any imaging library."""

from __future__ import annotations

import struct
import subprocess
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_HEADER_FIELDS = 25  # CARD32s in an XWD file header, before the window name (X11 XWDFileHeader)
_COLOR_SIZE = 12  # one XWDColor: pixel (4), red, green, blue (2 each), flags, pad


@dataclass(frozen=True)
class Screen:
    width: int
    height: int
    rgb: bytes  # width * height * 3

    def colour_counts(self, step: int = 4) -> Counter[bytes]:
        """How often each colour occurs, on every ``step``-th pixel of every ``step``-th row (enough to judge)."""
        counts: Counter[bytes] = Counter()
        row = self.width * 3
        for y in range(0, self.height, step):
            line = self.rgb[y * row : (y + 1) * row]
            counts.update(line[x : x + 3] for x in range(0, row, 3 * step))
        return counts

    def is_blank(self) -> bool:
        """One colour (almost) everywhere and hardly any others: nothing was drawn."""
        counts = self.colour_counts()
        (_, most), total = counts.most_common(1)[0], sum(counts.values())
        return len(counts) < 16 or most / total > 0.97

    def save_png(self, path: Path) -> None:
        raw = b"".join(b"\0" + self.rgb[y * self.width * 3 : (y + 1) * self.width * 3] for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        path.write_bytes(
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
        )


def parse_xwd(data: bytes) -> Screen:
    """Decode a 24/32-bit TrueColor ZPixmap XWD file, the kind ``xwd`` writes for an Xvfb at depth 24."""
    fields = struct.unpack(">25I", data[: _HEADER_FIELDS * 4])
    header_size, version, pixmap_format, depth, width, height = fields[:6]
    byte_order, bytes_per_line = fields[7], fields[12]
    red_mask, green_mask, blue_mask, ncolors = fields[14], fields[15], fields[16], fields[19]
    # xwd writes bits_per_pixel as 24 for Xvfb's depth 24, yet stores each pixel in 4 bytes: trust the row length
    if version != 7 or pixmap_format != 2 or depth != 24 or bytes_per_line < width * 4:
        raise ValueError(f"unsupported XWD: version {version}, format {pixmap_format}, depth {depth}")
    offset = header_size + ncolors * _COLOR_SIZE
    pixels = data[offset : offset + bytes_per_line * height]
    order = "<" if byte_order == 0 else ">"
    shifts = [(mask, (mask & -mask).bit_length() - 1) for mask in (red_mask, green_mask, blue_mask)]
    rgb = bytearray(width * height * 3)
    for y in range(height):
        row = struct.unpack_from(f"{order}{width}I", pixels, y * bytes_per_line)
        at = y * width * 3
        for value in row:
            rgb[at] = (value & shifts[0][0]) >> shifts[0][1]
            rgb[at + 1] = (value & shifts[1][0]) >> shifts[1][1]
            rgb[at + 2] = (value & shifts[2][0]) >> shifts[2][1]
            at += 3
    return Screen(width=width, height=height, rgb=bytes(rgb))


def grab(*, display: str, env: Mapping[str, str]) -> Screen:
    """The whole X display ``display`` as it is now."""
    result = subprocess.run(
        ["xwd", "-root", "-silent", "-display", display], env=dict(env), capture_output=True, timeout=30, check=True
    )
    return parse_xwd(result.stdout)
