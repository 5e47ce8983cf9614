"""clean_images: every quarantine reason, the repairs (pixel checks), resize policies, dedup quality,
and the whole job's accounting and report. Expected pixels and duplicate groups are built here from
first principles / the generator's ground truth, never read back from the job."""
import hashlib
import io
import json
import os
import random
import shutil

import numpy as np
import pytest
from PIL import Image

from spark_jobs.clean_images import main
from spark_jobs.common.files import read_files
from spark_jobs.common.flagged import accepted, rejected
from spark_jobs.imaging.clean import ImageCleanConfig, NearDupConfig, transform
from spark_jobs.imaging.synthetic import VARIANTS, encode, picture, variant

ROOT = "file:/corpus"
CFG = ImageCleanConfig(root_uri=ROOT, target_width=16, target_height=16, mode="L", min_size=8)


def png(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format=fmt, **kw)
    return buf.getvalue()


def save(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(h=16, w=16) -> np.ndarray:
    return (np.arange(h * w, dtype=np.uint16).reshape(h, w) % 251).astype(np.uint8)


def run(spark, files: dict[str, bytes], cfg=CFG, near=NearDupConfig()):
    df = spark.createDataFrame([(f"{ROOT}/{k}", v) for k, v in files.items()], "path string, content binary")
    return {r["source"]: r for r in transform(df, cfg, near).collect()}


def pixels(row) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(row["image"])))


