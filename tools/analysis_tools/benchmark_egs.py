"""Benchmark encoder gradient sampling on this machine.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.3 and 4.5.

Run::

    python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video
    python tools/analysis_tools/benchmark_egs.py \
        configs/etad/etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py \
        --work-dir work_dirs/benchmark_egs

1. Memory and time (``--skip-train`` runs only this part): one ETAD training step on the same
   batch, for ``ratio`` 1.0 / 0.1 and both modes, each setting in its own subprocess:

   - peak of the backbone's live saved activations (``torch.autograd.graph.saved_tensors_hooks``;
     unique storages, parameters excluded), and of all saved activations of the step;
   - process peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) growth during the steps;
   - training-step time: the fastest of ``--steps`` steps, best over ``--rounds`` interleaved
     rounds (robust to other load on the machine).

   ``--encoder slowonly-r50`` / ``vit-s`` replaces the config's encoder by a realistically sized
   one (:data:`ENCODERS`: mmaction2 ``ResNet3dSlowOnly`` R50, or VideoMAE ``VisionTransformer``
   ViT-S) and the neck's input width by its feature width, the detector otherwise unchanged.
   All settings then run in ONE subprocess on the same model and batch (each setting is a new
   sampler ratio / mode of the wrapper): a warm-up step per setting that also counts the saved
   activations, then ``--rounds`` interleaved rounds of one step per setting; the step time is
   the median over the rounds (no per-setting RSS). Needs ``--skip-train``.

2. Detection quality (``--skip-memory`` runs only this part): the config trained by mmengine's Runner
   with ratio 0 (frozen encoder "0*"), 0.1 (EGS) and 1.0 (full end to end), each tested with
   the config's ``TADMetric`` (average mAP over tIoU 0.5:0.05:0.95).

Prints a JSON summary and writes it to ``<work-dir>/benchmark_egs.json``.
"""
import argparse
import copy
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time

import torch
from mmengine.config import Config, DictAction

import mmtad_ext  # noqa: F401  (registers modules, enables mmtad_ext:: configs)
from mmtad_ext.utils.measure import SavedTensorMeter, mean_se, paired_differences


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark encoder gradient sampling')
    parser.add_argument('config', help='an EGS raw-video ETAD config')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_egs')
    parser.add_argument('--ratios', type=float, nargs='+', default=[1.0, 0.1],
                        help='EGS ratios of the memory/time part (the first is the reference)')
    parser.add_argument('--modes', nargs='+', default=['joint', 'two_phase'])
    parser.add_argument('--batch-size', type=int, default=None,
                        help='videos per batch of the memory/time part (default: the config)')
    parser.add_argument('--num-snippets', type=int, default=None,
                        help='snippets per video of the memory/time part (default: the config)')
    parser.add_argument('--crop', type=int, default=None,
                        help='frame size of the memory/time part (default: the config)')
    parser.add_argument('--encoder', choices=['config', *ENCODERS], default='config',
                        help='memory/time part: the config\'s encoder, or a realistically sized '
                        'one run in one process, interleaved, median over --rounds')
    parser.add_argument('--steps', type=int, default=3, help='timed steps per setting')
    parser.add_argument('--rounds', type=int, default=2, help='interleaved timing rounds')
    parser.add_argument('--train-ratios', type=float, nargs='+', default=[0.0, 0.1, 1.0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='training seeds of the mAP part (results are averaged)')
    parser.add_argument('--jobs', type=int, default=1, help='trainings run in parallel')
    parser.add_argument('--skip-train', action='store_true', help='memory/time part only')
    parser.add_argument('--skip-memory', action='store_true', help='mAP part only')
    parser.add_argument('--threads', type=int, default=None, help='torch threads')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='config overrides for both parts, key=value')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.encoder != 'config' and not args.skip_train:
        parser.error('--encoder applies to the memory/time part only; add --skip-train')
    return args


