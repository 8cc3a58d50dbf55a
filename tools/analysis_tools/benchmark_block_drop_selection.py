"""Peak memory of a block-drop selection pass as the selection set grows.

Run (tiny VideoMAE on synthetic clips, CPU, about a minute on 2 cores)::

    python tools/analysis_tools/benchmark_block_drop_selection.py --clips 32 --factors 1 4 16 \
        --out work_dirs/block_drop_selection.json

It renders ``max(factors) * clips`` synthetic training clips once, then for each factor runs
one fresh process that builds the block-drop config
(``configs/block_drop/block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py``,
shrunk to a 4-block encoder of width ``--embed-dims``) with ``subset_size = factor * clips``
and scores every block once with ``BlockSelector.select`` (criterion ``metric``). The process's
peak resident set size (``ru_maxrss``) is read before the pass (model, loader and evaluator
built) and after it. ``--cached`` instead keeps every decoded batch alive (``list(loader)``, the
former selection cache) to show what the growth would be. A streamed pass should leave the
peak flat (within 10%) from 1x to 16x; the cached one grows by about the decoded size of the
extra clips.

``--thumos14`` measures the paper setting instead: the selection of
``configs/block_drop/block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py``, unchanged
but for its data root and ``student_ckpt``, on rehearsal data of
``tools/make_synthetic_tad.py --like thumos14 --modality video``. Run (CPU, one thread: about
a minute per window and candidate, 25 minutes at 1 / 4 / 16 windows with one candidate)::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_block_drop_selection.py --thumos14 \
        --windows 1 --factors 1 4 16 --candidates 1 \
        --out work_dirs/block_drop_selection_thumos14.json

For each factor it writes a rehearsal set of ``factor * windows`` training videos of at most
20 s (shorter than the config's 768-frame window, so one selection window each; one
validation video) and saves one randomly initialised student (the config's ActionFormer +
VideoMAE-S, weights never trained) as the ``student_ckpt``. Each factor then runs in a fresh
process: the config's runner is built, the student loaded by ``init_weights``, the
``EMAHook``'s averaged model built and synchronised as ``BlockDropHook`` does, the hook's own
``BlockSelector`` builds its loader and evaluators (``criterion='metric'``,
``tad/mAP@0.5``, ``subset_size=None``: every window of the training split, batch 1, the
test pipeline: 48 snippets x 16 frames at 160 x 160), and the peak RSS is read; then one
selection pass scores the averaged model without each candidate block. ``--candidates K``
scores the first K blocks (one forward per window each; ``BlockSelector.metric_scores``, the
pass ``select`` runs) instead of all 12: a VideoMAE-S window forward is about 1.1 TMACs
(48 x 23.4 GMACs), so 12 candidates x 16 windows is hours on a CPU; the memory of one pass
does not depend on the number of candidates beyond one evaluator's stored results per
candidate. The TAD metric's
stored results (CPU numpy per window) are measured when it computes.
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'block_drop',
                  'block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py')
THUMOS14_CONFIG = osp.join(REPO, 'configs', 'block_drop',
                           'block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Block-drop selection memory benchmark')
    parser.add_argument('--clips', type=int, default=32, help='clips at factor 1')
    parser.add_argument('--factors', type=int, nargs='+', default=[1, 4, 16])
    parser.add_argument('--size', type=int, default=64, help='frame size of the clips')
    parser.add_argument('--embed-dims', type=int, default=32)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--cached', action='store_true',
                        help='keep every decoded batch (the former cache) for comparison')
    parser.add_argument('--data-root', help='existing clip folder (default: a temporary one); '
                        'with --thumos14 the folder holding the rehearsal sets')
    parser.add_argument('--thumos14', action='store_true',
                        help='the THUMOS14 VideoMAE-S block-drop config on rehearsal video')
    parser.add_argument('--windows', type=int, default=2,
                        help='--thumos14: selection windows (videos) at factor 1')
    parser.add_argument('--candidates', type=int, default=None,
                        help='--thumos14: score only the first K blocks (default: all, select)')
    parser.add_argument('--out', help='JSON file for the results')
    parser.add_argument('--child', type=int, help=argparse.SUPPRESS)  # clips of one run
    parser.add_argument('--student-ckpt', help=argparse.SUPPRESS)  # --thumos14 child
    return parser.parse_args(argv)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_selection(root: str, num_clips: int, embed_dims: int, batch_size: int,
                  cached: bool) -> dict:
    """One selection pass in this process; peak RSS before and after (MiB)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmtad_ext  # noqa: F401
    from mmtad_ext.engine.block_drop import BlockSelector

    cfg = Config.fromfile(CONFIG)
    loader = dict(batch_size=batch_size, num_workers=0, persistent_workers=False)
    cfg.merge_from_dict(dict(
        model=dict(student_ckpt=None, student=dict(
            backbone=dict(embed_dims=embed_dims, depth=4, num_heads=2),
            cls_head=dict(in_channels=embed_dims))),
        train_dataloader=dict(dataset=dict(ann_file=f'{root}/train_list_videos.txt',
                                           data_prefix=dict(video=root)), **loader),
        val_dataloader=dict(dataset=dict(ann_file=f'{root}/train_list_videos.txt',
                                         data_prefix=dict(video=root)), **loader),
        work_dir=tempfile.mkdtemp(), custom_hooks=[]))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    model = runner.model
    model.init_weights()
    selector = BlockSelector('metric', metric_key='acc/top1', subset_size=num_clips)
    selector.loader(runner)
    selector._evaluators_for(runner, model.student_encoder.depth)
    before = peak_rss_mib()
    kept = list(selector.loader(runner)) if cached else None  # the former cache
    chosen, scores, _ = selector.select(runner, model)
    after = peak_rss_mib()
    del kept
    return dict(clips=selector.num_samples, chosen=chosen, peak_rss_before_mib=before,
                peak_rss_mib=after, pass_mib=after - before)


