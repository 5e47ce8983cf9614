"""A contact sheet: one row of thumbnails per section (a quarantine reason or a kept label).

Transparent pictures (icons) are composited on the job's background colour (``images.background``), as the
job itself does, so a transparent icon shows as the model sees it, not as a black square. Captions are the
whole file name, wrapped over up to three lines in a real (scalable) font.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

THUMB = 96
CAPTION_LINES = 3
FONT_SIZE = 11
TITLE_WIDTH = 190


def font(size: int = FONT_SIZE):
    """Pillow's built-in scalable font (FreeType; no system font needed)."""
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def wrap(text: str, width_px: int, face, lines: int = CAPTION_LINES) -> list[str]:
    """``text`` cut into lines no wider than ``width_px`` (by character: file names have no spaces to break
    at); the last line ends with an ellipsis when the name is longer still."""
    out, line = [], ""
    for ch in text:
        if face.getlength(line + ch) > width_px:
            out.append(line)
            line = ""
            if len(out) == lines:
                break
        line += ch
    if len(out) < lines and line:
        out.append(line)
    if "".join(out) != text:
        out[-1] = out[-1][:-1] + "…"
    return out


def thumbnail(content: bytes | None, note: str, background: tuple[int, int, int] = (255, 255, 255)):
    """A THUMB x THUMB tile; files that do not decode get a grey tile saying why."""
    from PIL import Image, ImageDraw, ImageFile, ImageOps

    tile = Image.new("RGB", (THUMB, THUMB), (200, 200, 200))
    if content:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True  # show what a truncated file still holds
        try:
            with Image.open(io.BytesIO(content)) as img:
                img.draft("RGB", (THUMB, THUMB))
                pic = ImageOps.exif_transpose(img)
                if pic.mode in ("RGBA", "LA", "PA") or (pic.mode == "P" and "transparency" in pic.info):
                    rgba = pic.convert("RGBA")
                    flat = Image.new("RGBA", rgba.size, (*background, 255))
                    pic = Image.alpha_composite(flat, rgba).convert("RGB")
                else:
                    pic = pic.convert("RGB")
                pic.thumbnail((THUMB, THUMB))
                tile = Image.new("RGB", (THUMB, THUMB), background)
                tile.paste(pic, ((THUMB - pic.width) // 2, (THUMB - pic.height) // 2))
                return tile
        except Exception:  # noqa: BLE001 - undecodable files are what the sheet shows
            pass
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
    draw = ImageDraw.Draw(tile)
    for k, text in enumerate(wrap(note, THUMB - 8, font(), 2)):
        draw.text((4, THUMB // 2 - 12 + 13 * k), text, fill=(110, 0, 0), font=font())
    return tile


def render(sections: Sequence[tuple[str, Sequence[tuple[bytes | None, str]]]], per_row: int = 8,
           background: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    """``sections``: (title, [(file bytes or None, file name)]) -> PNG bytes."""
    from PIL import Image, ImageDraw

    face, title_face = font(), font(13)
    line_h = FONT_SIZE + 3
    row_h = THUMB + CAPTION_LINES * line_h + 12
    width = TITLE_WIDTH + per_row * (THUMB + 6)
    sheet = Image.new("RGB", (width, max(1, len(sections)) * row_h + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (title, items) in enumerate(sections):
        y = 4 + i * row_h
        for k, text in enumerate(wrap(title, TITLE_WIDTH - 12, title_face, 3)):
            draw.text((4, y + THUMB // 2 - 16 + 16 * k), text, fill="black", font=title_face)
        for j, (content, note) in enumerate(items[:per_row]):
            x = TITLE_WIDTH + j * (THUMB + 6)
            sheet.paste(thumbnail(content, note, background), (x, y))
            for k, text in enumerate(wrap(note, THUMB, face)):
                draw.text((x, y + THUMB + 2 + k * line_h), text, fill=(70, 70, 70), font=face)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()
