"""Cost of every paper config at full scale, measured on rehearsal data on this machine.

Each config runs unchanged except its data root (rehearsal data shaped like its dataset, real-like
durations, ``mmtad_ext.datasets.synthetic.like``), in its own process: ``--iters`` training
iterations after ``--warmup`` untimed ones (the model, optimizer and data loader of the config,
loaders with ``num_workers=0`` so that the data time is the pipeline's), then ``--test-videos``
videos through the test loader. ``--test-batches K`` times only the first K test batches and
takes s/video = s/sample x the test set's samples per video (sliding windows; 1 for clips), for
configs whose test video takes an hour here; ``--test-batch-size`` makes that unit smaller.
``--train-batch-size`` trains with a smaller batch than the config's (s/iteration is then also
scaled to the config's batch).
Reported: s/iteration, data-time share, peak RSS, test s/video (wall-clock, and the process's CPU
seconds: one thread, so about the time on an idle core whatever the load), the load average
before and after the run, and the projection to the full dataset (training iterations per epoch
from the rehearsal set's samples per video, the config's epochs; single process on this
machine), beside the GPU figure of the paper where one is published. ``--memory-check`` measures
the peak RSS of iterating a config's train loader over rehearsal sets of 1x and 4x the videos
(flat when the pipeline does not hold the dataset).

Run::

    python tools/analysis_tools/benchmark_paper_configs.py --iters 2 --test-videos 1 \
        --out work_dirs/benchmark_paper_configs.json
    python tools/analysis_tools/benchmark_paper_configs.py --configs \
        configs/etad/etad_lstm_1xb16-6e_thumos14-i3d-feature.py --memory-check 8
    python tools/analysis_tools/benchmark_paper_configs.py --configs \
        configs/etad/etad-egs_r2plus1d-r34_1xb4-6e_thumos14-rgb.py --warmup 0 --iters 1 \
        --test-batches 1 --test-batch-size 1
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
    'block_drop/actionformer_videomae-s-lora96_1xb2-60e_thumos14-rgb.py': ('thumos14', 'video'),
    'block_drop/block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py':
        ('thumos14', 'video'),
    'block_drop/block-drop_actionformer-videomae-s_4xb4-8-15-15e_activitynet-rgb.py':
        ('activitynet', 'video'),
    'a3d/slowonly_r50_8xb8-8x8x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
    'a3d/a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
    'a3d/a3d-0.06-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
    'a3d/slowfast_r50_8xb8-4x16x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
    'a3d/a3d-0.06-1_slowfast-r50_8xb8-4x16x1-196e_kinetics400-rgb.py': ('kinetics400', 'video'),
}
FULL = dict(thumos14=(200, 213), activitynet=(10024, 4926), kinetics400=(240000, 19796))
GPU_FIGURES = {  # published GPU figures (paper, hardware)
    'etad/etad_lstm_1xb16-6e_activitynet-tsp-feature.py':
        '6 min training (ETAD paper, 1 RTX3090, DPS 6%)',
    'etad/etad-egs_tsm-r50_4xb4-6e_activitynet-rgb.py': '4 V100 x 23 GB (ETAD paper, Tab. 3)',
    'etad/etad-egs_r2plus1d-r34_1xb4-6e_thumos14-rgb.py':
        '4 V100 x 18 GB on ActivityNet (ETAD paper, Tab. 3; none for THUMOS14)',
    'actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py':
        '104.9 ms latency (Progressive Block Drop paper)',
    'block_drop/block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py':
        'latency 104.9 -> 81.2 ms after 3 drops (Progressive Block Drop paper)',
    'a3d/slowonly_r50_8xb8-8x8x1-196e_kinetics400-rgb.py':
        '58 min/epoch (A3D paper, 8 x 2080Ti, batch 64)',
    'a3d/a3d-0.06-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py':
        '69 min/epoch (A3D paper, Tab. 2: [0.06, 1] range, 8 x 2080Ti, batch 64)',
}
LOADER = dict(num_workers=0, persistent_workers=False)


def parse_args():
    parser = argparse.ArgumentParser(description='Full-scale cost of the paper configs')
    parser.add_argument('--configs', nargs='+', default=None,
                        help='config paths (default: every paper config)')
    parser.add_argument('--iters', type=int, default=2, help='timed training iterations')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed training iterations before the timed ones')
    parser.add_argument('--train-batch-size', type=int, default=0, metavar='B',
                        help='train loader batch size (0: the config\'s); s/iteration is also '
                        'given scaled to the config\'s batch, for end-to-end configs whose '
                        'shipped batch does not fit in this machine\'s memory')
    parser.add_argument('--test-videos', type=int, default=1, help='timed test videos')
    parser.add_argument('--test-batches', type=int, default=0, metavar='K',
                        help='time only the first K test batches and project s/video from the '
                        'test set\'s samples per video (0: whole videos)')
    parser.add_argument('--test-batch-size', type=int, default=0, metavar='B',
                        help='test loader batch size (0: the config\'s); with --test-batches '
                        'a smaller timed unit for configs whose test batch takes many minutes')
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


def _video_of(info: dict):
    return info.get('video_name', info.get('filename'))


def samples_per_video(dataset) -> float:
    """Mean number of samples (sliding windows; 1 for clips) per video of a dataset."""
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    return len(infos) / len({_video_of(d) for d in infos})


def child_cost(config: str, args) -> dict:
    """Time training iterations and test videos of one config (cwd holds data/<dataset>)."""
    import torch
    load_before = os.getloadavg()
    cfg, runner = _runner(config, tempfile.mkdtemp())
    model = runner.model
    structure = training_structure(cfg, model)
    shipped_batch = cfg.train_dataloader.batch_size
    if args.train_batch_size:
        cfg.train_dataloader.batch_size = args.train_batch_size
    loader = runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
    if structure is None:
        optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    else:  # as the hooks do: the config's optimizer over the trainable parameters only
        from mmtad_ext.engine.optimizers.trainable import build_trainable_optim_wrapper
        optim_wrapper = build_trainable_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    it, times, data_times, cpu_times = iter(loader), [], [], []
    for i in range(args.warmup + args.iters):  # the first ``warmup`` are not timed
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        t1 = time.perf_counter()
        model.train_step(batch, optim_wrapper)
        t2 = time.perf_counter()
        if i >= args.warmup:
            times.append(t2 - t0)
            cpu_times.append(time.process_time() - c0)
            data_times.append(t1 - t0)
    train_samples_per_video = samples_per_video(loader.dataset)
    if args.test_batch_size:
        cfg.test_dataloader.batch_size = args.test_batch_size
    test_loader = runner.build_dataloader(cfg.test_dataloader, seed=args.seed)
    model.eval()
    seen, samples, batches = set(), 0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for batch in test_loader:
            model.test_step(batch)
            batches += 1
            samples += len(batch['data_samples'])
            seen.update(ds.metainfo.get('video_name', ds.metainfo.get('filename'))
                        for ds in batch['data_samples'])
            if (args.test_batches and batches >= args.test_batches) or (
                    not args.test_batches and len(seen) >= args.test_videos):
                break
    test_time, test_cpu = time.perf_counter() - t0, time.process_time() - c0
    test_samples_per_video = samples_per_video(test_loader.dataset)
    if args.test_batches:  # part of a video: s/sample x samples per test video
        per_video = test_samples_per_video / samples
    else:
        per_video = 1 / max(len(seen), 1)
    epochs = cfg.train_cfg.get('max_epochs', 1)
    # CPU seconds of the process (one thread): the time on an idle core, whatever the load
    return dict(s_per_iter=sum(times) / len(times), data_share=sum(data_times) / sum(times),
                cpu_s_per_iter=sum(cpu_times) / len(cpu_times), shipped_batch_size=shipped_batch,
                s_per_shipped_iter=sum(times) / len(times) * shipped_batch /
                cfg.train_dataloader.batch_size,
                iters=len(times), warmup=args.warmup, iter_times=times,
                test_batch_size=cfg.test_dataloader.batch_size,
                batch_size=cfg.train_dataloader.batch_size, epochs=epochs,
                samples_per_video=train_samples_per_video,
                test_s_per_video=test_time * per_video, test_cpu_s_per_video=test_cpu * per_video,
                test_samples_timed=samples, test_samples_per_video=test_samples_per_video,
                peak_rss_gb=_peak_rss_gb(), load_avg=[load_before, os.getloadavg()],
                structure=structure)


def training_structure(cfg, model) -> dict:
    """Give ``model`` the structure its config's hooks give it before the first training
    iteration (``Runner.train`` is not called here): ``LoRAFinetuneHook`` injects its adapters;
    ``BlockDropHook`` starts stage 1 (its last block dropped, the stage's LoRA injected; a
    stage's iterations cost the same whichever block goes). Returns what was done (None: plain
    training), with what the projection needs for block drop (its stages re-score every
    remaining block on the training split)."""
    from mmtad_ext.registry import HOOKS
    for hook_cfg in cfg.get('custom_hooks') or []:
        if hook_cfg['type'] == 'LoRAFinetuneHook':
            HOOKS.build(dict(hook_cfg)).apply(model, seed=0)
            return dict(hook='LoRAFinetuneHook')
        if hook_cfg['type'] == 'BlockDropHook':
            hook = HOOKS.build(dict(hook_cfg))
            depth = model.student_encoder.depth
            hook.apply_stage(model, [model.student_encoder.block_ids[-1]], seed=1)
            return dict(hook='BlockDropHook', depth=depth, max_drops=hook.max_drops,
                        stage_epochs=[hook.stage_length(t) for t in
                                      range(1, hook.max_drops + 1)])
    return None


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
               '--mode', mode, '--iters', str(args.iters), '--warmup', str(args.warmup),
               '--test-videos', str(args.test_videos), '--test-batches', str(args.test_batches),
               '--test-batch-size', str(args.test_batch_size),
               '--train-batch-size', str(args.train_batch_size),
               '--seed', str(args.seed), '--out', out]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return dict(error=(proc.stderr.strip().splitlines() or ['?'])[-1][:300])
        with open(out) as f:
            return json.load(f)


def project(config: str, like: str, r: dict) -> dict:
    """Hours for the full dataset on this machine (one process)."""
    train_videos, test_videos = FULL[like]
    iters = math.ceil(train_videos * r['samples_per_video'] / r['batch_size'])
    out = dict(train_h=r['s_per_iter'] * iters * r['epochs'] / 3600,
               test_h=r['test_s_per_video'] * test_videos / 3600, iters_per_epoch=iters,
               train_cpu_h=r['cpu_s_per_iter'] * iters * r['epochs'] / 3600,
               test_cpu_h=r['test_cpu_s_per_video'] * test_videos / 3600)
    structure = r.get('structure') or {}
    if structure.get('hook') == 'BlockDropHook':
        # the baseline pass, then at stage t every one of the depth - t + 1 remaining blocks
        # skipped in turn, each a test-pipeline pass over the training split (about a test
        # video's cost per video); the recovery iterations are in train_h
        depth = structure['depth']
        passes = 1 + sum(depth - t for t in range(structure['max_drops']))
        out.update(selection_passes=passes,
                   selection_h=passes * r['test_s_per_video'] * train_videos / 3600,
                   selection_cpu_h=passes * r['test_cpu_s_per_video'] * train_videos / 3600)
    return out


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
        batch = args.train_batch_size or Config.fromfile(osp.join(
            REPO, 'configs', config)).train_dataloader.batch_size
        counts = dict(training=max(2, (args.warmup + args.iters) * batch
                                   if like != 'thumos14' else 2),
                      validation=args.test_videos)
        r = run_child(config, like, modality, counts, args, 'cost')
        if 'error' not in r:
            r.update(project(config, like, r))
            print(f"{config}: {r['s_per_iter']:.2f} s/iter ({r['cpu_s_per_iter']:.2f} CPU s, "
                  f"data {100 * r['data_share']:.0f}%), peak RSS {r['peak_rss_gb']:.2f} GB, "
                  f"test {r['test_s_per_video']:.2f} s/video ({r['test_cpu_s_per_video']:.2f} "
                  f"CPU s); full scale: train {r['train_h']:.1f} h ({r['train_cpu_h']:.1f} CPU h),"
                  f" test {r['test_h']:.1f} h ({r['test_cpu_h']:.1f} CPU h)"
                  + (f"; block selection {r['selection_passes']} passes over the training"
                     f" split {r['selection_h']:.1f} h ({r['selection_cpu_h']:.1f} CPU h)"
                     if 'selection_h' in r else '') +
                  f" | load average {r['load_avg'][0][0]:.1f} -> {r['load_avg'][1][0]:.1f}"
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
