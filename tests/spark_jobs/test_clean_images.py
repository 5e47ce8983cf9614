import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from spark_jobs.clean_images import ImageCleanConfig, read_images, transform
from spark_jobs.common.flagged import accepted, rejected

ROOT = "file:/corpus"
CFG = ImageCleanConfig(root_uri=ROOT, target_size=16, mode="L", min_size=8)


def png(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format=fmt)
    return buf.getvalue()


def gradient(h=16, w=16) -> np.ndarray:
    return (np.arange(h * w, dtype=np.uint16).reshape(h, w) % 251).astype(np.uint8)


def run(spark, files: dict[str, bytes], cfg=CFG):
    df = spark.createDataFrame([(f"{ROOT}/{k}", v) for k, v in files.items()], "path string, content binary")
    rows = transform(df, cfg).collect()
    return {r["source"]: r for r in rows}


def test_each_failure_gets_its_reason(spark):
    good = png(gradient())
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    full = png(noise)
    out = run(spark, {
        "cat/ok.png": good,
        "cat/empty.png": b"",
        "cat/text.png": b"hello, not a picture",
        "cat/cut.png": full[: len(full) // 2],
        "cat/tiny.png": png(gradient(4, 4)),
    })
    assert out["cat/ok.png"]["reason"] is None
    assert out["cat/empty.png"]["reason"] == "empty_file"
    assert out["cat/text.png"]["reason"] == "not_an_image"
    assert out["cat/cut.png"]["reason"] == "truncated"
    assert out["cat/tiny.png"]["reason"] == "too_small"


def test_decompression_bomb_is_quarantined(spark):
    cfg = ImageCleanConfig(root_uri=ROOT, target_size=16, max_pixels=100)
    out = run(spark, {"a/big.png": png(gradient(20, 20))}, cfg)
    assert out["a/big.png"]["reason"] == "decompression_bomb"


def test_ids_labels_and_sizes(spark):
    out = run(spark, {"dog/x.png": png(gradient(32, 24)), "loose.png": png(gradient())})
    dog = out["dog/x.png"]
    assert dog["id"] == "img-" + hashlib.sha1(b"dog/x.png").hexdigest()[:16]
    assert dog["label"] == "dog"
    assert (dog["orig_width"], dog["orig_height"], dog["orig_format"]) == (24, 32, "PNG")
    assert (dog["width"], dog["height"]) == (16, 16)
    assert out["loose.png"]["label"] is None  # unlabeled corpus: no class folder


def test_rgb_is_converted_to_grayscale_pixels(spark):
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red: ITU-R 601 luma 0.299 * 255 = 76
    out = run(spark, {"c/red.png": png(rgb)})
    img = Image.open(io.BytesIO(out["c/red.png"]["image"]))
    assert img.mode == "L"
    assert np.all(np.asarray(img) == 76)


def test_same_picture_in_two_formats_is_an_exact_duplicate(spark):
    arr = gradient()
    out = run(spark, {"a/1.png": png(arr), "a/2.bmp": png(arr, "BMP"), "a/3.png": png(255 - arr)})
    assert out["a/1.png"]["reason"] is None
    assert out["a/2.bmp"]["reason"] == "duplicate"
    assert out["a/2.bmp"]["detail"] == f"duplicate of {out['a/1.png']['id']}"
    assert out["a/3.png"]["reason"] is None


@pytest.mark.parametrize("n_bad", [0, 2])
def test_accounting_adds_up(spark, n_bad):
    files = {f"l/{i}.png": png(gradient() + i) for i in range(5)}
    files.update({f"l/bad{i}.png": b"junk" for i in range(n_bad)})
    df = spark.createDataFrame([(f"{ROOT}/{k}", v) for k, v in files.items()], "path string, content binary")
    flagged = transform(df, CFG)
    assert accepted(flagged, "2026-01-01").count() == 5
    assert rejected(flagged).count() == n_bad


def test_read_images_keeps_empty_files(spark, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ok.png").write_bytes(png(gradient()))
    (tmp_path / "a" / "zero.png").write_bytes(b"")
    paths = sorted(r["path"].rsplit("/", 1)[-1] for r in read_images(spark, str(tmp_path)).collect())
    assert paths == ["ok.png", "zero.png"]