# Realistically sized encoders of the memory/time part (random init; the wrapper's
# norm_eval keeps BN/LN statistics frozen). ``clip_len`` x ``crop``^2 frames per snippet.
ENCODERS = {
    # SlowOnly-R50 8x8 (mmaction2's slowonly_r50 config), conv1 + layer1 frozen (paper setting)
    'slowonly-r50': dict(
        backbone=dict(type='ResNet3dSlowOnly', depth=50, pretrained=None, lateral=False,
                      conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
                      inflate=(0, 0, 1, 1), norm_eval=True),
        channels=2048, clip_len=8, crop=64, frozen_modules=('conv1', 'layer1')),
    # VideoMAE ViT-S/16, tubelet 2 (mean-pooled tokens), patch embedding + first 3 of 12
    # blocks frozen; img_size / num_frames follow crop / clip_len
    'vit-s': dict(
        backbone=dict(type='VisionTransformer', patch_size=16, embed_dims=384, depth=12,
                      num_heads=6, mlp_ratio=4, qkv_bias=True, tubelet_size=2,
                      norm_cfg=dict(type='LN', eps=1e-6), drop_path_rate=0.),
        channels=384, clip_len=8, crop=112,
        frozen_modules=('patch_embed', 'blocks.0', 'blocks.1', 'blocks.2')),
}


def apply_encoder(cfg: Config, args) -> None:
    """Swap in ``ENCODERS[args.encoder]`` (and its snippet shape, unless ``--crop``)."""
    enc = copy.deepcopy(ENCODERS[args.encoder])
    crop = args.crop or enc['crop']
    if enc['backbone']['type'] == 'VisionTransformer':
        enc['backbone'].update(img_size=crop, num_frames=enc['clip_len'])
    cfg.model.backbone.backbone = enc['backbone']
    cfg.model.backbone.frozen_modules = enc['frozen_modules']
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.in_channels = enc['channels']
    for t in cfg.train_pipeline:  # the snippet shape make_batch reads
        if t['type'] == 'DecodeTADSnippets':
            t['clip_len'] = enc['clip_len']
        elif t['type'] == 'RandomCrop':
            t['size'] = crop


def load_cfg(args) -> Config:
    cfg = Config.fromfile(args.config)
    if args.encoder != 'config':
        apply_encoder(cfg, args)
    cfg.merge_from_dict(args.cfg_options)
    return cfg


# -- part 1: one training step per setting, in a child process --------------------------------
def make_batch(cfg, args, seed=0):
    """A batch of B videos of N snippets (C, T, H, W) and a ground truth; the config's shape
    unless ``--batch-size`` / ``--num-snippets`` / ``--crop`` say otherwise."""
    from mmengine.structures import InstanceData

    from mmaction.structures import ActionDataSample
    g = torch.Generator().manual_seed(seed)
    b = args.batch_size or cfg.train_dataloader.batch_size
    n = cfg.model.proposal_sampler.temporal_dim
    crop = args.crop or next(t for t in cfg.train_pipeline if t['type'] == 'RandomCrop')['size']
    clip_len = next(t for t in cfg.train_pipeline if t['type'] == 'DecodeTADSnippets')['clip_len']
    inputs = [torch.randint(0, 256, (n, 3, clip_len, crop, crop), generator=g,
                            dtype=torch.uint8) for _ in range(b)]
    samples = []
    for _ in range(b):
        ds = ActionDataSample()
        gt = InstanceData()
        s = torch.rand(2, generator=g).sort().values
        gt.segments = torch.stack([s[0] * 0.5, 0.5 + s[1] * 0.5])[None]
        gt.labels = torch.zeros(1, dtype=torch.long)
        ds.gt_instances = gt
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def build_child(args, **backbone):
    """Model (seeded, training mode), optimizer wrapper and batch of a child process.

    ``backbone`` overrides keys of ``model.backbone`` (``ratio``, ``mode``).
    """
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from mmtad_ext.registry import MODELS
    init_default_scope('mmtad_ext')
    cfg = load_cfg(args)
    cfg.model.backbone.update(backbone)
    if args.num_snippets:
        cfg.model.proposal_sampler.temporal_dim = args.num_snippets
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    return model, build_optim_wrapper(model, cfg.optim_wrapper), make_batch(cfg, args)


