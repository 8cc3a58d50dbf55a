"""Where ETAD's test time goes on one video, public form vs the fused RoIAlign + FC head.

ETAD evaluates every valid proposal at test time (8,256 for 128 snippets) through three cascade
stages, as the public code (sming256/ETAD, OpenTAD) does. The public form materialises the
(P, 128, 24) RoI features and runs the FC layers on them; ``ETADCascadeHead`` projects the
sequence by the first FC layers and interpolates (``RoIAlign1d.linear``: same values up to float
rounding) and skips the proposal-boundary branch, which inference does not use. Both forms run
interleaved on the same features (random weights, one thread by default).

Run::

    OMP_NUM_THREADS=1 python tools/analysis_tools/profile_etad_test.py \
        configs/etad/etad_lstm_1xb16-6e_activitynet-tsp-feature.py --repeats 3
"""
import argparse
import statistics
import time

import torch
from mmengine.config import Config

import mmtad_ext  # noqa: F401  (registers modules)
from mmtad_ext.registry import MODELS


def parse_args():
    parser = argparse.ArgumentParser(description='Profile ETAD inference on one video')
    parser.add_argument('config')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    return parser.parse_args()


def public_form(stage, feats, rois, parts):
    """The public code's stage: RoI features, then every FC branch (timed per part)."""
    t0 = time.perf_counter()
    x = stage.reduce(feats + stage.residual(feats))
    t1 = time.perf_counter()
    roi = stage.roi_align(x, rois)  # (P, C', L)
    t2 = time.perf_counter()
    q = stage.roi_size // 4
    h = stage.ext_fc[0](roi.flatten(1)).relu()
    hs = stage.start_branch[0](roi[:, :, :q].flatten(1)).relu()
    he = stage.end_branch[0](roi[:, :, -q:].flatten(1)).relu()
    t3 = time.perf_counter()
    stage.iou_branch(h), stage.center_width_branch(h) / 2
    stage.start_branch[2:](hs), stage.end_branch[2:](he)
    t4 = time.perf_counter()
    stage.boundary_branch(h)
    t5 = time.perf_counter()
    for name, dt in (('stage convs', t1 - t0), ('RoIAlign', t2 - t1),
                     ('first FC layers (RoI, start, end)', t3 - t2),
                     ('other FC layers', t4 - t3), ('boundary branch (unused)', t5 - t4)):
        parts[name] = parts.get(name, 0.0) + dt


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model).eval()
    t = model.temporal_dim
    snippets = torch.randn(1, cfg.model.neck.in_channels, t)
    head = model.proposal_head
    with torch.no_grad():
        feats = model.neck(snippets)
        props = model._normalise(model.proposal_sampler.sample(training=False)).to(feats)[None]
        seg = props[0] * t
        ext = (seg[:, 1] - seg[:, 0]) * head.stages[0].extend_ratio
        rois = torch.stack([torch.zeros(len(seg)), seg[:, 0] - ext, seg[:, 1] + ext], dim=1)
        public, fused, parts = [], [], {}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for stage in head.stages:  # same proposals each stage: the cost is the same
                public_form(stage, feats, rois, parts)
            public.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            head(feats, props, with_boundary=False)
            fused.append(time.perf_counter() - t0)
    pub, fus = statistics.median(public), statistics.median(fused)
    print(f'{props.shape[1]} proposals x {head.num_stages} stages, {args.threads} thread(s), '
          f'median of {args.repeats}')
    for name, dt in parts.items():
        share = dt / sum(parts.values())
        print(f'  public form: {name:36s} {dt / args.repeats:7.3f} s  {100 * share:5.1f}%')
    print(f'public form {pub:.3f} s, fused head {fus:.3f} s per video: {pub / fus:.1f}x')


if __name__ == '__main__':
    main()