def test_each_failure_gets_its_reason(spark):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    full = png(noise)
    jpeg = png(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8), "JPEG")
    lab = save(Image.new("LAB", (16, 16)), "TIFF")
    out = run(spark, {
        "cat/ok.png": png(gradient()),
        "cat/empty.png": b"",
        "cat/text.png": b"hello, not a picture",
        "cat/picture.txt": png(gradient(20, 20)),  # a good image with a wrong extension is kept
        "cat/cut.png": full[: len(full) // 2],
        "cat/cut.jpg": jpeg[: len(jpeg) // 2],
        "cat/tiny.png": png(gradient(4, 4)),
        "cat/lab.tif": lab,
        "cat/page.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 40 40\nshowpage\n",
        "cat/IMG_0001.HEIC": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),  # an iPhone photo's header
        "cat/logo.svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
    })
    got = {k: v["reason"] for k, v in out.items()}
    assert got == {"cat/ok.png": None, "cat/empty.png": "empty_file", "cat/text.png": "not_an_image",
                   "cat/picture.txt": None, "cat/cut.png": "truncated", "cat/cut.jpg": "truncated",
                   "cat/tiny.png": "too_small", "cat/lab.tif": "unsupported_mode",
                   # Pillow draws EPS through Ghostscript: without it the file is not "truncated"
                   "cat/page.eps": None if shutil.which("gs") else "unsupported_format",
                   "cat/IMG_0001.HEIC": "unsupported_format", "cat/logo.svg": "unsupported_format"}
    assert out["cat/IMG_0001.HEIC"]["detail"].startswith("HEIF/HEIC: ")


def test_decompression_bomb_is_checked_before_decoding(spark):
    cfg = ImageCleanConfig(root_uri=ROOT, mode="L", target_width=16, target_height=16, max_pixels=100)
    out = run(spark, {"a/big.png": png(gradient(20, 20))}, cfg)
    assert out["a/big.png"]["reason"] == "decompression_bomb"
    assert out["a/big.png"]["detail"] == "20x20 > 100 pixels"


def test_ids_labels_and_original_sizes(spark):
    out = run(spark, {"dog/x.png": png(gradient(32, 24)), "loose.png": png(255 - gradient())})
    dog = out["dog/x.png"]
    assert dog["id"] == "img-" + hashlib.sha1(b"dog/x.png").hexdigest()[:16]
    assert dog["label"] == "dog"
    assert (dog["orig_width"], dog["orig_height"], dog["orig_format"]) == (24, 32, "PNG")
    assert (dog["width"], dog["height"]) == (16, 16)
    assert out["loose.png"]["label"] is None  # unlabeled corpus: no class folder


def test_exif_orientation_comes_out_upright(spark):
    upright = np.zeros((40, 20), dtype=np.uint8)
    upright[:20] = 255  # white top half, black bottom half
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as a sideways camera saves it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    cfg = ImageCleanConfig(root_uri=ROOT, mode="L", target_width=20, target_height=40, resize="stretch")
    out = run(spark, {"a/sideways.jpg": save(stored, "JPEG", quality=95, exif=exif)}, cfg)
    px = pixels(out["a/sideways.jpg"])
    assert px.shape == (40, 20)
    assert px[:16].mean() > 240 and px[24:].mean() < 15


def test_large_sideways_jpeg_is_decoded_reduced_but_keeps_its_sizes_and_orientation(spark):
    """JPEGs are decoded at a reduced DCT scale (decode.py); the original size is still the file's, and a
    sideways photo still comes out upright at the target size."""
    upright = np.zeros((1600, 800), dtype=np.uint8)
    upright[:800] = 255
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # 1600 wide, 800 high
    exif = Image.Exif()
    exif[0x0112] = 6
    cfg = ImageCleanConfig(root_uri=ROOT, mode="L", target_width=50, target_height=100, resize="stretch")
    out = run(spark, {"a/big.jpg": save(stored, "JPEG", quality=95, exif=exif)}, cfg)
    row = out["a/big.jpg"]
    assert (row["orig_width"], row["orig_height"], row["width"], row["height"]) == (1600, 800, 50, 100)
    px = pixels(row)
    assert px[:45].mean() > 240 and px[55:].mean() < 15


def test_mode_conversions_by_pixel(spark):
    cfg = ImageCleanConfig(root_uri=ROOT, target_width=16, target_height=16, mode="RGB", resize="stretch",
                           background=(0, 0, 255))
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, 8:, 3] = 255  # left half transparent red, right half opaque red
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 255, 0] + [10, 10, 10] * 255)
    pal.info["transparency"] = 0  # palette entry 0 (green) is transparent
    pal.paste(1, (0, 0, 16, 8))   # top half: opaque entry 1
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan/black, full magenta+yellow = red
    sixteen = Image.fromarray(np.full((16, 16), 40000, dtype=np.uint16))  # mode I;16
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 255, 255), (0, 0, 0))]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    out = run(spark, {"m/rgba.png": save(Image.fromarray(rgba, "RGBA")), "m/pal.png": save(pal),
                      "m/cmyk.jpg": save(cmyk, "JPEG", quality=100), "m/sixteen.png": save(sixteen),
                      "m/gray.png": png(np.full((16, 16), 77, dtype=np.uint8)), "m/anim.gif": gif.getvalue()},
              cfg, near=None)
    assert all(r["reason"] is None for r in out.values()), {k: r["detail"] for k, r in out.items()}
    rgba_px = pixels(out["m/rgba.png"]).astype(int)
    assert (rgba_px[:, :6] == [0, 0, 255]).all() and (rgba_px[:, 10:] == [255, 0, 0]).all()
    pal_px = pixels(out["m/pal.png"]).astype(int)
    assert (pal_px[:6] == [10, 10, 10]).all() and (pal_px[10:] == [0, 0, 255]).all()
    assert np.abs(pixels(out["m/cmyk.jpg"]).astype(int) - [255, 0, 0]).max() <= 3
    assert (pixels(out["m/sixteen.png"]) == round(40000 / 257)).all()  # scaled to 8 bits, not clipped to 255
    assert (pixels(out["m/gray.png"]) == 77).all() and pixels(out["m/gray.png"]).shape == (16, 16, 3)
    assert (pixels(out["m/anim.gif"]) == 255).all()  # the first frame


def test_rgb_to_grayscale_uses_luma(spark):
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red: ITU-R 601 luma 0.299 * 255 = 76
    out = run(spark, {"c/red.png": png(rgb)})
    img = Image.open(io.BytesIO(out["c/red.png"]["image"]))
    assert img.mode == "L" and np.all(np.asarray(img) == 76)


