"""What makes a cropped or shrunk copy of a small picture findable (spark_jobs/imaging/phash.py, likeness.py),
on real photo tiles (scikit-learn's sample photographs) made into icons and small pictures:

- a picture sitting in a uniform border (an icon, clipart) cropped by 5% moves its whole-frame hashes more
  than the candidate threshold; its content box, and so its trimmed dcthash, does not move;
- the Lanczos thumbnail keeps a 48 px picture and its 24 px or 1-px-cropped copy well under the check's limit
  (box averaging, before, did not: Pillow's box filter does not smooth when it enlarges)."""
from PIL import Image

from spark_jobs.imaging.dedup import NearDupConfig
from spark_jobs.imaging.likeness import MAX_SPREAD_RATIO, SIDE, differences, thumbnail
from spark_jobs.imaging.phash import content_box, dcthash, hamming, phash, trimmed_dcthash
from tests.spark_jobs.test_near_duplicates_real import IMAGE_EDITS, flattened, photo_tiles, with_alpha

LIMIT = NearDupConfig().max_difference
THRESHOLD = NearDupConfig().threshold


def tiles() -> list[Image.Image]:
    return photo_tiles(len(IMAGE_EDITS) + 12)  # the job test's tiles: the sample photographs hold no more


def icon(tile: Image.Image, pad: int) -> Image.Image:
    """The tile as a round sticker on a transparent canvas with ``pad`` px of margin, flattened on white."""
    canvas = Image.new("RGBA", (tile.width + 2 * pad, tile.height + 2 * pad), (0, 0, 0, 0))
    canvas.alpha_composite(with_alpha(tile), (pad, pad))
    return flattened(canvas, (255, 255, 255))


def test_the_content_box_is_the_picture_inside_its_border():
    tile = tiles()[0]
    box = content_box(icon(tile, 12).convert("L"))
    # the sticker is a disc of radius 96 / 2.2 centred in the 96 px tile, at 12 px margin: 4-8 px of
    # transparent tile corners on each side, and the box leaves out 0.5% of the weight on each side
    assert box is not None
    assert all(14 <= v <= 22 for v in box[:2]) and all(98 <= v <= 106 for v in box[2:]), box
    assert content_box(Image.new("L", (50, 40), 255)) is None  # nothing but border: the whole picture
    photo = tile.convert("L")
    x0, y0, x1, y1 = content_box(photo)
    assert x1 - x0 >= 0.95 * photo.width and y1 - y0 >= 0.95 * photo.height  # no border: nearly the whole frame
    # one stray dark pixel in a corner of the border does not stretch the box to it
    spotted = icon(tile, 12).convert("L")
    spotted.putpixel((1, 1), 0)
    assert content_box(spotted) == box


def test_a_five_percent_crop_of_a_bordered_picture_keeps_its_trimmed_hash():
    moved = 0
    for tile in tiles()[:12]:
        full = icon(tile, 12)
        for crop in ((6, 6, 120, 120), (0, 0, 114, 120), (3, 3, 117, 114)):  # 5% from two sides, one side, around
            copy = full.crop(crop)
            assert hamming(trimmed_dcthash(full.convert("L")), trimmed_dcthash(copy.convert("L"))) <= 2
            moved += min(hamming(f(full.convert("L")), f(copy.convert("L"))) for f in (phash, dcthash)) > THRESHOLD
    assert moved >= 3  # the whole-frame hashes lose some of these copies: what the trimmed hash is for


def test_small_pictures_and_their_resized_or_cropped_copies_stay_under_the_limit():
    pairs = []
    for tile in tiles():
        small = tile.resize((48, 48), Image.LANCZOS)
        pairs.append((small, small.resize((24, 24), Image.LANCZOS)))
        pairs.append((small, small.crop((1, 0, 48, 47))))
    diff, ratio = differences([thumbnail(a) for a, _ in pairs], [thumbnail(b) for _, b in pairs])
    assert diff.max() < 0.7 * LIMIT and diff.mean() < LIMIT / 3, (diff.max(), diff.mean())
    assert ratio.max() < MAX_SPREAD_RATIO
    # the box-averaged thumbnail of before, for comparison: some of these copies came near or over the limit
    box = [(a.resize((SIDE, SIDE), Image.BOX).tobytes(), b.resize((SIDE, SIDE), Image.BOX).tobytes()) for a, b in pairs]
    before = differences([a for a, _ in box], [b for _, b in box])[0]
    assert before.mean() > diff.mean() * 1.5
