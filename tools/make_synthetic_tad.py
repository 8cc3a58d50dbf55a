"""Generate a synthetic TAD benchmark, deterministically from a seed.

Run::

    python tools/make_synthetic_tad.py --out-dir data/synthetic_tad            # features
    python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video

The feature benchmark is what ``make demo`` trains ActionFormer (and ETAD's demo config) on
(``configs/actionformer/actionformer_1xb8-30e_synthetic-tad-feature.py``, ``configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py``).

``--like thumos14|activitynet`` writes rehearsal data shaped like the real dataset instead, in
the layout the paper configs read (default ``--out-dir``: ``data/thumos14`` or
``data/activitynet``), e.g. two videos per subset of at most 30 s::

    python tools/make_synthetic_tad.py --like thumos14 --modality video --num-videos 2 \
        --max-duration 30
    python tools/train.py configs/etad/etad-egs_r2plus1d-r34_1xb4-6e_thumos14-rgb.py
"""
import argparse
import json

from mmtad_ext.datasets.synthetic.feature_tad import generate_synthetic_tad
from mmtad_ext.datasets.synthetic.like import TAD_PROFILES, generate_like_tad
from mmtad_ext.datasets.synthetic.video_tad import generate_synthetic_video_tad


def parse_args():
    parser = argparse.ArgumentParser(description='Generate a synthetic TAD benchmark')
    parser.add_argument('--out-dir', default=None,
                        help='output folder (default: data/synthetic_tad, or data/<like>)')
    parser.add_argument('--modality', choices=['feature', 'video'], default='feature',
                        help='snippet features (.npy) or rendered mp4 videos')
    parser.add_argument('--like', choices=sorted(TAD_PROFILES), default=None,
                        help='rehearsal data shaped like this dataset, for its paper configs')
    parser.add_argument('--num-videos', type=int, default=4,
                        help='--like: videos per subset (training and validation)')
    parser.add_argument('--max-duration', type=float, default=None,
                        help='--like: cap on a video\'s duration in seconds')
    parser.add_argument('--size', type=int, default=64, help='--like video: frame size')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-train', type=int, default=None, help='training videos')
    parser.add_argument('--num-val', type=int, default=None, help='validation videos')
    parser.add_argument('--num-classes', type=int, default=None, help='action classes')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.like is not None:
        counts = dict(training=args.num_train if args.num_train is not None else args.num_videos,
                      validation=args.num_val if args.num_val is not None else args.num_videos)
        summary = generate_like_tad(args.out_dir or f'data/{args.like}', args.like, args.modality,
                                    counts, max_duration=args.max_duration, size=args.size,
                                    seed=args.seed)
    else:
        kwargs = {k: v for k, v in dict(num_train=args.num_train, num_val=args.num_val,
                                        num_classes=args.num_classes).items() if v is not None}
        out_dir = args.out_dir or 'data/synthetic_tad'
        if args.modality == 'feature':
            summary = generate_synthetic_tad(out_dir, seed=args.seed, **kwargs)
        else:
            summary = generate_synthetic_video_tad(out_dir, seed=args.seed, **kwargs)
    print(json.dumps({k: v for k, v in summary.items() if k != 'classes'}, indent=1))


if __name__ == '__main__':
    main()
