"""Time ``eval_detection`` against mmaction2's ``ActivityNetLocalization`` on the same data.

Run (after ``make install``; from the repository root)::

    python tools/analysis_tools/benchmark_eval.py --num-preds 100000 --repeats 3

Generates a seeded synthetic ground truth (videos with 1-8 actions of random classes) and
predictions (half jittered ground truth, some with a wrong label, half random segments),
checks that both implementations give the same numbers (to 1e-9) and prints a markdown table.
"""
import argparse
import json
import os.path as osp
import platform
import sys
import tempfile
import time

import numpy as np
import torch
from mmengine.logging import print_log

import mmtad_ext  # noqa: F401  (compat shims before importing mmaction2)
from mmaction.evaluation.functional import ActivityNetLocalization  # noqa: E402
from mmtad_ext.evaluation.functional import eval_detection  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark detection mAP evaluation')
    parser.add_argument('--num-preds', type=int, default=100000, help='predictions')
    parser.add_argument('--num-videos', type=int, default=200, help='videos')
    parser.add_argument('--num-classes', type=int, default=20, help='classes')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--repeats', type=int, default=3, help='timing repeats (best kept)')
    return parser.parse_args()


def make_data(num_preds: int, num_videos: int, num_classes: int, seed: int):
    """Seeded synthetic annotations and submission.

    Args:
        num_preds (int): Number of predictions.
        num_videos (int): Number of videos.
        num_classes (int): Number of classes.
        seed (int): Random seed.

    Returns:
        tuple[dict, dict]: ``{vid: {subset, duration, annotations}}`` and ``{"results": ...}``.
    """
    rng = np.random.default_rng(seed)
    classes = [f'class_{i:03d}' for i in range(num_classes)]
    database = {}
    for v in range(num_videos):
        duration = float(rng.uniform(30, 300))
        anns = []
        for _ in range(rng.integers(1, 9)):
            s = float(rng.uniform(0, duration - 5))
            e = min(duration, s + float(rng.uniform(2, duration / 3)))
            anns.append(dict(label=classes[rng.integers(num_classes)], segment=[s, e]))
        database[f'video_{v:05d}'] = dict(subset='validation', duration=duration,
                                          annotations=anns)
    results = {}
    counts = np.bincount(rng.integers(0, num_videos, num_preds), minlength=num_videos)
    for (vid, info), k in zip(database.items(), counts):
        anns, duration, out = info['annotations'], info['duration'], []
        for _ in range(k):
            if rng.random() < 0.5:  # a jittered ground truth, 30% with a wrong label
                ann = anns[rng.integers(len(anns))]
                s, e = ann['segment']
                w = e - s
                s, e = sorted([s + rng.normal(0, .15) * w, e + rng.normal(0, .15) * w])
                label = ann['label'] if rng.random() < 0.7 else classes[
                    rng.integers(num_classes)]
            else:
                s = rng.uniform(0, duration)
                e = min(duration, s + rng.uniform(1, duration / 3))
                label = classes[rng.integers(num_classes)]
            out.append(dict(label=label, score=float(rng.random()),
                            segment=[float(s), float(e)]))
        results[vid] = out
    return database, dict(version='VERSION 1.3', results=results, external_data={})


def best_time(fn, repeats: int):
    """Best wall-clock time of ``repeats`` calls and the last result."""
    best, out = float('inf'), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    args = parse_args()
    thr = np.linspace(0.5, 0.95, 10)
    database, submission = make_data(args.num_preds, args.num_videos, args.num_classes,
                                     args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        ref_gt, our_gt, pred = (osp.join(tmp, n) for n in ('ref_gt.json', 'gt.json',
                                                           'pred.json'))
        with open(ref_gt, 'w') as f:  # mmaction2 strips 2 characters of every GT video id
            json.dump({'v_' + k: v for k, v in database.items()}, f)
        with open(our_gt, 'w') as f:
            json.dump(dict(version='VERSION 1.3', database=database), f)
        with open(pred, 'w') as f:
            json.dump(submission, f)

        def reference():
            ev = ActivityNetLocalization(ref_gt, pred, tiou_thresholds=thr)
            ev.evaluate()
            return ev

        def ours_files():
            with open(our_gt) as fg, open(pred) as fp:
                return eval_detection(json.load(fg), json.load(fp), thr)

        t_ref, ev = best_time(reference, args.repeats)
        parsed = ActivityNetLocalization(ref_gt, pred, tiou_thresholds=thr)
        t_ref_eval, _ = best_time(parsed.evaluate, args.repeats)
        t_files, out_files = best_time(ours_files, args.repeats)
        t_mem, out = best_time(lambda: eval_detection(database, submission, thr), args.repeats)
    diff = max(np.abs(out['mAP'] - ev.mAP).max(), np.abs(out_files['mAP'] - ev.mAP).max(),
               max(np.abs(out['per_class'][c] - ev.ap[:, i]).max()
                   for c, i in ev.activity_index.items()))
    assert diff <= 1e-9, f'results differ from mmaction2 by {diff}'
    n_real = sum(len(v) for v in submission['results'].values())
    rows = [('from the JSON files (parse + evaluate)', t_ref, t_files),
            ('evaluation of already parsed inputs', t_ref_eval, t_mem)]
    lines = [
        f'{n_real} predictions, {args.num_videos} videos, {args.num_classes} classes, '
        f'10 tIoU thresholds (0.50:0.05:0.95), seed {args.seed}, best of {args.repeats}.',
        f'average mAP {out["average_mAP"]:.6f} (mmaction2 {ev.average_mAP:.6f}); max '
        f'|difference| of mAP and per-class AP: {diff:.1e}', '',
        '| scope | mmaction2 `ActivityNetLocalization` (s) | mmtad_ext `eval_detection` (s) '
        '| speed-up |', '|---|---:|---:|---:|'
    ] + [f'| {name} | {r:.3f} | {o:.3f} | {r / o:.1f}x |' for name, r, o in rows] + [
        '', f'Command: `python tools/analysis_tools/benchmark_eval.py --num-preds {args.num_preds} '
        f'--num-videos {args.num_videos} --num-classes {args.num_classes} --seed {args.seed} '
        f'--repeats {args.repeats}`',
        f'Machine: {platform.processor() or platform.machine()}, '
        f'{torch.get_num_threads()} torch threads, Python {sys.version.split()[0]}, '
        f'numpy {np.__version__}, torch {torch.__version__}'
    ]
    print_log('\n'.join(lines))


if __name__ == '__main__':
    main()
