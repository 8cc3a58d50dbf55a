"""Benchmark detector proposal sampling (DPS) of ETAD.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.2, Fig. 4 and Table 5. Two parts, both on the synthetic feature benchmark's ETAD config:

1. ``step``: the same model and the same inputs at DPS ratio 0.06 vs 1.0 (plus the random /
   grid / block strategies at 0.06): training-step time (median of interleaved repeats) and
   memory as bytes of the activations saved for backward (counted with
   ``torch.autograd.graph.saved_tensors_hooks``); on a GPU also
   ``torch.cuda.max_memory_allocated``.
2. ``map`` (``--train``): train the config once per setting and seed with ``tools/train.py``
   (``randomness.seed`` = the seed: model init, data order, proposal draws and loss sampling
   all follow it), ``--jobs`` single-threaded runs side by side, and report the final average
   mAP of the validation set per run, mean +- standard deviation and standard error per
   setting, and the paired difference (same seed) of every setting to ratio 1.0. Each run's
   result is kept in ``<work-dir>/<setting>_s<seed>/result.json``, so a killed benchmark
   resumes where it stopped.

Run::

    python tools/make_synthetic_tad.py --out-dir data/synthetic_tad
    python tools/analysis_tools/benchmark_dps.py --batch-size 16 --repeats 3  # step time + memory
    python tools/analysis_tools/benchmark_dps.py --skip-steps --train --seeds 5 --jobs 2 \
        --oracle-classes \
        --work-dir work_dirs/dps_bench                                   # mAP, 5 seeds
"""
import argparse
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import mmtad_ext  # noqa: F401
from mmtad_ext.registry import DATASETS, MODELS
from mmtad_ext.utils.measure import SavedTensorMeter, mean_se

CONFIG = 'configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py'
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
    parser.add_argument('--seed', type=int, default=0, help='first seed (step benchmark: the '
                        'model init)')
    parser.add_argument('--seeds', type=int, default=1,
                        help='independent training seeds per setting: seed .. seed + N - 1')
    parser.add_argument('--jobs', type=int, default=1,
                        help='training runs side by side (each with OMP_NUM_THREADS=1 when > 1)')
    parser.add_argument('--oracle-classes', action='store_true',
                        help='also test every trained run with the ground-truth video-level '
                        'classes (class_score_file), which isolates the localisation quality')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides for every training run')
    parser.add_argument('--temporal-dim', type=int, default=128,
                        help='snippets per video for the step benchmark (paper: 128)')
    return parser.parse_args()


def build(cfg, ratio, strategy, device):
    model_cfg = cfg.model.copy()
    model_cfg.proposal_sampler = dict(model_cfg.proposal_sampler, ratio=ratio, strategy=strategy)
    return MODELS.build(model_cfg).to(device).train()


def saved_bytes_and_step(model, data):
    """One training step; returns bytes saved for backward and the loss."""
    with SavedTensorMeter() as meter:
        losses = model(**data, mode='loss')
    loss = sum(losses.values())
    loss.backward()
    return meter.total_bytes, float(loss.detach())


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


