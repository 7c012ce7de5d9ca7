"""Small valid files in the 16 formats Pillow reads but cannot write, each built here from the
format's layout (as Pillow's <Name>ImagePlugin.py reads it), holding `garment()`: the seeds the
image reader's fuzz mutates. Each `encode_*` takes uint8 (h, w) pixels and returns the file's
bytes; MPEG and PCD are the exceptions their docstrings name."""

import io
import struct
from collections.abc import Callable

import numpy as np
from PIL import Image


def garment() -> np.ndarray:
    """A small garment-like picture, dark (40) on light (230): uint8 (20, 24)."""
    pixels = np.full((20, 24), 230, np.uint8)
    pixels[4:16, 6:18] = 40
    return pixels


def _runs(row: np.ndarray, longest: int) -> list[tuple[int, int]]:
    """The row as (length, value) runs of equal pixels, none longer than `longest`."""
    runs: list[tuple[int, int]] = []
    for value in row.tolist():
        if runs and runs[-1][1] == value and runs[-1][0] < longest:
            runs[-1] = (runs[-1][0] + 1, value)
        else:
            runs.append((1, value))
    return runs


def _gray_palette() -> bytes:
    """256 grays as interleaved RGB triples."""
    return bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))


def encode_cur(pixels: np.ndarray) -> bytes:
    """A monochrome Windows cursor: an ICO directory of type 2 (hotspot at the centre) over one
    1-bit DIB of twice the height, the XOR bitmap (light pixels white) then an all-opaque AND
    mask, rows bottom-up and padded to 4 bytes."""
    height, width = pixels.shape
    stride = (width + 31) // 32 * 4
    xor = np.packbits(pixels[::-1] > 127, axis=1)
    xor = np.pad(xor, ((0, 0), (0, stride - xor.shape[1]))).tobytes()
    info = struct.pack("<IiiHHIIiiII", 40, width, 2 * height, 1, 1, 0, 0, 0, 0, 2, 0)
    dib = info + b"\0\0\0\0\xff\xff\xff\0" + xor + bytes(stride * height)
    entry = struct.pack("<BBBBHHII", width, height, 2, 0, width // 2, height // 2, len(dib), 22)
    return struct.pack("<HHH", 0, 2, 1) + entry + dib


def encode_dcx(pixels: np.ndarray) -> bytes:
    """An Intel DCX: its magic, a directory of one offset ended by 0, then a PCX (as Pillow
    writes it)."""
    pcx = io.BytesIO()
    Image.fromarray(pixels).save(pcx, format="PCX")
    return struct.pack("<III", 0x3ADE68B1, 12, 0) + pcx.getvalue()


def encode_fits(pixels: np.ndarray) -> bytes:
    """A FITS primary HDU of 16-bit pixels (the levels times 257): a 2880-byte block of 80-char
    cards ended by END, then the big-endian data padded to 2880 bytes."""
    height, width = pixels.shape
    cards = [("SIMPLE", "T"), ("BITPIX", "16"), ("NAXIS", "2")]
    cards += [("NAXIS1", str(width)), ("NAXIS2", str(height))]
    header = b"".join(f"{key:<8}= {value:>20}".ljust(80).encode() for key, value in cards)
    header += b"END".ljust(80)
    data = (pixels.astype(np.uint16) * 257).astype(">u2").tobytes()
    return header.ljust(2880, b" ") + data.ljust(2880, b"\0")


def encode_fli(pixels: np.ndarray) -> bytes:
    """An Autodesk FLI animation of one frame: a 128-byte header, then a frame chunk holding a
    256-gray COLOR_256 chunk and a BRUN chunk (each row: a packet count, then runs)."""
    height, width = pixels.shape
    colors = struct.pack("<HBB", 1, 0, 0) + _gray_palette()  # one packet: skip 0, 256 colours
    brun = b"".join(
        bytes([0]) + b"".join(bytes([length, value]) for length, value in _runs(row, 127))
        for row in pixels
    )
    chunks = [struct.pack("<IH", 6 + len(c), kind) + c for kind, c in ((4, colors), (15, brun))]
    body = b"".join(chunks)
    frame = struct.pack("<IHH8x", 16 + len(body), 0xF1FA, len(chunks)) + body
    header = struct.pack("<IHHHHHHI", 128 + len(frame), 0xAF11, 1, width, height, 8, 0, 5)
    return header.ljust(128, b"\0") + frame


def _rgb565(level: int) -> int:
    """A gray level as a 16-bit colour: 5 bits red, 6 green, 5 blue."""
    return (level >> 3) << 11 | (level >> 2) << 5 | level >> 3


def encode_ftex(pixels: np.ndarray) -> bytes:
    """An FTEX texture (IW2:EOC) of one DXT1 mipmap: 4×4 blocks of two RGB565 colours (the
    block's lightest and darkest level) and 2-bit indices choosing one of them per pixel."""
    height, width = pixels.shape
    blocks = []
    for top in range(0, height, 4):
        for left in range(0, width, 4):
            block = pixels[top : top + 4, left : left + 4]
            light, dark = _rgb565(int(block.max())), _rgb565(int(block.min()))
            if light == dark:
                light = dark + 1  # colour 0 > colour 1: four-colour mode
            indices = sum(int(v) << (2 * i) for i, v in enumerate(block.ravel() < block.max()))
            blocks.append(struct.pack("<HHI", light, dark, indices))
    data = b"".join(blocks)
    header = b"FTEX" + struct.pack("<iiiiiii", 1, width, height, 1, 1, 0, 32)
    return header + struct.pack("<i", len(data)) + data


def encode_gbr(pixels: np.ndarray) -> bytes:
    """A GIMP brush, version 2: a header with the "GIMP" magic, spacing and a NUL-ended name,
    then 8-bit gray pixels."""
    height, width = pixels.shape
    name = b"fuzz\0"
    header = struct.pack(">IIIII4sI", 28 + len(name), 2, width, height, 1, b"GIMP", 25)
    return header + name + pixels.tobytes()


def encode_imt(pixels: np.ndarray) -> bytes:
    """An IM Tools file: "key value" lines, a form feed, then 8-bit pixels."""
    height, width = pixels.shape
    return f"width {width}\nheight {height}\npixel n8\n\f".encode() + pixels.tobytes()


def encode_iptc(pixels: np.ndarray) -> bytes:
    """An IPTC/NAA file: record 3 fields (width, height, one layer, raw compression), then the
    pixels in a record 8 object data field; each field 0x1C, record, dataset, 16-bit size."""
    height, width = pixels.shape

    def field(record: int, dataset: int, data: bytes) -> bytes:
        return struct.pack(">BBBH", 0x1C, record, dataset, len(data)) + data

    return (
        field(3, 20, struct.pack(">H", width))
        + field(3, 30, struct.pack(">H", height))
        + field(3, 60, bytes([1, 0]))
        + field(3, 120, bytes([1]))
        + field(8, 10, pixels.tobytes())
    )


def encode_mcidas(pixels: np.ndarray) -> bytes:
    """A McIDAS area file of 32-bit pixels (the levels times 257): a directory of 64 big-endian
    words (words 9 and 10: lines and elements, 11: bytes each, 14: bands, 34: data offset)."""
    height, width = pixels.shape
    words = [0] * 64
    words[1], words[8], words[9], words[10], words[13], words[33] = 4, height, width, 4, 1, 256
    return struct.pack(">64i", *words) + (pixels.astype(np.int32) * 257).astype(">i4").tobytes()


def encode_mpeg(pixels: np.ndarray) -> bytes:
    """An MPEG-1 video sequence header (size, 1:1 aspect, 25 frames/s) and the sequence end code,
    no picture: Pillow reads only the header's size and decodes nothing, so this opens as MPEG
    and its load always fails ("cannot load this image"); the fuzz covers the header."""
    height, width = pixels.shape
    bits = (width << 12 | height) << 8 | 0x13  # aspect 1 (square pixels), frame rate 3 (25)
    rate = (1150 << 1 | 1) << 10 | 20  # bit rate, marker, VBV buffer size
    fields = (bits.to_bytes(4, "big"), (rate << 3).to_bytes(4, "big"))
    return b"\x00\x00\x01\xb3" + b"".join(fields) + b"\x00\x00\x01\xb7"


def encode_pcd(pixels: np.ndarray) -> bytes:
    """A Kodak Photo CD image pack up to its base resolution, which is all Pillow decodes:
    "PCD_IPI" at sector 1, then from sector 96 the 768×512 PhotoYCC data, two luma rows and
    their two half-width chroma rows at a time (`pixels` widened to 3:2 and enlarged to fill it,
    neutral chroma). Its size is fixed, 786,432 bytes, of which the fuzz's edits reach only the
    first 64 KiB (header sectors): they cut it, shift its data or break its header."""
    height, width = pixels.shape
    margin = max(0, round(height * 1.5) - width) // 2  # widened to 3:2 by its edge columns
    widened = np.pad(pixels, ((0, 0), (margin, margin)), mode="edge")
    luma = np.asarray(Image.fromarray(widened).resize((768, 512), Image.Resampling.NEAREST))
    chroma = np.full((256, 768), 156, np.uint8)
    chroma[:, 384:] = 137  # C1 then C2, 384 each, neutral grey in PhotoYCC
    data = np.concatenate([luma.reshape(256, 2 * 768), chroma], axis=1).tobytes()
    header = bytes(2048) + b"PCD_IPI".ljust(1539, b"\0")  # orientation (byte 1538) 0: landscape
    return header.ljust(96 * 2048, b"\0") + data


def encode_pixar(pixels: np.ndarray) -> bytes:
    """A PIXAR raster: a 512-byte header (height and width at 416, channels 14 and depth 2 at
    424: RGB), padding to 1024, then RGB pixels."""
    height, width = pixels.shape
    header = bytearray(b"\x80\xe8\x00\x00".ljust(1024, b"\0"))
    header[416:428] = struct.pack("<HHHHHH", height, width, 0, 0, 14, 2)
    return bytes(header) + np.repeat(pixels, 3).tobytes()


def _packbits(row: np.ndarray) -> bytes:
    """A row in PackBits: each run as a repeat code (257 - length) and its byte."""
    return b"".join(bytes([257 - length, value]) for length, value in _runs(row, 128))


def encode_psd(pixels: np.ndarray) -> bytes:
    """An Adobe Photoshop file: RGB, 8 bits, no colour data, resources or layers, then the
    composite image's three channels compressed with PackBits (row byte counts first)."""
    height, width = pixels.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3) + bytes(12)
    rows = [_packbits(row) for row in pixels] * 3
    counts = struct.pack(f">{len(rows)}H", *map(len, rows))
    return header + struct.pack(">H", 1) + counts + b"".join(rows)


