"""The README stays a front page whose commands are the ones CI runs, and no guide links nowhere.

Why these three: the README is what a newcomer runs first, so a command in it that CI does not run
rots unnoticed; it grew to 715 lines once, so its length has a ceiling (issue 27); and the
documentation is split over README.md and docs/*.md, which link into each other and into reports/,
so a moved or renamed file or heading breaks a link nobody clicks until it is needed.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
MAX_README_LINES = 200
CI_TEST_MARKER = "# --- the README's test command ---"

FENCE = re.compile(r"^```")
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a link in a shell example is not a link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)]


def readme_commands() -> tuple[str, str]:
    """The README's two commands: set up and serve, and run the tests (the first two bash blocks
    of "Run it")."""
    blocks = _bash_blocks(_section(README.read_text(encoding="utf-8"), "Run it"))
    assert len(blocks) >= 2, "'Run it' must show the setup command and the test command as bash blocks"
    for block in blocks[:2]:
        assert "\n" not in block, f"each of the two commands is one line:\n{block}"
    return blocks[0], blocks[1]


def ci_commands() -> list[str]:
    """The commands .ci/run executes, without comments, continuation lines joined."""
    text = CI_RUN.read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _normalize_pip(command: str) -> str:
    """pip's quiet flag changes no result: `pip install -q -e X` is `pip install -e X`."""
    return re.sub(r"\s+", " ", re.sub(r"\s-q\b", "", command)).strip()


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (letters, digits, spaces,
    hyphens and underscores kept, any script), spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|~~", "", heading.strip().lower())
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        anchor = github_anchor(match.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        result.add(anchor if count == 0 else f"{anchor}-{count}")
    return result


def test_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move details into a guide in docs/")


def test_readme_test_command_is_what_ci_runs():
    _, test_command = readme_commands()
    parts = [p.strip() for p in test_command.split("&&")]
    assert len(parts) == 2 and parts[0].startswith(".venv/bin/pip install") and "pytest" in parts[1], (
        f"the README's test command is 'install && pytest', found: {test_command}")
    install, run_tests = parts
    commands = ci_commands()
    assert CI_TEST_MARKER in CI_RUN.read_text(encoding="utf-8")
    # What follows the marker is exactly the README's pytest invocation, and it is the last thing CI does.
    tail = CI_RUN.read_text(encoding="utf-8").split(CI_TEST_MARKER, 1)[1]
    tail_commands = [c.strip() for c in tail.splitlines() if c.strip() and not c.strip().startswith("#")]
    assert tail_commands == [run_tests], f".ci/run runs {tail_commands} after its marker, README says {run_tests!r}"
    assert commands[-1] == run_tests
    # The install before it is the README's, up to pip's quiet flag.
    assert _normalize_pip(install) in [_normalize_pip(c) for c in commands], (
        f".ci/run does not install as the README says: {install!r} not among {commands}")


def test_readme_setup_command_names_real_extras_and_entry_point():
    setup, _ = readme_commands()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = set(pyproject["project"]["optional-dependencies"])
    assert pyproject["project"]["scripts"].get("triage"), "the README's commands run the `triage` script"
    named = [e for spec in re.findall(r'"\.\[([^\]]*)\]"', setup + " " + readme_commands()[1])
             for e in spec.split(",")]
    assert named, "the README's install commands name their extras"
    assert set(named) <= extras, f"extras {set(named) - extras} are not in pyproject.toml"
    assert re.search(r"\.venv/bin/triage serve\b", setup), f"the setup command starts the service: {setup!r}"


def broken_links(doc: Path) -> list[str]:
    """Relative links in ``doc`` whose file, or whose heading in a Markdown file, does not exist."""
    broken = []
    for line in _prose_lines(doc.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
                continue
            path_part, _, fragment = target.partition("#")
            resolved = (doc.parent / path_part).resolve() if path_part else doc
            if not resolved.exists():
                broken.append(f"{target} (no such file)")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                broken.append(f"{target} (no heading #{fragment} there)")
    return broken


@pytest.mark.parametrize("doc", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    broken = broken_links(doc)
    assert not broken, f"{doc.relative_to(ROOT)} links to what does not exist: " + "; ".join(broken)


def test_link_checker_catches_a_missing_file_and_heading(tmp_path: Path):
    """The checker itself: a missing file and a missing heading are caught, good links and links
    inside code blocks are not."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# Title\n\n## Measured (2 cores, no GPU)\n", encoding="utf-8")
    (tmp_path / "sub" / "b.md").write_text(
        "[ok](../a.md#measured-2-cores-no-gpu) [web](https://example.com/x.md) [self](#here)\n"
        "## Here\n[gone](../missing.md) [bad anchor](../a.md#measured)\n"
        "```bash\n[not a link](nowhere.md)\n```\n", encoding="utf-8")
    assert broken_links(tmp_path / "sub" / "b.md") == [
        "../missing.md (no such file)", "../a.md#measured (no heading #measured there)"]
