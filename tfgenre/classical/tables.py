"""The baselines' results as Markdown and CSV tables, and the files they go to."""

from __future__ import annotations

import csv
import io as std_io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tfgenre.classical.baselines_config import BaselinesConfig
from tfgenre.classical.rows import FeatureRows
from tfgenre.classical.splitting import fold_grouping, protocol_of
from tfgenre.core import io


def _pm(row: Mapping[str, Any], key: str) -> str:
    """``mean ± std [lo, hi]`` over folds, ``value [lo, hi]`` on one split."""
    mean, std = row[f"{key}_mean"], row.get(f"{key}_std")
    text = f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"
    if row.get(f"{key}_lo") is not None:
        text += f" [{row[f'{key}_lo']:.4f}, {row[f'{key}_hi']:.4f}]"
    return text


def markdown_table(summary: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """The summary as a Markdown table (best accuracy first), intervals stated below.

    Rows of segments are scored per track; their segment-level accuracy gets a column.
    """
    segments = any(row.get("segment_accuracy_mean") is not None for row in summary)
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| model | accuracy [95 % CI] | macro-F1 [95 % CI] | level | "
        + ("segment accuracy | " if segments else "")
        + "seconds |",
        "| --- | --- | --- | --- | " + ("--- | " if segments else "") + "--- |",
    ]
    for row in sorted(summary, key=lambda r: -r["accuracy_mean"]):
        seg = row.get("segment_accuracy_mean")
        lines.append(
            f"| {row['model']} | {_pm(row, 'accuracy')} | {_pm(row, 'macro_f1')} | "
            f"{row['level']} | "
            + ((f"{seg:.4f} | " if seg is not None else "- | ") if segments else "")
            + f"{row['seconds']:.1f} |"
        )
    methods = sorted({row["interval"] for row in summary if row.get("interval")})
    if methods:
        folds = any(row.get("accuracy_std") is not None for row in summary)
        lines += [
            "",
            ("Mean ± std (population) over folds; " if folds else "")
            + f"interval: {', '.join(methods)}.",
        ]
    return "\n".join(lines) + "\n"


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as CSV text, header from the first row's keys, None as an empty cell."""
    buffer = std_io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def describe(cfg: BaselinesConfig, rows: FeatureRows | None = None) -> str:
    """One line saying what was evaluated how (with ``rows``: the protocol, exclusions)."""
    source = cfg.records or cfg.features_csv
    if cfg.records and cfg.view != "features":
        source += f" ({cfg.view} view)"
    if cfg.folds:
        text = (
            f"{source}: stratified {cfg.folds}-fold grouped by {fold_grouping(cfg)} "
            f"(seed {cfg.seed}; the folds of fit --folds {cfg.folds})"
        )
    elif cfg.named_split:
        text = f"{source}: {cfg.train_split} -> {cfg.eval_split} (split {cfg.named_split})"
    else:
        text = f"{source}: {cfg.train_split} -> {cfg.eval_split} ({_split_used(cfg, rows)})"
    if rows is not None and not cfg.folds:
        text += f"; {split_sizes(rows)}"
    if rows is not None:
        protocol = protocol_of(cfg, rows)
        text += f"; protocol {protocol.name} ({protocol.describe()})"
        if rows.excluded:
            text += f"; {len(rows.excluded)} track(s) in no list excluded"
    return text


def _split_used(cfg: BaselinesConfig, rows: FeatureRows | None) -> str:
    """The split the rows actually have: the records' own, or the fractions drawn here.

    Records keep the split they were written with (fractions and seed, or the source's
    lists); a CSV with a split column keeps its column. Only a CSV without one is split
    by ``cfg.splits``.
    """
    if cfg.records:
        from tfgenre.records.info import RecordsInfo

        policy = RecordsInfo.load(cfg.records).split_policy or {}
        if policy.get("kind") == "stratified_grouped" and policy.get("fractions"):
            fractions = ",".join(f"{k}={v:g}" for k, v in policy["fractions"].items())
            return f"the records' split: {fractions}, seed {policy.get('seed')}"
        if policy.get("kind") == "source":
            return f"the records' own split, from the {policy.get('source') or 'its'} source"
        return f"the records' split: {policy.get('kind', 'unknown')}"
    if rows is not None and rows.protocol.name != "random":
        return f"the CSV's own split ({rows.protocol.name})"
    fractions = ",".join(f"{k}={v:g}" for k, v in cfg.splits.items())
    return f"splits {fractions}, seed {cfg.seed}"


def split_sizes(rows: FeatureRows) -> str:
    """``train 40, validation 49, test 4 tracks``: distinct tracks per split of the rows."""
    sizes: dict[str, set[str]] = {}
    for split, track in zip(rows.splits.tolist(), rows.track_ids.tolist()):
        sizes.setdefault(str(split), set()).add(str(track))
    order = ["train", "validation", "test"]
    names = sorted(sizes, key=lambda s: (order.index(s) if s in order else len(order), s))
    return ", ".join(f"{name} {len(sizes[name])}" for name in names) + " tracks"


def missing_label_lines(cfg: BaselinesConfig, rows: FeatureRows) -> list[str]:
    """The labels the trained-on and scored splits lack (nothing with folds)."""
    from tfgenre.splitting import split_checks

    if cfg.folds:
        return []
    present: dict[str, set[str]] = {}
    for split in dict.fromkeys([cfg.train_split, cfg.eval_split]):
        ys = rows.y[rows.splits == split]
        present[split] = {rows.labels[int(i)] for i in set(ys.tolist())}
    missing = split_checks.missing_labels(rows.labels, present)
    lines = split_checks.missing_label_lines(rows.labels, missing)
    for split, gone in split_checks.train_gaps(present, cfg.train_split, [cfg.eval_split]).items():
        lines.append(
            f"every {split!r} track of {', '.join(gone)} counts as an error: "
            f"{cfg.train_split!r} has none to learn from"
        )
    return lines


def write_tables(
    cfg: BaselinesConfig,
    summary: Sequence[Mapping[str, Any]],
    per_fold: Sequence[Mapping],
    rows: FeatureRows | None = None,
) -> list[str]:
    """Writes ``baselines.md``, ``baselines.csv`` and ``baselines_folds.csv`` into ``out``.

    With ``rows``, ``protocol.json`` too: the protocol and the excluded tracks.
    """
    io.makedirs(cfg.out)
    paths = [io.join(cfg.out, n) for n in ("baselines.md", "baselines.csv", "baselines_folds.csv")]
    io.write_text_atomic(paths[0], markdown_table(summary, describe(cfg, rows)))
    io.write_text_atomic(paths[1], _csv_text(summary))
    io.write_text_atomic(paths[2], _csv_text(per_fold))
    if rows is not None:
        paths.append(io.join(cfg.out, "protocol.json"))
        record = {
            "protocol": protocol_of(cfg, rows).to_json(),
            "excluded": {"count": len(rows.excluded), "tracks": list(rows.excluded)},
        }
        io.write_text_atomic(paths[-1], json.dumps(record, indent=2) + "\n")
    return paths
