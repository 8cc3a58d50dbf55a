"""Benchmark A3D on the synthetic clip task (CPU).

Run::

    python tools/analysis_tools/benchmark_a3d.py --work-dir work_dirs/bench_a3d

1. Renders the synthetic clips (if absent), trains one A3D model
   (``configs/a3d/a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py``) and
   individually trained baselines
   (``configs/a3d/slowonly_tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py`` at the minimum, a
   middle and the full network, same epochs), then builds the budget table of the A3D model
   (BN calibration, top-1, counted MACs, latency) and compares the rows with the baselines.
2. Mutual-training cost: wall-clock per iteration of A3D vs the full network alone, (a) from
   the two Runner trainings (data loading included) and (b) in memory on one fixed batch
   (interleaved), against the counted MACs ratio of the sandwiches actually run.
3. Latency vs MACs of every table row, and of every sub-network of the 96-row grid on a
   Slow R50 at 8 x ``--r50-size``^2 (random weights; ``--skip-r50`` leaves it out).

The whole default run takes about 15 minutes on a 2-core CPU (the R50 grid alone: 96 MAC
counts and 3 timing sweeps at 224 px, about 8 minutes; ``--skip-r50`` leaves it out).

Single parts: ``--only-r50-mutual`` (mutual-training step vs full-network step of a Slow R50)
and ``--only-r50-latency`` (the R50 latency grid).

Writes ``<work-dir>/results.json`` and ``<work-dir>/budget_table.{json,png}``.
"""
import argparse
import copy
import functools
import json
import os
import os.path as osp
import platform
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmtad_ext  # noqa: F401  (registers modules, applies compat)
from mmtad_ext.apis.a3d_budget import count_subnet_gmacs, evaluate_subnets, subnet_latency_ms
from mmtad_ext.datasets.synthetic import make_clip_dataset
from mmtad_ext.evaluation.functional import pareto_front
from mmtad_ext.models.utils import resampled_size, subnet_grid
from mmtad_ext.registry import MODELS
from mmtad_ext.visualization import plot_budget_table

A3D_CFG = 'configs/a3d/a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py'
BASE_CFG = 'configs/a3d/slowonly_tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py'
R50_A3D_CFG = 'configs/a3d/a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py'
R50_BASE_CFG = 'configs/a3d/slowonly_r50_8xb8-8x8x1-196e_kinetics400-rgb.py'


def parse_args():
    parser = argparse.ArgumentParser(description='A3D benchmark (synthetic clips, CPU)')
    parser.add_argument('--work-dir', default='work_dirs/bench_a3d')
    parser.add_argument('--data-dir', default='data/a3d_synthetic_clips_bench')
    parser.add_argument('--num-train', type=int, default=192)
    parser.add_argument('--num-val', type=int, default=120)
    parser.add_argument('--epochs', type=int, default=12)
    parser.add_argument('--widths', type=float, nargs='+', default=[0.5, 0.75, 1.0])
    parser.add_argument('--min-subnet', type=float, nargs=3, default=[0.5, 0.57, 0.25],
                        help='gamma_w gamma_s gamma_t of the minimum individual baseline')
    parser.add_argument('--mid-subnet', type=float, nargs=3, default=[0.75, 0.71, 0.5],
                        help='gamma_w gamma_s gamma_t of the middle individual baseline')
    parser.add_argument('--timing-iters', type=int, default=12)
    parser.add_argument('--skip-r50', action='store_true', help='skip the R50 latency rows')
    parser.add_argument('--only-r50-mutual', action='store_true',
                        help='only time the mutual-training step of a Slow R50 (random weights, '
                        'synthetic batch) against the full network alone')
    parser.add_argument('--only-r50-latency', action='store_true',
                        help='only time every sub-network of the table grid (96) on a Slow '
                        'R50 (random weights) against its counted MACs')
    parser.add_argument('--r50-batch', type=int, default=2, help='clips per R50 batch')
    parser.add_argument('--r50-size', type=int, default=224,
                        help='R50 input crop (Kinetics configs: 224)')
    parser.add_argument('--sweeps', type=int, default=2, help='R50 latency: passes over the grid')
    parser.add_argument('--latency-runs', type=int, default=5, help='R50 latency: timed runs')
    parser.add_argument('--latency-warmup', type=int, default=2,
                        help='R50 latency: untimed runs before each block')
    parser.add_argument('--seed', type=int, default=0,
                        help='training seed of every model (weights, data order, the A3D '
                        'sampling of sub-networks); the clips stay those of seed 0')
    return parser.parse_args()