def encode_sun(pixels: np.ndarray) -> bytes:
    """A Sun raster file, byte-encoded (type 2): a 32-byte header, a 256-gray RGB colour map
    (all reds, then greens, then blues), then each run as 0x80, length - 1, value."""
    height, width = pixels.shape
    palette = bytes(np.tile(np.arange(256, dtype=np.uint8), 3))
    data = b"".join(
        bytes([0x80, length - 1, value]) for row in pixels for length, value in _runs(row, 256)
    )
    header = struct.pack(">8I", 0x59A66A95, width, height, 8, len(data), 2, 1, len(palette))
    return header + palette + data


def encode_xpm(pixels: np.ndarray) -> bytes:
    """An X11 pixmap: C source text, one character per pixel and a "#rrggbb" colour each."""
    height, width = pixels.shape
    levels = sorted(set(pixels.ravel().tolist()))
    keys = dict(zip(levels, ".#+@$%&*", strict=False))
    lines = [f'"{width} {height} {len(levels)} 1",']
    lines += [f'"{keys[v]} c #{v:02X}{v:02X}{v:02X}",' for v in levels]
    lines += ['"' + "".join(keys[v] for v in row.tolist()) + '",' for row in pixels]
    text = "/* XPM */\nstatic char *garment[] = {\n" + "\n".join(lines) + "\n};\n"
    return text.encode()


