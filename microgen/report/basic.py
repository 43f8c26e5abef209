"""A first validation report: fidelity table, two-point curves and sample panels.

Matplotlib is imported lazily (only when a report is written).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from microgen.metrics import describe, fidelity_table

PHASE_COLOURS = ["#1f1f1f", "#f2c14e", "#3a86ff", "#e63946"]


def write_report(
    out: str | Path,
    generated,
    reference_a,
    reference_b,
    phases,
    *,
    title: str = "microgen validation",
    info: dict | None = None,
    tolerance: float = 1.5,
) -> dict:
    """Write ``report.json``, ``figures.png`` and ``report.html`` into ``out``.

    ``reference_a`` / ``reference_b`` are label images or descriptor dicts (two disjoint real sets;
    B gives the natural spread). Returns the JSON content.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen_desc = describe(list(generated), phases)
    rows = fidelity_table(gen_desc, reference_a, reference_b, phases, tolerance=tolerance)
    data = {
        "title": title,
        "tolerance": tolerance,
        "passed": all(r["passed"] for r in rows),
        "rows": rows,
        "info": info or {},
    }
    (out / "report.json").write_text(json.dumps(data, indent=2))

    ref = reference_a if isinstance(reference_a, dict) else describe(list(reference_a), phases)
    n_show = min(4, len(generated))
    fig = plt.figure(figsize=(3 * max(n_show, 2), 6.4), constrained_layout=True)
    grid = fig.add_gridspec(2, max(n_show, 2))
    cmap = matplotlib.colors.ListedColormap(PHASE_COLOURS[: max(int(np.max(generated)), max(phases)) + 1])
    for i in range(n_show):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(generated[i], cmap=cmap, interpolation="nearest", vmin=0, vmax=cmap.N - 1)
        ax.set_title(f"generated {i}", fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    for p in phases:
        key = f"two_point[{p}]"
        for desc, label, style in ((ref, "reference", "-"), (gen_desc, "generated", "--")):
            curves = np.stack(desc[key][1])
            mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
            r = np.arange(mean.size)
            ax.plot(r, mean, style, label=f"{label}, phase {p}")
            ax.fill_between(r, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("distance r (voxels)")
    ax.set_ylabel("normalised two-point autocovariance")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    (out / "figures.png").write_bytes(buf.getvalue())
    png = base64.b64encode(buf.getvalue()).decode()
    table = "".join(
        f"<tr><td>{html.escape(r['metric'])}</td><td>{r['distance']:.4g}</td><td>{r['spread']:.4g}</td>"
        f"<td>{r['ratio']:.2f}</td><td>{'pass' if r['passed'] else 'FAIL'}</td></tr>"
        for r in rows
    )
    info_html = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in (info or {}).items())
    (out / "report.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:960px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><ul>{info_html}</ul>"
        f"<p>Distance between generated and reference images per metric, next to the natural spread between "
        f"two disjoint real sets; a metric passes when distance &le; {tolerance} &times; spread.</p>"
        f"<table><tr><th>metric</th><th>distance</th><th>spread</th><th>ratio</th><th>result</th></tr>{table}</table>"
        f"<img alt='figures' style='width:100%' src='data:image/png;base64,{png}'></body></html>"
    )
    return data
