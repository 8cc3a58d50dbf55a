"""Cost of every paper config at full scale, measured on rehearsal data on this machine.

Each config runs unchanged except its data root (rehearsal data shaped like its dataset, real-like
durations, ``mmtad_ext.datasets.synthetic.like``), in its own process: ``--iters`` training
iterations after one warm-up (the model, optimizer and data loader of the config, loaders with
``num_workers=0`` so that the data time is the pipeline's), then ``--test-videos`` videos through
the test loader. Reported: s/iteration, data-time share, peak RSS, test s/video, and the
projection to the full dataset (training iterations per epoch from the rehearsal set's samples
per video, the config's epochs; single process on this machine), beside the GPU figure of the
paper where one is published. ``--memory-check`` measures the peak RSS of iterating a config's
train loader over rehearsal sets of 1x and 4x the videos (flat when the pipeline does not hold
the dataset).

Run::

    python tools/analysis_tools/benchmark_paper_configs.py --iters 2 --test-videos 1 \
        --out work_dirs/benchmark_paper_configs.json
    python tools/analysis_tools/benchmark_paper_configs.py --configs \
        configs/etad/etad_lstm_1xb16-6e_thumos14-i3d-feature.py --memory-check 8
"""
import argparse
import json
import math
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER_CONFIGS = {  # config -> (dataset, modality)
    'etad/etad_lstm_1xb16-6e_thumos14-i3d-feature.py': ('thumos14', 'feature'),
    'etad/etad_lstm_1xb16-6e_activitynet-tsp-feature.py': ('activitynet', 'feature'),
    'actionformer/actionformer_2xb1-35e_thumos14-i3d-feature.py': ('thumos14', 'feature'),
    'actionformer/actionformer_1xb16-15e_activitynet-tsp-feature.py': ('activitynet', 'feature'),
    'etad/etad-egs_r2plus1d-r34_1xb4-6e_thumos14-rgb.py': ('thumos14', 'video'),
    'etad/etad-egs_tsm-r50_4xb4-6e_activitynet-rgb.py': ('activitynet', 'video'),
    'actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py': ('thumos14', 'video'),
    'actionformer/actionformer_videomae-s_4xb4-15e_activitynet-rgb.py': ('activitynet', 'video'),
    'a3d/slowonly_r50_8xb8-8x8x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
    'a3d/a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
    'a3d/slowfast_r50_8xb8-4x16x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
    'a3d/a3d-0.06-1_slowfast-r50_8xb8-4x16x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
}
FULL = dict(thumos14=(200, 213), activitynet=(10024, 4926), kinetics400=(240000, 19796))
GPU_FIGURES = {  # published GPU figures (paper, hardware)
    'etad/etad_lstm_1xb16-6e_activitynet-tsp-feature.py':
        '6 min training (ETAD paper, 1 RTX3090, DPS 6%)',
    'etad/etad-egs_tsm-r50_4xb4-6e_activitynet-rgb.py': '4 V100 x 23 GB (ETAD paper, Tab. 3)',
    'actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py':
        '104.9 ms latency (Progressive Block Drop paper)',
    'a3d/slowonly_r50_8xb8-8x8x1-196e_kinetics400-rgb.py':
        '58 min/epoch (A3D paper, 8 x 2080Ti, batch 64)',
    'a3d/a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py':
        '69 min/epoch (A3D paper, 8 x 2080Ti, batch 64)',
}
LOADER = dict(num_workers=0, persistent_workers=False)


def parse_args():
    parser = argparse.ArgumentParser(description='Full-scale cost of the paper configs')
    parser.add_argument('--configs', nargs='+', default=None,
                        help='config paths (default: every paper config)')
    parser.add_argument('--iters', type=int, default=2, help='timed training iterations')
    parser.add_argument('--test-videos', type=int, default=1, help='timed test videos')
    parser.add_argument('--memory-check', type=int, default=0, metavar='N',
                        help='instead: peak RSS of the train loader over N and 4N videos')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None, help='JSON file for the results')
    parser.add_argument('--one', default=None, help=argparse.SUPPRESS)  # child process
    parser.add_argument('--mode', default='cost', help=argparse.SUPPRESS)
    return parser.parse_args()


def _key(config: str) -> str:
    return osp.relpath(osp.abspath(config), osp.join(REPO, 'configs')) if osp.exists(
        config) else config


def _generate(root: str, like: str, modality: str, counts: dict, seed: int) -> None:
    from mmtad_ext.datasets.synthetic.like import generate_like_clips, generate_like_tad
    out = osp.join(root, 'data', like)
    if like == 'kinetics400':
        generate_like_clips(out, like, dict(train=counts['training'],
                                            val=counts['validation']), seed=seed)
    else:
        generate_like_tad(out, like, modality, counts, seed=seed)


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KB on Linux


def _runner(config: str, work_dir: str):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].update(LOADER)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.load_from, cfg.resume = None, False
    return cfg, Runner.from_cfg(cfg)