def setup_cfg(path, data_dir, work_dir, epochs, seed=0):
    cfg = Config.fromfile(path)
    cfg.randomness = dict(seed=seed, diff_rank_seed=False, deterministic=False)
    if 'mutual_cfg' in cfg.model:
        cfg.model.mutual_cfg.seed = seed
    for split in ('train', 'val', 'test'):
        ds = cfg[f'{split}_dataloader'].dataset
        ds.ann_file = osp.join(data_dir, ('train' if split == 'train' else 'val') +
                               '_list_videos.txt')
        ds.data_prefix = dict(video=data_dir)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs + 1  # validate once, after the timed training
    cfg.param_scheduler[-1].T_max = epochs - 1
    cfg.param_scheduler[-1].end = epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs)
    cfg.work_dir = work_dir
    return cfg


def baseline_cfg(cfg, subnet):
    """The individually trained model of ``subnet``: narrower network, smaller clips."""
    w, s, t = subnet
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.base_channels = int(round(16 * w))
    cfg.model.cls_head.in_channels = int(round(512 * w))
    clip_len = resampled_size(8, t)
    size = resampled_size(32, s)
    for split in ('train', 'val', 'test'):
        for step in cfg[f'{split}_dataloader'].dataset.pipeline:
            if step.type == 'SampleFrames':  # same 16-frame span as the A3D model's clip
                step.clip_len = clip_len
                step.frame_interval = max(1, int(round(16 / clip_len)))
            if step.type == 'Resize':
                step.scale = (size, size)
    return cfg


def train(cfg):
    """Train with a Runner; returns (runner, median s/iter, total s, val top-1)."""
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    total = time.perf_counter() - start
    times = np.asarray(runner.message_hub.log_scalars['train/time'].data[0])
    metrics = runner.val_loop.run()
    return runner, float(np.median(times[1:])), total, float(metrics['acc/top1'])


def in_memory_timing(a3d_model, plain_model, batch, iters):
    """Interleaved train_step seconds of both models on one batch, with the sampled subnets.

    Returns per-iteration lists (after 4 untimed warm-up iterations) of A3D seconds, plain
    seconds and the sub-networks A3D sampled in that iteration.
    """
    opt_a = OptimWrapper(torch.optim.AdamW(a3d_model.parameters(), lr=1e-4))
    opt_p = OptimWrapper(torch.optim.AdamW(plain_model.parameters(), lr=1e-4))
    sampled = []
    sample = a3d_model.sample_subnets
    a3d_model.sample_subnets = lambda: sampled.append(sample()) or sampled[-1]
    a3d_model.train()
    plain_model.train()
    ta, tp = [], []
    for i in range(iters + 4):  # 4 untimed warm-up iterations (oneDNN primitive creation)
        s = time.perf_counter()
        a3d_model.train_step(batch, opt_a)
        ta.append(time.perf_counter() - s)
        s = time.perf_counter()
        plain_model.train_step(batch, opt_p)
        tp.append(time.perf_counter() - s)
    del a3d_model.sample_subnets
    return ta[4:], tp[4:], sampled[4:]


def cached_gmacs(model, shape):
    """``gmacs(subnet)``: counted MACs of one clip, each sub-network counted once."""
    return functools.lru_cache(maxsize=None)(lambda subnet: count_subnet_gmacs(model, subnet, shape))


