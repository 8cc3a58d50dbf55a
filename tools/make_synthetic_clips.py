"""Render the synthetic clip-classification dataset of the A3D configs.

Run::

    python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips

writes ``videos/{train,val}/*.mp4`` and ``{train,val}_list_videos.txt`` (mmaction2
``VideoDataset`` lists) for ``configs/a3d/*synthetic-clips-rgb.py`` and
``configs/recognition/slowonly/*synthetic-clips-rgb.py``.

``--like kinetics400`` writes rehearsal clips shaped like Kinetics-400 instead (400 classes,
10-s clips at 25/30 fps) in the layout of ``configs/_base_/datasets/a3d_kinetics400/``
(default ``--out-dir``: ``data/kinetics400``)::

    python tools/make_synthetic_clips.py --like kinetics400 --num-videos 8
"""
import argparse

from mmengine.logging import print_log

from mmtad_ext.datasets.synthetic import make_clip_dataset
from mmtad_ext.datasets.synthetic.like import generate_like_clips


def parse_args():
    parser = argparse.ArgumentParser(description='Render synthetic A3D clips')
    parser.add_argument('--out-dir', default=None,
                        help='output folder (default: data/a3d_synthetic_clips, or data/<like>)')
    parser.add_argument('--like', choices=['kinetics400'], default=None,
                        help='rehearsal clips shaped like this dataset, for its paper configs')
    parser.add_argument('--num-videos', type=int, default=None,
                        help='--like: clips per split (train and val; default 4)')
    parser.add_argument('--max-duration', type=float, default=None,
                        help='--like: cap on a clip\'s duration in seconds')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--num-classes', type=int, default=10)
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.like is not None:
        lists = generate_like_clips(args.out_dir or f'data/{args.like}', args.like,
                                    args.num_videos or 4, max_duration=args.max_duration,
                                    size=args.size, seed=args.seed)['lists']
    else:
        lists = make_clip_dataset(
            args.out_dir or 'data/a3d_synthetic_clips',
            dict(train=args.num_train, val=args.num_val), num_classes=args.num_classes,
            num_frames=args.frames, size=args.size, seed=args.seed)
    for split, path in lists.items():
        print_log(f'{split}: {path}', logger='current')


if __name__ == '__main__':
    main()
