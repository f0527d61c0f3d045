"""config.toml: defaults, overrides, and a clear error naming the key for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from cercle.node.files.config import Config, ConfigError, load_config


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "config.toml") == Config()


def test_values_are_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'listen = ["/ip4/127.0.0.1/tcp/7490"]\nmdns = true\nsync_interval_s = 5\n'
        f'[relay]\ncommunities = ["{"ab" * 32}"]\nmetrics = "127.0.0.1:9464"\n'
    )
    cfg = load_config(path)
    assert cfg.listen == ("/ip4/127.0.0.1/tcp/7490",) and cfg.mdns and cfg.sync_interval_s == 5
    assert cfg.relay_communities == ("ab" * 32,) and cfg.metrics == "127.0.0.1:9464"
    assert cfg.with_overrides(mdns=None, bootstrap=("x",)).bootstrap == ("x",)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("listen = [", "config.toml"),
        ("colour = 1", "unknown setting 'colour'"),
        ('mdns = "yes"', "'mdns' has the wrong type"),
        ("listen = [1, 2]", "'listen' must be a list of strings"),
        ("sync_interval_s = 0", "must be positive"),
        ("sync_interval_s = true", "wrong type"),
        ("relay = 3", r"\[relay\] must be a table"),
        ("[relay]\nport = 1", "unknown setting 'port'"),
        ('[relay]\ncommunities = ["vegan"]', "'vegan' is not a community id"),
        ("[relay]\nmax_records_per_s = 0", "must be positive"),
        ('[relay]\nmetrics = "9464"', "is not HOST:PORT"),
    ],
)
def test_mistakes_are_clear_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe bad utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)


def test_a_bad_flag_is_one_line_and_no_node_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cercle.node.cli.main import main

    assert main(["--data-dir", str(tmp_path / "d"), "relay", "--community", "Vegan"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "cercle: error: the command line: [relay] communities: 'vegan' is not a community id "
        "(64 hexadecimal characters, 0-9 and a-f)\n"
    )
