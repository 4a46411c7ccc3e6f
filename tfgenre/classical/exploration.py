"""A look at the engineered features before modelling them: :func:`run_explore`.

Writes into the output folder::

    correlation.png          Pearson correlation of every pair of features
    boxplots/<feature>.png   per-genre box plot of every feature
    pca_2d.png, pca_3d.png   the rows on the first 2 and 3 principal components
    pca_variance.png         explained variance per component and cumulative
    pca.csv                  the explained variance ratios
    index.html               all of the above on one page, with a short data summary
"""

from __future__ import annotations

import dataclasses
import html
import logging
from typing import Any

import numpy as np

from tfgenre.classical.feature_plots import (
    boxplot_figure,
    correlation_figure,
    pca,
    pca_figure,
    png_bytes,
    safe_name,
    variance_figure,
)
from tfgenre.classical.rows import FeatureRows, load_feature_rows
from tfgenre.core import config, io
from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)


def explore(rows: FeatureRows, out: str, *, title: str = "") -> dict[str, Any]:
    """Writes every plot, ``pca.csv`` and ``index.html`` into ``out``.

    Args:
        rows: The feature rows.
        out: Output folder (created).
        title: Heading of the index page.

    Returns:
        ``{"images": [paths], "index": path, "explained_variance_ratio": [...]}``.

    Raises:
        ConfigError: with fewer than 2 rows or 2 features.
    """
    n, d = rows.x.shape
    if n < 3 or d < 2:
        raise ConfigError(f"explore needs at least 3 rows and 2 features (got {n} x {d})")
    io.makedirs(io.join(out, "boxplots"))
    images: list[str] = []

    def save(figure: Any, name: str) -> str:
        path = io.join(out, name)
        io.write_bytes_atomic(path, png_bytes(figure))
        images.append(path)
        return path

    save(correlation_figure(rows.x, rows.feature_names), "correlation.png")
    boxes = []
    for j, name in enumerate(rows.feature_names):
        boxes.append(
            save(
                boxplot_figure(rows.x[:, j], rows.y, rows.labels, name),
                f"boxplots/{safe_name(name)}.png",
            )
        )
    scores, ratio = pca(rows.x, 3)
    save(pca_figure(scores, rows.y, rows.labels, ratio, 2), "pca_2d.png")
    if scores.shape[1] >= 3:
        save(pca_figure(scores, rows.y, rows.labels, ratio, 3), "pca_3d.png")
    save(variance_figure(ratio), "pca_variance.png")
    cumulative = np.cumsum(ratio)
    io.write_text_atomic(
        io.join(out, "pca.csv"),
        "component,explained_variance_ratio,cumulative\n"
        + "".join(f"{i + 1},{r:.6f},{c:.6f}\n" for i, (r, c) in enumerate(zip(ratio, cumulative))),
    )
    index = io.join(out, "index.html")
    io.write_text_atomic(index, _index(rows, title, ratio, boxes, out))
    logger.info("wrote %d images and %s", len(images), index)
    return {"images": images, "index": index, "explained_variance_ratio": ratio.tolist()}


def _index(rows: FeatureRows, title: str, ratio: np.ndarray, boxes: list[str], out: str) -> str:
    """The HTML of ``index.html``: data summary, correlation, PCA and the box plots."""
    counts = np.bincount(rows.y, minlength=len(rows.labels))
    tracks = len(set(rows.track_ids.tolist()))
    cumulative = np.cumsum(ratio)
    need = {lv: int(np.searchsorted(cumulative, lv) + 1) for lv in (0.8, 0.9, 0.95)}

    def rel(path: str) -> str:
        return path[len(out) :].lstrip("/")

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Feature exploration</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}"
        "img{max-width:100%}.grid img{width:32%;border:1px solid #eee}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>",
        "</head><body>",
        f"<h1>{html.escape(title or 'Feature exploration')}</h1>",
        f"<p>{len(rows.y)} rows ({tracks} tracks), {rows.x.shape[1]} features, "
        f"{len(rows.labels)} genres.</p>",
        "<table><tr><th>genre</th><th>rows</th></tr>"
        + "".join(
            f"<tr><td>{html.escape(lab)}</td><td>{int(c)}</td></tr>"
            for lab, c in zip(rows.labels, counts)
        )
        + "</table>",
        "<h2>Correlation</h2><img src='correlation.png' alt='correlation'>",
        "<h2>PCA</h2>",
        f"<p>Standardised features. PC1-2 explain {cumulative[min(1, len(ratio) - 1)]:.1%}, "
        f"PC1-3 {cumulative[min(2, len(ratio) - 1)]:.1%}; components for 80/90/95 % of the "
        f"variance: {need[0.8]}/{need[0.9]}/{need[0.95]} (pca.csv).</p>",
        "<img src='pca_2d.png' alt='pca 2d'>",
    ]
    if len(ratio) >= 3:
        parts.append("<img src='pca_3d.png' alt='pca 3d'>")
    parts.append("<img src='pca_variance.png' alt='explained variance'>")
    parts.append("<h2>Per-genre box plots</h2><div class='grid'>")
    parts.extend(
        f"<a href='{rel(p)}'><img src='{rel(p)}' alt='{html.escape(rel(p))}'></a>" for p in boxes
    )
    parts.append("</div></body></html>\n")
    return "\n".join(parts)


@dataclasses.dataclass(frozen=True)
class ExploreConfig:
    """What to plot and where.

    Attributes:
        records: Records folder with a ``features`` view (or use ``features_csv``).
        features_csv: A features CSV (the GTZAN table or tfgenre's ``features.csv``).
        split: The split to show, or ``all``.
        splits: Fractions for a CSV without a split column (None: fit's defaults).
        seed: Split seed for such a CSV.
        out: Output folder.
    """

    records: str = ""
    features_csv: str = ""
    split: str = "all"
    splits: dict[str, float] | None = None
    seed: int = 0
    out: str = ""

    def __post_init__(self) -> None:
        config.require(
            bool(self.records) != bool(self.features_csv),
            "give exactly one of records (a records folder) and features_csv",
        )
        config.require(bool(self.out), "out='' must name the output folder")


def run_explore(cfg: ExploreConfig) -> dict[str, Any]:
    """Loads the rows of ``cfg.split`` and writes every plot; returns :func:`explore`'s result.

    Raises:
        ConfigError: ``cfg.split`` has no rows.
    """
    rows = load_feature_rows(
        records=cfg.records, features_csv=cfg.features_csv, splits=cfg.splits, seed=cfg.seed
    )
    if cfg.split != "all":
        keep = rows.splits == cfg.split
        if not keep.any():
            have = ", ".join(sorted(set(rows.splits.tolist())))
            raise ConfigError(f"split={cfg.split!r} has no rows (splits: {have}, all)")
        rows = FeatureRows(
            rows.x[keep],
            rows.y[keep],
            rows.track_ids[keep],
            rows.splits[keep],
            rows.feature_names,
            rows.labels,
        )
    source = cfg.records or cfg.features_csv
    return explore(rows, cfg.out, title=f"{source} ({cfg.split})")
