"""Generate the embedded synthetic TAD benchmark, deterministically from a seed.

Run::

    python tools/make_synthetic_tad.py --out-dir data/synthetic_tad            # features
    python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video

The feature benchmark is what ``make demo`` trains ActionFormer (and ETAD's demo config) on
(``configs/actionformer/actionformer_1xb8-30e_synthetic-tad-feature.py``, ``configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py``).
"""
import argparse
import json

from mmtad_ext.datasets.synthetic.feature_tad import generate_synthetic_tad
from mmtad_ext.datasets.synthetic.video_tad import generate_synthetic_video_tad


def parse_args():
    parser = argparse.ArgumentParser(description='Generate a synthetic TAD benchmark')
    parser.add_argument('--out-dir', default='data/synthetic_tad', help='output folder')
    parser.add_argument('--modality', choices=['feature', 'video'], default='feature',
                        help='snippet features (.npy) or rendered mp4 videos')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-train', type=int, default=None, help='training videos')
    parser.add_argument('--num-val', type=int, default=None, help='validation videos')
    parser.add_argument('--num-classes', type=int, default=None, help='action classes')
    return parser.parse_args()


def main():
    args = parse_args()
    kwargs = {k: v for k, v in dict(num_train=args.num_train, num_val=args.num_val,
                                    num_classes=args.num_classes).items() if v is not None}
    if args.modality == 'feature':
        summary = generate_synthetic_tad(args.out_dir, seed=args.seed, **kwargs)
    else:
        summary = generate_synthetic_video_tad(args.out_dir, seed=args.seed, **kwargs)
    print(json.dumps({k: v for k, v in summary.items() if k != 'classes'}, indent=1))


if __name__ == '__main__':
    main()
