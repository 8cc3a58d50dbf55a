"""All plotting of mmtad-ext: detection timelines, block-drop stages, A3D budget tables, curves.

matplotlib (Agg backend, files only) is imported inside each function, so importing the package
never imports it. Each function draws from plain records (dicts, lists) and saves a PNG.
"""
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple


def _pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (imported on first use)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


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
    plt = _pyplot()
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


def plot_block_drop_stages(records: Sequence[Dict], path: str, metric_name: str = 'metric') -> str:
    """PNG of the recovered metric and the MACs per stage (two y axes); returns ``path``."""
    plt = _pyplot()
    stages = [r['stage'] for r in records]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(stages, [r.get('metric_after') for r in records], 'o-', color='tab:blue',
            label=f'{metric_name} (recovered)')
    ax.plot(stages, [r.get('metric_before') for r in records], 'x--', color='tab:blue',
            alpha=0.5, label=f'{metric_name} (after drop)')
    ax.set_xlabel('stage (blocks dropped)')
    ax.set_ylabel(metric_name)
    ax.set_xticks(stages)
    ax2 = ax.twinx()
    ax2.plot(stages, [(r.get('macs') or 0) / 1e9 for r in records], 's-', color='tab:red',
             label='GMACs')
    ax2.set_ylabel('encoder GMACs')
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc='lower left')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return osp.abspath(path)


def plot_budget_table(rows: List[Dict], path: str, title: str = 'A3D budget table') -> None:
    """Save accuracy vs GFLOPs and vs latency (all rows, Pareto fronts as lines) as a PNG."""
    from mmtad_ext.evaluation.functional import pareto_front
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, cost, label in ((axes[0], 'gmacs', 'GMACs per clip'),
                            (axes[1], 'latency_ms', 'CPU latency per clip (ms)')):
        ax.scatter([r[cost] for r in rows], [100 * r['top1'] for r in rows], s=12, c='0.6',
                   label='all sub-networks')
        front = pareto_front(rows, cost=cost)
        ax.plot([r[cost] for r in front], [100 * r['top1'] for r in front], 'o-', c='C3',
                label='Pareto front')
        ax.set_xscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel('top-1 (%)')
        ax.grid(alpha=0.3)
        ax.legend(loc='lower right')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(series: Mapping[str, Mapping[str, Tuple[Sequence, Sequence, str]]], out: str,
                title: Optional[str] = None) -> None:
    """One panel per key, one line per log: ``series[key][name] = (xs, ys, x_label)``."""
    plt = _pyplot()
    keys = list(series)
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        x_label = ''
        for name, (xs, ys, x_label) in series[key].items():
            ax.plot(xs, ys, marker='o' if len(xs) < 30 else None, markersize=3, linewidth=1,
                    label=name)
        ax.set_xlabel(x_label)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
