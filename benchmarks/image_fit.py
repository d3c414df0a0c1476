"""Peak memory of fitting one image (fit_images=True), each case in a cold process.

Fitting happens while inputs are checked, before any request, so the benchmark checks inputs only
(``validate``). Peak RSS growth (VmHWM, reset after a warm-up fit) is compared with the decoded
size of the image sent (width x height x bands):

- a 48 MP phone JPEG for Ark: decoded reduced (draft); target: at most 4x the output's decoded
  size plus 32 MiB;
- a 36.6 MP PNG for Ark: PNG has no reduced decoding, so it is decoded whole (reported against
  4 bytes per input pixel);
- a 656 KB PNG of 13,000 x 13,000 RGBA pixels (a decompression bomb): refused before decoding;
  target: at most 32 MiB of growth.

    python benchmarks/image_fit.py
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import summary

CONSTANT = 32 * 2**20

CHILD = r"""
import io, json, sys, warnings
from PIL import Image
from cn_embeddings import ArkClient, InvalidInputError

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

warnings.simplefilter("ignore")
client = ArkClient(api_key="k", fit_images=True)
warm = io.BytesIO(); Image.new("RGB", (2000, 2000), (1, 2, 3)).save(warm, format="PNG")
client.validate([{"image": warm.getvalue()}])
data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status("VmRSS")
try:
    item = client.validate([{"image": data}])[0]
    sent = Image.open(io.BytesIO(item.image.data))
    out = sent.size[0] * sent.size[1] * len(sent.getbands())
    result = {"out": out, "size": sent.size}
except InvalidInputError as error:
    result = {"refused": error.rule}
result["grew"] = status("VmHWM") - before
print(json.dumps(result))
"""


def jpeg_48mp() -> bytes:
    rng = random.Random(1)
    tile = bytes(rng.randrange(256) for _ in range(600 * 400 * 3))
    image = __import__("PIL.Image", fromlist=["Image"]).frombytes("RGB", (600, 400), tile).resize((8000, 6000))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def png_36mp() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (6100, 6000), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def run(data: bytes) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".img") as fh:
        fh.write(data)
        fh.flush()
        done = subprocess.run([sys.executable, "-c", CHILD, fh.name], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration_tests"))
    from test_image_fidelity import bomb_png

    jpeg = run(jpeg_48mp())
    print(
        f"  48 MP JPEG -> {jpeg['size']}: peak grew {jpeg['grew'] / 2**20:.1f} MiB, "
        f"output decoded {jpeg['out'] / 2**20:.1f} MiB"
    )
    summary("image_fit_jpeg_48mp_peak_vs_4x_output", jpeg["grew"] / (4 * jpeg["out"] + CONSTANT), jpeg["grew"] / 2**20)
    png = run(png_36mp())
    print(f"  36.6 MP PNG -> {png['size']}: peak grew {png['grew'] / 2**20:.1f} MiB")
    summary("image_fit_png_36mp_peak_vs_4_bytes_per_input_pixel", png["grew"] / (6100 * 6000 * 4), png["grew"] / 2**20)
    bomb = run(bomb_png(13_000))
    print(f"  13,000 x 13,000 PNG bomb: {bomb.get('refused')}, peak grew {bomb['grew'] / 2**20:.1f} MiB")
    summary("image_fit_bomb_refused_peak_vs_32mib", bomb["grew"] / CONSTANT, bomb["grew"] / 2**20)


if __name__ == "__main__":
    main()
