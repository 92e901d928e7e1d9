"""Write the report folder: tables, figures, report.md, a self-contained index.html and summary.json.

The HTML embeds every figure as base64 and carries no script and no external
link, so it opens anywhere (offline, as a CI artifact) without console errors.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import jinja2

from reports import figures, tables
from reports.analysis import Analysis
from reports.learned import NOT_LEARNED
from reports.summary import write_summary

TEMPLATES = Path(__file__).resolve().parent / "templates"
OPENING = "Verdict on the paper's claims"

FIGURE_TITLES = {
    "forest": "{task}: paired effect of the reference method over each baseline (bold, all domains; the "
              "confirmatory baseline first) and per held-out domain (exploratory, t over seeds), 95% CIs, ROPE shaded.",
    "pareto": "{task}: primary metric against median time per meta-training step and per adaptation.",
    "speed_ratios": "Paired speed ratios per phase with 95% CIs; dashed: the paper's claimed speed-up.",
    "ranking": "Ranking of all methods (mean rank over task x domain blocks) with Wilcoxon + Holm cliques.",
    "training_curves": "Meta-training curves (outer loss) against steps and wall-clock seconds.",
    "learned": "Is each task learned? Each method after adaptation (filled) and before (hollow) against the "
               "constant control (dashed).",
    "learning_curves": "{task}: primary metric on the fixed meta-val episodes against meta-training steps.",
    "compute_curves": "{task}: primary metric on the fixed meta-val episodes against cumulative meta-training "
                      "seconds (left) and FLOPs (right); dotted: the time-to-target level.",
    "scaling": "Scaling study: wall-time ratio against FLOP ratio per size (95% intervals); dashed: the ceiling "
               "(wall ratio = FLOP ratio), dotted: the paper's claim.",
}


@dataclass
class Item:
    kind: str  # 'table' | 'figure' | 'text' (a sentence, in title)
    title: str
    html: str = ""
    data: str = ""
    markdown: str = ""


def _figure_title(name: str) -> str:
    for prefix, text in FIGURE_TITLES.items():
        if name == prefix or name.startswith(prefix + "_"):
            return text.format(task=name[len(prefix) + 1:])
    return name


def _sections(a: Analysis, tabs: dict[str, tables.Table], figs: dict[str, Path], rel: Path) -> list[dict]:
    def table(name: str) -> Item | None:
        t = tabs.get(name)
        if t is None or t.display.empty:  # e.g. no timing samples: say nothing rather than an empty grid
            return None
        return Item("table", t.title, html=t.html(), markdown=t.markdown())

    def figure(name: str) -> Item:
        path = figs[name]
        return Item("figure", _figure_title(name), data=base64.b64encode(path.read_bytes()).decode("ascii"),
                    markdown=f"![{_figure_title(name)}]({(rel / path.name).as_posix()})")

    def fig_items(prefix: str) -> list[Item]:
        return [figure(n) for n in figs if n == prefix or n.startswith(prefix + "_")]

    sections = [
        {"heading": OPENING, "items": [table("claims")]},
        {"heading": "Is each task learned?", "items": [table("learned"), *fig_items("learned"),
                                                       table("adaptation_gain")]},
        {"heading": "Learning curves and convergence", "items": [table("convergence"),
                                                                 *fig_items("learning_curves")]},
        {"heading": "Main results", "items": [table("main"), table("comparisons"), *fig_items("forest"),
                                              table("sensitivity")]},
        {"heading": "Speed", "items": [table("speed"), *fig_items("speed_ratios"), table("flops"),
                                       table("phase_times")]},
        {"heading": "Scaling", "items": [*(Item("text", line, markdown=line) for line in a.scaling_claims),
                                         table("scaling"), *fig_items("scaling")]},
        {"heading": "Quality against time", "items": fig_items("pareto")},
        {"heading": "Equal compute", "items": [table("equal_compute"), *fig_items("compute_curves")]},
        {"heading": "Ranking of all methods", "items": [table("ranking"), *fig_items("ranking")]},
        {"heading": "Meta-training", "items": fig_items("training_curves")},
        {"heading": "Appendix: per-domain results", "items": [table(n) for n in tabs if n.startswith("domains_")]},
    ]
    if "secondary" in tabs:
        sections.append({"heading": "Appendix: secondary metrics (exploratory)", "items": [table("secondary")]})
    for s in sections:
        s["items"] = [item for item in s["items"] if item is not None]
    return [s for s in sections if s["items"]]


def _meta(a: Analysis) -> list[tuple[str, str]]:
    m = a.run.manifest
    env = m.get("environment") or {}
    env_text = ", ".join(f"{k}={v}" for k, v in env.items()) if isinstance(env, dict) else str(env)
    return [("suite", str(m.get("suite", "?"))), ("spec hash", str(m.get("spec_hash", "?"))),
            ("split hash", str(m.get("split_hash", "?"))), ("methods", ", ".join(a.design.methods)),
            ("seeds", ", ".join(map(str, a.design.seeds))), ("tasks", ", ".join(a.design.tasks)),
            ("reference", a.comparisons.reference), ("baselines", ", ".join(a.comparisons.baselines)),
            ("alpha", f"{a.alpha:g} (Holm over the confirmatory family of {a.family_size}: "
                      f"{a.comparisons.reference} vs {', '.join(a.comparisons.family_baselines)} on each task's "
                      f"primary metric + the speed claim; {a.decided()} of {len(a.confirmatory)} quality comparisons "
                      "decided; everything else exploratory, BH)"),
            ("environment", env_text)]


def not_learned_flags(a: Analysis) -> list[str]:
    """The banner lines that open the report, one per task no declared method learned."""
    return [f"{NOT_LEARNED}: {task}. {a.learned.reasons[task]}; its {a.comparisons.reference}-versus-baseline "
            "comparisons are uninterpretable." for task in a.learned.not_learned]


def _failures(a: Analysis) -> list[str]:
    cells = [f"{f['method']} seed {f['seed']}: {f['reason']}" for f in a.design.failures]
    blocks = [f"speed block {f['block']}: {f['reason']}" for f in a.run.speed_failures]
    return cells + blocks


def write_report(a: Analysis, out: Path) -> Path:
    """Write everything into ``out``; returns the path of index.html."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*(out / "figures").glob("*.png"), *(out / "tables").glob("*.csv"), *(out / "tables").glob("*.tex")]:
        stale.unlink()  # a re-report must not leave figures or tables of an earlier one behind
    tabs = {t.name: t for t in tables.all_tables(a)}
    for t in tabs.values():
        t.write(out / "tables")
    figs = figures.all_figures(a, out / "figures")
    sections = _sections(a, tabs, figs, Path("figures"))
    title = f"mtml-bench report: {a.run.manifest.get('suite', a.run.run_dir.name)}"

    # the verdict on the paper's claims opens the report, right after the not-learned flags
    opening = [s for s in sections if s["heading"] == OPENING]
    sections = [s for s in sections if s["heading"] != OPENING]
    flags = not_learned_flags(a)
    md = [f"# {title}", ""] + [f"**{flag}**\n" for flag in flags]
    for s in opening:
        md += [f"## {s['heading']}", ""] + [line for item in s["items"] for line in (f"*{item.title}*", "",
                                                                                   item.markdown, "")]
    md += [f"- **{k}**: {v}" for k, v in _meta(a)]
    md += [""] + [f"> note: {n}" for n in a.notes]
    failures = _failures(a)
    if failures:
        md += ["", "## Failures", ""] + [f"- {line}" for line in failures]
    for s in sections:
        md += ["", f"## {s['heading']}", ""]
        for item in s["items"]:
            md += ([f"*{item.title}*", "", item.markdown, ""] if item.kind == "table" else [item.markdown, ""])
    (out / "report.md").write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    html = env.get_template("report.html.j2").render(title=title, flags=flags, opening=opening, meta=_meta(a),
                                                     notes=a.notes,
                                                     failures=failures, sections=sections,
                                                     store=a.run.path.name)
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    write_summary(a, out / "summary.json")
    return index
