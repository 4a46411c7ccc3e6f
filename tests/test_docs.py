"""The README points at the design document, and the document names real files."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def test_readme_points_at_the_architecture_document():
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in readme
    assert "ARCHITECTURE.md" not in readme  # the old pointer led outside the repository
    assert DOC.is_file()


def test_every_python_file_the_document_names_exists():
    text = DOC.read_text()
    names = set(re.findall(r"\b([\w/]*\w\.py)\b", text))
    assert len(names) > 20
    found = [*ROOT.glob("*.py")]
    for folder in ("tfgenre", "tests", "benchmarks"):
        found += (ROOT / folder).glob("**/*.py")
    files = {p.relative_to(ROOT).as_posix() for p in found}
    basenames = {f.rsplit("/", 1)[-1] for f in files}
    missing = sorted(n for n in names if n not in files and n.rsplit("/", 1)[-1] not in basenames)
    assert missing == [], f"docs/architecture.md names files that do not exist: {missing}"
