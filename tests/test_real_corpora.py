"""The icon-family corpus of benchmarks/real_corpora.py (issue 17): its labels are the families' names, one
picture per theme and name, small families left out."""
from __future__ import annotations

from pathlib import Path

from benchmarks import real_corpora


def _icon(root: Path, *parts: str) -> None:
    path = root.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG")


def test_icon_family_files(tmp_path, monkeypatch):
    for size in ("16x16", "32x32", "48x48"):
        _icon(tmp_path, "Adwaita", size, "status", "battery-low-symbolic.png")
        _icon(tmp_path, "oxygen", "base", size, "status", "battery-low.png")  # Oxygen's extra folder
    _icon(tmp_path, "Tango", "22x22", "status", "battery-caution.png")
    _icon(tmp_path, "Tango", "22x22", "actions", "go-up.png")
    (tmp_path / "Tango" / "22x22" / "actions" / "go-down.png").symlink_to("go-up.png")
    _icon(tmp_path, "Adwaita", "cursors", "x", "arrow.png")
    monkeypatch.setattr(real_corpora, "ICONS", tmp_path)

    assert real_corpora.icon_family("x-office-document") == "x"
    assert real_corpora.icon_family("battery-caution-symbolic") == "battery"
    families = real_corpora.icon_family_files(min_family=2)
    assert set(families) == {"battery"}  # go: one drawing (the symlink is not another); cursors skipped
    drawings = [p.relative_to(tmp_path).parts for p in families["battery"]]
    assert len(drawings) == 3  # Adwaita's and Oxygen's battery-low once each, whatever the sizes, and Tango's
    assert {d[0] for d in drawings} == {"Adwaita", "oxygen", "Tango"}

    counts = real_corpora.build_images(tmp_path / "out", 10, files_by_label=families)
    assert counts == {"battery": 3}
    names = sorted(p.name for p in (tmp_path / "out" / "battery").iterdir())
    assert any(n.lstrip("._").startswith("oxygen base ") for n in names), names  # "_", "." added on purpose
