"""The output of a library prediction: rows written as tracks finish, a journal, a state file.

Three files for ``--output predictions.csv`` (or ``.jsonl``)::

    predictions.csv                 the rows: today's CSV (or one JSON object per line)
    predictions.csv.journal.jsonl   one line per finished file: path, size, mtime_ns, rows
    predictions.csv.state.json      written atomically: who wrote the output, with which
                                    settings, whether the run finished, the failed files

Each track's rows are appended and flushed, then its journal line: a journal line
therefore means its rows are complete, and a kill loses at most the tracks in flight.
On a rerun, the journal and the rows are read back (a partially written last line is
dropped); a file counts as done when its journal line's size and mtime match the file
now and the rows file holds exactly its rows. Rows without a valid journal line, and
the rows of a file changed since (size or mtime), are removed (both files are rewritten
atomically before anything is predicted): a changed file's old rows are *replaced* by
the new ones, appended at the end. Rows of a file that has since vanished are kept.

``.parquet`` is written from a CSV journal of the same rows (``<output>.rows.csv``) at
the end of every run, atomically: a killed run leaves the previous Parquet file (or
none) and the rerun resumes from the CSV journal.

The state file proves that tfgenre wrote the output: an existing output (or journal)
without it is never appended to nor replaced, and one written with other settings
(model, ``--top-k``, ``--segments``, ``--hop-seconds``, runner) is refused, naming the
difference.
"""

from __future__ import annotations

import csv
import dataclasses
import io as stdio
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from tfgenre.core import io, layout
from tfgenre.errors import ConfigError
from tfgenre.inference.prediction_formats import csv_header, csv_rows

logger = logging.getLogger(__name__)

#: The output formats by file extension.
EXTENSIONS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
WRITTEN_BY = "tfgenre.predict"
STATE_VERSION = 1


def output_format(path: str | None) -> str | None:
    """``csv``, ``jsonl`` or ``parquet`` for an ``--output`` of that extension, else None."""
    if not path:
        return None
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


def require_parquet() -> None:
    """Raises ConfigError when pyarrow (needed to write ``.parquet``) is not installed."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise ConfigError(
            "--output *.parquet needs pyarrow, which is not installed (pip install pyarrow); "
            "or give --output ending in .csv or .jsonl"
        )


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the rows depend on; a rerun must match them to append.

    Attributes:
        format: ``csv``, ``jsonl`` or ``parquet``.
        model: ``--model`` as given (for messages).
        model_id: ``sha256:<hex>`` of the run's model file, or ``weights:<name>``.
        kind: ``genre`` or ``tag``.
        labels: The model's labels, in output order.
        top_k: Labels per row.
        segments: Whether segment rows are written.
        hop_seconds: ``--hop-seconds`` (None: the model's).
        runner: ``local`` or ``beam``.
    """

    format: str
    model: str
    model_id: str
    kind: str
    labels: tuple[str, ...]
    top_k: int
    segments: bool
    hop_seconds: float | None
    runner: str = "local"

    @property
    def k(self) -> int:
        """Labels per row, capped at the number of labels."""
        return max(1, min(self.top_k, len(self.labels)))

    def to_json(self) -> dict[str, Any]:
        """Plain data for the state file."""
        out = dataclasses.asdict(self)
        out["labels"] = list(self.labels)
        return out

    def differences(self, other: dict[str, Any]) -> list[str]:
        """What differs from the settings ``other`` of a state file, in words."""
        names = {
            "model_id": "--model",
            "labels": "the model's labels",
            "top_k": "--top-k",
            "segments": "--segments",
            "hop_seconds": "--hop-seconds",
            "runner": "--runner",
            "format": "the format",
        }
        mine = self.to_json()
        diffs = []
        for key, flag in names.items():
            if mine.get(key) != other.get(key):
                if key == "model_id":
                    was = f"{other.get('model')} ({other.get('model_id')})"
                    now = f"{self.model} ({self.model_id})"
                else:
                    was, now = other.get(key), mine.get(key)
                diffs.append(f"{flag}: written with {was!r}, now {now!r}")
        return diffs


