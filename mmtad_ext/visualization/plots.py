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


#: Defaults of the timeline's own filter (the JSON of ``tools/infer.py`` is not filtered by it).
TIMELINE_SCORE_THR = 0.1
TIMELINE_TOPK_PER_CLASS = 20


def timeline_detections(detections: Sequence[dict], score_thr: float = TIMELINE_SCORE_THR,
                        topk_per_class: int = TIMELINE_TOPK_PER_CLASS) -> List[dict]:
    """The detections a timeline draws: score >= ``score_thr``, the best ``topk_per_class``
    of each class (0: all), by decreasing score.

    Args:
        detections (Sequence[dict]): ``{label, score, segment}`` in any order.
        score_thr (float): Minimum score. Defaults to 0.1.
        topk_per_class (int): Detections kept per class (0: all). Defaults to 20.

    Returns:
        list[dict]: The kept detections, best first.
    """
    if topk_per_class < 0:
        raise ValueError(f'topk_per_class must be >= 0, got {topk_per_class}')
    per_class: Dict[str, int] = {}
    kept = []
    for d in sorted(detections, key=lambda d: -float(d['score'])):
        if float(d['score']) < score_thr:
            break
        n = per_class.get(d['label'], 0)
        if topk_per_class == 0 or n < topk_per_class:
            kept.append(d)
            per_class[d['label']] = n + 1
    return kept


def assign_lanes(segments: Sequence[Sequence[float]]) -> List[int]:
    """Lane of each segment so that segments in one lane do not overlap.

    Segments are placed in the given order (best first: the best one is in lane 0), each in
    the first lane whose segments it does not overlap (touching ends do not overlap).

    Args:
        segments (Sequence): ``(start, end)`` pairs.

    Returns:
        list[int]: One lane index per segment.
    """
    lanes: List[List[Tuple[float, float]]] = []
    out = []
    for start, end in segments:
        for i, lane in enumerate(lanes):
            if all(end <= s or start >= e for s, e in lane):
                break
        else:
            i = len(lanes)
            lanes.append([])
        lanes[i].append((float(start), float(end)))
        out.append(i)
    return out