def child_cost(config: str, args) -> dict:
    """Time training iterations and test videos of one config (cwd holds data/<dataset>)."""
    import torch
    cfg, runner = _runner(config, tempfile.mkdtemp())
    model = runner.model
    loader = runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    model.train()
    it, times, data_times = iter(loader), [], []
    for i in range(args.iters + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        t1 = time.perf_counter()
        model.train_step(batch, optim_wrapper)
        t2 = time.perf_counter()
        if i:
            times.append(t2 - t0)
            data_times.append(t1 - t0)
    infos = [loader.dataset.get_data_info(i) for i in range(len(loader.dataset))]
    num_train_videos = len({d.get('video_name', d.get('filename')) for d in infos})
    samples_per_video = len(infos) / num_train_videos  # sliding windows per video
    test_loader = runner.build_dataloader(cfg.test_dataloader, seed=args.seed)
    model.eval()
    seen, t0 = set(), time.perf_counter()
    with torch.no_grad():
        for batch in test_loader:
            model.test_step(batch)
            seen.update(ds.metainfo.get('video_name', ds.metainfo.get('filename'))
                        for ds in batch['data_samples'])
            if len(seen) >= args.test_videos:
                break
    test_s = (time.perf_counter() - t0) / max(len(seen), 1)
    epochs = cfg.train_cfg.get('max_epochs', 1)
    return dict(s_per_iter=sum(times) / len(times), data_share=sum(data_times) / sum(times),
                batch_size=cfg.train_dataloader.batch_size, epochs=epochs,
                samples_per_video=samples_per_video, test_s_per_video=test_s,
                peak_rss_gb=_peak_rss_gb())


def _status_gb(field: str) -> float:
    with open('/proc/self/status') as f:
        kb = next(line.split()[1] for line in f if line.startswith(field + ':'))
    return int(kb) / 2**20


def child_memory(config: str, args) -> dict:
    """Peak RSS of one pass of the train loader (the data pipeline only): the process's peak
    is reset (Linux ``clear_refs``) after the model and the dataset are built."""
    cfg, runner = _runner(config, tempfile.mkdtemp())
    loader = runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
    base = _status_gb('VmRSS')
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset VmHWM, the peak RSS
    n = 0
    for batch in loader:
        n += 1
        del batch  # one batch alive at a time, as in training
    return dict(batches=n, samples=len(loader.dataset), peak_rss_gb=_status_gb('VmHWM'),
                base_rss_gb=base)


def run_child(config: str, like: str, modality: str, counts: dict, args, mode: str) -> dict:
    with tempfile.TemporaryDirectory() as root:
        _generate(root, like, modality, counts, args.seed)
        out = osp.join(root, 'result.json')
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
        cmd = [sys.executable, osp.abspath(__file__), '--one', osp.join(REPO, 'configs', config),
               '--mode', mode, '--iters', str(args.iters), '--test-videos',
               str(args.test_videos), '--seed', str(args.seed), '--out', out]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return dict(error=(proc.stderr.strip().splitlines() or ['?'])[-1][:300])
        with open(out) as f:
            return json.load(f)


def project(config: str, like: str, r: dict) -> dict:
    """Hours for the full dataset on this machine (one process)."""
    train_videos, test_videos = FULL[like]
    iters = math.ceil(train_videos * r['samples_per_video'] / r['batch_size'])
    return dict(train_h=r['s_per_iter'] * iters * r['epochs'] / 3600,
                test_h=r['test_s_per_video'] * test_videos / 3600, iters_per_epoch=iters)


def main():
    args = parse_args()
    if args.one:
        fn = child_cost if args.mode == 'cost' else child_memory
        result = fn(args.one, args)
        with open(args.out, 'w') as f:
            json.dump(result, f)
        return
    configs = [_key(c) for c in args.configs] if args.configs else list(PAPER_CONFIGS)
    results = {}
    for config in configs:
        like, modality = PAPER_CONFIGS[config]
        if args.memory_check:
            n = args.memory_check
            small = run_child(config, like, modality, dict(training=n, validation=1), args,
                              'memory')
            large = run_child(config, like, modality, dict(training=4 * n, validation=1), args,
                              'memory')
            results[config] = dict(x1=small, x4=large)
            if 'error' not in small and 'error' not in large:
                ratio = large['peak_rss_gb'] / small['peak_rss_gb']
                results[config]['ratio'] = ratio
                print(f"{config}: train-loader pass peak RSS {small['peak_rss_gb']:.3f} GB "
                      f"({small['samples']} samples; {small['base_rss_gb']:.3f} GB before) -> "
                      f"{large['peak_rss_gb']:.3f} GB ({large['samples']} samples; "
                      f"{large['base_rss_gb']:.3f} GB before), x{ratio:.3f}", flush=True)
            else:
                print(f'{config}: {small.get("error") or large.get("error")}', flush=True)
            continue
        from mmengine.config import Config
        batch = Config.fromfile(osp.join(REPO, 'configs', config)).train_dataloader.batch_size
        counts = dict(training=max(2, (args.iters + 1) * batch if like != 'thumos14' else 2),
                      validation=args.test_videos)
        r = run_child(config, like, modality, counts, args, 'cost')
        if 'error' not in r:
            r.update(project(config, like, r))
            print(f"{config}: {r['s_per_iter']:.2f} s/iter (data {100 * r['data_share']:.0f}%), "
                  f"peak RSS {r['peak_rss_gb']:.2f} GB, test {r['test_s_per_video']:.2f} "
                  f"s/video; full scale: train {r['train_h']:.1f} h, test {r['test_h']:.1f} h"
                  f" | GPU: {GPU_FIGURES.get(config, '-')}", flush=True)
        else:
            print(f"{config}: error {r['error']}", flush=True)
        r['gpu'] = GPU_FIGURES.get(config)
        results[config] = r
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
