"""``python -m tfgenre.explore``: look at the engineered features before modelling them.

Writes into ``--out``::

    correlation.png          Pearson correlation of every pair of features
    boxplots/<feature>.png   per-genre box plot of every feature
    pca_2d.png, pca_3d.png   the rows on the first 2 and 3 principal components
    pca_variance.png         explained variance per component and cumulative
    pca.csv                  the explained variance ratios
    index.html               all of the above on one page, with a short data summary

PCA runs on standardised features (each feature scaled to zero mean, unit variance
over the rows shown), since the raw features span many orders of magnitude.

Examples:
    python -m tfgenre.explore --features-csv features_30_sec.csv --out runs/explore
    python -m tfgenre.explore --records records/gtzan --split train --out runs/explore

In a pipeline file, an ``explore:`` section (keys of :class:`ExploreConfig`) takes its
data from ``fit:`` or, failing that, from ``write_records:``'s output, like
``baselines:``.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import io as std_io
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre import cli, config, io
from tfgenre.baselines import FIT_DATA_KEYS, FeatureRows, load_feature_rows
from tfgenre.errors import ConfigError
from tfgenre.run import data_source, stage

logger = logging.getLogger(__name__)


def _figure(width: float, height: float, **kwargs: Any) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = std_io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def safe_name(name: str) -> str:
    """A file-name-safe version of a feature name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "feature"


def correlation_figure(x: np.ndarray, names: Sequence[str]) -> Any:
    """Heatmap of the Pearson correlation of the ``d`` columns of ``x`` ``(n, d)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(x, rowvar=False))
    d = len(names)
    size = max(6.0, min(0.22 * d + 2.0, 24.0))
    figure = _figure(size + 1.5, size)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(corr, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    axes.set_xticks(range(d))
    axes.set_yticks(range(d))
    font = max(4, min(9, int(400 / max(d, 1))))
    axes.set_xticklabels(names, rotation=90, fontsize=font)
    axes.set_yticklabels(names, fontsize=font)
    axes.set_title(f"Feature correlation (Pearson, {len(x)} rows)")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.02)
    return figure


def boxplot_figure(values: np.ndarray, y: np.ndarray, labels: Sequence[str], name: str) -> Any:
    """Per-genre box plot of one feature (``values`` ``(n,)``, ``y`` ``(n,)``)."""
    figure = _figure(max(6.0, 0.6 * len(labels) + 2.0), 4.0)
    axes = figure.add_subplot(1, 1, 1)
    groups = [values[y == i] for i in range(len(labels))]
    present = [i for i, g in enumerate(groups) if len(g)]
    parts = axes.boxplot(
        [groups[i] for i in present],
        patch_artist=True,
        showfliers=True,
        flierprops={"markersize": 2},
    )
    axes.set_xticks(range(1, len(present) + 1))
    axes.set_xticklabels([labels[i] for i in present], rotation=45, ha="right")
    for patch, color in zip(parts["boxes"], _colors(len(labels))):
        patch.set_facecolor(color)
        patch.set_alpha(0.6)
    axes.set_title(name)
    axes.grid(axis="y", alpha=0.3)
    return figure


def pca(x: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA of standardised ``x`` ``(n, d)``.

    Returns:
        ``(scores (n, k), explained_variance_ratio (min(n, d),))`` with ``k`` =
        ``min(components, n, d)``.
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit_transform(x)
    full = PCA(random_state=0).fit(z)
    k = min(components, z.shape[0], z.shape[1])
    return full.transform(z)[:, :k], full.explained_variance_ratio_


def pca_figure(
    scores: np.ndarray, y: np.ndarray, labels: Sequence[str], ratio: np.ndarray, dims: int
) -> Any:
    """Scatter of the rows on the first 2 or 3 principal components, one colour per genre."""
    figure = _figure(8.0, 6.5)
    axes = figure.add_subplot(1, 1, 1, projection="3d" if dims == 3 else None)
    for i, (label, color) in enumerate(zip(labels, _colors(len(labels)))):
        rows = scores[y == i]
        if not len(rows):
            continue
        coords = [rows[:, j] for j in range(dims)]
        axes.scatter(*coords, s=10, color=color, label=label, alpha=0.75)
    setters = [axes.set_xlabel, axes.set_ylabel] + ([axes.set_zlabel] if dims == 3 else [])
    for j, setter in enumerate(setters):
        setter(f"PC{j + 1} ({ratio[j]:.1%})")
    axes.set_title(f"PCA, first {dims} components ({ratio[:dims].sum():.1%} of the variance)")
    axes.legend(fontsize=8, markerscale=1.5, loc="best")
    return figure


def variance_figure(ratio: np.ndarray) -> Any:
    """Explained variance ratio per component (bars) and cumulative (line)."""
    figure = _figure(8.0, 4.5)
    axes = figure.add_subplot(1, 1, 1)
    k = np.arange(1, len(ratio) + 1)
    axes.bar(k, ratio, color="tab:blue", alpha=0.7, label="per component")
    axes.plot(k, np.cumsum(ratio), color="tab:red", marker=".", label="cumulative")
    for level in (0.8, 0.9, 0.95):
        n = int(np.searchsorted(np.cumsum(ratio), level) + 1)
        axes.axhline(level, color="grey", lw=0.5, ls="--")
        axes.annotate(
            f"{level:.0%}: {n} PCs", (len(ratio), level), ha="right", va="bottom", fontsize=8
        )
    axes.set_xlabel("principal component")
    axes.set_ylabel("explained variance ratio")
    axes.set_ylim(0, 1.02)
    axes.legend(loc="center right")
    axes.grid(alpha=0.3)
    return figure


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
        io.write_bytes_atomic(path, _png(figure))
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


# ----------------------------------------------------------------------------- config


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


def stage_config(section: dict[str, Any], pipeline: dict[str, Any]) -> ExploreConfig:
    """The ``explore:`` section's config, data from ``fit:`` or ``write_records:``."""
    data: dict[str, Any] = {}
    if not (section.get("records") or section.get("features_csv")):
        fit = pipeline.get("fit") or {}
        data = data_source({k: fit[k] for k in FIT_DATA_KEYS if k in fit}, pipeline)
    known = {f.name for f in dataclasses.fields(ExploreConfig)}
    data = {k: v for k, v in data.items() if k in known}
    return config.from_dict(ExploreConfig, config.merge(data, section), prefix="explore.")


