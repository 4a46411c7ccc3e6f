"""Figures of the engineered features: correlation, per-genre box plots, PCA.

Every function returns a matplotlib ``Figure`` drawn on an Agg canvas (no pyplot
state); :func:`png_bytes` renders one. PCA runs on standardised features (each feature
scaled to zero mean, unit variance over the rows shown), since the raw features span
many orders of magnitude.
"""

from __future__ import annotations

import io as std_io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np


def _figure(width: float, height: float, **kwargs: Any) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Any) -> bytes:
    """The PNG bytes of ``figure`` (100 dpi, tight bounding box)."""
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