def encode_xvthumb(pixels: np.ndarray) -> bytes:
    """An XV thumbnail: "P7 332", comment lines, "width height 255", then one byte per pixel,
    3 bits red, 3 green, 2 blue."""
    height, width = pixels.shape
    rgb332 = (pixels >> 5 << 5) | (pixels >> 5 << 2) | (pixels >> 6)
    header = f"P7 332\n#XVVERSION:Version 2.28\n#END_OF_COMMENTS\n{width} {height} 255\n"
    return header.encode() + rgb332.astype(np.uint8).tobytes()


# Pillow's name for each format (Image.OPEN's keys) and the function that encodes it.
READ_ONLY: dict[str, Callable[[np.ndarray], bytes]] = {
    "CUR": encode_cur,
    "DCX": encode_dcx,
    "FITS": encode_fits,
    "FLI": encode_fli,
    "FTEX": encode_ftex,
    "GBR": encode_gbr,
    "IMT": encode_imt,
    "IPTC": encode_iptc,
    "MCIDAS": encode_mcidas,
    "MPEG": encode_mpeg,
    "PCD": encode_pcd,
    "PIXAR": encode_pixar,
    "PSD": encode_psd,
    "SUN": encode_sun,
    "XPM": encode_xpm,
    "XVTHUMB": encode_xvthumb,
}
