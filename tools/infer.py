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

A feature file in the resize regime does not say how long its video is: give ``--duration``
(seconds, one value per input) or an ``--ann-file`` holding the video with its ``duration``.
A batch goes on past an input that fails (missing, corrupt, unknown duration): the JSON holds
the others, a summary lists the failures and the exit status is 1. A video shorter than one
snippet, or a long video squeezed into the snippets of a resize-regime config, gets a warning
(with the sliding-window settings to use). Errors are one line; ``--debug`` shows the
traceback.
"""
import argparse
import json
import math
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

import mmtad_ext  # noqa: F401  (registers modules, applies compat, enables mmtad_ext:: configs)
from mmtad_ext.apis import check_detection_config, inference_detector, init_detector
from mmtad_ext.datasets import load_annotations
from mmtad_ext.datasets.feature_io import FEATURE_EXTS
from mmtad_ext.utils import UserError, run_cli
from mmtad_ext.utils.errors import (DEBUG_HELP, format_exception_line, is_user_error,
                                    user_error_message)
from mmtad_ext.visualization import (TIMELINE_SCORE_THR, TIMELINE_TOPK_PER_CLASS,
                                     plot_timeline)


class InferenceFailed(UserError):
    """Some inputs of a batch failed (the others were written)."""


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
                        'in the plots, and the duration of feature files')
    parser.add_argument('--duration', type=float, nargs='+', metavar='SECONDS',
                        help='duration of each input (feature files of a resize-regime config '
                        'need it, unless --ann-file holds it): one value per input')
    parser.add_argument('--fps', type=float, nargs='+', metavar='FPS',
                        help='frame rate of each input (feature files of a config that places '
                        'snippets by frame, e.g. THUMOS14 I3D, need it unless --ann-file holds '
                        '"fps"): one value per input')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--batch-size', type=int, help='windows per forward pass (default: '
                        'the config\'s test_dataloader.batch_size)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args(argv)
    if args.topk < 0:
        parser.error(f'--topk must be >= 0, got {args.topk}')
    for option, values, what in (('--duration', args.duration, 'finite positive seconds'),
                                 ('--fps', args.fps, 'finite and positive')):
        if values is None:
            continue
        if len(values) != len(args.videos):
            parser.error(f'{option}: give one value per input ({len(args.videos)}), got '
                         f'{len(values)}')
        bad = [v for v in values if not (math.isfinite(v) and v > 0)]
        if bad:
            parser.error(f'{option} must be {what}, got {bad}')
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


def input_duration(video, index, args, database):
    """``--duration`` of input ``index``, else the ``--ann-file`` duration of a feature file,
    else None (the file's own duration)."""
    if args.duration is not None:
        return args.duration[index]
    name = osp.splitext(osp.basename(video))[0]
    if osp.splitext(video)[1].lower() in FEATURE_EXTS and name in database:
        return database[name]['duration']
    return None


def input_fps(video, index, args, database):
    """``--fps`` of input ``index``, else the ``--ann-file`` "fps" of a feature file, else
    None."""
    if args.fps is not None:
        return args.fps[index]
    name = osp.splitext(osp.basename(video))[0]
    if osp.splitext(video)[1].lower() in FEATURE_EXTS and name in database:
        return database[name].get('fps')
    return None


def detect_one(model, video, duration, args, database, fps=None):
    """Detect, log and plot one input; return its video id and filtered detections."""
    res = inference_detector(model, video, duration=duration, batch_size=args.batch_size,
                             progress=not args.no_progress, fps=fps)
    if not args.no_progress:
        print()  # end the progress bar's line
    dets = filter_detections(res['detections'], args.score_thr, args.topk)
    print_log(f'{res["video_name"]}: {res["duration"]:.2f} s, {res["num_windows"]} '
              f'window(s), {len(dets)} detection(s); best: ' + '; '.join(
                  f'{d["label"]} {d["segment"][0]:.2f}-{d["segment"][1]:.2f} s '
                  f'({d["score"]:.3f})' for d in dets[:3]), logger='current')
    if args.plot:
        path = plot_path(args.plot, res['video_name'])
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        gt = database.get(res['video_name'], {}).get('annotations')
        plot_timeline(path, res['video_name'], res['duration'], dets, gt,
                      classes=model.dataset_meta['classes'], score_thr=args.plot_score_thr,
                      topk_per_class=args.plot_topk)
        print_log(f'timeline written to {path}', logger='current')
    return res['video_name'], dets


def main(argv=None):
    """Run the tool; return ``{video_id: detections}`` of the inputs that succeeded.

    Raises:
        InferenceFailed: Some inputs failed (after the JSON of the others is written).
    """
    args = parse_args(argv)
    names = [osp.splitext(osp.basename(v))[0] for v in args.videos]
    if len(set(names)) != len(names):
        raise ValueError(f'two inputs have the same video id (file name): {names}')
    if args.plot and args.plot.lower().endswith('.png') and len(names) > 1:
        raise ValueError(f'--plot {args.plot} is one file but {len(names)} videos were given: '
                         'give a folder')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_detection_config(cfg)  # a recognition config: a clear error before anything runs
    model = init_detector(cfg, args.checkpoint, args.device)
    database = {}
    if args.ann_file:  # checked as the dataset checks it (finite, ordered, known labels)
        ds_cfg = (model.cfg.get('test_dataloader') or {}).get('dataset', {})
        database = load_annotations(args.ann_file, classes=model.dataset_meta['classes'],
                                    ignore_labels=ds_cfg.get('ignore_labels', ('Ambiguous', )),
                                    videos=names)
    results, failed = {}, {}
    for i, video in enumerate(args.videos):
        try:
            vid, dets = detect_one(model, video, input_duration(video, i, args, database), args,
                                   database, fps=input_fps(video, i, args, database))
        except Exception as e:  # noqa: B902  (one bad input must not lose the others)
            if args.debug:
                raise
            failed[video] = (user_error_message(e) if is_user_error(e) else
                             f'{format_exception_line(e)} (--debug shows the traceback)')
            print_log(f'{video}: failed: {failed[video]}', logger='current', level=40)
            continue
        results[vid] = dets
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(version='VERSION 1.3', results=results, external_data={}), f)
        print_log(f'detections of {len(results)} input(s) written to {args.out}',
                  logger='current')
    if failed:
        print_log(f'{len(failed)} of {len(args.videos)} input(s) failed:\n' + '\n'.join(
            f'  {v}: {msg}' for v, msg in failed.items()), logger='current', level=40)
        raise InferenceFailed(
            f'{len(failed)} of {len(args.videos)} input(s) failed ({", ".join(failed)}); '
            + (f'the detections of the other {len(results)} are in {args.out}' if args.out
               else 'see the log above'))
    return results


if __name__ == '__main__':
    run_cli(main)
