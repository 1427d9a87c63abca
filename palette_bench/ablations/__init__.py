"""The studies of `palette-bench ablate`: each evaluates variants on the same inputs and tabulates them.

steps.py: samplers x step schedules x step counts of one trained checkpoint (`ablate steps`).
curve.py: FID, CA and PD against training steps, beside floors such as regression (`ablate curve`).
multitask.py: one Palette on three tasks against the task-specific Palettes, paper Table 7 (`ablate multitask`).
"""


def metric_columns(metrics: dict, names) -> dict:
    """`name`, `name_lo`, `name_hi` of each metric in a metrics.json's "metrics"; NaN where it is missing or has no interval."""
    nan = float("nan")
    out = {}
    for name in names:
        entry = metrics.get(name)
        ci = entry["ci95"] if entry else None
        out[name] = entry["value"] if entry else nan
        out[f"{name}_lo"], out[f"{name}_hi"] = (ci[0], ci[1]) if ci else (nan, nan)
    return out


def png_bytes(fig) -> bytes:
    """A matplotlib figure as PNG bytes (for atomic writes), the figure closed."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
