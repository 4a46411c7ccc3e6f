"""Study plots as PNG and HTML: history, importances, parallel coordinates, Pareto front.

PNGs come from ``optuna.visualization.matplotlib``. HTML files are interactive Plotly
figures from ``optuna.visualization`` when Plotly is installed (they share one
``plotly.min.js`` written beside them, so they open offline); without Plotly each HTML
page shows its PNG. ``index.html`` links everything, and says why a plot is missing
(e.g. parameter importances need two finished trials whose params differ).
"""

from __future__ import annotations

import base64
import html
import importlib.util
import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from tfgenre.core import io
from tfgenre.search.objectives import Objective

logger = logging.getLogger(__name__)

#: Plot names in the order the index lists them.
PLOTS: tuple[str, ...] = ("history", "importances", "parallel", "pareto", "intermediate")
_TITLES = {
    "history": "Optimisation history",
    "importances": "Parameter importances",
    "parallel": "Parallel coordinates",
    "pareto": "Pareto front",
    "intermediate": "Learning curves (reported per epoch)",
}


def plotly_available() -> bool:
    """Whether Plotly is installed (interactive HTML)."""
    return importlib.util.find_spec("plotly") is not None


def _calls(
    study: Any, objectives: Sequence[Objective], backend: Any
) -> dict[str, Callable[[], Any]]:
    multi = len(objectives) > 1
    first = objectives[0].name
    target = {"target": (lambda t: t.values[0]), "target_name": first} if multi else {}
    names = [o.name for o in objectives]
    calls: dict[str, Callable[[], Any]] = {
        "history": lambda: backend.plot_optimization_history(
            study, **(target or {"target_name": first})
        ),
        "importances": lambda: backend.plot_param_importances(
            study, **(target or {"target_name": first})
        ),
        "parallel": lambda: backend.plot_parallel_coordinate(
            study, **(target or {"target_name": first})
        ),
    }
    if multi:
        calls["pareto"] = lambda: backend.plot_pareto_front(study, target_names=names)
    elif any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        calls["intermediate"] = lambda: backend.plot_intermediate_values(study)
    return calls


def _figure_of(result: Any) -> Any:
    if hasattr(result, "figure"):
        return result.figure
    return result.flat[0].figure  # an array of Axes


def write_plots(study: Any, out_dir: str, objectives: Sequence[Objective]) -> dict[str, Any]:
    """Writes every applicable plot as PNG and HTML, and ``index.html``.

    Args:
        study: An Optuna study.
        out_dir: Output folder (created).
        objectives: The study's objectives (names and number).

    Returns:
        ``{plot: {"png": path, "html": path}}`` for the plots written and
        ``{plot: {"error": reason}}`` for those that could not be made.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    import optuna
    import optuna.visualization.matplotlib as mpl_vis

    io.makedirs(out_dir)
    results: dict[str, Any] = {}
    # Optuna's plots switch the global matplotlib style; rc_context restores it after.
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. a constant axis in a plot
        for name, call in _calls(study, objectives, mpl_vis).items():
            try:
                figure = _figure_of(call())
            except Exception as err:  # a plot must never fail the study
                results[name] = {"error": f"{type(err).__name__}: {err}"}
                logger.info("plot %s skipped: %s", name, err)
                plt.close("all")
                continue
            png = io.join(out_dir, f"{name}.png")
            width = 8.0
            if name == "parallel":  # one axis per param
                params = {k for t in study.get_trials(deepcopy=False) for k in t.params}
                width = max(width, 1.3 * len(params) + 3.0)
            figure.set_size_inches(max(figure.get_size_inches()[0], width), 5.5)
            figure.tight_layout()
            buffer = _png_bytes(figure)
            plt.close(figure)
            io.write_bytes_atomic(png, buffer)
            results[name] = {"png": png}
        interactive = plotly_available()
        plotly_calls = _calls(study, objectives, optuna.visualization) if interactive else {}
        for name, entry in results.items():
            if "png" not in entry:
                continue
            target = io.join(out_dir, f"{name}.html")
            if interactive:
                try:
                    fig = plotly_calls[name]()
                    fig.write_html(_local(target), include_plotlyjs="directory")
                    entry["html"] = target
                    continue
                except Exception as err:
                    logger.info("interactive %s plot failed (%s); embedding the PNG", name, err)
            io.write_text_atomic(target, _png_page(_TITLES[name], io.read_bytes(entry["png"])))
            entry["html"] = target
    io.write_text_atomic(io.join(out_dir, "index.html"), _index(results, study, objectives))
    return results


def _local(path: str) -> str:
    if io.is_remote(path):  # Plotly writes local files only
        raise OSError(f"{path} is not a local path")
    return path


def _png_bytes(figure: Any) -> bytes:
    import io as std_io

    buffer = std_io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _png_page(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
        "<p>Static image (install plotly for interactive plots).</p></body></html>\n"
    )


def _index(results: dict[str, Any], study: Any, objectives: Sequence[Objective]) -> str:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Study plots</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "img{max-width:100%;border:1px solid #ddd}</style></head><body>",
        f"<h1>Study {html.escape(str(study.study_name))}</h1>",
        "<p>Objectives: "
        + ", ".join(html.escape(f"{o.name} ({o.direction})") for o in objectives)
        + "<br>Trials: "
        + ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items()))
        + "</p>",
    ]
    for name in PLOTS:
        if name not in results:
            continue
        entry = results[name]
        parts.append(f"<h2>{html.escape(_TITLES[name])}</h2>")
        if "error" in entry:
            parts.append(f"<p>Not available: {html.escape(entry['error'])}</p>")
            continue
        png = entry["png"].rsplit("/", 1)[-1]
        page = entry["html"].rsplit("/", 1)[-1]
        parts.append(f"<p><a href='{page}'>{page}</a></p><img src='{png}' alt='{name}'>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