def sandwich_macs_ratios(gmacs, sampled):
    """Per iteration: 1 + sum of the sub-networks' MACs / the full network's MACs."""
    full = gmacs((1.0, 1.0, 1.0))
    return [1 + sum(gmacs(c) for c in subs) / full for subs in sampled]


def summarise_mutual_cost(t_a3d, t_plain, sandwich):
    """Wall-clock vs counted MACs ratios of interleaved A3D / plain iterations.

    ``wallclock_over_macs`` is the median over iterations of (A3D s / plain s of the same
    iteration) / (counted MACs ratio of that iteration's sandwich): the target figure; the
    medians and totals are reported too.
    """
    ta, tp, fl = np.asarray(t_a3d), np.asarray(t_plain), np.asarray(sandwich)
    return dict(
        wallclock_over_macs=float(np.median(ta / tp / fl)),
        wallclock_over_macs_totals=float(ta.sum() / tp.sum() / fl.mean()),
        in_memory_iter_ratio=float(np.median(ta / tp)),
        in_memory_a3d_s=float(np.median(ta)), in_memory_full_s=float(np.median(tp)),
        macs_ratio_sampled=float(fl.mean()),
        per_iter=[dict(a3d_s=a, full_s=p, macs_ratio=f) for a, p, f in zip(ta, tp, fl)])


def build_r50_pair():
    """A3D Slow R50 ([0.016, 1] preset) and the plain mmaction2 Slow R50, same random weights."""
    a3d_cfg = Config.fromfile(R50_A3D_CFG)
    base_cfg = Config.fromfile(R50_BASE_CFG)
    torch.manual_seed(0)
    model, plain = MODELS.build(a3d_cfg.model), MODELS.build(base_cfg.model)
    model.init_weights()
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith('a3d_state.')})
    return model, plain, a3d_cfg


def r50_mutual_cost(args):
    """Mutual-training step vs full-network step of a Slow R50 (8 x size x size), in memory.

    Same protocol as section 2 (interleaved, warm-up), on a compute-bound network: random
    weights and a random batch of ``--r50-batch`` clips, so no data is needed.
    """
    from mmaction.structures import ActionDataSample
    model, plain, _ = build_r50_pair()
    shape = (3, 8, args.r50_size, args.r50_size)
    samples = [ActionDataSample().set_gt_label(i % 400) for i in range(args.r50_batch)]
    batch = dict(inputs=[torch.randint(0, 255, (1, ) + shape, dtype=torch.uint8)
                         for _ in samples], data_samples=samples)
    t_a3d, t_plain, sampled = in_memory_timing(model, plain, batch, args.timing_iters)
    res = summarise_mutual_cost(t_a3d, t_plain,
                                sandwich_macs_ratios(cached_gmacs(model, shape), sampled))
    res.update(batch=args.r50_batch, input_shape=shape, iters=args.timing_iters)
    return res