def run_tool(args, cmd, what):
    """Run ``tools/train.py`` or ``tools/test.py`` and return the last average mAP it logged
    (single-threaded when several runs share the machine)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1') if args.jobs > 1 else None
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f'{what} failed\n{out.stderr[-3000:]}')
    return float(re.findall(r'tad/average_mAP: ([0-9.]+)', out.stdout + out.stderr)[-1])


def run_dir(args, key, seed):
    return osp.join(args.work_dir, f'{key}_s{seed}')


def train_map(args, key, seed):
    """Train one setting with one seed (or read the result of an earlier run)."""
    ratio, strategy = next((r, st) for name, r, st in SETTINGS if name == KEYS[key])
    work = run_dir(args, key, seed)
    result_file = osp.join(work, 'result.json')
    if osp.exists(result_file):
        with open(result_file) as f:
            return json.load(f)
    cmd = [sys.executable, 'tools/train.py', args.config, '--work-dir', work, '--cfg-options',
           f'model.proposal_sampler.ratio={ratio}', f'model.proposal_sampler.strategy={strategy}',
           f'randomness.seed={seed}', *args.cfg_options]
    t0 = time.perf_counter()
    avg_map = run_tool(args, cmd, f'{key} seed {seed}: training')
    result = dict(setting=KEYS[key], seed=seed, average_mAP=avg_map,
                  seconds=time.perf_counter() - t0, cmd=' '.join(cmd[1:]))
    with open(result_file, 'w') as f:
        json.dump(result, f)
    return result


def oracle_class_scores(cfg, out_file):
    """Write ``{video: [K scores]}`` with 1 for the classes annotated in the video, else 0."""
    data = cfg.test_dataloader.dataset
    with open(data.class_map) as f:
        classes = [c.strip() for c in f if c.strip()]
    with open(data.ann_file) as f:
        database = json.load(f)['database']
    scores = {vid: [float(any(a['label'] == c for a in info['annotations'])) for c in classes]
              for vid, info in database.items() if info['subset'] == data.subset}
    with open(out_file, 'w') as f:
        json.dump(scores, f)
    return out_file


def test_oracle(args, key, seed, class_score_file, max_epochs):
    """average mAP of a trained run when the video-level classes are the ground truth."""
    work = run_dir(args, key, seed)
    result_file = osp.join(work, 'result.json')
    with open(result_file) as f:
        result = json.load(f)
    if 'average_mAP_oracle_classes' in result:
        return result
    ckpt = osp.join(work, f'epoch_{max_epochs}.pth')
    cmd = [sys.executable, 'tools/test.py', args.config, ckpt, '--work-dir',
           osp.join(work, 'oracle'), '--cfg-options',
           f'test_evaluator.class_score_file={class_score_file}', *args.cfg_options]
    result['average_mAP_oracle_classes'] = run_tool(args, cmd, f'{key} seed {seed}: oracle test')
    with open(result_file, 'w') as f:
        json.dump(result, f)
    return result


def train_all(args):
    seeds = list(range(args.seed, args.seed + args.seeds))
    jobs = [(key, seed) for seed in seeds for key in args.train_settings]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda job: train_map(args, *job), jobs))
        if args.oracle_classes:
            cfg = Config.fromfile(args.config)
            oracle = oracle_class_scores(cfg, osp.join(args.work_dir, 'oracle_class_scores.json'))
            results = list(pool.map(
                lambda job: test_oracle(args, *job, oracle, cfg.train_cfg.max_epochs), jobs))
    for metric in ['average_mAP'] + (['average_mAP_oracle_classes'] if args.oracle_classes
                                     else []):
        print_map_table(args, seeds, {(r['setting'], r['seed']): r for r in results}, metric)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(results, f, indent=1)


def print_map_table(args, seeds, table, metric):
    """Per-seed values, mean +- sd, s.e. and paired differences to ratio 1.0 of ``metric``."""
    print(f'\n# DPS {metric}, {args.config}, seeds {seeds}, {args.jobs} job(s) side by side '
          f'({platform.processor() or platform.machine()}, {os.cpu_count()} cores)\n')
    print('| setting | ' + ' | '.join(f'seed {s}' for s in seeds) +
          ' | mean +- sd | s.e. | minutes / run |')
    print('|---|' + '---:|' * (len(seeds) + 3))
    for key in args.train_settings:
        vals = [table[(KEYS[key], s)][metric] for s in seeds]
        secs = statistics.fmean(table[(KEYS[key], s)]['seconds'] for s in seeds)
        m, sd, se = mean_se(vals)
        print(f'| {KEYS[key]} | ' + ' | '.join(f'{v:.2f}' for v in vals) +
              f' | {m:.2f} +- {sd:.2f} | {se:.2f} | {secs / 60:.1f} |')
    if 'all' in args.train_settings and len(seeds) > 1:
        print('\n| paired difference to 1.0 (same seed) | mean | s.e. | min | max |')
        print('|---|---:|---:|---:|---:|')
        for key in args.train_settings:
            if key == 'all':
                continue
            diffs = [table[(KEYS[key], s)][metric] - table[(KEYS['all'], s)][metric]
                     for s in seeds]
            m, _, se = mean_se(diffs)
            print(f'| {KEYS[key]} - 1.0 | {m:+.2f} | {se:.2f} | {min(diffs):+.2f} | '
                  f'{max(diffs):+.2f} |')


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if not args.skip_steps:
        print_steps(args, cfg, bench_steps(args, cfg))
    if args.train:
        os.makedirs(args.work_dir, exist_ok=True)
        train_all(args)


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
