"""docs/architecture.md stays true of the code, and the rules it states are checked.

The document draws the package tree, names modules and states rules ("file names only
in ``core/layout.py``", "no loose dict reads of run artifacts", "no internal issue
numbers in user-facing text"). What a machine can check is checked here, so that a
change that makes the page untrue fails a test instead of misleading the next reader.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tfgenre.core import layout

#: Modules allowed to json-load a run artifact another module owns: none (an entry
#: that no longer offends fails the test, so the list cannot go stale).
PENDING: frozenset[tuple[str, str]] = frozenset()

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tfgenre"
DOC = ROOT / "docs" / "architecture.md"
LAYOUT = "tfgenre/core/layout.py"

#: The module that owns each run artifact's type: the only one that may parse it.
OWNERS: dict[str, str] = {
    layout.RUN_JSON: "tfgenre/runs/run_info.py",
    layout.METRICS_JSON: "tfgenre/evaluation/report.py",
    layout.STATE_DIR: "tfgenre/records/plan.py",
    "trial.json": "tfgenre/search/trials.py",
}
#: Names in code that point at an artifact besides its spelled file name.
ARTIFACT_NAMES: dict[str, set[str]] = {
    layout.RUN_JSON: {"RUN_JSON"},
    layout.METRICS_JSON: {"METRICS_JSON"},
    layout.STATE_DIR: {"STATE_DIR", "tfgenre.records.plan.state_path"},
    "trial.json": {"TRIAL_JSON"},
}
#: Calls that parse JSON: ``json.load(s)`` and tfgenre's helpers around it.
JSON_HELPERS = {"read_json", "read_json_object", "_read_json"}

#: A file name of layout.py that also names a file tfgenre does not write.
SAME_NAME_OTHER_FILE: dict[tuple[str, str], str] = {
    ("tfgenre/sources/fma.py", layout.TRACKS_CSV): "FMA's own metadata file (fma_metadata/)",
    ("tfgenre/models/saving.py", layout.STATE_CONFIG): "Keras' config inside a .keras archive",
}

#: ``tfgenre.json``, ``.tfgenre.lock``: file names, not modules.
FILE_SUFFIXES = {"json", "lock", "yaml", "csv", "md", "keras"}

ISSUE_NUMBER = re.compile(r"\b(issues?|PR|pull request)\s*#?\s*\d+\b|\(#\d+\)", re.IGNORECASE)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _library_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _packages() -> set[str]:
    return {_rel(p.parent) for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}


def _layout_names() -> dict[str, str]:
    """layout.py's file names (the constants whose value has a dot), value -> constant."""
    names = {v: k for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)}
    return {v: k for v, k in names.items() if "." in v}


def _code_strings(tree: ast.AST) -> list[ast.Constant]:
    """The string constants of a module that are code, not docstrings."""
    docs = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def _tree_block(text: str) -> list[str]:
    """The lines of the fenced block that draws the package (it starts with ``tfgenre/``)."""
    for block in re.findall(r"```\n(.*?)```", text, flags=re.DOTALL):
        if block.startswith("tfgenre/\n"):
            return block.splitlines()
    raise AssertionError("docs/architecture.md draws no tfgenre/ tree (a block opening 'tfgenre/')")