def _stored_results_probe(metric) -> dict:
    """Wrap ``metric.compute_metrics`` to record what the metric held for the pass."""
    import numpy as np
    import torch
    seen = dict(results=0, stored_kib=0.0, tensors=0)
    compute = metric.compute_metrics

    def walk(x):
        if isinstance(x, torch.Tensor):
            seen['tensors'] += 1
            seen['stored_kib'] += x.element_size() * x.numel() / 1024
        elif isinstance(x, np.ndarray):
            seen['stored_kib'] += x.nbytes / 1024
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    def probed(results):
        seen['results'] += len(results)
        walk(results)
        return compute(results)

    metric.compute_metrics = probed
    return seen


def run_thumos14_selection(root: str, student_ckpt: str, candidates) -> dict:
    """The THUMOS14 config's selection pass in this process; peak RSS before and after (MiB)."""
    import time

    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmtad_ext  # noqa: F401
    from mmtad_ext.engine.block_drop.ema import find_ema, refresh_ema
    from mmtad_ext.engine.hooks import BlockDropHook

    cfg = Config.fromfile(THUMOS14_CONFIG)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):  # the data root
        cfg[key]['dataset']['ann_file'] = osp.join(root, 'annotations', 'thumos_14_anno.json')
        cfg[key]['dataset']['data_prefix'] = dict(video=osp.join(root, 'videos'))
    cfg.model.student_ckpt = student_ckpt
    cfg.work_dir = tempfile.mkdtemp()
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    hook = next(h for h in runner.hooks if isinstance(h, BlockDropHook))
    ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
    ema_hook.before_run(runner)  # Runner.train's order: the averaged model, then the weights
    runner._init_model_weights()  # init_weights: the student from student_ckpt, teacher synced
    model, ema = runner.model, find_ema(runner)
    ema.module.load_state_dict(model.state_dict(), strict=True)  # as BlockDropHook.before_train
    refresh_ema(ema)
    scored = hook._scored(runner)
    selector = hook.selector
    ids = list(scored.student_encoder.block_ids)
    skips = [[i] for i in ids[:candidates]] if candidates else [[i] for i in ids]
    selector.loader(runner)
    evaluators = selector._evaluators_for(runner, len(skips))
    probes = [_stored_results_probe(e.metrics[0]) for e in evaluators]
    before = peak_rss_mib()
    t0 = time.perf_counter()
    if candidates:
        scores = dict(zip(ids, selector.metric_scores(runner, scored, skips)))
    else:
        _, scores, _ = selector.select(runner, scored)
    seconds = time.perf_counter() - t0
    after = peak_rss_mib()
    return dict(windows=selector.num_samples, candidates=len(skips), scores=scores,
                metric_key=selector.metric_key, criterion=selector.criterion,
                subset_size=selector.subset_size, batch_size=selector.loader(runner).batch_size,
                threads=torch.get_num_threads(), pass_s=seconds, load_average=os.getloadavg(),
                stored_results=probes[0]['results'], stored_kib=probes[0]['stored_kib'],
                stored_tensors=sum(p['tensors'] for p in probes),
                peak_rss_before_mib=before, peak_rss_mib=after, pass_mib=after - before)


