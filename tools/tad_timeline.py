"""Timeline plot of temporal action detections (one row per class), used by ``tools/infer.py``.

Plotting lives in tools, not in the package (the package does not import matplotlib).
"""
from typing import Dict, List, Optional, Sequence


def plot_timeline(path: str,
                  video_name: str,
                  duration: float,
                  detections: Sequence[dict],
                  ground_truth: Optional[Sequence[dict]] = None,
                  classes: Optional[Sequence[str]] = None) -> List[str]:
    """Draw predicted segments (and ground truth) per class against time; save a PNG.

    Args:
        path (str): Output PNG.
        video_name (str): Title.
        duration (float): Video length (s), the x range.
        detections (Sequence[dict]): ``{label, score, segment}``; drawn with an opacity that
            grows with the score relative to the best one.
        ground_truth (Sequence[dict], optional): ``{label, segment}`` drawn in a thin bar
            above each class row. Defaults to None.
        classes (Sequence[str], optional): Row order. Defaults to the labels present, sorted.

    Returns:
        list[str]: The class names of the rows, top to bottom.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    gt = list(ground_truth or [])
    rows = list(classes) if classes is not None else sorted(
        {d['label'] for d in detections} | {g['label'] for g in gt})
    index: Dict[str, int] = {c: i for i, c in enumerate(rows)}
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.45 * max(len(rows), 1)))
    top = max([d['score'] for d in detections] + [1e-12])
    for d in detections:
        if d['label'] in index:
            s, e = d['segment']
            ax.broken_barh([(s, e - s)], (index[d['label']] - 0.4, 0.5), color='tab:blue',
                           alpha=0.15 + 0.85 * float(max(d['score'], 0.0)) / top)
    for g in gt:
        if g['label'] in index:
            s, e = g['segment']
            ax.broken_barh([(s, e - s)], (index[g['label']] + 0.15, 0.25), color='tab:green')
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows)
    ax.set_ylim(len(rows) - 0.5, -0.6)
    ax.set_xlim(0, duration)
    ax.set_xlabel('time (s)')
    title = (f'{video_name}: {len(detections)} detections (blue, opacity ~ score, best '
             f'{top:.3g})')
    ax.set_title(title + (', ground truth (green)' if gt else ''))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return rows
