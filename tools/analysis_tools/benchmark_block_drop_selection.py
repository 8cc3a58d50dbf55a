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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Block-drop selection memory benchmark')
    parser.add_argument('--clips', type=int, default=32, help='clips at factor 1')
    parser.add_argument('--factors', type=int, nargs='+', default=[1, 4, 16])
    parser.add_argument('--size', type=int, default=64, help='frame size of the clips')
    parser.add_argument('--embed-dims', type=int, default=32)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--cached', action='store_true',
                        help='keep every decoded batch (the former cache) for comparison')
    parser.add_argument('--data-root', help='existing clip folder (default: a temporary one)')
    parser.add_argument('--out', help='JSON file for the results')
    parser.add_argument('--child', type=int, help=argparse.SUPPRESS)  # clips of one run
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


def main(argv=None):
    args = parse_args(argv)
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
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
