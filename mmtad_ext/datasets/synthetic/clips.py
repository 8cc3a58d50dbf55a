"""Synthetic clip-classification dataset (A3D's CPU task): mp4 files + mmaction2 list files.

Each clip shows one pattern of :mod:`.patterns` over a textured background. The output folder
holds ``videos/{split}/{idx:05d}_c{class}.mp4`` and ``{split}_list_videos.txt`` files with
``<relative path> <label>`` lines, the annotation format of mmaction2's ``VideoDataset``.
"""
import os
import os.path as osp
from typing import Dict

import numpy as np

from .patterns import render_clip, write_video


def make_clip_dataset(out_dir: str,
                      splits: Dict[str, int],
                      num_classes: int = 10,
                      num_frames: int = 16,
                      size: int = 64,
                      fps: int = 16,
                      seed: int = 0,
                      codec: str = 'libx264') -> Dict[str, str]:
    """Render and encode a balanced clip-classification dataset.

    Args:
        out_dir (str): Output folder.
        splits (dict[str, int]): Clips per split, e.g. ``dict(train=400, val=200)``; labels
            cycle through the classes so every split is balanced.
        num_classes (int): Number of classes (<= 10). Defaults to 10.
        num_frames (int): Frames per clip. Defaults to 16.
        size (int): Frame height and width (even). Defaults to 64.
        fps (int): Frame rate of the files. Defaults to 16.
        seed (int): Seed; split ``i`` uses ``seed + 1000 * i``. Defaults to 0.
        codec (str): PyAV encoder. Defaults to ``'libx264'``.

    Returns:
        dict[str, str]: Path of the annotation list file of each split.
    """
    lists = {}
    for i, (split, count) in enumerate(splits.items()):
        if count < 1:
            raise ValueError(f'split {split!r} needs at least one clip, got {count}')
        rng = np.random.default_rng(seed + 1000 * i)
        lines = []
        for idx in range(count):
            label = idx % num_classes
            rel = osp.join('videos', split, f'{idx:05d}_c{label}.mp4')
            frames = render_clip(label, num_frames, size, rng, num_classes=num_classes)
            write_video(osp.join(out_dir, rel), frames, fps=fps, codec=codec)
            lines.append(f'{rel} {label}')
        lists[split] = osp.join(out_dir, f'{split}_list_videos.txt')
        os.makedirs(out_dir, exist_ok=True)
        with open(lists[split], 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return lists
