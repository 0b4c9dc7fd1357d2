"""Real third-party clients read our output: zxing-cpp decodes every label, GS1's digital-link.js validates URIs."""

import io
import json
import os
import shutil
import subprocess
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
VALIDATOR = os.path.join(HERE, "validate_digital_link.js")


def _decode(image_bytes: bytes) -> str:
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(image_bytes))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, "exactly one QR code per label"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


@pytest.mark.parametrize("fmt", ["short", "gs1"])
def test_every_png_label_in_a_zip_decodes_back_to_its_code_url(api, fmt):
    brand = api.brand()
    batch = api.batch(brand, quantity=40, format=fmt)
    expected = {str(r["serial"]): r["url"] for r in api.codes(brand, batch)}
    r = api.get(f"/api/v1/brand/batches/{batch['id']}/labels.zip?format=png", who=brand, expect=200)
    assert r.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.data)) as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(f"{s}.png" for s in expected)
        for name in names:
            assert _decode(archive.read(name)) == expected[name[:-4]]


def test_svg_labels_are_well_formed_qr_paths(api):
    import xml.etree.ElementTree as ET

    brand = api.brand()
    batch = api.batch(brand, quantity=3)
    r = api.get(f"/api/v1/brand/batches/{batch['id']}/labels.zip?format=svg", who=brand, expect=200)
    with zipfile.ZipFile(io.BytesIO(r.data)) as archive:
        assert len(archive.namelist()) == 3
        for name in archive.namelist():
            root = ET.fromstring(archive.read(name))
            assert root.tag.endswith("svg") and any(el.tag.endswith("path") for el in root.iter())


def test_zip_label_range_follows_from_and_to(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=20)
    s0 = batch["serial_from"]
    r = api.get(f"/api/v1/brand/batches/{batch['id']}/labels.zip?from={s0 + 3}&to={s0 + 5}", who=brand, expect=200)
    with zipfile.ZipFile(io.BytesIO(r.data)) as archive:
        assert sorted(archive.namelist()) == [f"{s}.png" for s in range(s0 + 3, s0 + 6)]


def test_gs1_digital_link_uris_pass_gs1s_own_validator(api):
    node = shutil.which("node")
    if node is None or not os.path.isdir(os.path.join(HERE, "node_modules", "digital-link.js")):
        pytest.skip(
            "needs node and `npm install --no-package-lock --prefix tests/interop` (the README's test command does it)"
        )
    brand = api.brand()
    batch = api.batch(brand, quantity=50, format="gs1")
    uris = [r["url"] for r in api.codes(brand, batch)]
    out = subprocess.run(
        [node, VALIDATOR],
        input="\n".join(uris) + "\n",
        capture_output=True,
        text=True,
        cwd=HERE,
        check=True,
        timeout=60,
    )
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["uri"] for r in results] == uris
    assert all(r["valid"] for r in results), [r for r in results if not r["valid"]][:3]
    # the validator is not a rubber stamp: AI 8030 in the query is rejected
    bad = subprocess.run(
        [node, VALIDATOR],
        input=uris[0].replace("?s=", "?8030=") + "\n",
        capture_output=True,
        text=True,
        cwd=HERE,
        check=True,
        timeout=60,
    )
    assert json.loads(bad.stdout)["valid"] is False
