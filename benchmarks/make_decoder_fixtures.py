#!/usr/bin/env python3
"""Generates the JPEG fixtures of the decoder's colour-space and truncation tests, with
the RGB pixels Pillow gives for each (Image.open(f).convert("RGB")), as safetensors U8
tensors of shape (H, W, 3) in decoder_pixels.safetensors:

- cmyk.jpg: a CMYK JPEG as Pillow writes it (Adobe APP14 marker, transform 0, stored
  values inverted as Adobe does);
- cmyk_noadobe.jpg: the same bytes without the APP14 marker (Pillow assumes the Adobe
  convention anyway);
- ycck.jpg: a YCCK JPEG (Adobe transform 2, 4:2:0), written with libjpeg-turbo's
  TurboJPEG API (Pillow cannot write YCCK), loaded with ctypes;
- gray.jpg: a grayscale JPEG;
- progressive.jpg: a progressive RGB JPEG (truncated copies of it are cut in the tests).

It also checks what the truncation tests rely on: Pillow refuses every cut the tests
make ("image file is truncated"), accepts stray bytes before a marker with the pixels
unchanged, and accepts (partly grey) the lost-scan-data cases the decoder refuses.

Usage: python benchmarks/make_decoder_fixtures.py [--out Tests/ReIDDataTests/Fixtures]
Needs Pillow, numpy, safetensors and libturbojpeg (libturbojpeg0 on Debian).
"""
import argparse
import ctypes
import ctypes.util
import io
import os

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

TJPF_CMYK = 11
TJSAMP_420 = 2
TJFLAG_ACCURATEDCT = 4096


def smooth(w, h, channels, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, channels))
    for c in range(channels):
        fx, fy, ph = rng.uniform(0.05, 0.4, 3)
        img[..., c] = 128 + 110 * np.sin(fx * x + ph * 7) * np.cos(fy * y) + rng.normal(0, 10, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def without_adobe_marker(jpeg):
    """The JPEG bytes with the APP14 "Adobe" segment removed."""
    i = jpeg.find(b"\xff\xee")
    assert i > 0 and jpeg[i + 4:i + 9] == b"Adobe", "no Adobe marker"
    length = int.from_bytes(jpeg[i + 2:i + 4], "big")
    return jpeg[:i] + jpeg[i + 2 + length:]


def turbojpeg_ycck(cmyk, quality):
    """YCCK JPEG bytes of a (H, W, 4) CMYK array via tjCompress2 (TJPF_CMYK gives YCCK)."""
    lib = ctypes.CDLL(ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0")
    lib.tjInitCompress.restype = ctypes.c_void_p
    lib.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_ulong),
                                ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.tjFree.argtypes = [ctypes.c_void_p]
    lib.tjDestroy.argtypes = [ctypes.c_void_p]
    h, w, _ = cmyk.shape
    handle = lib.tjInitCompress()
    out, size = ctypes.c_void_p(), ctypes.c_ulong()
    status = lib.tjCompress2(handle, np.ascontiguousarray(cmyk).tobytes(), w, 0, h, TJPF_CMYK,
                             ctypes.byref(out), ctypes.byref(size), TJSAMP_420, quality, TJFLAG_ACCURATEDCT)
    assert status == 0, "tjCompress2 failed"
    data = ctypes.string_at(out, size.value)
    lib.tjFree(out)
    lib.tjDestroy(handle)
    return data


def markers(marker, b):
    """Offsets of JPEG marker `marker`: segments by their lengths, entropy-coded data bytewise."""
    found, i = [], 2
    while i + 3 < len(b):
        m = b[i + 1]
        if b[i] != 0xFF or m == 0xFF:
            i += 1
        elif m == 0x00 or 0xD0 <= m <= 0xD7:
            i += 2
        else:
            if m == marker:
                found.append(i)
            if m == 0xD9:
                break
            i += 2 + (b[i + 2] << 8 | b[i + 3])
    return found


def pillow_loads(data):
    try:
        Image.open(io.BytesIO(data)).convert("RGB")
        return True
    except OSError as e:
        assert "truncated" in str(e), e
        return False


def check_pillow_truncation(files):
    """The cuts of DecoderLimitsTests.testTruncatedJPEGsAreErrorsNamingTheFile all fail in Pillow."""
    for name, data in files.items():
        scans = markers(0xDA, data)
        cuts = [len(data) - 2, len(data) - 1, scans[0] + (len(data) - scans[0]) // 2, scans[0] + 20] + scans[1:2]
        for keep in cuts:
            assert not pillow_loads(data[:keep]), f"Pillow loads {name}.jpg cut to {keep} bytes"
    data = files["progressive"]
    second = markers(0xDA, data)[1]
    stray = data[:second] + bytes([0x12, 0x34, 0x56]) + data[second:]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(stray)).convert("RGB")),
                          np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))), "stray bytes change Pillow's pixels"
    assert not pillow_loads(stray[:-2])
    # testLostScanDataIsAnErrorThoughTheFileEnds: Pillow shows both partly grey.
    data = files["a420"]
    sos, sof = markers(0xDA, data)[0], markers(0xC0, data)[0]
    claims = bytearray(data)
    claims[sof + 5:sof + 9] = (230).to_bytes(2, "big") + (370).to_bytes(2, "big")
    assert pillow_loads(data[:sos + (len(data) - sos) // 2] + b"\xff\xd9") and pillow_loads(bytes(claims))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "ReIDDataTests", "Fixtures"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    files = {}
    buf = io.BytesIO()
    Image.fromarray(smooth(29, 19, 4, 1), "CMYK").save(buf, "JPEG", quality=90)
    files["cmyk"] = buf.getvalue()
    files["cmyk_noadobe"] = without_adobe_marker(files["cmyk"])
    files["ycck"] = turbojpeg_ycck(smooth(33, 21, 4, 2), 90)
    assert files["ycck"][files["ycck"].find(b"\xff\xee") + 15] == 2, "not a YCCK (Adobe transform 2) JPEG"
    buf = io.BytesIO()
    Image.fromarray(smooth(27, 35, 1, 3)[..., 0], "L").save(buf, "JPEG", quality=85)
    files["gray"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(smooth(40, 48, 3, 4)).save(buf, "JPEG", quality=85, progressive=True)
    files["progressive"] = buf.getvalue()

    a420 = os.path.join(a.out, "a420.jpg")  # from make_data_fixtures.py, also cut by the tests
    with open(a420, "rb") as f:
        check_pillow_truncation({**{k: v for k, v in files.items() if k != "cmyk_noadobe"}, "a420": f.read()})
    tensors = {}
    for name, data in files.items():
        with open(os.path.join(a.out, f"{name}.jpg"), "wb") as f:
            f.write(data)
        tensors[name] = np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    save_file(tensors, os.path.join(a.out, "decoder_pixels.safetensors"))


if __name__ == "__main__":
    main()
