"""The pictures people look at (#43): contact sheets show transparent icons as the job sees them (composited on
the background, not black squares) with whole file names; the confusion matrix stays readable at 40 labels."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from spark_jobs.imaging.contact_sheet import THUMB, TITLE_WIDTH, font, render, thumbnail, wrap
from training.evaluate import confusion_png


def icon(colour=(200, 30, 30)) -> bytes:
    """A transparent 64x64 icon: a red disc on nothing."""
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse([16, 16, 48, 48], fill=(*colour, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_transparent_icons_are_composited_on_the_background():
    tile = thumbnail(icon(), "x.png", background=(255, 255, 255))
    assert tile.getpixel((2, 2)) == (255, 255, 255)  # the transparent corner: the background, not black
    assert tile.getpixel((THUMB // 2, THUMB // 2))[0] > 150  # the disc
    green = thumbnail(icon(), "x.png", background=(0, 128, 0))
    assert green.getpixel((2, 2)) == (0, 128, 0)
    sheet = Image.open(io.BytesIO(render([("kept: apps", [(icon(), "org.gnome.Settings-symbolic.png")])])))
    assert sheet.getpixel((TITLE_WIDTH + 2, 6)) == (255, 255, 255)


def test_whole_file_names_are_wrapped_not_cut():
    name = "org.gnome.Settings-color-symbolic-extra.png"
    lines = wrap(name, THUMB, font())
    assert "".join(lines) == name and len(lines) > 1
    assert all(font().getlength(line) <= THUMB for line in lines)
    cut = wrap("x" * 400, THUMB, font())
    assert len(cut) == 3 and cut[-1].endswith("…")


def test_confusion_matrix_is_readable_at_40_labels(tmp_path):
    labels = [f"application-x-{k:02d}-{'long' * (k % 4)}" for k in range(40)]
    matrix = [[(5 if i == j else (1 if (i + j) % 7 == 0 else 0)) for j in range(40)] for i in range(40)]
    out = tmp_path / "cm.png"
    confusion_png(matrix, labels, out, title="text 40 labels")
    img = Image.open(out)
    longest = max(font(13).getlength(label) for label in labels)
    cell = (img.width - 20 - (int(longest) + 24)) // 40
    assert cell >= 22  # each cell holds a two-digit count in an 11 px font
    assert img.width > longest + 40 * 22 and img.height > longest + 40 * 22
    # the row labels are drawn whole: ink reaches as far left as the longest label's width
    left = int(longest) + 24
    ink = [x for x in range(left) for y in range(0, img.height, 2) if img.getpixel((x, y))[0] < 100]
    assert min(ink) <= left - 8 - longest + 3


def test_a_near_duplicate_is_shown_beside_the_picture_it_duplicates(spark):
    from spark_jobs.clean_images import near_duplicate_originals

    flagged = spark.createDataFrame([("k1", "icons/app.png", None, None),
                                     ("d1", "icons/app-copy.png", "near_duplicate", "near duplicate of k1 (hamming 2)")],
                                    "id string, source string, reason string, detail string")
    samples = [{"id": "d1", "source": "icons/app-copy.png", "detail": "near duplicate of k1 (hamming 2)"},
               {"id": "d2", "source": "x.png", "detail": "near duplicate of gone (hamming 1)"}]
    assert near_duplicate_originals(flagged, samples) == {"d1": "icons/app.png"}