def save_random_student(path: str) -> str:
    """The config's student (ActionFormer + VideoMAE-S), randomly initialised, as a checkpoint."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint

    import mmtad_ext  # noqa: F401
    from mmtad_ext.registry import MODELS
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(THUMOS14_CONFIG)
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    torch.manual_seed(0)
    student = MODELS.build(cfg.model.student)  # torch's default initialisation, no pretrained
    save_checkpoint(dict(state_dict=student.state_dict(), meta=dict(random_init=True)), path)
    return path


def thumos14_main(args) -> dict:
    root = args.data_root or tempfile.mkdtemp(prefix='bd_selection_thumos14_')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    ckpt = osp.join(root, 'random_student.pth')
    if not osp.exists(ckpt):
        os.makedirs(root, exist_ok=True)
        save_random_student(ckpt)
    rows = []
    for factor in args.factors:
        videos = factor * args.windows
        data = osp.join(root, f'thumos14_{videos}')
        if not osp.exists(osp.join(data, 'annotations', 'thumos_14_anno.json')):
            subprocess.run([sys.executable, osp.join(REPO, 'tools', 'make_synthetic_tad.py'),
                            '--like', 'thumos14', '--modality', 'video', '--num-train',
                            str(videos), '--num-val', '1', '--max-duration', '20',
                            '--out-dir', data], env=env, check=True, capture_output=True)
        cmd = [sys.executable, osp.abspath(__file__), '--thumos14', '--child', str(videos),
               '--data-root', data, '--student-ckpt', ckpt]
        cmd += ['--candidates', str(args.candidates)] if args.candidates else []
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f'selection at {factor}x failed:\n{out.stderr[-4000:]}')
        row = json.loads(out.stdout.strip().splitlines()[-1])
        if row['windows'] != videos:
            raise RuntimeError(f'{data}: {row["windows"]} selection windows, expected {videos}')
        row['factor'] = factor
        rows.append(row)
        print(f'{factor:>3}x {row["windows"]:>4} windows x {row["candidates"]} candidates: peak '
              f'RSS {row["peak_rss_mib"]:.1f} MiB (before the pass '
              f'{row["peak_rss_before_mib"]:.1f} MiB), pass {row["pass_s"]:.0f} s, metric held '
              f'{row["stored_kib"]:.1f} KiB in {row["stored_results"]} results', flush=True)
    ratios = {f'{r["factor"]}x/1x': r['peak_rss_mib'] / rows[0]['peak_rss_mib'] for r in rows}
    print('peak RSS ' + ', '.join(f'{k} {v:.3f}' for k, v in ratios.items()))
    return dict(mode='thumos14', config=osp.relpath(THUMOS14_CONFIG, REPO), rows=rows,
                ratios=ratios, windows=args.windows, candidates=args.candidates)


def main(argv=None):
    args = parse_args(argv)
    if args.thumos14 and args.child is not None:
        print(json.dumps(run_thumos14_selection(args.data_root, args.student_ckpt,
                                                args.candidates)))
        return None
    if args.thumos14:
        return _write(thumos14_main(args), args.out)
    if args.child is not None:
        print(json.dumps(run_selection(args.data_root, args.child, args.embed_dims,
                                       args.batch_size, args.cached)))
        return None
    from mmtad_ext.datasets.synthetic import make_clip_dataset
    root = args.data_root or tempfile.mkdtemp(prefix='bd_selection_')
    total = max(args.factors) * args.clips
    if not osp.exists(osp.join(root, 'train_list_videos.txt')):
        make_clip_dataset(root, dict(train=total), num_classes=4, num_frames=16, size=args.size)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    rows = []
    for factor in args.factors:
        cmd = [sys.executable, osp.abspath(__file__), '--child', str(factor * args.clips),
               '--data-root', root, '--embed-dims', str(args.embed_dims), '--batch-size',
               str(args.batch_size)] + (['--cached'] if args.cached else [])
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row['factor'] = factor
        rows.append(row)
        print(f'{factor:>3}x {row["clips"]:>5} clips: peak RSS {row["peak_rss_mib"]:.1f} MiB '
              f'(before the pass {row["peak_rss_before_mib"]:.1f} MiB)', flush=True)
    ratio = rows[-1]['peak_rss_mib'] / rows[0]['peak_rss_mib']
    print(f'peak RSS {max(args.factors)}x / 1x: {ratio:.3f} '
          f'({"cached batches" if args.cached else "streamed"})')
    result = dict(mode='cached' if args.cached else 'streamed', rows=rows, ratio=ratio,
                  size=args.size, embed_dims=args.embed_dims, batch_size=args.batch_size)
    return _write(result, args.out)


def _write(result: dict, out) -> dict:
    if out:
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
