"""Detect actions in your own videos with a trained TAD model.

Run::

    python tools/infer.py configs/etad/etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py \
        work_dirs/etad_egs/epoch_40.pth my_video.mp4 other.mp4 \
        --out results.json --plot timelines/ --score-thr 0.05 --topk 20

Feature configs take feature files (``.npy``/``.pt``/``.csv``, (T, C)) instead of videos. Each
video is covered by the test dataset's windows, decoded and detected one batch of windows at a
time (memory does not grow with the video's length), and post-processed exactly as
``TADMetric`` does at test time, so without ``--score-thr``/``--topk`` the JSON equals
``tools/test.py --dump`` on the same videos. ``--out`` writes the ActivityNet submission format
``{"version", "results": {video: [{label, score, segment}]}, "external_data"}``; ``--plot``
draws a timeline PNG per video (a file name for one video, else a folder), with the ground truth
of ``--ann-file`` when given: bars coloured by absolute score (colour bar), overlapping
detections in separate lanes; it draws the detections with score >= ``--plot-score-thr``
(0.1) and at most ``--plot-topk`` (20) per class, out of those written to the JSON.
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.logging import print_log

import mmtad_ext  # noqa: F401  (registers modules, applies compat, enables mmtad_ext:: configs)
from mmtad_ext.apis import inference_detector, init_detector
from mmtad_ext.visualization import (TIMELINE_SCORE_THR, TIMELINE_TOPK_PER_CLASS,
                                     plot_timeline)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Detect actions in videos (mmtad-ext)')
    parser.add_argument('config', help='config file (its test dataset and test_evaluator)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('videos', nargs='+', help='video files (feature files for a feature '
                        'config); the file name without extension is the video id')
    parser.add_argument('--out', help='ActivityNet submission JSON to write')
    parser.add_argument('--plot', help='timeline PNG (one video) or folder of PNGs')
    parser.add_argument('--plot-score-thr', type=float, default=TIMELINE_SCORE_THR,
                        help='timeline PNG: draw detections with score >= this (default: '
                        '%(default)s; the JSON is not filtered by it)')
    parser.add_argument('--plot-topk', type=int, default=TIMELINE_TOPK_PER_CLASS,
                        help='timeline PNG: draw at most the best k detections per class '
                        '(default: %(default)s; 0: all)')
    parser.add_argument('--score-thr', type=float, default=0.0,
                        help='keep detections with score >= this (default: all)')
    parser.add_argument('--topk', type=int, default=0,
                        help='keep the best k detections per video (default 0: all)')
    parser.add_argument('--ann-file', help='ActivityNet-format annotation: ground truth drawn '
                        'in the plots')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--batch-size', type=int, help='windows per forward pass (default: '
                        'the config\'s test_dataloader.batch_size)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    args = parser.parse_args(argv)
    if args.topk < 0:
        parser.error(f'--topk must be >= 0, got {args.topk}')
    if args.plot_topk < 0:
        parser.error(f'--plot-topk must be >= 0, got {args.plot_topk}')
    return args


def filter_detections(detections, score_thr=0.0, topk=0):
    """Detections with score >= ``score_thr``, the best ``topk`` (0: all), by score."""
    kept = [d for d in detections if d['score'] >= score_thr]
    return kept[:topk] if topk > 0 else kept


def plot_path(plot, video_name):
    """``--plot`` itself if it names a PNG file, else ``<plot>/<video_name>.png``."""
    return plot if plot.lower().endswith('.png') else osp.join(plot, f'{video_name}.png')


def main(argv=None):
    args = parse_args(argv)
    missing = [v for v in args.videos if not osp.isfile(v)]
    if missing:
        raise FileNotFoundError(f'input file(s) not found: {missing}')
    names = [osp.splitext(osp.basename(v))[0] for v in args.videos]
    if len(set(names)) != len(names):
        raise ValueError(f'two inputs have the same video id (file name): {names}')
    if args.plot and args.plot.lower().endswith('.png') and len(names) > 1:
        raise ValueError(f'--plot {args.plot} is one file but {len(names)} videos were given: '
                         'give a folder')
    database = {}
    if args.ann_file:
        from mmtad_ext.datasets.tad_dataset import load_annotation_json
        database = load_annotation_json(args.ann_file)
    model = init_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    results = {}
    for video in args.videos:
        res = inference_detector(model, video, batch_size=args.batch_size,
                                 progress=not args.no_progress)
        if not args.no_progress:
            print()  # end the progress bar's line
        dets = filter_detections(res['detections'], args.score_thr, args.topk)
        results[res['video_name']] = dets
        print_log(f'{res["video_name"]}: {res["duration"]:.2f} s, {res["num_windows"]} '
                  f'window(s), {len(dets)} detection(s); best: ' + '; '.join(
                      f'{d["label"]} {d["segment"][0]:.2f}-{d["segment"][1]:.2f} s '
                      f'({d["score"]:.3f})' for d in dets[:3]), logger='current')
        if args.plot:
            path = plot_path(args.plot, res['video_name'])
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            gt = database.get(res['video_name'], {}).get('annotations')
            plot_timeline(path, res['video_name'], res['duration'], dets, gt,
                          classes=model.dataset_meta['classes'],
                          score_thr=args.plot_score_thr, topk_per_class=args.plot_topk)
            print_log(f'timeline written to {path}', logger='current')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(version='VERSION 1.3', results=results, external_data={}), f)
        print_log(f'detections written to {args.out}', logger='current')
    return results


if __name__ == '__main__':
    main()