def model_id(model: str, is_weight_set: bool, precision: str = "float32") -> str:
    """The identity of ``--model`` stored in the state file (see :class:`Settings`).

    A weight set run in ``precision`` other than float32 (``predict --precision``) gives
    other rows, so it is another identity: ``weights:<name>@bfloat16``.
    """
    if is_weight_set:
        return f"weights:{model}" + ("" if precision == "float32" else f"@{precision}")
    from tfgenre.inference.predictor import resolve_model_path

    model_path, _ = resolve_model_path(model)
    return f"sha256:{io.sha256(model_path)}"


@dataclasses.dataclass(frozen=True)
class Done:
    """A file already in the output: its stamp when it was predicted and its row count."""

    size: int
    mtime_ns: int
    rows: int


def csv_text(rows: Sequence[Sequence[Any]]) -> str:
    """CSV lines of ``rows`` (newline ends), as today's ``--format csv`` writes them."""
    buf = stdio.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _complete_lines(text: str) -> tuple[str, bool]:
    """``text`` up to its last newline, and whether a partial last line was dropped."""
    if not text or text.endswith("\n"):
        return text, False
    cut = text.rfind("\n") + 1
    return text[:cut], True


class LibraryOutput:
    """Appends rows as tracks finish, with the journal and state file that make it resumable.

    Args:
        path: ``--output`` (a local file ending ``.csv``, ``.jsonl`` or ``.parquet``).
        settings: What the rows depend on.
    """

    def __init__(self, path: str, settings: Settings) -> None:
        self.path = path
        self.settings = settings
        self.state_path = path + ".state.json"
        self.journal_path = path + ".journal.jsonl"
        self.rows_path = path + ".rows.csv" if settings.format == "parquet" else path
        self.text_format = "jsonl" if settings.format == "jsonl" else "csv"
        self.done: dict[str, Done] = {}
        self.dropped_partial = 0
        self.replaced = 0
        self._rows: Any = None
        self._journal: Any = None
        self.written = 0

    # ------------------------------------------------------------------ opening

    def check(self) -> dict[str, Any] | None:
        """Refuses a foreign output or other settings; returns the previous state (or None).

        Raises:
            ConfigError: the output exists without a tfgenre state file, the state file
                is not tfgenre's, or its settings differ (each difference named).
        """
        ours = [p for p in (self.path, self.journal_path, self.rows_path) if os.path.exists(p)]
        if not os.path.exists(self.state_path):
            if ours:
                raise ConfigError(
                    f"--output {self.path!r}: {ours[0]!r} exists and was not written by "
                    f"tfgenre.predict (no {os.path.basename(self.state_path)} beside it); "
                    "refusing to append to or replace it: give another --output, or move "
                    "it away yourself"
                )
            return None
        try:
            state = json.loads(io.read_text(self.state_path))
        except (ValueError, UnicodeDecodeError) as err:
            raise ConfigError(
                f"--output {self.path!r}: {self.state_path!r} is not a tfgenre state file "
                f"({err}); refusing to touch the output"
            ) from err
        if not isinstance(state, dict) or state.get("written_by") != WRITTEN_BY:
            raise ConfigError(
                f"--output {self.path!r}: {self.state_path!r} was not written by "
                f"{WRITTEN_BY}; refusing to touch the output"
            )
        diffs = self.settings.differences(state.get("settings") or {})
        if diffs:
            raise ConfigError(
                f"--output {self.path!r} was written with other settings; refusing to mix "
                f"rows: {'; '.join(diffs)} (give another --output, or the same settings)"
            )
        return state

    def open(self) -> None:
        """Checks, reads back what a previous run finished, and opens the files for appending.

        Raises:
            ConfigError: see :meth:`check`; also when the rows file does not look like
                the rows tfgenre writes (another header, a line that is not JSON).
        """
        state = self.check()
        if state is not None:
            self._resume()
        self._write_state(finished=False, failed=[])
        new_rows = not os.path.exists(self.rows_path)
        self._rows = open(self.rows_path, "a", encoding="utf-8", newline="")
        if new_rows and self.text_format == "csv":
            self._rows.write(csv_text([csv_header(self.settings.kind, self.settings.k)]))
            self._rows.flush()
        self._journal = open(self.journal_path, "a", encoding="utf-8")

    def _read_rows(self) -> tuple[str, list[tuple[str, str]]]:
        """The rows file's header and ``(path, raw text)`` of each complete record."""
        if not os.path.exists(self.rows_path):
            return "", []
        with open(self.rows_path, encoding="utf-8", newline="") as f:
            text, partial = _complete_lines(f.read())
        self.dropped_partial += int(partial)
        records: list[tuple[str, str]] = []
        if self.text_format == "jsonl":
            for n, line in enumerate(text.splitlines(keepends=True), start=1):
                try:
                    obj = json.loads(line)
                    path = obj["path"]
                except (ValueError, KeyError, TypeError) as err:
                    raise ConfigError(
                        f"--output {self.path!r}: line {n} is not a prediction row ({err}); "
                        "refusing to append to a file tfgenre did not write"
                    ) from err
                records.append((str(path), line))
            return "", records
        expected = csv_text([csv_header(self.settings.kind, self.settings.k)])
        if text and not text.startswith(expected):
            raise ConfigError(
                f"--output {self.rows_path!r} does not start with the CSV header tfgenre "
                f"writes ({expected.strip()!r}); refusing to append to it"
            )
        body = text[len(expected) :] if text else ""
        reader = csv.reader(stdio.StringIO(body))
        for row in reader:
            if row:
                records.append((row[0], csv_text([row])))
        return expected, records

    def _read_journal(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.journal_path):
            return []
        with open(self.journal_path, encoding="utf-8") as f:
            text, partial = _complete_lines(f.read())
        self.dropped_partial += int(partial)
        entries = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                entries.append(
                    {
                        "path": str(entry["path"]),
                        "size": int(entry["size"]),
                        "mtime_ns": int(entry["mtime_ns"]),
                        "rows": int(entry.get("rows", 0)),
                        "failed": entry.get("failed"),
                    }
                )
            except (ValueError, KeyError, TypeError):
                logger.warning("%s: an unreadable journal line was dropped", self.journal_path)
        return entries

    def _resume(self) -> None:
        """Keeps the complete, unchanged tracks of the previous runs; drops the rest."""
        _, records = self._read_rows()
        header = ""  # the rewritten rows file starts with the header, even if it was lost
        if self.text_format == "csv":
            header = csv_text([csv_header(self.settings.kind, self.settings.k)])
        by_path: dict[str, list[str]] = {}
        for path, raw in records:
            by_path.setdefault(path, []).append(raw)
        kept: dict[str, dict[str, Any]] = {}
        entries = self._read_journal()
        for entry in entries:
            if entry["failed"] is None:
                kept[entry["path"]] = entry  # the last line of a path wins
        for path, entry in list(kept.items()):
            if len(by_path.get(path, ())) != entry["rows"]:
                del kept[path]  # rows missing or doubled: predicted again
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue  # vanished: its rows stay
            if (int(st.st_size), int(st.st_mtime_ns)) != (entry["size"], entry["mtime_ns"]):
                del kept[path]
                self.replaced += 1
        keep_rows = [raw for path, raw in records if path in kept]
        if len(keep_rows) != len(records) or self.dropped_partial or len(entries) != len(kept):
            rows_text = header + "".join(keep_rows)
            journal_text = "".join(json.dumps(e) + "\n" for e in self._journal_lines(kept))
            io.write_text_atomic(self.rows_path, rows_text)
            io.write_text_atomic(self.journal_path, journal_text)
            logger.info(
                "%s: kept %d finished file(s), dropped %d row(s)",
                self.path,
                len(kept),
                len(records) - len(keep_rows),
            )
        self.done = {
            p: Done(e["size"], e["mtime_ns"], e["rows"]) for p, e in kept.items()
        }

    def _journal_lines(self, kept: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"path": p, "size": e["size"], "mtime_ns": e["mtime_ns"], "rows": e["rows"]}
            for p, e in kept.items()
        ]

    # ------------------------------------------------------------------ writing

    def is_done(self, path: str, stamp: tuple[int, int]) -> bool:
        """Whether ``path`` with this ``(size, mtime_ns)`` is already in the output."""
        done = self.done.get(path)
        return done is not None and (done.size, done.mtime_ns) == tuple(stamp)

    def write(self, prediction: Any, stamp: tuple[int, int]) -> None:
        """Appends one track's rows, then its journal line (each flushed)."""
        s = self.settings
        if self.text_format == "jsonl":
            text = json.dumps(prediction.to_json(s.top_k, s.segments)) + "\n"
            count = 1
        else:
            rows = csv_rows(prediction, s.k, s.segments)
            text, count = csv_text(rows), len(rows)
        self._rows.write(text)
        self._rows.flush()
        self._journal_line({"path": prediction.path, "size": stamp[0], "mtime_ns": stamp[1],
                            "rows": count})
        self.written += 1

    def fail(self, path: str, stamp: tuple[int, int] | None, reason: str) -> None:
        """Journals a file that could not be predicted (it is tried again on a rerun)."""
        size, mtime = stamp if stamp is not None else (-1, -1)
        self._journal_line({"path": path, "size": size, "mtime_ns": mtime, "failed": reason})

    def _journal_line(self, entry: dict[str, Any]) -> None:
        self._journal.write(json.dumps(entry) + "\n")
        self._journal.flush()

    def close(self, failed: Sequence[tuple[str, str]], counts: dict[str, int]) -> None:
        """Closes the files, writes the Parquet file (if asked) and the finished state."""
        for f in (self._rows, self._journal):
            if f is not None:
                f.close()
        self._rows = self._journal = None
        if self.settings.format == "parquet":
            write_parquet(self.rows_path, self.path, self.settings)
        self._write_state(finished=True, failed=failed, counts=counts)

    def _write_state(
        self,
        *,
        finished: bool,
        failed: Sequence[tuple[str, str]],
        counts: dict[str, int] | None = None,
    ) -> None:
        state = {
            "written_by": WRITTEN_BY,
            "state_version": STATE_VERSION,
            "output": os.path.basename(self.path),
            "rows_file": os.path.basename(self.rows_path),
            "journal": os.path.basename(self.journal_path),
            "settings": self.settings.to_json(),
            "finished": finished,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "counts": dict(counts or {}),
            "failed": [{"path": p, "reason": r} for p, r in failed],
        }
        io.write_text_atomic(self.state_path, json.dumps(state, indent=2) + "\n")


def write_parquet(rows_csv: str, path: str, settings: Settings) -> None:
    """Converts the CSV rows to a Parquet file at ``path`` (atomically), typed per column.

    Columns: those of the CSV; ``segment`` an integer (null on track rows), ``padded``
    and ``silent`` booleans, the probabilities float64.
    """
    import pandas as pd

    head = csv_header(settings.kind, settings.k)
    text_columns = {c: str for c in head if c == "path" or c.startswith(f"{settings.kind}_")}
    frame = pd.read_csv(rows_csv, dtype={**text_columns, "level": str, "padded": str,
                                         "silent": str}, keep_default_na=False,
                        na_values={"segment": [""]})
    frame["segment"] = frame["segment"].astype("Int64")
    for column in ("padded", "silent"):
        frame[column] = frame[column] == "true"
    tmp = path + layout.INCOMPLETE_SUFFIX
    frame.to_parquet(tmp, index=False, engine="pyarrow")
    os.replace(tmp, path)
