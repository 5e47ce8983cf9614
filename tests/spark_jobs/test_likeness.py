"""The thumbnail check's second chance for two transparent pictures (spark_jobs/imaging/likeness.py): a
brightness change darkens an icon's fill but not the background it is flattened on; on black, it is a pure
scaling. Both conditions are needed: on black alone, different dark glyphs with the same emblem are one."""
from PIL import Image, ImageDraw, ImageEnhance

from spark_jobs.imaging.likeness import differences, look_alike, on_own_colour, thumbnail


def flat(img: Image.Image, level: int) -> bytes:
    return thumbnail(Image.alpha_composite(Image.new("RGBA", img.size, (level, level, level, 255)), img).convert("RGB"))


def blank_sheet() -> Image.Image:
    """A blank document icon: a pale sheet with a grey outline, on a transparent canvas."""
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((14, 6, 50, 58), fill=(246, 245, 244, 255), outline=(154, 153, 150, 255), width=2)
    return img


def sheet() -> Image.Image:
    """``blank_sheet`` with lines of text, on a transparent canvas."""
    img = blank_sheet()
    draw = ImageDraw.Draw(img)
    for y in range(16, 50, 6):
        draw.line((20, y, 44, y), fill=(192, 191, 188, 255), width=2)
    return img


def brightness(img: Image.Image, factor: float) -> Image.Image:
    out = ImageEnhance.Brightness(img.convert("RGB")).enhance(factor)
    out.putalpha(img.getchannel("A"))
    return out


def glyph_with_emblem(round_: bool) -> Image.Image:
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    (draw.ellipse if round_ else draw.rectangle)((6, 6, 58 if round_ else 40, 58), fill=(6, 6, 6, 255))
    draw.ellipse((36, 36, 60, 60), fill=(38, 162, 105, 255))
    return img


def test_a_darkened_transparent_icon_is_confirmed_with_its_black_flattened_thumbnails():
    a, b = sheet(), brightness(sheet(), 0.85)
    white = [flat(a, 255)], [flat(b, 255)]
    black = [flat(a, 0)], [flat(b, 0)]
    assert differences(*white)[0][0] > 0.33  # on white the fill darkens and the background does not
    assert not look_alike(*white, 0.33)[0]
    assert look_alike(*white, 0.33, *black)[0]


def test_document_icons_with_one_outline_stay_distinct_and_their_brightened_copies_do_not():
    """A page with lines and a blank page: the same opacity, and on black the bright page hides the faint
    lines (the opacity route of 2026-12-02 joined Adwaita's text-x-generic to application-x-generic this
    way). On its own colour, what is drawn inside the page decides. A copy 15% brighter, whose fill saturates
    at white, is still confirmed; so is one 15% darker."""
    lines, blank = sheet(), blank_sheet()
    assert differences([flat(lines, 0)], [flat(blank, 0)])[0][0] <= 0.6 * 0.33  # within the bound on black
    assert not look_alike([flat(lines, 255)], [flat(blank, 255)], 0.33, [flat(lines, 0)], [flat(blank, 0)])[0]
    for factor in (1.15, 0.85):
        copy = brightness(lines, factor)
        assert look_alike([flat(lines, 255)], [flat(copy, 255)], 0.33, [flat(lines, 0)], [flat(copy, 0)])[0], factor
    # with the job's background black, the other extreme is white: the thumbnails come in the other order
    assert on_own_colour(flat(lines, 255), flat(lines, 0), flat(blank, 255), flat(blank, 0)) == \
        on_own_colour(flat(lines, 0), flat(lines, 255), flat(blank, 0), flat(blank, 255))


def test_different_dark_glyphs_with_one_emblem_stay_distinct_though_alike_on_black():
    a, b = glyph_with_emblem(False), glyph_with_emblem(True)
    assert differences([flat(a, 0)], [flat(b, 0)])[0][0] <= 0.25  # the glyphs vanish on black
    assert not look_alike([flat(a, 255)], [flat(b, 255)], 0.33, [flat(a, 0)], [flat(b, 0)])[0]


