"""A contact sheet: one row of thumbnails per section (a quarantine reason or a kept label)."""
from __future__ import annotations

import io
from collections.abc import Sequence

THUMB = 72
CAPTION = 14


def thumbnail(content: bytes | None, note: str):
    """A THUMB x THUMB tile; files that do not decode get a grey tile saying why."""
    from PIL import Image, ImageDraw, ImageFile, ImageOps

    tile = Image.new("RGB", (THUMB, THUMB), (200, 200, 200))
    if content:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True  # show what a truncated file still holds
        try:
            with Image.open(io.BytesIO(content)) as img:
                img.draft("RGB", (THUMB, THUMB))
                pic = ImageOps.exif_transpose(img).convert("RGB")
                pic.thumbnail((THUMB, THUMB))
                tile.paste(pic, ((THUMB - pic.width) // 2, (THUMB - pic.height) // 2))
                return tile
        except Exception:  # noqa: BLE001 - undecodable files are what the sheet shows
            pass
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
    ImageDraw.Draw(tile).text((4, THUMB // 2 - 6), note[:11], fill=(80, 0, 0))
    return tile


def render(sections: Sequence[tuple[str, Sequence[tuple[bytes | None, str]]]], per_row: int = 8) -> bytes:
    """``sections``: (title, [(file bytes or None, short note)]) -> PNG bytes."""
    from PIL import Image, ImageDraw

    width = 160 + per_row * (THUMB + 4)
    height = max(1, len(sections)) * (THUMB + CAPTION + 8) + 4
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (title, items) in enumerate(sections):
        y = 4 + i * (THUMB + CAPTION + 8)
        draw.text((4, y + THUMB // 2), title[:24], fill="black")
        for j, (content, note) in enumerate(items[:per_row]):
            x = 160 + j * (THUMB + 4)
            sheet.paste(thumbnail(content, note), (x, y))
            draw.text((x, y + THUMB + 1), note[:12], fill=(90, 90, 90))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()