@stage("explore", check=stage_config)
def _explore_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """Pipeline stage: the ``explore:`` section, data from ``fit:`` or ``write_records:``."""
    cfg = stage_config(section, pipeline)
    io.check_output_folder(cfg.out, "explore.out")
    result = run_explore(cfg)
    sys.stdout.write(f"[explore] wrote {len(result['images'])} images; open {result['index']}\n")


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.explore", description="Exploratory plots of the features."
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--features-csv", help="a features CSV")
    source.add_argument("--records", help="records folder with a features view")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="all", help="split to show, or all (default)")
    p.add_argument("--splits", help="fractions for a CSV without a split column (with --split)")
    p.add_argument("--seed", type=int, default=0, help="split seed for such a CSV")
    p.add_argument("--dry-run", action="store_true", help="print what would be read and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _main(args: argparse.Namespace) -> int:
    from tfgenre.splits import parse_fractions

    settings = {
        "records": args.records or "",
        "features_csv": args.features_csv or "",
        "split": args.split,
        "splits": parse_fractions(args.splits) if args.splits else None,
        "seed": args.seed,
        "out": args.out,
    }
    if args.dry_run:
        cli.print_config(settings)
        return 0
    cfg = config.from_dict(ExploreConfig, settings)
    io.check_output_folder(cfg.out, "--out")
    result = run_explore(cfg)
    sys.stdout.write(f"wrote {len(result['images'])} images; open {result['index']}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
