"""Training curves as an inline SVG (matplotlib, Agg): loss and accuracy by epoch, training beside held-out.
Drawn in the model report of every registered version and in the nightly report."""
from __future__ import annotations

import io


def svg(fig) -> str:
    """A matplotlib figure as an ``<svg>`` element to put inside HTML."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def curves_svg(history: dict[str, list[float]], title: str = "") -> str:
    """Keras ``History.history`` (loss, accuracy, val_loss, val_accuracy, ...) as two panels; "" without data."""
    if not history:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rcParams
    from matplotlib.figure import Figure

    rcParams.update({"font.size": 9, "svg.fonttype": "none"})
    fig = Figure(figsize=(6.4, 2.6))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key, values in sorted(history.items()):
        target = acc_ax if "acc" in key else loss_ax if "loss" in key else None
        if target is not None and values:
            target.plot(range(1, len(values) + 1), values, marker=".", label=key)
    loss_ax.set_title(f"{title}: loss by epoch" if title else "loss by epoch")
    acc_ax.set_title(f"{title}: accuracy by epoch" if title else "accuracy by epoch")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    return svg(fig)
