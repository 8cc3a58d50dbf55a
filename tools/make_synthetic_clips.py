"""Render the synthetic clip-classification dataset of the A3D configs.

Run::

    python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips

writes ``videos/{train,val}/*.mp4`` and ``{train,val}_list_videos.txt`` (mmaction2
``VideoDataset`` lists) for ``configs/a3d/*synthetic-clips-rgb.py`` and
``configs/recognition/slowonly/*synthetic-clips-rgb.py``.
"""
import argparse

from mmengine.logging import print_log

from mmtad_ext.datasets.synthetic import make_clip_dataset


def parse_args():
    parser = argparse.ArgumentParser(description='Render synthetic A3D clips')
    parser.add_argument('--out-dir', default='data/a3d_synthetic_clips')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--num-classes', type=int, default=10)
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    lists = make_clip_dataset(
        args.out_dir, dict(train=args.num_train, val=args.num_val),
        num_classes=args.num_classes, num_frames=args.frames, size=args.size, seed=args.seed)
    for split, path in lists.items():
        print_log(f'{split}: {path}', logger='current')


if __name__ == '__main__':
    main()