def run_setting(args, ratio, mode):
    """Child: time and measure one training step of one setting; print a JSON line."""
    model, optim_wrapper, batch = build_child(args, ratio=ratio, mode=mode)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # model and batch, no step yet
    model.train_step(copy.deepcopy(batch), optim_wrapper)  # warm-up
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        model.train_step(copy.deepcopy(batch), optim_wrapper)
        times.append(time.perf_counter() - t0)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with SavedTensorMeter(model.parameters(), scope=model.backbone.backbone) as meter:
        model.train_step(copy.deepcopy(batch), optim_wrapper)
    print(json.dumps(dict(ratio=ratio, mode=mode, step_s=min(times),
                          saved_backbone_bytes=meter.peak_bytes['scope'],
                          saved_total_bytes=meter.peak_bytes['total'],
                          peak_rss_kb=rss1, rss_growth_kb=rss1 - rss0)))


def run_encoder(args):
    """Child (``--encoder``): every setting on one model and batch, interleaved; JSON lines."""
    from mmtad_ext.models.task_modules.snippet_sampler import SnippetSampler
    model, optim_wrapper, batch = build_child(args)
    wrapper, inner = model.backbone, model.backbone.backbone
    settings = [(r, m) for r in args.ratios for m in args.modes]
    samplers = {r: SnippetSampler(r, wrapper.sampler.strategy, seed=0) for r in args.ratios}

    def step(ratio, mode):
        wrapper.sampler, wrapper.mode = samplers[ratio], mode
        t0 = time.perf_counter()
        model.train_step(copy.deepcopy(batch), optim_wrapper)
        return time.perf_counter() - t0

    res = {}
    for ratio, mode in settings:  # warm-up step, counting the saved activations
        with SavedTensorMeter(model.parameters(), scope=inner) as meter:
            step(ratio, mode)
        res[(ratio, mode)] = dict(ratio=ratio, mode=mode, times=[],
                                  saved_backbone_bytes=meter.peak_bytes['scope'],
                                  saved_total_bytes=meter.peak_bytes['total'])
    for _ in range(args.rounds):
        for ratio, mode in settings:
            res[(ratio, mode)]['times'].append(step(ratio, mode))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    shape = dict(batch=len(batch['inputs']), snippet=list(batch['inputs'][0].shape),
                 encoder_params_m=sum(p.numel() for p in inner.parameters()) / 1e6)
    for r in res.values():
        r['step_s'] = sorted(r['times'])[len(r['times']) // 2]  # median (odd --rounds)
        print(json.dumps(dict(r, peak_rss_kb=rss, **shape)))


def spawn(args, child: str) -> dict:
    cmd = [sys.executable, osp.abspath(__file__), args.config, '--child', child,
           '--steps', str(args.steps), '--work-dir', args.work_dir]
    if args.encoder != 'config':
        cmd += ['--encoder', args.encoder, '--skip-train', '--rounds', str(args.rounds),
                '--ratios', *map(str, args.ratios), '--modes', *args.modes]
    for flag in ('batch_size', 'num_snippets', 'crop'):
        if getattr(args, flag):
            cmd += ['--' + flag.replace('_', '-'), str(getattr(args, flag))]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    for k, v in args.cfg_options.items():
        cmd += ['--cfg-options', f'{k}={v}']
    env = dict(os.environ)
    if args.threads:  # also the OpenMP pools of the child (avoids oversubscription)
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f'{child} failed:\n{out.stderr[-3000:]}')
    lines = [json.loads(line) for line in out.stdout.strip().splitlines() if line.startswith('{')]
    return lines if child == 'encoder' else lines[-1]


def memory_time(args) -> list:
    best = {}
    if args.encoder != 'config':  # one process, interleaved, medians
        best = {(r['ratio'], r['mode']): r for r in spawn(args, 'encoder')}
    for _ in range(args.rounds if args.encoder == 'config' else 0):
        for ratio in args.ratios:
            for mode in args.modes:
                res = spawn(args, f'step:{ratio}:{mode}')
                key = (ratio, mode)
                if key not in best or res['step_s'] < best[key]['step_s']:
                    best[key] = res
    # reference: plain end-to-end training = the first ratio (1.0) in joint mode
    e2e = best[(args.ratios[0], 'joint' if 'joint' in args.modes else args.modes[0])]
    rows = []
    for (ratio, mode), res in best.items():
        same = best[(args.ratios[0], mode)]
        rows.append(dict(
            res,
            saved_backbone_mib=res['saved_backbone_bytes'] / 2**20,
            saved_backbone_vs_e2e=res['saved_backbone_bytes'] / max(e2e['saved_backbone_bytes'], 1),
            saved_total_vs_e2e=res['saved_total_bytes'] / max(e2e['saved_total_bytes'], 1),
            **({} if 'rss_growth_kb' not in res else dict(
                rss_growth_vs_e2e=res['rss_growth_kb'] / max(e2e['rss_growth_kb'], 1))),
            time_vs_e2e=res['step_s'] / e2e['step_s'],
            time_vs_same_mode=res['step_s'] / same['step_s']))
    return rows


