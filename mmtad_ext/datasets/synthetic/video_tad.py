"""Deterministic synthetic raw-video TAD benchmark (ActivityNet JSON + small mp4 videos).

Every video is ``render_background`` texture (no action) in which each annotated action
instance of class ``k`` is the shared renderer's pattern ``k`` (``render_clip``, painted on the
video's own background so that boundaries are seamless) over its interval. Classes come in
pairs that look the same and differ only in motion (see :mod:`.patterns`), so the encoder has
to see time. All randomness comes from one seed; the same seed gives the same pixels and the
same annotations (the mp4 bytes depend on the PyAV/ffmpeg build only).
"""
import json
import os
import os.path as osp

import numpy as np

from .patterns import NUM_PATTERNS, PATTERN_NAMES, render_background, render_clip, write_video


def _place_instances(rng: np.random.Generator, num_frames: int, max_instances: int,
                     min_len: int, max_len: int) -> list:
    """Non-overlapping (start, end) frame intervals, at least one, sorted by start."""
    n = int(rng.integers(1, max_instances + 1))
    intervals = []
    for _ in range(50 * n):
        if len(intervals) == n:
            break
        dur = int(rng.integers(min_len, max_len + 1))
        start = int(rng.integers(0, num_frames - dur + 1))
        end = start + dur
        if all(end + min_len // 2 <= s or start >= e + min_len // 2 for s, e in intervals):
            intervals.append((start, end))
    return sorted(intervals)


def generate_synthetic_video_tad(out_dir: str,
                                 num_train: int = 96,
                                 num_val: int = 48,
                                 num_classes: int = 4,
                                 size: int = 64,
                                 fps: int = 8,
                                 min_frames: int = 96,
                                 max_frames: int = 160,
                                 max_instances: int = 2,
                                 min_action_frames: int = 16,
                                 max_action_frames: int = 48,
                                 codec: str = 'libx264',
                                 seed: int = 0) -> dict:
    """Render the benchmark to ``out_dir`` and return a summary.

    Layout: ``<out_dir>/videos/<video>.mp4`` (``size`` x ``size``, ``fps``),
    ``<out_dir>/annotations.json`` (ActivityNet format, subsets ``training`` / ``validation``,
    segments in seconds), ``<out_dir>/class_map.txt`` (one class name per line, label order =
    renderer pattern id).

    Args:
        out_dir (str): Output folder (created).
        num_train (int): Training videos. Defaults to 96.
        num_val (int): Validation videos. Defaults to 48.
        num_classes (int): Action classes ``K`` (patterns ``0..K-1``). Defaults to 4.
        size (int): Frame height and width (even, >= 16). Defaults to 64.
        fps (int): Frame rate. Defaults to 8.
        min_frames (int): Shortest video in frames. Defaults to 96.
        max_frames (int): Longest video in frames. Defaults to 160.
        max_instances (int): Most action instances per video (at least one). Defaults to 2.
        min_action_frames (int): Shortest action in frames. Defaults to 16.
        max_action_frames (int): Longest action in frames. Defaults to 48.
        codec (str): ``'libx264'`` or ``'mpeg4'``. Defaults to ``'libx264'``.
        seed (int): Seed of everything. Defaults to 0.

    Returns:
        dict: ``ann_file``, ``video_dir``, ``class_map``, ``classes``, counts.
    """
    if not 1 <= num_classes <= NUM_PATTERNS:
        raise ValueError(f'generate_synthetic_video_tad: num_classes must be in '
                         f'[1, {NUM_PATTERNS}], got {num_classes}')
    if not 4 <= min_action_frames <= max_action_frames <= min_frames <= max_frames:
        raise ValueError('generate_synthetic_video_tad: need 4 <= min_action_frames <= '
                         'max_action_frames <= min_frames <= max_frames, got '
                         f'{(min_action_frames, max_action_frames, min_frames, max_frames)}')
    rng = np.random.default_rng(seed)
    video_dir = osp.join(out_dir, 'videos')
    os.makedirs(video_dir, exist_ok=True)
    classes = list(PATTERN_NAMES[:num_classes])
    database = {}
    for idx in range(num_train + num_val):
        subset = 'training' if idx < num_train else 'validation'
        vid = f'video_{idx:04d}'
        num_frames = int(rng.integers(min_frames, max_frames + 1))
        frames = render_background(num_frames, size, rng)  # (T, S, S, 3)
        anns = []
        for start, end in _place_instances(rng, num_frames, max_instances, min_action_frames,
                                           max_action_frames):
            k = int(rng.integers(num_classes))
            frames[start:end] = render_clip(k, end - start, size, rng, num_classes=num_classes,
                                            background=frames[start:end])
            anns.append(dict(label=classes[k], segment=[round(start / fps, 4),
                                                        round(end / fps, 4)]))
        write_video(osp.join(video_dir, vid + '.mp4'), frames, fps=fps, codec=codec)
        database[vid] = dict(subset=subset, duration=round(num_frames / fps, 4),
                             fps=float(fps), annotations=anns)
    ann_file = osp.join(out_dir, 'annotations.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(version='synthetic-video-tad-1.0', database=database), f)
    class_map = osp.join(out_dir, 'class_map.txt')
    with open(class_map, 'w') as f:
        f.write('\n'.join(classes) + '\n')
    return dict(ann_file=ann_file, video_dir=video_dir, class_map=class_map, classes=classes,
                num_train=num_train, num_val=num_val,
                num_instances=sum(len(v['annotations']) for v in database.values()))