def _drawn_entries(lines: list[str]) -> list[str]:
    """Paths (relative to the repository) of every entry the tree block draws.

    Each line is one entry, indented two spaces per level under ``tfgenre/``, then its
    description after at least two spaces.
    """
    stack: list[str] = []
    entries = []
    for line in lines:
        match = re.fullmatch(r"( *)(\S+)(?:  +\S.*)?", line)
        assert match, f"tree line is not 'NAME  description': {line!r}"
        indent, name = len(match.group(1)), match.group(2)
        assert indent % 2 == 0 and indent // 2 <= len(stack), f"bad indentation: {line!r}"
        del stack[indent // 2 :]
        path = "/".join([*stack, name.rstrip("/")])
        entries.append(path + ("/" if name.endswith("/") else ""))
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
    return entries


def test_readme_points_at_the_architecture_document():
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in readme
    assert "ARCHITECTURE.md" not in readme  # the old pointer led outside the repository
    assert DOC.is_file()


def test_the_tree_draws_every_package_and_module_and_nothing_else():
    entries = _drawn_entries(_tree_block(DOC.read_text()))
    missing_on_disk = [e for e in entries if not (ROOT / e.rstrip("/")).exists()]
    assert missing_on_disk == [], f"the tree draws what does not exist: {missing_on_disk}"
    drawn = {e.rstrip("/") for e in entries}
    undrawn_packages = sorted(_packages() - drawn)
    assert undrawn_packages == [], f"packages missing from the tree: {undrawn_packages}"
    modules = {_rel(p) for p in _library_files() if p.name != "__init__.py" or p.parent == PACKAGE}
    undrawn_modules = sorted(modules - drawn)
    assert undrawn_modules == [], f"modules missing from the tree: {undrawn_modules}"


def test_the_layering_names_every_package_once():
    text = DOC.read_text()
    match = re.search(r"^Layering.*?```\n(.*?)```", text, flags=re.DOTALL | re.MULTILINE)
    assert match, "docs/architecture.md has no 'Layering' paragraph followed by a block"
    names = re.findall(r"[a-z_]+", match.group(1))
    top = {p.split("/")[1] for p in _packages()}
    drawn = sorted(n for n in names if n != "commands")
    assert drawn == sorted(top), f"the layering names {drawn}; the packages are {sorted(top)}"


def _missing_citations(text: str) -> list[str]:
    """Module paths, ``tfgenre/...`` paths and dotted ``tfgenre.x.y`` names of ``text``
    that do not exist; a bare ``name.py`` must name exactly one file."""
    files = {_rel(p) for p in ROOT.glob("*.py")}
    for folder in ("tfgenre", "tests", "benchmarks"):
        files |= {_rel(p) for p in (ROOT / folder).rglob("*.py")}
    basenames: dict[str, int] = {}
    for f in files:
        basenames[f.rsplit("/", 1)[-1]] = basenames.get(f.rsplit("/", 1)[-1], 0) + 1
    missing = []
    for path in set(re.findall(r"(?<![\w./-])((?:[\w.-]+/)+\w+\.py)\b", text)):
        path = path.removeprefix("./")
        if path not in files and f"tfgenre/{path}" not in files:
            missing.append(f"file {path}")
    for path in set(re.findall(r"(?<![\w./-])(tfgenre/[\w./-]*\w)", text)):
        if not (ROOT / path).exists():
            missing.append(f"path {path}")
    for name in set(re.findall(r"(?<![\w./-])(\w+\.py)\b", text)):
        if basenames.get(name, 0) != 1:
            missing.append(f"bare {name} (missing, or ambiguous: name its package)")
    for dotted in set(re.findall(r"(?<![\w./-])tfgenre(?:\.\w+)+", text)):
        if dotted.rsplit(".", 1)[-1] not in FILE_SUFFIXES and not _resolves(dotted):
            missing.append(f"module {dotted}")
    return sorted(missing)


def test_every_module_the_document_names_exists():
    text = DOC.read_text()
    prose = text.replace("\n".join(_tree_block(text)), "")
    assert len(re.findall(r"\w+/\w+\.py", prose)) > 20
    assert len(re.findall(r"\btfgenre\.\w+", prose)) > 5
    missing = _missing_citations(prose)
    assert missing == [], f"docs/architecture.md names what does not exist: {missing}"


def test_every_module_the_readme_names_exists():
    missing = _missing_citations((ROOT / "README.md").read_text())
    assert missing == [], f"README.md names what does not exist: {missing}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:n])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.is_file():
            rest = parts[n:]
            if not rest:
                return True
            tree = ast.parse(module.read_text())
            defined = {
                getattr(node, "name", None) or getattr(node, "asname", None)
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.alias)
            }
            defined |= {
                target.id
                for node in ast.walk(tree)
                if isinstance(node, ast.Assign | ast.AnnAssign)
                for target in ast.walk(node)
                if isinstance(target, ast.Name)
            }
            return rest[0] in defined
    return False


def test_file_names_of_run_and_records_folders_are_spelled_only_in_layout():
    names = _layout_names()
    assert {"model.keras", "run.json", "metrics.json", "manifest.json", "report.md"} <= set(names)
    offenders = []
    for path in _library_files():
        rel = _rel(path)
        if rel == LAYOUT:
            continue
        for node in _code_strings(ast.parse(path.read_text())):
            if re.search(r"\s", node.value):
                continue  # a message may name a file for the reader; paths have no spaces
            parts = node.value.split("/")
            for value, constant in names.items():
                suffix = constant.endswith("_SUFFIX") and any(p.endswith(value) for p in parts)
                if (value in parts or suffix) and (rel, value) not in SAME_NAME_OTHER_FILE:
                    offenders.append(f"{rel}:{node.lineno}: {node.value!r} (use layout.{constant})")
    assert offenders == [], "\n".join(offenders)


def _parses_json(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        owner = getattr(func.value, "id", None)
        return (owner == "json" and func.attr in {"load", "loads"}) or func.attr in JSON_HELPERS
    return isinstance(func, ast.Name) and func.id in JSON_HELPERS


def _loose_reads() -> set[tuple[str, str]]:
    """(module, artifact) for every module that json-loads and names a run artifact."""
    found = set()
    for path in _library_files():
        tree = ast.parse(path.read_text())
        if not any(_parses_json(node) for node in ast.walk(tree)):
            continue
        idents = {getattr(n, "attr", None) or getattr(n, "id", None) for n in ast.walk(tree)}
        idents |= {
            f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        strings = {p for node in _code_strings(tree) for p in node.value.split("/")}
        for artifact, owner in OWNERS.items():
            if _rel(path) != owner and (artifact in strings or idents & ARTIFACT_NAMES[artifact]):
                found.add((_rel(path), artifact))
    return found


def test_run_artifacts_are_read_by_their_owners():
    found = _loose_reads()
    new = sorted(found - PENDING)
    assert new == [], (
        f"modules that json-load a run artifact another module owns (use its typed reader: "
        f"{OWNERS}): {new}"
    )
    fixed = sorted(PENDING - found)
    assert fixed == [], f"no longer offending, remove from PENDING: {fixed}"


def test_user_facing_text_cites_no_issue_numbers():
    paths = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("pipelines/**/*.yaml")]
    paths += [p for p in ROOT.glob("colab/**/*") if p.is_file()]
    paths += [p for p in PACKAGE.rglob("*") if p.suffix in {".py", ".yaml", ".md", ".html", ".js"}]
    hits = []
    for path in paths:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if ISSUE_NUMBER.search(line):
                hits.append(f"{_rel(path)}:{number}: {line.strip()[:100]}")
    assert hits == [], "cite the paper or source, not an issue number:\n" + "\n".join(hits)