@pytest.mark.parametrize("policy", ["pad", "crop", "stretch"])
def test_resize_policies(spark, policy):
    wide = np.full((20, 40), 200, dtype=np.uint8)
    wide[:, :10] = 50  # a dark band on the left quarter
    cfg = ImageCleanConfig(root_uri=ROOT, mode="L", target_width=20, target_height=20, resize=policy, pad_color=(0, 0, 0))
    px = pixels(run(spark, {"a/wide.png": png(wide)}, cfg, near=None)["a/wide.png"]).astype(int)
    assert px.shape == (20, 20)
    if policy == "pad":  # 40x20 -> 20x10 centred, black bars above and below
        assert (px[:4] == 0).all() and (px[-4:] == 0).all() and abs(px[10, 2] - 50) <= 2 and abs(px[10, 17] - 200) <= 2
    elif policy == "crop":  # centre 20x20 of the original: the dark band is cut away
        assert np.abs(px - 200).max() <= 2
    else:  # squeezed: the band keeps its quarter of the width, over the full height
        assert np.abs(px[:, :4] - 50).max() <= 2 and np.abs(px[:, 6:] - 200).max() <= 2


def test_jpeg_output(spark):
    cfg = ImageCleanConfig(root_uri=ROOT, mode="L", target_width=16, target_height=16, output_format="JPEG", jpeg_quality=80)
    row = run(spark, {"a/x.png": png(gradient())}, cfg)["a/x.png"]
    assert Image.open(io.BytesIO(row["image"])).format == "JPEG" and row["orig_format"] == "PNG"


def test_same_picture_in_two_formats_is_an_exact_duplicate(spark):
    arr = gradient()
    out = run(spark, {"a/1.png": png(arr), "a/2.bmp": png(arr, "BMP"), "a/3.png": png(255 - arr)})
    assert out["a/1.png"]["reason"] is None
    assert out["a/2.bmp"]["reason"] == "duplicate"
    assert out["a/2.bmp"]["detail"] == f"duplicate of {out['a/1.png']['id']}"
    assert out["a/3.png"]["reason"] is None


def test_near_duplicate_recall_and_precision(spark):
    """Planted groups: an original plus 1-2 edited copies (resized, JPEG q30, cropped 2-5%, brightened);
    the truth is the group each file was generated in."""
    rng = random.Random(5)
    files, group_of = {}, {}
    for g in range(90):
        img = picture(1000 + g, rng.randint(80, 320), rng.randint(80, 320))
        name = f"l{g % 3}/g{g:03d}_orig.png"
        files[name], group_of[name] = encode(img, "PNG"), g
        if g < 70:  # 20 originals have no copy
            for k in rng.sample(VARIANTS, 1 + g % 2):
                copy, fmt = variant(img, k, g)
                name = f"l{g % 3}/g{g:03d}_{k}.{fmt.lower()}"
                files[name], group_of[name] = encode(copy, fmt), g
    planted = len(files) - 90  # copies to find: every group should keep exactly one member
    out = run(spark, files, ImageCleanConfig(root_uri=ROOT))
    by_id = {r["id"]: src for src, r in out.items()}
    flagged = [(src, by_id[r["detail"].split()[3]]) for src, r in out.items() if r["reason"] == "near_duplicate"]
    correct = sum(group_of[a] == group_of[b] for a, b in flagged)
    recall, precision = correct / planted, correct / max(len(flagged), 1)
    print(f"near-dup: planted={planted} flagged={len(flagged)} recall={recall:.3f} precision={precision:.3f}")
    assert recall >= 0.9 and precision >= 0.99


