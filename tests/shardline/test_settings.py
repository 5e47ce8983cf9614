import subprocess
import sys
from pathlib import Path

import pytest

from shardline.config import ShardlineError
from shardline.settings import DEMO_CONFIG, Settings, add_setting_flags, load, parse_args, write_resolved


def test_round_trip_through_the_written_file(tmp_path):
    cfg = load(DEMO_CONFIG).with_overrides({"images.size": 40, "gate.rare_labels": "fail",
                                            "train.image_conv_filters": [8, 16, 32]})
    again = load(write_resolved(cfg, tmp_path))
    assert again == cfg
    assert (again.images.size, again.images.mode, again.gate.rare_labels) == (40, "L", "fail")
    assert again.train.image.conv_filters == (8, 16, 32)


def test_defaults_serve_real_photos_and_the_demo_has_its_own():
    assert (Settings().images.size, Settings().images.mode) == (96, "RGB")
    demo = load(DEMO_CONFIG)
    assert (demo.images.size, demo.images.mode, demo.images.near_dup_threshold) == (28, "L", 3)


@pytest.mark.parametrize("text, message", [
    ("[images]\nsize = 'big'\n", "images.size must be a int"),
    ("[images]\ncolour = 'RGB'\n", "unknown key images.colour"),
    ("[imagez]\nsize = 64\n", r"unknown section \[imagez\]"),
    ("[images]\nmode = 'CMYK'\n", "images.mode must be one of"),
    ("[images]\nsize = 99999999999999999999\n", "images.size must be <= 4096"),  # the job's limit, before a night
    ("[gate]\nrare_labels = 'drop'\n", "gate.rare_labels must be one of"),
    ("[images\nsize = 1\n", "not valid TOML"),
])
def test_a_wrong_key_or_value_is_one_line_naming_it(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ShardlineError, match=message):
        load(f)


def test_jobs_take_the_file_then_set_items_then_their_flags(tmp_path):
    import argparse

    f = tmp_path / "c.toml"
    f.write_text("[images]\nsize = 64\nmode = 'L'\nresize = 'stretch'\n")
    p = argparse.ArgumentParser()
    add_setting_flags(p, "images")
    args = parse_args(p, ["--config", str(f), "--mode", "RGB", "--set", "images.resize=crop",
                          "--set", "images.background=#ff0000", "--set", "images.mode=L"])
    images = args.settings.images
    assert (images.size, images.mode, images.resize, images.background) == (64, "RGB", "crop", "#ff0000")


def test_a_bad_set_item_is_one_line(tmp_path, capsys):
    import argparse

    for item, said in (("images.size=big", "images.size must be a int"), ("images=3", "section.key=value"),
                       ("image.size=3", "unknown configuration field 'image.size'")):
        with pytest.raises(SystemExit) as exc:
            parse_args(argparse.ArgumentParser(prog="job"), ["--set", item])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_cli_config_show_and_bad_config_error(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[text]\npreset = 'web'\n")
    ok = subprocess.run([sys.executable, "-m", "shardline_ops.cli", "config", "show", "--config", str(f),
                         "--image-size", "128"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert 'preset = "web"' in ok.stdout and "size = 128" in ok.stdout
    f.write_text("[text]\npreset = 'news'\n")
    bad = subprocess.run([sys.executable, "-m", "shardline_ops.cli", "config", "show", "--config", str(f)],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "text.preset must be one of" in bad.stderr


def test_every_field_is_documented_in_config_md():
    """docs/CONFIG.md shows the defaults exactly as `shardline config show` prints them, and explains every
    field in a table row."""
    from shardline.settings import field_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "CONFIG.md").read_text()
    assert "```toml\n" + Settings().to_toml() + "```" in doc, "regenerate the block: shardline config show"
    missing = [dotted for dotted, _, _ in field_table() if f"`{dotted.partition('.')[2]}`" not in doc]
    assert not missing, f"not in docs/CONFIG.md: {missing}"