def test_a_transparent_picture_gets_no_other_extreme_variant_where_that_hides_most_of_it(tmp_path):
    """Flattened on black, a black glyph with a green emblem is a green emblem, like every icon with that
    emblem: matching that variant against opaque pictures joined eight distinct icons to one copy of one of
    them flattened on black (benchmarks/dedup_quality.py, 2026-12-02). A pale icon keeps its variant."""
    import io

    from spark_jobs.imaging.decode import ImageCleanConfig, decode_one
    from spark_jobs.imaging.likeness import MIN_VISIBLE, visible_share

    cfg = ImageCleanConfig(root_uri=f"file:{tmp_path}")

    def decoded(img: Image.Image) -> dict:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return decode_one(f"file:{tmp_path}/x.png", buf.getvalue(), cfg)

    emblem, pale = glyph_with_emblem(True), sheet()
    assert visible_share(emblem, (0, 0, 0)) < MIN_VISIBLE <= visible_share(emblem, (255, 255, 255))
    assert visible_share(pale, (0, 0, 0)) > 0.9
    row = decoded(emblem)
    assert row["opaque"] is False and row["alt_hashes"] is None and row["alt_thumb"] is None
    assert row["hashes"] and row["thumb"]
    row = decoded(pale)
    assert row["alt_hashes"] is not None and row["alt_thumb"] is not None


def test_pairs_without_both_dark_thumbnails_use_the_plain_limit():
    a, b = sheet(), brightness(sheet(), 0.85)
    assert list(look_alike([flat(a, 255)] * 2, [flat(b, 255)] * 2, 0.33, [flat(a, 0), None], [None, flat(b, 0)])) == [False, False]


def test_one_parser_of_hash_lists_for_the_config_and_the_job():
    """``images.near_dup_hash`` and the job's ``--hash`` go through one parser, whose names are exactly the
    hashes the job implements; an empty entry, an unknown name, a repeat or a guarded hash without its guard
    is refused by both."""
    import pytest

    from shardline.settings import IMAGE_HASHES, ImagesSettings, hash_names
    from spark_jobs.imaging.decode import ImageCleanConfig
    from spark_jobs.imaging.phash import HASHES

    assert set(IMAGE_HASHES) == set(HASHES)
    assert hash_names(" dcthash , phash") == ("dcthash", "phash")
    assert ImageCleanConfig(root_uri="file:/x", hash="dcthash,phash").hashes == ("dcthash", "phash")
    for bad in ("phash,", "phash,phash", "ahash", ""):
        with pytest.raises(ValueError, match="images.near_dup_hash must be one or more of"):
            ImagesSettings(near_dup_hash=bad)
        with pytest.raises(ValueError, match="hash must be one or more of"):
            ImageCleanConfig(root_uri="file:/x", hash=bad)
    # a guarded hash comes with its guard (dedup.near_duplicates checks the pairs it finds on it)
    assert hash_names("coarse_dcthash,trimmed_dcthash") == ("coarse_dcthash", "trimmed_dcthash")
    for bad in ("coarse_dcthash", "phash,coarse_dcthash"):
        with pytest.raises(ValueError, match="images.near_dup_hash lists coarse_dcthash without trimmed_dcthash"):
            ImagesSettings(near_dup_hash=bad)
        with pytest.raises(ValueError, match="hash lists coarse_dcthash without trimmed_dcthash"):
            ImageCleanConfig(root_uri="file:/x", hash=bad)
    # a hash only small pictures have is never first: the first is every picture's perceptual_hash
    from shardline.settings import PARTIAL_HASHES
    from spark_jobs.imaging.phash import _ONLY_FOR

    assert set(PARTIAL_HASHES) == set(_ONLY_FOR)
    assert hash_names("phash,small_dcthash") == ("phash", "small_dcthash")
    for bad in ("small_dcthash", "small_dcthash,trimmed_dcthash"):
        with pytest.raises(ValueError, match="images.near_dup_hash starts with small_dcthash"):
            ImagesSettings(near_dup_hash=bad)
        with pytest.raises(ValueError, match="hash starts with small_dcthash"):
            ImageCleanConfig(root_uri="file:/x", hash=bad)


def test_small_dcthash_is_the_whole_frame_of_small_pictures_only():
    import numpy as np

    from spark_jobs.imaging.phash import SMALL_SIDE, dcthash, hashes, small_dcthash

    small = Image.fromarray((np.arange(24 * 40).reshape(24, 40) % 251).astype(np.uint8))
    large = small.resize((80, SMALL_SIDE + 1))
    assert small_dcthash(small) == dcthash(small) == hashes(small, ("small_dcthash",))[0]
    assert small_dcthash(large) is None and hashes(large, ("dcthash", "small_dcthash"))[1] is None
