"""The README stays true: its knob table lists every knob with its real default, and its two
set-up commands are the ones CI runs."""
import re
from pathlib import Path

from models.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_knob_table_matches_the_config():
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", README, flags=re.M)
    table = {name: default.strip() for name, default in rows if name in RunConfig.model_fields}
    assert set(table) == set(RunConfig.model_fields)
    for name, field in RunConfig.model_fields.items():
        default = field.default
        expected = "null" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        assert table[name] == expected, name


def test_ci_runs_the_readme_test_command():
    command = re.search(r"# install and run the whole test suite\n(.+)\n", README).group(1).strip()
    assert command in (ROOT / ".ci" / "run").read_text()
    assert "nce-playground serve" in re.search(r"# install and start the app.*\n(.+)\n", README).group(1)


def test_server_table_lists_every_setting():
    """Every NCE_* setting has a row in the Server table (a row may name two: `NCE_A` / `NCE_B`)."""
    from server.settings import Settings

    rows = re.findall(r"^\| (`NCE_\w+`(?: / `NCE_\w+`)?) \|", README, flags=re.M)
    documented = {name for row in rows for name in re.findall(r"NCE_(\w+)", row)}
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set(), "settings without a README row"
    assert documented - expected == set(), "README rows for settings that do not exist"