# -- part 2: train with the Runner and test -----------------------------------------------------
def train_and_test(args, ratio, seed) -> dict:
    """Child: train the config with EGS ratio ``ratio`` and return the test metrics."""
    from mmengine.runner import Runner
    cfg = load_cfg(args)
    cfg.model.backbone.ratio = ratio
    cfg.randomness = dict(seed=seed, diff_rank_seed=False, deterministic=False)
    cfg.model.backbone.seed = seed
    cfg.work_dir = osp.join(args.work_dir, f'ratio{ratio:g}_seed{seed}')
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.pop('val_interval', None)
    cfg.train_cfg.pop('val_begin', None)
    runner = Runner.from_cfg(cfg)
    t0 = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - t0
    metrics = runner.test()
    print(json.dumps(dict(ratio=ratio, seed=seed, train_s=train_s,
                          **{k: float(v) for k, v in metrics.items()})))


def detection(args) -> list:
    """Train and test every ratio x seed; per ratio the mean (and mean +- s.e. of the average
    mAP), and the per-seed paired differences of the average mAP to the full end-to-end run
    (ratio 1.0) when it is among ``--train-ratios``."""
    from concurrent.futures import ThreadPoolExecutor
    jobs = [(ratio, seed) for seed in args.seeds for ratio in args.train_ratios]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(jobs, pool.map(lambda j: spawn(args, f'train:{j[0]}:{j[1]}'), jobs)))
    metric = 'tad/average_mAP'
    by_seed = {ratio: {seed: results[(ratio, seed)][metric] for seed in args.seeds}
               for ratio in args.train_ratios}
    rows = []
    for ratio in args.train_ratios:
        runs = [results[(ratio, seed)] for seed in args.seeds]
        keys = [k for k in runs[0] if k.startswith('tad/')]
        row = dict(ratio=ratio, seeds=args.seeds, runs=runs,
                   **{k: sum(r[k] for r in runs) / len(runs) for k in keys})
        row['average_mAP_mean_sd_se'] = mean_se(list(by_seed[ratio].values()))
        if 1.0 in by_seed and ratio != 1.0:
            diffs, m, sd, se = paired_differences(by_seed[ratio], by_seed[1.0])
            row['average_mAP_minus_full'] = dict(by_seed=diffs, mean=m, sd=sd, se=se)
        rows.append(row)
    print(f'\n| ratio | average mAP, mean +- s.e. (n={len(args.seeds)}) | paired - ratio 1.0 |')
    print('|---|---:|---:|')
    for row in rows:
        m, _, se = row['average_mAP_mean_sd_se']
        d = row.get('average_mAP_minus_full')
        paired = f"{d['mean']:+.2f} +- {d['se']:.2f}" if d else '-'
        print(f"| {row['ratio']:g} | {m:.2f} +- {se:.2f} | {paired} |")
    return rows


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child == 'encoder':
        run_encoder(args)
        return
    if args.child:
        kind, a, b = args.child.split(':')
        if kind == 'step':
            run_setting(args, float(a), b)
        else:
            train_and_test(args, float(a), int(b))
        return
    os.makedirs(args.work_dir, exist_ok=True)
    summary = dict(
        command=' '.join([osp.relpath(sys.executable)] + sys.argv),
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     cpus=os.cpu_count(), torch=torch.__version__,
                     threads=args.threads or torch.get_num_threads(),
                     load_avg=os.getloadavg()))
    if not args.skip_memory:
        summary['memory_time'] = memory_time(args)
    if not args.skip_train:
        summary['detection'] = detection(args)
    with open(osp.join(args.work_dir, 'benchmark_egs.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == '__main__':
    main()
