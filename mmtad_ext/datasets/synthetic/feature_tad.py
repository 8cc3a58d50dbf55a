"""Deterministic synthetic feature-level TAD benchmark (ActivityNet JSON + .npy features).

Every video is a sequence of ``num_snippets`` snippet features of dimension ``feat_dim``: a
slowly drifting background plus white noise. An action instance of class ``k`` adds the class
prototype ``P_k`` (a random direction) over its interval with a smooth onset/offset, plus a
class-specific temporal texture (the prototype alternates with a second class direction at a
class-specific period), so that both appearance and temporal structure carry the class.
Distractors (random directions that belong to no class) appear in the background, so that
"anything above the noise" is not an action. All randomness comes from one seed.
"""
import json
import os
import os.path as osp

import numpy as np


def _smooth_noise(rng: np.random.Generator, length: int, dim: int, scale: float,
                  width: int = 16) -> np.ndarray:
    """(length, dim) low-frequency noise: white noise smoothed by a box filter of ``width``."""
    raw = rng.standard_normal((length + width, dim))
    kernel = np.ones(width) / np.sqrt(width)
    out = np.stack([np.convolve(raw[:, d], kernel, mode='valid')[:length] for d in range(dim)],
                   axis=1)
    return scale * out


def _place_instances(rng: np.random.Generator, length: int, max_instances: int,
                     min_len: int, max_frac: float) -> list:
    """Non-overlapping (start, end) snippet intervals, at least one, sorted by start."""
    n = int(rng.integers(1, max_instances + 1))
    intervals = []
    for _ in range(20 * n):
        if len(intervals) == n:
            break
        dur = int(rng.integers(min_len, max(min_len + 1, int(max_frac * length)) + 1))
        start = int(rng.integers(0, max(length - dur, 1)))
        end = start + dur
        if all(end + 2 <= s or start >= e + 2 for s, e in intervals):
            intervals.append((start, end))
    return sorted(intervals)


def generate_synthetic_tad(out_dir: str,
                           num_train: int = 160,
                           num_val: int = 200,
                           num_classes: int = 5,
                           feat_dim: int = 64,
                           min_snippets: int = 96,
                           max_snippets: int = 256,
                           snippet_duration: float = 0.5,
                           max_instances: int = 3,
                           signal: float = 1.5,
                           noise: float = 1.0,
                           seed: int = 0,
                           feature_ext: str = '.npy') -> dict:
    """Write the benchmark to ``out_dir`` and return a summary.

    Layout: ``<out_dir>/features/<video>.npy`` ((T, feat_dim) float32),
    ``<out_dir>/annotations.json`` (ActivityNet format, subsets ``training`` / ``validation``),
    ``<out_dir>/class_map.txt`` (one class name per line, label order).

    Args:
        out_dir (str): Output folder (created).
        num_train (int): Training videos. Defaults to 160.
        num_val (int): Validation videos. Defaults to 200 (enough that the average mAP of one
            run is not dominated by a few validation instances).
        num_classes (int): Action classes ``K``. Defaults to 5.
        feat_dim (int): Feature dimension. Defaults to 64.
        min_snippets (int): Shortest video, in snippets. Defaults to 96.
        max_snippets (int): Longest video, in snippets. Defaults to 256.
        snippet_duration (float): Seconds per snippet. Defaults to 0.5.
        max_instances (int): Most action instances per video (at least one). Defaults to 3.
        signal (float): Amplitude of the class pattern per unit-norm direction, relative to the
            per-dimension noise times ``sqrt(feat_dim)`` (per dimension the pattern stays below the
            noise). Defaults to 1.5.
        noise (float): Standard deviation of the white noise. Defaults to 1.0.
        seed (int): Seed of everything. Defaults to 0.
        feature_ext (str): ``.npy``, ``.pt`` or ``.csv``. Defaults to ``.npy``.

    Returns:
        dict: ``ann_file``, ``feature_dir``, ``class_map``, ``classes``, counts.
    """
    if num_classes < 1 or feat_dim < 2 or min_snippets < 16 or max_snippets < min_snippets:
        raise ValueError('generate_synthetic_tad: need num_classes >= 1, feat_dim >= 2 and '
                         '16 <= min_snippets <= max_snippets')
    rng = np.random.default_rng(seed)
    feat_dir = osp.join(out_dir, 'features')
    os.makedirs(feat_dir, exist_ok=True)
    classes = [f'action_{k:02d}' for k in range(num_classes)]
    amp = signal * noise * np.sqrt(feat_dim) / 4
    dirs = rng.standard_normal((2 * num_classes + 4, feat_dim))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    protos, textures, distractors = (dirs[:num_classes], dirs[num_classes:2 * num_classes],
                                     dirs[2 * num_classes:])
    periods = 2 + np.arange(num_classes) * 2  # class-specific alternation period (snippets)
    database = {}
    for idx in range(num_train + num_val):
        subset = 'training' if idx < num_train else 'validation'
        vid = f'video_{idx:04d}'
        length = int(rng.integers(min_snippets, max_snippets + 1))
        feat = _smooth_noise(rng, length, feat_dim, 0.5 * noise) + noise * rng.standard_normal(
            (length, feat_dim))
        video_classes = rng.choice(num_classes, size=min(2, num_classes), replace=False)
        anns = []
        for start, end in _place_instances(rng, length, max_instances, 6, 0.35):
            k = int(rng.choice(video_classes))
            t = np.arange(end - start)
            ramp = np.minimum(1.0, np.minimum(t + 1, end - start - t) / 3.0)  # smooth edges
            alt = (t // periods[k]) % 2  # class-specific temporal texture
            pattern = (protos[k][None] * (1 - 0.5 * alt)[:, None] +
                       textures[k][None] * (0.5 * alt)[:, None])
            feat[start:end] += amp * rng.uniform(0.8, 1.2) * ramp[:, None] * pattern
            anns.append(dict(label=classes[k], segment=[round(start * snippet_duration, 3),
                                                        round(end * snippet_duration, 3)]))
        for _ in range(int(rng.integers(0, 3))):  # distractors: not actions
            d_len = int(rng.integers(4, 16))
            d0 = int(rng.integers(0, length - d_len))
            feat[d0:d0 + d_len] += amp * distractors[rng.integers(len(distractors))]
        _save(osp.join(feat_dir, vid + feature_ext), feat.astype(np.float32))
        database[vid] = dict(subset=subset, duration=round(length * snippet_duration, 3),
                             fps=30.0, annotations=anns)
    ann_file = osp.join(out_dir, 'annotations.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(version='synthetic-tad-1.0', database=database), f)
    class_map = osp.join(out_dir, 'class_map.txt')
    with open(class_map, 'w') as f:
        f.write('\n'.join(classes) + '\n')
    return dict(ann_file=ann_file, feature_dir=feat_dir, class_map=class_map, classes=classes,
                num_train=num_train, num_val=num_val,
                num_instances=sum(len(v['annotations']) for v in database.values()))


def _save(path: str, feat: np.ndarray) -> None:
    """Save a (T, C) array in the format given by the extension."""
    if path.endswith('.npy'):
        np.save(path, feat)
    elif path.endswith('.pt'):
        import torch
        torch.save(torch.from_numpy(feat), path)
    elif path.endswith('.csv'):
        np.savetxt(path, feat, delimiter=',', fmt='%.6f')
    else:
        raise ValueError(f'unsupported feature extension of {path}')

