"""Benchmark detector proposal sampling (DPS, paper 001 sec. 3.2 / Fig. 4 / Table 5).

Two parts, both on the synthetic feature benchmark's ETAD config:

1. ``step``: the same model and the same inputs at DPS ratio 0.06 vs 1.0 (plus the random /
   grid / block strategies at 0.06): training-step time (median of interleaved repeats) and
   memory as bytes of the activations saved for backward (counted with
   ``torch.autograd.graph.saved_tensors_hooks``); on a GPU also
   ``torch.cuda.max_memory_allocated``.
2. ``map`` (``--train``): train the config once per setting with ``tools/train.py`` and read the
   final average mAP of the validation set (the config's own ``temporal_dim``: 64 for the
   synthetic config; the step benchmark uses ``--temporal-dim``, 128 by default as the paper).

Run::

    python tools/make_synthetic_tad.py --out-dir data/synthetic_tad
    python tools/benchmark_dps.py --batch-size 16 --repeats 5            # step time + memory
    python tools/benchmark_dps.py --train --work-dir work_dirs/dps_bench  # + mAP per setting
"""
import argparse
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import mmtad_ext  # noqa: F401
from mmtad_ext.registry import DATASETS, MODELS

CONFIG = 'configs/etad/etad_lstm_16e_synthetic-feature.py'
SETTINGS = [('1.0 (all)', 1.0, 'random'), ('0.06 random', 0.06, 'random'),
            ('0.06 grid', 0.06, 'grid'), ('0.06 block', 0.06, 'block')]
KEYS = dict(all='1.0 (all)', random='0.06 random', grid='0.06 grid', block='0.06 block')


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark ETAD detector proposal sampling')
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=5, help='timed steps per setting')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--train', action='store_true', help='also train each setting (mAP)')
    parser.add_argument('--train-settings', nargs='+', choices=list(KEYS),
                        default=['random', 'grid', 'block', 'all'],
                        help='settings to train, in this order (all = ratio 1.0)')
    parser.add_argument('--skip-steps', action='store_true', help='skip the step benchmark')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_dps')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--temporal-dim', type=int, default=128,
                        help='snippets per video for the step benchmark (paper: 128)')
    return parser.parse_args()


def build(cfg, ratio, strategy, device):
    model_cfg = cfg.model.copy()
    model_cfg.proposal_sampler = dict(model_cfg.proposal_sampler, ratio=ratio, strategy=strategy)
    return MODELS.build(model_cfg).to(device).train()


def saved_bytes_and_step(model, data):
    """One training step; returns bytes saved for backward and the loss."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        losses = model(**data, mode='loss')
    loss = sum(losses.values())
    loss.backward()
    return total, float(loss)


def step_time(model, data, device):
    model.zero_grad(set_to_none=True)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    sum(model(**data, mode='loss').values()).backward()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def set_temporal_dim(cfg, temporal_dim):
    """Resize the training videos to ``temporal_dim`` snippets in the model and the data."""
    cfg.model.proposal_sampler.temporal_dim = temporal_dim
    data = cfg.train_dataloader.dataset
    data.temporal_dim = temporal_dim
    for t in data.pipeline:
        if t['type'] == 'ResizeTADFeatures':
            t['temporal_dim'] = temporal_dim


def bench_steps(args, cfg):
    init_default_scope('mmtad_ext')
    set_temporal_dim(cfg, args.temporal_dim)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[i] for i in range(args.batch_size)])
    torch.manual_seed(args.seed)
    ref = build(cfg, 1.0, 'random', args.device)
    models = {}
    for name, ratio, strategy in SETTINGS:
        m = build(cfg, ratio, strategy, args.device)
        m.load_state_dict(ref.state_dict(), strict=False)  # same weights everywhere
        models[name] = m
    data = ref.data_preprocessor(batch, True)
    rows = {}
    for name, model in models.items():
        if args.device.startswith('cuda'):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        saved, loss = saved_bytes_and_step(model, data)
        peak = torch.cuda.max_memory_allocated() if args.device.startswith('cuda') else None
        rows[name] = dict(saved=saved, peak=peak, times=[],
                          proposals=model.proposal_sampler.num_samples)
    for _ in range(args.repeats):  # interleaved, so that machine noise hits every setting
        for name, model in models.items():
            rows[name]['times'].append(step_time(model, data, args.device))
    return rows


def train_map(args, name, ratio, strategy):
    work = osp.join(args.work_dir, name.replace(' ', '_').replace('(', '').replace(')', ''))
    cmd = [sys.executable, 'tools/train.py', args.config, '--work-dir', work, '--cfg-options',
           f'model.proposal_sampler.ratio={ratio}', f'model.proposal_sampler.strategy={strategy}',
           f'randomness.seed={args.seed}']
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f'{name}: training failed\n{out.stderr[-3000:]}')
    found = re.findall(r'tad/average_mAP: ([0-9.]+)', out.stdout + out.stderr)
    return float(found[-1]), time.perf_counter() - t0


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if not args.skip_steps:
        print_steps(args, cfg, bench_steps(args, cfg))
    if args.train:
        print('\n| setting | average mAP (%) | training wall-clock (s) |\n|---|---|---|')
        settings = {name: (ratio, strategy) for name, ratio, strategy in SETTINGS}
        for key in args.train_settings:
            avg_map, secs = train_map(args, KEYS[key], *settings[KEYS[key]])
            print(f'| {KEYS[key]} | {avg_map:.2f} | {secs:.0f} |', flush=True)


def print_steps(args, cfg, rows):
    full = rows['1.0 (all)']
    full_t = statistics.median(full['times'])
    print(f'\n# DPS benchmark ({args.config}, T={args.temporal_dim}, batch {args.batch_size}, '
          f'device {args.device}, '
          f'torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores)\n')
    head = '| setting | proposals / video | step time (s) | speed-up | saved activations (MiB) ' \
           '| memory reduction |'
    if args.device.startswith('cuda'):
        head += ' cuda max allocated (MiB) |'
    print(head)
    print('|' + '---|' * (head.count('|') - 1))
    for name, r in rows.items():
        t = statistics.median(r['times'])
        line = (f'| {name} | {r["proposals"]} | {t:.3f} | {full_t / t:.2f}x | '
                f'{r["saved"] / 2**20:.1f} | {100 * (1 - r["saved"] / full["saved"]):.1f}% |')
        if r['peak'] is not None:
            line += f' {r["peak"] / 2**20:.1f} |'
        print(line)


if __name__ == '__main__':
    main()