def test_near_duplicate_skew_guard_keeps_results_for_a_giant_bucket(spark):
    """Identical-hash pictures overflow a tiny bucket cap: each is still matched, pairs stay bounded."""
    arr = gradient(32, 32)
    files = {f"a/{i:02d}.png": png(np.clip(arr.astype(int) + i, 0, 255).astype(np.uint8)) for i in range(12)}
    out = run(spark, files, ImageCleanConfig(root_uri=ROOT), NearDupConfig(max_bucket=3))
    reasons = sorted((r["reason"] or "kept") for r in out.values())
    assert reasons == ["kept"] + ["near_duplicate"] * 11


@pytest.mark.slow  # in-process, but a dozen seconds of shuffles: kept out of the 3-minute tier
def test_near_duplicates_keep_the_largest_whatever_the_partitioning(spark):
    """Each group's kept member is its largest picture, and which record points to
    which does not depend on the input's order or partitioning: the rank is a global sort that spreads over
    several partitions here."""
    files, group_of, largest = {}, {}, {}
    for g in range(6):
        img = picture(2000 + g, 240, 180)
        for k, side in enumerate((120, 240, 160, 200)):
            name = f"l/g{g}_{k}_{side}.png"
            files[name], group_of[name] = encode(img.resize((side, side * 3 // 4), Image.BILINEAR), "PNG"), g
        largest[g] = f"l/g{g}_1_240.png"
    rows = [(f"{ROOT}/{k}", v) for k, v in files.items()]
    schema = "path string, content binary"

    def outcome(frame):
        got = {r["source"]: r for r in transform(frame, ImageCleanConfig(root_uri=ROOT), NearDupConfig()).collect()}
        by_id = {r["id"]: src for src, r in got.items()}
        return {src: (r["reason"], by_id.get(r["detail"].split()[3]) if r["reason"] else None)
                for src, r in got.items()}

    settings = {"spark.sql.shuffle.partitions": "7", "spark.sql.adaptive.coalescePartitions.enabled": "false"}
    before = {k: spark.conf.get(k, None) for k in settings}  # the session's own (build_spark sets partitions)
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        one = outcome(spark.createDataFrame(rows, schema).coalesce(1))
        spread = outcome(spark.createDataFrame(list(reversed(rows)), schema).repartition(5))
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)
    assert one == spread
    kept = sorted(src for src, (reason, _) in one.items() if reason is None)
    assert kept == sorted(largest.values())
    assert all(reason == "near_duplicate" and dup_of == largest[group_of[src]]
               for src, (reason, dup_of) in one.items() if reason is not None)


@pytest.mark.parametrize("n_bad", [0, 2])
def test_accounting_adds_up(spark, n_bad):
    files = {f"l/{i}.png": png(np.roll(gradient(), i * 3, axis=1)) for i in range(5)}
    files.update({f"l/bad{i}.png": b"junk" for i in range(n_bad)})
    df = spark.createDataFrame([(f"{ROOT}/{k}", v) for k, v in files.items()], "path string, content binary")
    flagged = transform(df, CFG, near=None)
    assert accepted(flagged, "2026-01-01").count() == 5
    assert rejected(flagged).count() == n_bad


def test_read_images_keeps_empty_files_and_honours_glob(spark, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ok.png").write_bytes(png(gradient()))
    (tmp_path / "a" / "zero.png").write_bytes(b"")
    (tmp_path / "a" / "skip.txt").write_bytes(b"x")
    names = lambda df: sorted(r["path"].rsplit("/", 1)[-1] for r in df.collect())  # noqa: E731
    assert names(read_files(spark, str(tmp_path))) == ["ok.png", "skip.txt", "zero.png"]
    assert names(read_files(spark, str(tmp_path), "*.png")) == ["ok.png", "zero.png"]


def test_job_accounting_per_reason_and_report(spark, paths, tmp_path):
    """The real job: warehouse rows and quarantine per reason equal what was planted; the report agrees."""
    root = tmp_path / "corpus"
    planted = {"empty_file": ["a/empty.png"], "not_an_image": ["a/notes.png", "b/readme.jpg"],
               "too_small": ["b/tiny.png"], "duplicate": ["b/zz_copy.png"]}
    good = {f"{'ab'[i % 2]}/ok{i}.png": png(np.roll(gradient(24, 24), i * 5, axis=0) // (1 + i % 3)) for i in range(6)}
    contents = dict(good)
    contents.update({"a/empty.png": b"", "a/notes.png": b"notes", "b/readme.jpg": b"hello",
                     "b/tiny.png": png(gradient(4, 4)), "b/zz_copy.png": good["a/ok0.png"]})
    for rel, data in contents.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    # a good picture in a folder and under a name that are Latin-1, not UTF-8 (before: "unreadable")
    good["caf\\xe9/menu \\xff.png"] = contents["caf\\xe9/menu \\xff.png"] = png(np.roll(gradient(24, 24), 7, axis=1))
    os.mkdir(os.fsencode(root) + b"/caf\xe9")
    with open(os.fsencode(root) + b"/caf\xe9/menu \xff.png", "wb") as fh:
        fh.write(contents["caf\\xe9/menu \\xff.png"])
    dt = "2031-01-05"
    assert main(["--date", dt, "--input", str(root), "--near-dup-threshold", "-1", "--run-id", "t-img"]) == 0
    assert [tuple(r) for r in spark.sql(f"SELECT label, source FROM ml.clean_images WHERE dt='{dt}' AND label "
                                        "LIKE 'caf%'").collect()] == [("caf\\xe9", "caf\\xe9/menu \\xff.png")]
    q = spark.sql(f"SELECT reason, source FROM ml.quarantine WHERE stage='clean_images' AND dt='{dt}'").collect()
    got: dict[str, list[str]] = {}
    for r in q:
        got.setdefault(r["reason"], []).append(r["source"])
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in planted.items()}
    kept = spark.sql(f"SELECT count(*) AS n FROM ml.clean_images WHERE dt='{dt}'").first()["n"]
    assert kept == len(good) and kept + len(q) == len(contents)
    folder = paths.home / "reports" / "clean_images" / f"dt={dt}"
    rep = json.loads((folder / "report.json").read_text())
    assert rep["totals"] == {"in": len(contents), "kept": len(good), "quarantined": len(q)}
    assert rep["reasons"] == {k: len(v) for k, v in planted.items()}
    assert rep["labels"]["a"]["kept"] == 3 and rep["labels"]["b"]["by_reason"] == {
        "not_an_image": 1, "too_small": 1, "duplicate": 1}
    sheet = Image.open(folder / "contact_sheet.png")
    assert sheet.height >= 72 * (len(planted) + 2)  # a row per reason and per kept label
    assert "contact_sheet.png" in (folder / "report.html").read_text()


def test_bad_setting_is_one_clear_line(capsys, tmp_path):
    assert main(["--date", "2031-01-05", "--input", str(tmp_path), "--resize", "pad", "--target-size", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "error: clean_images: target_width must be in 1..4096, got 0"


def test_oversized_file_is_quarantined_by_its_size_unread(tmp_path):
    """A file over max_file_bytes is too_large from its size (fstat) alone: a 4 GB sparse file costs nothing."""
    import dataclasses

    from shardline.config import spark_uri
    from spark_jobs.imaging.decode import decode_one

    huge = tmp_path / "cat" / "huge.png"
    huge.parent.mkdir()
    with open(huge, "wb") as fh:
        fh.truncate(4 * 2**30)  # sparse: no disk, and reading it whole would need 4 GB of memory
    (tmp_path / "cat" / "ok.png").write_bytes(png(gradient(16, 16)))
    cfg = dataclasses.replace(CFG, root_uri=spark_uri(tmp_path), max_file_bytes=2**20)
    row = decode_one(spark_uri(huge), None, cfg)
    assert (row["reason"], row["detail"], row["source"]) == ("too_large", f"{4 * 2**30} bytes > {2**20}", "cat/huge.png")
    assert decode_one(spark_uri(tmp_path / "cat" / "ok.png"), None, cfg)["reason"] is None
