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


# ---- the documentation stands on its own (issue 19) ----

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target) and ![alt](target)
NOT_THE_PROJECT = {".git", ".venv", "test-artifacts", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist"}
TEXT_SUFFIXES = {".md", ".py", ".js", ".html", ".css", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".sh", ".json"}


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_readme_is_short():
    """A newcomer's page: the measurements live in docs/benchmarks.md, the contract in docs/design.md."""
    lines = len(README.splitlines())
    assert lines < 260, f"README.md has {lines} lines; move detail to docs/ (limit 260)"


def broken_links(doc: Path, root: Path = ROOT) -> list:
    """The relative links and images of one markdown file that name no file inside root, or a
    #fragment that names no heading of the markdown file they point to."""
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        where = f"{doc.relative_to(root)}: ({target})"
        if root not in path.parents:
            broken.append(f"{where} points outside the repository")
        elif not path.is_file():
            broken.append(f"{where} names no file")
        elif fragment and path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.M)
            if fragment not in {github_slug(h) for h in headings}:
                broken.append(f"{where} names no heading of {path.name}")
    return broken


def mentions_of_the_workplace(root: Path = ROOT) -> list:
    """Files of the project (not git, venvs, build output) that refer to the workplace's shared folder."""
    needles = ("../" + "shared", "/work/" + "shared")
    offenders = []
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if set(parts) & NOT_THE_PROJECT or any(p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in {"Dockerfile", "run", ".dockerignore", ".gitignore"}:
            text = path.read_text(errors="replace")
            offenders += [f"{path.relative_to(root)}: {needle}" for needle in needles if needle in text]
    return offenders


def test_relative_links_point_to_files_in_the_repository():
    """Every relative link and image in README.md and docs/*.md names a file that exists inside the
    repository, and a #fragment names a heading of that file."""
    assert len(LINK.findall(README)) >= 5  # the README's screenshots and docs links are found
    broken = [problem for doc in DOCS for problem in broken_links(doc)]
    assert not broken, "\n".join(broken)


def test_the_link_check_catches_missing_files_anchors_and_escapes(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "design.md").write_text("# Design\n## §5 Experiments (sweeps)\n")
    doc = tmp_path / "README.md"
    doc.write_text("![shot](docs/nope.png) [ok](docs/design.md#5-experiments-sweeps) [bad](docs/design.md#6-x)\n"
                   "[up](../" "shared/tools/x.sh) [web](https://example.org/a.md) [self](#nce)\n# NCE\n")
    assert broken_links(doc, tmp_path) == [
        "README.md: (docs/nope.png) names no file",
        "README.md: (docs/design.md#6-x) names no heading of design.md",
        "README.md: (../" "shared/tools/x.sh) points outside the repository",
    ]


def test_nothing_points_at_the_workplace_folder(tmp_path):
    """The repository documents itself: no file of it refers to the workplace's shared folder beside it."""
    assert mentions_of_the_workplace() == []
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("run bash " + "../" + "shared/tools/image-smoke.sh\n")
    (tmp_path / "x.egg-info").mkdir()
    (tmp_path / "x.egg-info" / "PKG-INFO").write_text("../" + "shared\n")  # build output: not the project
    assert mentions_of_the_workplace(tmp_path) == ["docs/notes.md: ../" + "shared"]
