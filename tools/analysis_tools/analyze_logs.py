"""Plot training/validation curves and time the training iterations of mmengine json logs.

Run::

    python tools/analysis_tools/analyze_logs.py plot_curve \
        work_dirs/x/20260101_000000/vis_data/scalars.json \
        --keys loss tad/average_mAP --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time \
        work_dirs/x/20260101_000000/vis_data/scalars.json

The logs are mmengine's ``vis_data/scalars.json`` (or ``vis_data/<timestamp>.json``): one JSON
dict per line; training lines carry ``iter`` (global iteration), ``step``, ``loss``, ``time`` and
``epoch`` (epoch-based loops); validation lines carry the metrics (e.g. ``tad/average_mAP``)
and ``step`` (the epoch, or the iteration in iteration-based loops). Each key gets its own
panel: training keys against the iteration, validation keys against the epoch (or iteration).
Several logs are drawn on the same panels. As mmaction2's ``analyze_logs.py``, without seaborn.
"""
import argparse
import json
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmtad_ext.visualization import plot_curves


def load_json_log(path: str) -> Dict[str, List[dict]]:
    """Read an mmengine scalar log into its training and validation records.

    Args:
        path (str): ``vis_data/*.json`` file.

    Returns:
        dict: ``train`` (records with ``iter``) and ``val`` (the others), in file order.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'log not found: {path} (expected a work_dir\'s '
                                'vis_data/scalars.json)')
    records = dict(train=[], val=[])
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}:{lineno}: not a JSON line ({e})') from None
            if not isinstance(rec, dict):
                raise ValueError(f'{path}:{lineno}: expected a JSON dict per line')
            records['train' if 'iter' in rec else 'val'].append(rec)
    return records


def _available(records: Dict[str, List[dict]]) -> Dict[str, List[str]]:
    skip = {'iter', 'step', 'epoch'}
    return {mode: sorted({k for r in recs for k in r} - skip) for mode, recs in records.items()}


def curve(records: Dict[str, List[dict]], key: str,
          log: str = 'log') -> Tuple[np.ndarray, np.ndarray, str]:
    """The ``(x, y, x_label)`` of ``key``: training keys by iteration, validation keys by
    ``step`` (the epoch if the training records have epochs, else the iteration).

    Raises:
        KeyError: ``key`` is in no record; the message lists the available keys.
    """
    for mode, x_key in (('train', 'iter'), ('val', 'step')):
        recs = [r for r in records[mode] if key in r]
        if recs:
            label = 'iter'
            if mode == 'val' and any('epoch' in r for r in records['train']):
                label = 'epoch'
            return (np.array([r[x_key] for r in recs], dtype=float),
                    np.array([r[key] for r in recs], dtype=float), label)
    avail = _available(records)
    raise KeyError(f'key {key!r} is not in {log}; available keys: training {avail["train"]}, '
                   f'validation {avail["val"]}')


def plot_curve(logs: Sequence[str], keys: Sequence[str], out: str,
               legend: Optional[Sequence[str]] = None, title: Optional[str] = None) -> dict:
    """Draw one panel per key (every log on it) and save the figure as ``out`` (PNG...).

    Returns:
        dict: ``{key: {log: (x, y)}}``, the plotted points.
    """
    legend = list(legend) if legend else list(logs)
    if len(legend) != len(logs):
        raise ValueError(f'--legend needs one name per log ({len(logs)}), got {len(legend)}')
    all_records = [load_json_log(p) for p in logs]
    points = defaultdict(dict)
    series = defaultdict(dict)
    for key in keys:
        for path, name, records in zip(logs, legend, all_records):
            xs, ys, x_label = curve(records, key, path)
            points[key][path] = (xs, ys)
            series[key][name] = (xs, ys, x_label)
    plot_curves(series, out, title)
    print(f'saved curves of {list(keys)} to {out}')
    return dict(points)


def cal_train_time(log: str, include_outliers: bool = False) -> dict:
    """Training time per iteration, per epoch and overall, as mmaction2's tool.

    ``time`` is what mmengine logs: seconds per iteration, averaged over the logging
    interval. The first record of each epoch (data-loader start-up) is left out unless
    ``include_outliers``. Iteration-based logs count as one epoch.

    Returns:
        dict: ``epoch_times`` ({epoch: mean s/iter}), ``slowest`` and ``fastest`` epoch,
        ``std`` (over the epoch means) and ``mean`` (s/iter over all kept records).
    """
    by_epoch = defaultdict(list)
    for rec in load_json_log(log)['train']:
        if 'time' in rec:
            by_epoch[rec.get('epoch', 1)].append(float(rec['time']))
    kept = {e: (t if include_outliers or len(t) == 1 else t[1:]) for e, t in by_epoch.items()}
    if not kept:
        raise ValueError(f'{log}: no training record with "time"')
    epoch_times = {e: float(np.mean(t)) for e, t in sorted(kept.items())}
    means = np.array(list(epoch_times.values()))
    epochs = list(epoch_times)
    return dict(epoch_times=epoch_times, slowest=epochs[int(means.argmax())],
                fastest=epochs[int(means.argmin())], std=float(means.std()),
                mean=float(np.mean(np.concatenate([np.array(t) for t in kept.values()]))))


def parse_args():
    parser = argparse.ArgumentParser(description='Analyze mmengine json logs (mmtad-ext)')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot curves of logged keys')
    plot.add_argument('json_logs', nargs='+', help='vis_data/scalars.json files')
    plot.add_argument('--keys', nargs='+', default=['loss'],
                      help='keys to plot, e.g. loss tad/average_mAP')
    plot.add_argument('--legend', nargs='+', help='one name per log (default: its path)')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', default='curves.png', help='output image')
    timing = sub.add_parser('cal_train_time', help='average time per training iteration')
    timing.add_argument('json_logs', nargs='+', help='vis_data/scalars.json files')
    timing.add_argument('--include-outliers', action='store_true',
                        help='keep the first record of every epoch')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        if args.task == 'plot_curve':
            plot_curve(args.json_logs, args.keys, args.out, args.legend, args.title)
            return
        for log in args.json_logs:
            t = cal_train_time(log, args.include_outliers)
            print(f'----- train time of {log} -----')
            print(f"slowest epoch {t['slowest']}, average time "
                  f"{t['epoch_times'][t['slowest']]:.4f} s/iter")
            print(f"fastest epoch {t['fastest']}, average time "
                  f"{t['epoch_times'][t['fastest']]:.4f} s/iter")
            print(f"time std over epochs {t['std']:.4f}")
            print(f"average iter time: {t['mean']:.4f} s/iter\n")
    except (KeyError, ValueError, FileNotFoundError) as e:
        sys.exit(f'error: {e.args[0] if isinstance(e, KeyError) else e}')


if __name__ == '__main__':
    main()
