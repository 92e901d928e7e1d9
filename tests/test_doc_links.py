"""Code and docs cite only files that exist in the repository.

A citation of a file outside the repository (a research note, a path that was renamed) reads fine
and is useless to every reader who has only the repository. Scanned: every ``.py`` and ``.md`` file
of the repository. Checked:

- Markdown links ``[text](target)`` in ``.md`` files: the target exists relative to the file, and a
  ``#anchor`` names a heading of the target (GitHub's slugs);
- path citations in any scanned file (``docs/statistics.md#tests``, ``bench/clock.py``): a token with
  a slash whose first part is a top-level folder of the repository, or one of the places research
  notes were cited from (``reference/``, ``notes/``, ``shared/``), must exist, anchors included;
- bare Markdown file names (``statistics.md``): must exist beside the citing file or at the root (code
  cites ``docs/statistics.md`` in full); names of files the harness *writes* are in ``OUTPUT_NAMES``.

Fenced code blocks in Markdown are skipped: they show the user's own files and commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".tox", ".venv", "build", "dist", "runs", "__pycache__", ".pytest_cache", ".ruff_cache",
             ".hypothesis", ".cache"}
FOREIGN_ROOTS = {"reference", "notes", "shared"}  # where outside research notes used to be cited from
OUTPUT_NAMES = {"report.md"}
SELF = Path(__file__).resolve()  # this file plants broken citations in its own test data  # written into a run's report folder by reports/render.py, not repository files
SUFFIXES = "md|py|toml|json|sql|j2|txt|csv|ini|cfg|yml|yaml|sh"
MD_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
PATH_REF = re.compile(rf"(?<![\w/.$-])((?:[\w.-]+/)+[\w.-]*\.(?:{SUFFIXES}))(#[\w-]+)?(?![\w/])")
BARE_MD = re.compile(r"(?<![\w/.$-])([\w-]+\.md)(#[\w-]+)?(?![\w/])")


@dataclass(frozen=True)
class Broken:
    file: Path
    line: int
    target: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.target}: {self.why}"


def source_files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in (".py", ".md") and path.resolve() != SELF:
            out.append(path)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    found = set()
    in_code = False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def _check_target(path: Path, anchor: str | None) -> str | None:
    if not path.exists():
        return "no such file in the repository"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"{path.name} has no heading with anchor #{anchor}"
    return None


def broken_references(root: Path) -> list[Broken]:
    top_level = {p.name for p in root.iterdir() if p.is_dir() and p.name not in SKIP_DIRS}
    broken = []
    for file in source_files(root):
        in_code = False
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if file.suffix == ".md":
                if line.lstrip().startswith("```"):
                    in_code = not in_code
                if in_code:
                    continue  # examples of user files and commands, not citations
                for target in MD_LINK.findall(line):
                    if re.match(r"^[a-z]+:", target):
                        continue  # http:, https:, mailto:
                    where, _, anchor = target.partition("#")
                    path = file.parent / where if where else file
                    why = _check_target(path, anchor or None)
                    if why:
                        broken.append(Broken(file.relative_to(root), number, target, why))
                line = MD_LINK.sub("", line)  # link targets and texts are checked above
            for ref, anchor in PATH_REF.findall(line):
                first = ref.split("/")[0]
                if first not in top_level and first not in FOREIGN_ROOTS:
                    continue  # a path inside a dataset or a run folder, not a citation
                candidates = [root / ref, file.parent / ref]
                path = next((c for c in candidates if c.exists()), candidates[0])
                why = _check_target(path, anchor.lstrip("#") or None)
                if why:
                    broken.append(Broken(file.relative_to(root), number, ref + anchor, why))
            for name, anchor in BARE_MD.findall(line):
                if name in OUTPUT_NAMES:
                    continue
                candidates = [file.parent / name, root / name]
                path = next((c for c in candidates if c.exists()), None)
                if path is None:
                    broken.append(Broken(file.relative_to(root), number, name, "no such Markdown file beside "
                                         "the citing file or at the root"))
                elif why := _check_target(path, anchor.lstrip("#") or None):
                    broken.append(Broken(file.relative_to(root), number, name + anchor, why))
    return broken


def test_every_cited_path_exists() -> None:
    broken = broken_references(ROOT)
    assert not broken, "citations of paths that are not in the repository:\n" + "\n".join(map(str, broken))


def test_the_readme_links_the_docs() -> None:
    assert "](docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A small tree with one good and one broken citation of every kind."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Two words\n\nsee [here](guide.md#two-words), "
                                                "[gone](missing.md), [bad anchor](guide.md#nope), "
                                                "[web](https://example.org/x.md)\n\n```\n[code](not-checked.md)\n```\n")
    (tmp_path / "pkg" / "mod.py").write_text('"""Protocol: docs/guide.md#two-words and reference/statistics.md '
                                             'section 4; also statistics.md §5 and pkg/mod.py; writes '
                                             'report.md; reads {root}/train/a.json and /data/x/y.md."""\n')
    return tmp_path


def test_the_scanner_finds_each_kind_of_broken_citation(planted: Path) -> None:
    found = {(str(b.file), b.target) for b in broken_references(planted)}
    assert found == {
        ("docs/guide.md", "missing.md"),
        ("docs/guide.md", "guide.md#nope"),
        ("pkg/mod.py", "reference/statistics.md"),
        ("pkg/mod.py", "statistics.md"),
    }


def test_slugs_follow_github() -> None:
    assert slug(" Paired effects") == "paired-effects"
    assert slug("Metrics, direction and margins") == "metrics-direction-and-margins"
    assert slug("The `Method` contract: EpisodicMethod") == "the-method-contract-episodicmethod"
