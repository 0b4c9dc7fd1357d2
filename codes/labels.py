"""QR labels: PNG or SVG for one code, and a streamed ZIP for a serial range."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterable, Iterator

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def qr_image(url: str, fmt: str) -> bytes:
    """Error correction M survives a scuffed cap; a 4-module quiet zone as the standard asks."""
    import qrcode  # imported on first use: Pillow and qrcode cost every process ~4 MB otherwise
    import qrcode.image.svg
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8 if fmt == "png" else 10, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    out = io.BytesIO()
    if fmt == "svg":
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    else:
        qr.make_image().save(out, format="PNG")
    return out.getvalue()


class _Sink(io.RawIOBase):
    """A write-only stream that hands out what was written so far (zipfile writes data descriptors)."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._pos = 0

    def writable(self):
        return True

    def write(self, data):
        self._parts.append(bytes(data))
        self._pos += len(data)
        return len(data)

    def tell(self):
        return self._pos

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def zip_stream(items: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """Stream a ZIP of (name, content) without holding it in memory. Yields the CPU after each member:
    in a gevent worker (README) a greenlet runs until it waits, so 10,000 labels would otherwise hold
    up every scan the worker serves for the whole download; with threads it releases the GIL."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in items:
            with archive.open(name, mode="w") as member:
                member.write(content)
            yield sink.take()
            time.sleep(0)  # each label is milliseconds of CPU: let the worker's other requests run between them
    yield sink.take()