def r50_latency_grid(args):
    """Latency vs counted MACs of every sub-network of the table grid on a Slow R50.

    Batch of one clip, ``torch.no_grad``, eval mode. Each sub-network is timed in a block
    (``--latency-warmup`` untimed runs, then ``--latency-runs`` timed ones: the steady state of a
    deployed sub-network); ``--sweeps`` passes over the whole grid, the minimum per
    sub-network is kept (other processes only add time).
    """
    model, _, cfg = build_r50_pair()
    model.eval()
    shape = (3, 8, args.r50_size, args.r50_size)
    subnets = subnet_grid(cfg.a3d_table.widths, cfg.a3d_table.spatial_factors,
                          cfg.a3d_table.temporal_factors)[::-1]  # full network first
    rows = {c: dict(subnet=c, gmacs=count_subnet_gmacs(model, c, shape)) for c in subnets}
    for sweep in range(args.sweeps):
        for c in subnets:
            model.set_subnet(c, use_bank=False)
            lat = subnet_latency_ms(model, shape, repeats=args.latency_runs,
                                    warmup=args.latency_warmup)
            rows[c]['latency_ms'] = min(lat, rows[c].get('latency_ms', float('inf')))
        print_log(f'latency sweep {sweep + 1}/{args.sweeps} done', logger='current')
    f0, l0 = rows[(1.0, 1.0, 1.0)]['gmacs'], rows[(1.0, 1.0, 1.0)]['latency_ms']
    out = []
    for c in subnets:
        r = rows[c]
        r.update(macs_reduction=f0 / r['gmacs'], speedup=l0 / r['latency_ms'])
        r['efficiency'] = r['speedup'] / r['macs_reduction']
        out.append(r)
    out.sort(key=lambda r: -r['gmacs'])
    target = [r for r in out if r['macs_reduction'] <= 4.0]
    return dict(input_shape=shape, threads=torch.get_num_threads(), sweeps=args.sweeps,
                latency_runs=args.latency_runs, rows=out,
                rows_down_to_quarter=len(target),
                rows_down_to_quarter_meeting_0_7=sum(r['efficiency'] >= 0.7 for r in target),
                min_efficiency_down_to_quarter=min(r['efficiency'] for r in target))


