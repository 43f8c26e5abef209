"""Validation reports: generated images against a reference (a pretrained model's stored
statistics or a real label volume), with the natural spread between two disjoint real sets.

Matplotlib is imported lazily, only when figures are drawn.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microgen.io.preview import PHASE_COLOURS
from microgen.metrics import PASS_RATIO, describe, fidelity_table
from microgen.metrics.fidelity import SUMMARY_NAMES


@dataclass
class Report:
    """Fidelity of ``generated`` vs reference set A, next to the spread of reference set B vs A."""

    title: str
    phases: list
    rows: list
    generated: dict
    reference: dict
    spread_set: dict
    samples: np.ndarray
    tolerance: float = PASS_RATIO
    info: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r["passed"] for r in self.rows)

    def to_dict(self) -> dict:
        curves = {}
        for name, (kind, _) in self.reference.items():
            if kind == "curve":
                curves[name] = {
                    label: np.nanmean(np.stack(d[name][1]), 0).tolist()
                    for label, d in (
                        ("generated", self.generated),
                        ("reference", self.reference),
                        ("spread_set", self.spread_set),
                    )
                    if name in d
                }
        return {
            "title": self.title,
            "phases": self.phases,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "rows": self.rows,
            "curves": curves,
            "info": self.info,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=float)

    def figure_png(self) -> bytes:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        curve_names = [n for n, (k, _) in self.reference.items() if k == "curve"]
        scalar_names = [n for n, (k, _) in self.reference.items() if k == "scalar" and n in self.generated]
        n_show = min(4, len(self.samples))
        cols = max(n_show, len(curve_names), 2)
        fig = plt.figure(figsize=(3.2 * cols, 9.5), constrained_layout=True)
        grid = fig.add_gridspec(3, cols)
        colours = PHASE_COLOURS / 255.0
        cmap = matplotlib.colors.ListedColormap(colours)
        for i in range(n_show):
            ax = fig.add_subplot(grid[0, i])
            img = self.samples[i] if self.samples[i].ndim == 2 else self.samples[i][self.samples[i].shape[0] // 2]
            ax.imshow(img, cmap=cmap, vmin=0, vmax=len(colours) - 1, interpolation="nearest")
            ax.set_title(f"generated {i}", fontsize=9)
            ax.axis("off")
        for j, name in enumerate(curve_names):
            ax = fig.add_subplot(grid[1, j])
            for desc, label, style in (
                (self.reference, "reference", "-"),
                (self.spread_set, "2nd real set", ":"),
                (self.generated, "generated", "--"),
            ):
                curves = np.stack(desc[name][1])
                mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
                r = np.arange(mean.size)
                ax.plot(r, mean, style, label=label)
                ax.fill_between(r, mean - std, mean + std, alpha=0.15)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("r (voxels)", fontsize=8)
            ax.legend(fontsize=7)
        ax = fig.add_subplot(grid[2, :])
        data, labels = [], []
        for name in scalar_names:
            ref = np.asarray(self.reference[name][1], float)
            scale = np.nanstd(ref) or 1.0
            centre = np.nanmean(ref)
            for desc, tag in ((self.reference, "real"), (self.generated, "gen")):
                v = np.asarray(desc[name][1], float)
                data.append((v[np.isfinite(v)] - centre) / scale)
                labels.append(f"{name}\n{tag}")
        if data:
            ax.boxplot(data, tick_labels=labels, whis=(0, 100))
            ax.set_ylabel("standardised by the reference (z)")
            ax.tick_params(axis="x", labelsize=7, rotation=30)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        return buf.getvalue()

    def to_html(self, png: bytes | None = None) -> str:
        png = png or self.figure_png()
        rows = "".join(
            f"<tr class='{'ok' if r['passed'] else 'bad'}'><td>{html.escape(r['metric'])}</td>"
            f"<td>{html.escape(SUMMARY_NAMES[r['kind']])}</td><td>{r['generated']:.4g}</td><td>{r['real']:.4g}</td>"
            f"<td>{r['distance']:.4g}</td><td>{r['spread']:.4g}</td><td>{r['ratio']:.2f}</td>"
            f"<td>{'pass' if r['passed'] else 'FAIL'}</td></tr>"
            for r in self.rows
        )
        info = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in self.info.items())
        verdict = "all metrics pass" if self.passed else "some metrics fail"
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
            "td:first-child{text-align:left}tr.bad td:last-child{color:#b00;font-weight:bold}"
            "tr.ok td:last-child{color:#070}img{max-width:100%}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p><b>{verdict}</b> (tolerance: distance &le; {self.tolerance} "
            "&times; natural spread)</p><ul>" + info + "</ul>"
            "<p>Distance between the generated images and the reference set, next to the same distance between a "
            "second, disjoint set of real images and the reference (the natural spread). Curves: mean absolute "
            "difference of mean curves; distributions: Wasserstein-1 of pooled values; scalars: Wasserstein-1 of "
            "per-image values. The summary columns show which way a metric is off (two-point: the lag where the "
            "mean curve falls below 1/e).</p><table><tr><th>metric</th><th>summary</th><th>generated</th>"
            "<th>real</th><th>distance</th><th>natural spread</th><th>ratio</th>"
            f"<th>result</th></tr>{rows}</table>"
            f"<img alt='figures' src='data:image/png;base64,{base64.b64encode(png).decode()}'></body></html>"
        )

    def save(self, out: str | Path) -> Path:
        """Write ``report.json``, ``figures.png`` and a self-contained ``report.html`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        png = self.figure_png()
        (out / "figures.png").write_bytes(png)
        (out / "report.json").write_text(self.to_json())
        (out / "report.html").write_text(self.to_html(png))
        return out


def build_report(
    generated,
    reference_a,
    reference_b,
    phases,
    *,
    title="microgen validation",
    tolerance=PASS_RATIO,
    info=None,
    diffusivity=None,
) -> Report:
    """Describe the generated images and compare them with two reference sets (images or descriptors)."""
    samples = np.asarray(generated)
    gen = describe(list(samples), phases, diffusivity=diffusivity)
    ref_a = (
        reference_a if isinstance(reference_a, dict) else describe(list(reference_a), phases, diffusivity=diffusivity)
    )
    ref_b = (
        reference_b if isinstance(reference_b, dict) else describe(list(reference_b), phases, diffusivity=diffusivity)
    )
    rows = fidelity_table(gen, ref_a, ref_b, phases, tolerance=tolerance)
    return Report(title, list(phases), rows, gen, ref_a, ref_b, samples, tolerance, dict(info or {}))


def write_report(out, generated, reference_a, reference_b, phases, **kw) -> dict:
    """Build a report and save it into ``out``; returns its JSON content."""
    report = build_report(generated, reference_a, reference_b, phases, **kw)
    report.save(out)
    return report.to_dict()