def timeline_figure(video_name: str,
                    duration: float,
                    detections: Sequence[dict],
                    ground_truth: Optional[Sequence[dict]] = None,
                    classes: Optional[Sequence[str]] = None,
                    score_thr: float = TIMELINE_SCORE_THR,
                    topk_per_class: int = TIMELINE_TOPK_PER_CLASS,
                    cmap: Optional[str] = None):
    """The matplotlib figure of :func:`plot_timeline` (the caller closes it).

    Args:
        cmap (str, optional): Matplotlib colour map of the score 0..1. Defaults to None: the
            upper 85 % of ``'Blues'`` (unsure detections pale, sure ones dark).
        Others: as :func:`plot_timeline`.

    Returns:
        tuple: ``(figure, rows)``; the detection bars are the patches with gid ``'det'`` (in
        the order of :func:`timeline_detections`), the ground-truth bars those with gid
        ``'gt'``, and the colour bar is the axis labelled ``'score'``.
    """
    plt = _pyplot()
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.patches import Patch, Rectangle
    gt = list(ground_truth or [])
    kept = timeline_detections(detections, score_thr, topk_per_class)
    present = {d['label'] for d in kept} | {g['label'] for g in gt}
    order = list(classes) if classes is not None else sorted(present)
    order += sorted(present - set(order))  # labels outside ``classes`` are drawn too
    rows = [c for c in order if c in present]
    norm = Normalize(0.0, 1.0)
    if cmap is None:
        blues = plt.get_cmap('Blues')
        colours = ListedColormap([blues(0.15 + 0.85 * i / 255) for i in range(256)],
                                 name='Blues_from_0.15')
    else:
        colours = plt.get_cmap(cmap)
    gt_h, lane_h, gap = (0.7 if ground_truth is not None else 0.0), 1.0, 0.5
    # y layout, top to bottom: per row a ground-truth lane, then the detection lanes
    y, placed, spans = 0.0, [], {}
    for c in rows:
        dets = [d for d in kept if d['label'] == c]
        lanes = assign_lanes([d['segment'] for d in dets])
        n_lanes = max(lanes, default=0) + 1
        spans[c] = (y, y + gt_h + n_lanes * lane_h)
        placed += [(d, y + gt_h + lane * lane_h) for d, lane in zip(dets, lanes)]
        y = spans[c][1] + gap
    height = max(y - gap, 1.0)
    fig, ax = plt.subplots(figsize=(11, 1.4 + 0.16 * height))
    ax.set_xlim(0, duration)
    ax.set_ylim(height, 0)
    for c, (top, bottom) in spans.items():
        ax.axhspan(top, bottom, color='0.95', zorder=0)
        for g in gt:
            if g['label'] == c:  # faint band over the detection lanes: compare by eye
                s, e = g['segment']
                ax.add_patch(Rectangle((s, top), e - s, bottom - top, facecolor='tab:red',
                                       alpha=0.08, edgecolor='none', zorder=0.5))
                ax.add_patch(Rectangle((s, top + 0.1), e - s, gt_h - 0.2, facecolor='none',
                                       edgecolor='tab:red', hatch='////', linewidth=1.2,
                                       gid='gt', zorder=2))
    min_label_width = 0.06 * duration
    for d, lane_top in placed:
        s, e = d['segment']
        score = float(d['score'])
        ax.add_patch(Rectangle((s, lane_top + 0.1), e - s, lane_h - 0.2,
                               facecolor=colours(norm(score)), edgecolor='black',
                               linewidth=0.4, gid='det', zorder=3))
        if e - s >= min_label_width:
            ax.text((s + e) / 2, lane_top + lane_h / 2, f'{score:.2f}', ha='center',
                    va='center', fontsize=7, zorder=4,
                    color='white' if sum(colours(norm(score))[:3]) < 1.5 else 'black')
    ax.set_yticks([(t + b) / 2 for t, b in spans.values()])
    ax.set_yticklabels(rows)
    ax.set_xlabel('time (s)')
    ax.grid(axis='x', alpha=0.3)
    filt = f'score >= {score_thr:g}' + (f', best {topk_per_class} per class'
                                        if topk_per_class else '')
    ax.set_title(f'{video_name}: {len(kept)} of {len(detections)} detections drawn ({filt})'
                 + ('' if kept else ' - none passes'), fontsize=10)
    if gt:
        ax.legend(handles=[Patch(facecolor='none', edgecolor='tab:red', hatch='////',
                                 label='ground truth')],
                  loc='lower right', bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=colours), ax=ax, pad=0.01,
                       fraction=0.03)
    bar.set_label('score')
    fig.tight_layout()
    return fig, rows


def plot_timeline(path: str,
                  video_name: str,
                  duration: float,
                  detections: Sequence[dict],
                  ground_truth: Optional[Sequence[dict]] = None,
                  classes: Optional[Sequence[str]] = None,
                  score_thr: float = TIMELINE_SCORE_THR,
                  topk_per_class: int = TIMELINE_TOPK_PER_CLASS) -> List[str]:
    """Draw detections (and ground truth) per class against time; save a PNG.

    Each class has a row; in it, the detections that pass the filter
    (:func:`timeline_detections`: score >= ``score_thr``, best ``topk_per_class`` per class)
    are bars coloured by their absolute score (colour bar 0..1; the score is written on bars
    wide enough), stacked in lanes so that overlapping ones never hide each other (the best in
    the top lane, :func:`assign_lanes`). Ground truth is a red hatched bar in a lane of its
    own above the detections, with a faint red band behind them.

    Args:
        path (str): Output PNG.
        video_name (str): Title.
        duration (float): Video length (s), the x range.
        detections (Sequence[dict]): ``{label, score, segment}``.
        ground_truth (Sequence[dict], optional): ``{label, segment}``. Defaults to None.
        classes (Sequence[str], optional): Row order; only classes with a drawn detection or
            a ground-truth segment get a row. Defaults to None (sorted labels).
        score_thr (float): Minimum score drawn. Defaults to 0.1.
        topk_per_class (int): Detections drawn per class (0: all). Defaults to 20.

    Returns:
        list[str]: The class names of the rows, top to bottom.
    """
    plt = _pyplot()
    fig, rows = timeline_figure(video_name, duration, detections, ground_truth, classes,
                                score_thr, topk_per_class)
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
