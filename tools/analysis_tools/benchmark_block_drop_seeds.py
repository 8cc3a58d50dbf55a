"""Seeded block-drop ablations of the tiny VideoMAE classifier (synthetic clips), paired by seed.

Per seed, from the uncompressed model ``<baseline-dir>/seed<s>/epoch_30.pth`` (trained by
``benchmark_seeds.py`` with ``randomness.seed=<s>``):

- ``progressive``: the shipped block-drop config (3 stages x 4 epochs);
- ``oneshot``: the blocks progressive chose for this seed dropped at once
  (``BlockDropHook(one_shot_ids=...)``), then 12 epochs of LoRA + KD recovery (one warm-up +
  cosine cycle over the 12 epochs);
- ``nofeat``: progressive with ``CrossDepthDistillLoss(feat_weight=0)`` (class KD only);
- ``loss`` / ``block_mse``: progressive with the other selection criteria (``progressive``
  uses the config's ``criterion='metric'``);
- ``subset<N>`` (e.g. ``subset16``): progressive with the first ``N`` training clips as the
  selection subset instead of the config's ``subset_size`` (the stopping rule's check uses the
  same subset).

Runs at most ``--jobs`` trainings at a time (``OMP_NUM_THREADS=1`` each), counting the baseline
runs still to finish in ``--work-dir`` (started separately); finished runs (a
``block_drop.json`` with ``stopped``) are reused. Then prints val top-1 mean +- s.e. per
variant and validation epoch, paired differences (vs the uncompressed baseline and vs
progressive), and one row per run: dropped blocks, val top-1 after every stage (from
``scalars.json``), the selection-subset metric after the drop / after recovery, the selection
wall-clock and the selection cost (candidates x subset clips) per stage and the recovery time
(from ``block_drop.json``; the subset size from the run's log); then the raw records as JSON
lines.

    python tools/analysis_tools/benchmark_block_drop_seeds.py --seeds 0 1 2 \
        --variants progressive oneshot nofeat loss block_mse subset16 --work-dir work_dirs/bd
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

from mmtad_ext.utils.measure import format_mean_se

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs/block_drop/'
                  'block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py')
BASE_NAME = 'videomae-tiny_1xb16-8x2x1-30e_synthetic-clips-rgb'
VARIANTS = ('progressive', 'oneshot', 'nofeat', 'loss', 'block_mse')


def variant_name(name):
    """argparse type: a known variant or ``subset<N>``."""
    if name in VARIANTS or re.fullmatch(r'subset[1-9][0-9]*', name):
        return name
    raise argparse.ArgumentTypeError(f'unknown variant {name!r}: one of {VARIANTS} or subset<N>')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--variants', nargs='+', type=variant_name,
                   default=['progressive', 'oneshot', 'nofeat'])
    p.add_argument('--work-dir', default='work_dirs/bd')
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--report-only', action='store_true')
    return p.parse_args()


def report(work):
    path = osp.join(work, 'block_drop.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        rep = json.load(f)
    return rep if rep.get('stopped') else None


def val_curve(work):
    """{epoch: acc/top1} of the run's validations."""
    out = {}
    for path in sorted(glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'acc/top1' in rec:
                    out[rec['step']] = rec['acc/top1']
    return out


def subset_clips(work):
    """Selection-subset size the run used (its log's ``BlockDropHook: baseline`` line)."""
    for path in sorted(glob.glob(osp.join(work, '*', '*.log'))):
        with open(path) as f:
            found = re.search(r'BlockDropHook: baseline .* on (\d+) training samples', f.read())
        if found:
            return int(found.group(1))
    return None


def selection_forwards(rec, candidates, clips):
    """Clip forwards of one stage's selection: every candidate scored on the subset
    (``metric``, ``loss``) or one pass for all (``block_mse``), plus one scoring of the chosen
    drop (``loss``, ``block_mse``, one-shot)."""
    if not rec['scores']:  # one-shot: no selection, the given blocks scored once
        return clips
    if rec.get('criterion') == 'block_mse':
        return 2 * clips
    return candidates * clips + (clips if rec.get('criterion') == 'loss' else 0)


def run_rows(args):
    """One line per finished run: blocks, val top-1 per stage, selection cost and time."""
    print('variant seed | dropped | val top-1 per stage | subset top-1 after drop / recovered | '
          'selection s per stage | candidates x clips (clip forwards) | recovery s per stage')
    for v in args.variants:
        for s in args.seeds:
            work = run_dir(v, s, args)
            rep = report(work)
            if rep is None:
                print(f'{v} {s} | not finished')
                continue
            curve = val_curve(work)
            clips = subset_clips(work)
            st = rep['stages']
            cost = []
            for prev, rec in zip(st, st[1:]):
                cand = prev['depth'] if rec['scores'] else 0
                cost.append(f'{cand}x{clips} ({selection_forwards(rec, cand, clips)})')
            print(f'{v} {s} | {rep["dropped"]} | '
                  + ' '.join(f'{100 * curve[e]:.1f}' for e in sorted(curve)) + ' | '
                  + ' '.join(f'{100 * r["metric_before"]:.1f}/{100 * r["metric_after"]:.1f}'
                             for r in st[1:]) + ' | '
                  + ' '.join(f'{r["selection_s"]:.1f}' for r in st[1:]) + ' | '
                  + ', '.join(cost) + ' | '
                  + ' '.join(f'{r["recovery_s"]:.0f}' for r in st[1:]))


def cfg_options(variant, seed, args):
    ckpt = osp.join(args.work_dir, BASE_NAME, f'seed{seed}', 'epoch_30.pth')
    opts = [f'randomness.seed={seed}', f'model.student_ckpt={ckpt}']
    if variant == 'nofeat':
        opts.append('model.distill_loss.feat_weight=0.0')
    elif variant in ('loss', 'block_mse'):
        opts.append(f'custom_hooks.0.criterion={variant}')
    elif variant.startswith('subset'):
        opts.append(f'custom_hooks.0.subset_size={int(variant[len("subset"):])}')
    elif variant == 'oneshot':
        dropped = report(run_dir('progressive', seed, args))['dropped']
        ids = '[' + ','.join(str(i) for i in dropped) + ']'
        opts += ['custom_hooks.0.stage_epochs=12', 'custom_hooks.0.max_drops=1',
                 f'custom_hooks.0.one_shot_ids={ids}', 'train_cfg.val_interval=12',
                 'param_scheduler.1.T_max=11', 'param_scheduler.1.end=12']
    return opts


def run_dir(variant, seed, args):
    return osp.join(args.work_dir, f'block_drop_{variant}', f'seed{seed}')


def ready(variant, seed, args):
    if not osp.exists(osp.join(args.work_dir, BASE_NAME, f'seed{seed}', 'epoch_30.pth')):
        return False
    return variant != 'oneshot' or report(run_dir('progressive', seed, args)) is not None


def baselines_running(args):
    """Baseline trainings still to finish (benchmark_seeds.py runs them), at most --jobs."""
    missing = [s for s in args.seeds if not osp.exists(
        osp.join(args.work_dir, BASE_NAME, f'seed{s}', 'epoch_30.pth'))]
    return min(len(missing), args.jobs)


def summarize(args):
    """Val top-1 (%) mean +- s.e. per variant and stage end; paired differences by seed."""
    final = {'baseline': {}}
    for s in args.seeds:
        curve = val_curve(osp.join(args.work_dir, BASE_NAME, f'seed{s}'))
        if curve:
            final['baseline'][s] = 100 * curve[max(curve)]
    print(f'baseline (30 epochs) val top-1: {format_mean_se(list(final["baseline"].values()))} '
          f'{final["baseline"]}')
    for v in args.variants:
        final[v] = {}
        per_epoch = {}
        for s in args.seeds:
            if report(run_dir(v, s, args)) is None:
                continue
            curve = val_curve(run_dir(v, s, args))
            for e, acc in curve.items():
                per_epoch.setdefault(e, {})[s] = 100 * acc
            final[v][s] = 100 * curve[max(curve)]
        for e in sorted(per_epoch):
            print(f'{v} val top-1 after epoch {e}: {format_mean_se(list(per_epoch[e].values()))} '
                  f'{per_epoch[e]}')
    for a, b in [('baseline', v) for v in args.variants] + \
            [('progressive', v) for v in args.variants if v != 'progressive']:
        if a not in final or b not in final:
            continue
        seeds = sorted(set(final[a]) & set(final[b]))
        if seeds:
            d = [final[b][s] - final[a][s] for s in seeds]
            print(f'paired {b} - {a}: {format_mean_se(d)} per seed {dict(zip(seeds, d))}')


def main():
    args = parse_args()
    todo = [(v, s) for v in args.variants for s in args.seeds
            if report(run_dir(v, s, args)) is None]
    todo.sort(key=lambda vs: (args.variants.index(vs[0]) > 0, vs[1], vs[0]))
    running = {}
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    while todo and not args.report_only or running:
        for key, (proc, t0) in list(running.items()):
            if proc.poll() is not None:
                print(f'{key} finished rc={proc.returncode} in {(time.time() - t0) / 60:.1f} min',
                      flush=True)
                del running[key]
                if proc.returncode and key[0] == 'progressive' and ('oneshot', key[1]) in todo:
                    # one-shot drops the blocks progressive chose: it can never start
                    print(f'oneshot seed {key[1]}: skipped, its progressive run failed (see '
                          f'{run_dir(*key, args)}/train.log)', flush=True)
                    todo.remove(('oneshot', key[1]))
        free = args.jobs - len(running) - baselines_running(args)
        for v, s in list(todo):
            if free <= 0:
                break
            if ready(v, s, args):
                work = run_dir(v, s, args)
                os.makedirs(work, exist_ok=True)
                cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), CONFIG, '--work-dir',
                       work, '--cfg-options'] + cfg_options(v, s, args)
                log = open(osp.join(work, 'train.log'), 'w')
                running[(v, s)] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                    env=env), time.time())
                print(f'start {v} seed {s}: {" ".join(cmd[2:])}', flush=True)
                todo.remove((v, s))
                free -= 1
        if args.report_only:
            break
        time.sleep(5)
    summarize(args)
    run_rows(args)
    for v in args.variants:
        for s in args.seeds:
            rep = report(run_dir(v, s, args))
            if rep is None:
                print(f'{v} seed {s}: not finished')
                continue
            st = rep['stages']
            print(json.dumps(dict(
                variant=v, seed=s, dropped=rep['dropped'], val=val_curve(run_dir(v, s, args)),
                subset_after=[round(x['metric_after'], 4) for x in st],
                subset_before=[x['metric_before'] for x in st],
                selection_s=[x['selection_s'] for x in st],
                recovery_s=[x['recovery_s'] for x in st])))


if __name__ == '__main__':
    main()