def code_version():
    """``git describe --always --dirty`` of the checkout that ran the benchmark."""
    import subprocess
    try:
        return subprocess.run(['git', 'describe', '--always', '--dirty'], capture_output=True,
                              text=True, check=True,
                              cwd=osp.dirname(osp.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def main():
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    init_default_scope('mmtad_ext')
    machine = dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                   torch_threads=torch.get_num_threads(), torch=torch.__version__,
                   load_avg_start=os.getloadavg(), code=code_version())
    for flag, name, fn in ((args.only_r50_mutual, 'r50_mutual_cost', r50_mutual_cost),
                           (args.only_r50_latency, 'r50_latency', r50_latency_grid)):
        if flag:
            res = fn(args)
            res['machine'] = dict(machine, load_avg_end=os.getloadavg())
            with open(osp.join(args.work_dir, f'{name}.json'), 'w') as f:
                json.dump(res, f, indent=1)
            print_log(json.dumps({k: v for k, v in res.items() if k not in ('rows', 'per_iter')},
                                 indent=1), logger='current')
            return
    results = dict(machine=machine, args=vars(args))
    if not osp.exists(osp.join(args.data_dir, 'val_list_videos.txt')):
        make_clip_dataset(args.data_dir, dict(train=args.num_train, val=args.num_val),
                          num_classes=10, num_frames=16, size=32, seed=0)

    # 1. A3D and individually trained baselines -------------------------------------------
    a3d_cfg = setup_cfg(A3D_CFG, args.data_dir, osp.join(args.work_dir, 'a3d'), args.epochs,
                        args.seed)
    runner, a3d_iter_s, a3d_total, a3d_val = train(a3d_cfg)
    model = runner.model
    results['a3d'] = dict(median_iter_s=a3d_iter_s, train_s=a3d_total, val_top1_full=a3d_val)
    base_cfg = setup_cfg(BASE_CFG, args.data_dir, osp.join(args.work_dir, 'base'), args.epochs,
                         args.seed)
    baselines = {}
    for name, subnet in (('full', (1.0, 1.0, 1.0)), ('mid', tuple(args.mid_subnet)),
                         ('min', tuple(args.min_subnet))):
        cfg = baseline_cfg(base_cfg, subnet)
        cfg.work_dir = osp.join(args.work_dir, f'base_{name}')
        brunner, it_s, total, top1 = train(cfg)
        baselines[name] = dict(subnet=subnet, median_iter_s=it_s, train_s=total, top1=top1)
        print_log(f'baseline {name} {subnet}: top1={top1:.4f}', logger='current')
    results['baselines'] = baselines

    # budget table of the A3D model (BN calibrated per sub-network)
    torch.manual_seed(0)
    calib = [b for _, b in zip(range(a3d_cfg.a3d_table.calib_batches),
                               Runner.build_dataloader(a3d_cfg.train_dataloader, seed=0))]
    val = list(Runner.build_dataloader(a3d_cfg.val_dataloader))
    shape = tuple(val[0]['inputs'][0].shape[1:])
    subnets = subnet_grid(args.widths, a3d_cfg.a3d_table.spatial_factors,
                          a3d_cfg.a3d_table.temporal_factors)
    for name in ('min', 'mid'):
        if tuple(baselines[name]['subnet']) not in subnets:
            subnets.append(tuple(baselines[name]['subnet']))
    rows = evaluate_subnets(model, subnets, calib, val, shape)
    by_subnet = {(r['gamma_w'], r['gamma_s'], r['gamma_t']): r for r in rows}
    results['table'] = dict(rows=rows, pareto_gmacs=pareto_front(rows, 'gmacs'),
                            pareto_latency=pareto_front(rows, 'latency_ms'))
    with open(osp.join(args.work_dir, 'budget_table.json'), 'w') as f:
        json.dump(results['table'], f, indent=1)
    plot_budget_table(rows, osp.join(args.work_dir, 'budget_table.png'),
               title='A3D-Slow-tiny-[0.016,1], synthetic clips (CPU)')
    results['a3d_vs_baseline'] = {
        name: dict(subnet=b['subnet'], a3d_top1=by_subnet[tuple(b['subnet'])]['top1'],
                   baseline_top1=b['top1'], gmacs=by_subnet[tuple(b['subnet'])]['gmacs'])
        for name, b in baselines.items()
    }

    # 2. mutual-training cost ------------------------------------------------------------
    full_f = by_subnet[(1.0, 1.0, 1.0)]['gmacs']
    plain = MODELS.build(base_cfg.model)
    plain.init_weights()
    batch = calib[0]
    t_a3d, t_plain, sampled = in_memory_timing(model, plain, batch, args.timing_iters)
    macs = cached_gmacs(model, shape)
    sandwich = sandwich_macs_ratios(macs, sampled)
    widths = np.linspace(*a3d_cfg.model.mutual_cfg.width_range, 6)
    sp, tp = a3d_cfg.model.mutual_cfg.spatial_factors, a3d_cfg.model.mutual_cfg.temporal_factors
    expected = 1 + np.mean([macs((widths[0], s, t)) for s in sp for t in tp]) / full_f + \
        np.mean([macs((float(w), s, t)) for w in widths for s in sp for t in tp]) / full_f
    results['mutual_cost'] = dict(
        summarise_mutual_cost(t_a3d, t_plain, sandwich),
        runner_iter_ratio=a3d_iter_s / baselines['full']['median_iter_s'],
        macs_ratio_expected=float(expected))

    # 3. latency vs MACs ------------------------------------------------------------------
    full_lat = by_subnet[(1.0, 1.0, 1.0)]['latency_ms']
    results['latency_vs_macs'] = [
        dict(subnet=(r['gamma_w'], r['gamma_s'], r['gamma_t']),
             macs_reduction=full_f / r['gmacs'], speedup=full_lat / r['latency_ms'],
             efficiency=(full_lat / r['latency_ms']) / (full_f / r['gmacs']))
        for r in sorted(rows, key=lambda r: -r['gmacs'])]
    if not args.skip_r50:
        results['r50_latency_vs_macs'] = r50_latency_grid(args)
    results['machine']['load_avg_end'] = os.getloadavg()
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    summary = dict(a3d_vs_baseline=results['a3d_vs_baseline'], mutual_cost={
        k: v for k, v in results['mutual_cost'].items() if k != 'per_iter'})
    print_log(json.dumps(summary, indent=1),
              logger='current')


if __name__ == '__main__':
    main()
