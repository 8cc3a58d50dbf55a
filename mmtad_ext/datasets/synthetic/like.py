"""Rehearsal data shaped like THUMOS14, ActivityNet-1.3 and Kinetics-400.

The paper configs read real datasets that are not shipped. These generators write synthetic data
in exactly the layout those configs read (paths relative to the config's ``data_root``), with
the real datasets' shape: class names and counts, subset names, video ids, durations, frame
rates, segment counts and lengths, feature channels and snippet strides, and list files. The
content is synthetic (features: class directions over smooth noise; videos: the patterns of
:mod:`.patterns` at a small resolution that the configs' pipelines resize), so a config trains,
validates and tests on it unchanged, and its cost per video is the real one. Every choice comes
from one seed.

Profiles (full-size counts are those of the real datasets; ``num_videos`` picks how many are
written per subset):

==============  ===========================================================================
thumos14        20 classes (+ ``Ambiguous`` segments); ``training`` = the 200 validation
                videos (``video_validation_*``), ``validation`` = the 213 test videos
                (``video_test_*``); 30 fps; durations log-normal, mean about 3.5 min, 20 s to
                15 min; about 15 instances per video (4.5 s mean length), mostly one class per
                video; I3D features (T, 2048), a 16-frame snippet every 4 frames.
activitynet     200 classes, ``training`` (10,024) / ``validation`` (4,926) videos with
                YouTube-like ids; 24, 25, 29.97 or 30 fps; durations log-normal, mean about
                2 min, 5 s to 12.6 min; 1.5 instances per video covering about half of it, one
                class per video; TSP features (T, 512), a 16-frame snippet every 16 frames at
                15 fps; ``blocked.json`` lists one annotated validation video without a file.
kinetics400     400 classes, mmaction2 ``VideoDataset`` lists (``<file> <label>``); 10-s clips
                (some shorter) at 25 or 30 fps; 240k train / 20k val clips at full size.
==============  ===========================================================================

The real annotation files list every class; a rehearsal set with fewer videos than classes gets
one annotation-only entry per missing class in subset ``testing`` (read by no config, no file),
so that ``TADDataset`` derives the real class list (the sorted labels of the whole file) and
the class-score files and heads keep the real class count.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, Optional, Union

import numpy as np

from .class_names import ACTIVITYNET_CLASSES, KINETICS400_CLASSES, THUMOS14_CLASSES
from .patterns import NUM_PATTERNS, render_background, render_clip, write_video

_ID_CHARS = np.array(list('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'))
SHOT_SECONDS = 10.0  # rehearsal videos are rendered (and cut) in shots of this length


@dataclass(frozen=True)
class TADProfile:
    """What a rehearsal TAD dataset imitates (see the module doc)."""
    name: str
    classes: tuple
    subsets: tuple  # (training subset, validation subset), as the configs read them
    full_counts: tuple  # real number of videos of each subset
    fps: tuple  # frame rates (int or Fraction) ...
    fps_weights: tuple  # ... and their frequencies
    duration_mean: float  # seconds (log-normal)
    duration_sigma: float
    duration_range: tuple
    ann_file: dict  # modality -> annotation path under the data root
    feature_dir: str
    video_dir: str
    feature_channels: int
    feature_fps: Optional[float]  # frames per second the features were extracted at
    feature_stride: int  # frames between snippets
    feature_clip: int  # frames per snippet
    class_score_file: str = 'annotations/video_class_scores.json'
    blocked_file: Optional[str] = None


THUMOS14 = TADProfile(
    name='thumos14', classes=THUMOS14_CLASSES, subsets=('training', 'validation'),
    full_counts=(200, 213), fps=(30, ), fps_weights=(1.0, ), duration_mean=212.0,
    duration_sigma=0.6, duration_range=(20.0, 900.0),
    ann_file=dict(feature='annotations/thumos14.json', video='annotations/thumos_14_anno.json'),
    feature_dir='features/i3d', video_dir='videos', feature_channels=2048, feature_fps=30.0,
    feature_stride=4, feature_clip=16)
ACTIVITYNET = TADProfile(
    name='activitynet', classes=ACTIVITYNET_CLASSES, subsets=('training', 'validation'),
    full_counts=(10024, 4926), fps=(24, 25, Fraction(30000, 1001), 30),
    fps_weights=(0.15, 0.2, 0.3, 0.35), duration_mean=117.0, duration_sigma=0.6,
    duration_range=(5.0, 755.0),
    ann_file=dict(feature='annotations/activity_net.v1-3.min.json',
                  video='annotations/activity_net.v1-3.min.json'),
    feature_dir='features/tsp', video_dir='videos', feature_channels=512, feature_fps=15.0,
    feature_stride=16, feature_clip=16, blocked_file='annotations/blocked.json')
TAD_PROFILES = dict(thumos14=THUMOS14, activitynet=ACTIVITYNET)
KINETICS400_FULL = dict(train=240000, val=19796)


def _duration(profile: TADProfile, rng: np.random.Generator,
              max_duration: Optional[float]) -> float:
    mu = np.log(profile.duration_mean) - profile.duration_sigma**2 / 2  # mean stays the mean
    lo, hi = profile.duration_range
    d = float(np.clip(rng.lognormal(mu, profile.duration_sigma), lo, hi))
    return min(d, max_duration) if max_duration else d


def _thumos_segments(rng: np.random.Generator, duration: float, classes: tuple) -> list:
    """About 15 instances per 3.5 min (4.5 s mean, log-normal), one class per video (a second
    one in 20% of the videos), 8% of the instances ``Ambiguous``."""
    main = rng.choice(len(classes), size=2, replace=False)
    labels = [classes[main[0]]] + ([classes[main[1]]] if rng.random() < 0.2 else [])
    n = max(1, int(rng.poisson(duration * 15 / 212)))
    segments, t = [], 0.0
    for length in np.clip(rng.lognormal(np.log(4.5) - 0.28, 0.75, size=n), 0.4, 60.0):
        gap = rng.exponential(max(duration - n * 4.5, n) / (n + 1))
        start = t + gap
        if start + length > duration:
            break
        label = 'Ambiguous' if rng.random() < 0.08 else str(rng.choice(labels))
        segments.append(dict(label=label, segment=[round(start, 2), round(start + length, 2)]))
        t = start + length
    if not any(s['label'] != 'Ambiguous' for s in segments):  # every video has an action
        length = min(4.5, duration / 2)
        start = float(rng.uniform(0, duration - length))
        segments = [dict(label=labels[0], segment=[round(start, 2), round(start + length, 2)])]
    return segments


def _activitynet_segments(rng: np.random.Generator, duration: float, classes: tuple) -> list:
    """1-5 instances (1.5 on average) of one class, covering about half of the video."""
    label = classes[int(rng.integers(len(classes)))]
    n = int(rng.choice([1, 2, 3, 4, 5], p=[0.68, 0.18, 0.07, 0.04, 0.03]))
    cover = float(np.clip(rng.beta(2.0, 2.0), 0.05, 0.98))
    lengths = rng.dirichlet(np.ones(n)) * cover * duration  # (n,)
    gaps = rng.dirichlet(np.ones(n + 1)) * (1 - cover) * duration  # (n + 1,)
    segments, t = [], 0.0
    for length, gap in zip(lengths, gaps):
        start = t + gap
        segments.append(dict(label=label, segment=[round(start, 2), round(start + length, 2)]))
        t = start + length
    return segments


def _youtube_id(rng: np.random.Generator) -> str:
    return ''.join(rng.choice(_ID_CHARS, size=11))


def _video_id(profile: TADProfile, subset_index: int, idx: int, rng: np.random.Generator) -> str:
    if profile.name == 'thumos14':
        return f"video_{('validation', 'test')[subset_index]}_{idx + 1:07d}"
    return _youtube_id(rng)


def _box_smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average over axis 0 (same length)."""
    c = np.cumsum(np.pad(x, ((width // 2, width - width // 2), (0, 0)), mode='edge'), axis=0)
    return (c[width:] - c[:-width]) / width


def _features(rng: np.random.Generator, num_snippets: int, directions: np.ndarray,
              segments: list, classes: tuple, snippet_seconds: float) -> np.ndarray:
    """(T, C) non-negative features: smooth noise plus the class direction inside actions."""
    channels = directions.shape[1]
    noise = rng.standard_normal((num_snippets, channels)).astype(np.float32)
    feat = np.abs(0.3 * _box_smooth(noise, 8) + 0.1 * noise)
    for seg in segments:
        if seg['label'] not in classes:
            continue
        a = int(seg['segment'][0] / snippet_seconds)
        b = max(a + 1, int(np.ceil(seg['segment'][1] / snippet_seconds)))
        feat[a:b] += 0.5 * directions[classes.index(seg['label'])]
    return feat.astype(np.float32)


def _render_video(path: str, rng: np.random.Generator, num_frames: int, fps, size: int,
                  segments: list, classes: tuple) -> None:
    """Stream the video shot by shot: a textured background per shot, class ``k`` drawn as
    pattern ``k % 10`` over its segment."""
    shot = max(1, int(round(SHOT_SECONDS * float(fps))))
    spans = [(int(round(s['segment'][0] * float(fps))), int(round(s['segment'][1] * float(fps))),
              classes.index(s['label']) % NUM_PATTERNS if s['label'] in classes else
              int(rng.integers(NUM_PATTERNS))) for s in segments]

    def chunks():
        for f0 in range(0, num_frames, shot):
            f1 = min(f0 + shot, num_frames)
            frames = render_background(f1 - f0, size, rng)  # (F, S, S, 3)
            for a, b, pattern in spans:
                a, b = max(a, f0), min(b, f1)
                if b - a >= 2:
                    frames[a - f0:b - f0] = render_clip(pattern, b - a, size, rng,
                                                        background=frames[a - f0:b - f0])
            yield frames

    write_video(path, chunks(), fps=fps, crf=30)


def generate_like_tad(out_dir: str,
                      like: str,
                      modality: str = 'feature',
                      num_videos: Union[int, Dict[str, int]] = 4,
                      max_duration: Optional[float] = None,
                      size: int = 64,
                      seed: int = 0) -> dict:
    """Write a rehearsal TAD dataset shaped like ``like`` into ``out_dir`` (the data root).

    Layout (``out_dir`` = ``data/thumos14`` or ``data/activitynet`` for the paper configs):
    the annotation JSON (ActivityNet format, ``fps`` per video), ``features/<name>/<id>.npy``
    ``(T, C)`` float32 or ``videos/<id>.mp4`` (``size`` x ``size``, the video's fps),
    ``annotations/video_class_scores.json`` (``{id: [C scores]}`` in the sorted class order,
    an external video classifier's output) and, for ActivityNet, ``annotations/blocked.json``.

    Args:
        out_dir (str): Data root (created).
        like (str): ``'thumos14'`` or ``'activitynet'``.
        modality (str): ``'feature'`` or ``'video'``. Defaults to ``'feature'``.
        num_videos (int | dict): Videos per subset, or ``{subset: count}`` for the
            configs' subsets. Defaults to 4.
        max_duration (float, optional): Cap on a video's duration in seconds (tests).
            Defaults to None (the real distribution).
        size (int): Frame height and width of the videos (even, >= 16). Defaults to 64.
        seed (int): Seed of everything. Defaults to 0.

    Returns:
        dict: Paths and counts (``ann_file``, ``data_dir``, ``num_videos``, ``mean_duration``,
        ``num_instances``...).
    """
    if like not in TAD_PROFILES:
        raise ValueError(f'generate_like_tad: like must be one of {sorted(TAD_PROFILES)}, got '
                         f'{like!r}')
    if modality not in ('feature', 'video'):
        raise ValueError(f"generate_like_tad: modality must be 'feature' or 'video', got "
                         f'{modality!r}')
    prof = TAD_PROFILES[like]
    counts = (dict(num_videos) if isinstance(num_videos, dict) else
              {s: int(num_videos) for s in prof.subsets})
    unknown = set(counts) - set(prof.subsets)
    if unknown or any(c < 0 for c in counts.values()):
        raise ValueError(f'generate_like_tad: num_videos must be >= 0 per subset of '
                         f'{prof.subsets}, got {counts}')
    if max_duration is not None and max_duration < 2:
        raise ValueError(f'generate_like_tad: max_duration must be >= 2 s, got {max_duration}')
    rng = np.random.default_rng(seed)
    classes = tuple(sorted(prof.classes))
    directions = np.abs(rng.standard_normal((len(classes), prof.feature_channels)))
    directions = (directions / np.linalg.norm(directions, axis=1, keepdims=True) *
                  np.sqrt(prof.feature_channels) * 0.2).astype(np.float32)
    data_dir = osp.join(out_dir, prof.feature_dir if modality == 'feature' else prof.video_dir)
    os.makedirs(data_dir, exist_ok=True)
    sample = _thumos_segments if like == 'thumos14' else _activitynet_segments
    database, scores, blocked, durations = {}, {}, [], []
    for si, subset in enumerate(prof.subsets):
        extra = 1 if prof.blocked_file and subset == 'validation' else 0  # one blocked video
        for idx in range(counts.get(subset, 0) + extra):
            vid = _video_id(prof, si, idx, rng)
            fps = prof.fps[int(rng.choice(len(prof.fps), p=prof.fps_weights))]
            num_frames = max(2, int(round(_duration(prof, rng, max_duration) * float(fps))))
            duration = num_frames / float(fps)
            segments = sample(rng, duration, classes)
            database[vid] = dict(subset=subset, duration=round(duration, 3),
                                 fps=round(float(fps), 3), annotations=segments)
            if idx == counts.get(subset, 0):  # the blocked one: annotated, no file
                blocked.append(vid)
                continue
            durations.append(duration)
            present = sorted({classes.index(s['label']) for s in segments
                              if s['label'] in classes})
            score = rng.dirichlet(np.ones(len(classes))) * 0.3
            score[present] += 0.7 / len(present)
            scores[vid] = [round(float(x), 5) for x in score]
            if modality == 'feature':
                snippet_seconds = prof.feature_stride / prof.feature_fps
                frames = int(duration * prof.feature_fps)
                num_snippets = max(1, (frames - prof.feature_clip) // prof.feature_stride + 1)
                feat = _features(rng, num_snippets, directions, segments, classes,
                                 snippet_seconds)
                np.save(osp.join(data_dir, vid + '.npy'), feat)
            else:
                _render_video(osp.join(data_dir, vid + '.mp4'), rng, num_frames, fps, size,
                              segments, classes)
    covered = {s['label'] for v in database.values() for s in v['annotations']}
    for k, name in enumerate(c for c in classes if c not in covered):  # see the module doc
        database[f'class_coverage_{k:03d}'] = dict(
            subset='testing', duration=60.0, fps=30.0,
            annotations=[dict(label=name, segment=[10.0, 20.0])])
    ann_file = osp.join(out_dir, prof.ann_file[modality])
    _dump(ann_file, dict(version='VERSION 1.3', database=database))
    _dump(osp.join(out_dir, prof.class_score_file), scores)
    if prof.blocked_file:
        _dump(osp.join(out_dir, prof.blocked_file), blocked)
    return dict(like=like, modality=modality, ann_file=ann_file, data_dir=data_dir,
                num_videos=counts, num_classes=len(classes), blocked=blocked,
                mean_duration=float(np.mean(durations)) if durations else 0.0,
                num_instances=sum(len(database[v]['annotations']) for v in scores))


def generate_like_clips(out_dir: str,
                        like: str = 'kinetics400',
                        num_videos: Union[int, Dict[str, int]] = 4,
                        max_duration: Optional[float] = None,
                        size: int = 64,
                        seed: int = 0) -> dict:
    """Write rehearsal clips shaped like Kinetics-400 in mmaction2's ``VideoDataset`` layout.

    Layout (``out_dir`` = ``data/kinetics400`` for the A3D configs):
    ``videos_{train,val}/<youtube id>_<start>_<end>.mp4`` and
    ``kinetics400_{train,val}_list_videos.txt`` (``<file> <label>`` lines, label = index in
    the 400 classes; class ``k`` is drawn as pattern ``k % 10``).

    Args:
        out_dir (str): Data root (created).
        like (str): ``'kinetics400'``. Defaults to ``'kinetics400'``.
        num_videos (int | dict): Clips per split, or ``{'train': n, 'val': m}``. Defaults to 4.
        max_duration (float, optional): Cap on a clip's duration in seconds. Defaults to None.
        size (int): Frame height and width (even, >= 16). Defaults to 64.
        seed (int): Seed of everything. Defaults to 0.

    Returns:
        dict: ``lists`` ({split: list file}), ``num_videos``, ``num_classes``.
    """
    if like != 'kinetics400':
        raise ValueError(f"generate_like_clips: like must be 'kinetics400', got {like!r}")
    counts = (dict(num_videos) if isinstance(num_videos, dict) else
              dict(train=int(num_videos), val=int(num_videos)))
    if set(counts) - {'train', 'val'} or any(c < 1 for c in counts.values()):
        raise ValueError(f"generate_like_clips: num_videos must be >= 1 per split ('train', "
                         f"'val'), got {counts}")
    rng = np.random.default_rng(seed)
    lists = {}
    for split, count in counts.items():
        lines = []
        for idx in range(count):
            label = int(rng.integers(len(KINETICS400_CLASSES)))
            fps = int(rng.choice([25, 30], p=[0.25, 0.75]))
            duration = 10.0 if rng.random() < 0.9 else float(rng.uniform(5.0, 10.0))
            duration = min(duration, max_duration) if max_duration else duration
            start = int(rng.integers(0, 600))
            name = f'{_youtube_id(rng)}_{start:06d}_{start + int(np.ceil(duration)):06d}.mp4'
            num_frames = max(2, int(round(duration * fps)))
            frames = render_clip(label % NUM_PATTERNS, num_frames, size, rng)
            write_video(osp.join(out_dir, f'videos_{split}', name), frames, fps=fps, crf=30)
            lines.append(f'{name} {label}')
        lists[split] = osp.join(out_dir, f'kinetics400_{split}_list_videos.txt')
        with open(lists[split], 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return dict(like=like, lists=lists, num_videos=counts, num_classes=len(KINETICS400_CLASSES))


def _dump(path: str, obj) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)
