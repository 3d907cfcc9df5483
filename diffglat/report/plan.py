"""The report's cost section, from the plans that `diffglat plan` wrote for this run's config and
for paper scale: per paper item the training runs, the tokens trained on and the device-hours."""

from __future__ import annotations

from pathlib import Path

from .tables import latex_escape


def plan_paths(config: dict) -> dict[str, Path]:
    """Where the plan rule writes each plan, by the name the report gives it."""
    folder = Path(config["paths"]["results"]) / "plan"
    return {"This run": folder / "run.json", "Paper scale": folder / "paper.json"}


def plan_table(title: str, plan: dict) -> str:
    device = latex_escape(plan["device"])
    rows = [f"{latex_escape(item['paper'])} & {latex_escape(item['study'])} & {len(item['runs'])} & "
            f"{item['tokens'] / 1e6:,.1f} & {item['tokens_per_second']:,.0f} & {item.get('measured_runs', 0)} & "
            f"{max(r['wall_hours'] for r in item['runs']):,.2f} & {item['device_hours']:,.2f} \\\\"
            for item in plan["items"]]
    return rf"""\begin{{table}}[H]
\centering\small
\begin{{tabular}}{{@{{}}llrrrrrr@{{}}}}
\toprule
Paper & Study & Runs & Tokens (M) & Tokens/s & Measured & Hours/run & Device-hours \\
\midrule
{chr(10).join(rows)}
\midrule
Total & & {plan['runs']} & {plan['tokens'] / 1e6:,.1f} & & & & {plan['device_hours']:,.2f} \\
\bottomrule
\end{{tabular}}
\par\smallskip\small {latex_escape(title)}: config \texttt{{{latex_escape(plan['config'])}}} ({latex_escape(plan['scale'])} scale);
a device is one {device}; tokens/s per device, hours per run the longest.
\end{{table}}
"""


def plan_tex(plans: dict[str, dict]) -> str:
    """The section: one table per plan found (a plan file that is missing is left out)."""
    if not plans:
        return ""
    tables = "\n".join(plan_table(title, plan) for title, plan in plans.items())
    return rf"""\section*{{What the training costs}}
Tokens are the target tokens trained on (steps $\times$ max\_tokens $\times$ update\_freq, an upper bound as
batches are filled up to max\_tokens); device-hours divide them by one device's throughput, hours per run
further by the GPUs a run trains on. This run's throughput is measured: each run's own train log (Measured: the
runs that have one; another run takes its model family's measured mean, else the config's
\texttt{{plan.tokens\_per\_second}}); tokens/s per device is the study's tokens over its device-seconds.
Paper scale uses the config's figures. \texttt{{diffglat plan --config FILE... [--measured]}} prints the same per run.

{tables}"""
