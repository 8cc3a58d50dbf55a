"""Seeded block-drop ablations of the tiny VideoMAE classifier or detector, paired by seed.

``--task classifier`` (default): the tiny VideoMAE classifier on the synthetic clips, val top-1;
``--task detector``: ActionFormer + tiny VideoMAE on the synthetic raw video, val average mAP.
Per seed, from the uncompressed model ``<work-dir>/<baseline config name>/seed<s>/epoch_30.pth``
(trained by ``benchmark_seeds.py`` with ``randomness.seed=<s>``):

- ``progressive``: the shipped block-drop config (3 stages x 4 epochs);
- ``oneshot``: the blocks progressive chose for this seed dropped at once
  (``BlockDropHook(one_shot_ids=...)``), then 12 epochs of LoRA + KD recovery (one warm-up +
  cosine cycle over the 12 epochs);
- ``nofeat``: progressive with ``CrossDepthDistillLoss(feat_weight=0)`` (class KD only);
- ``loss`` / ``block_mse``: progressive with the other selection criteria (``progressive``
  uses the config's ``criterion='metric'``);
- ``subset<N>`` (e.g. ``subset16``): progressive with the first ``N`` training clips as the
  selection subset instead of the config's ``subset_size`` (the stopping rule's check uses the
  same subset);
- ``uncompressed42``: the uncompressed baseline config trained from scratch for its 30 epochs +
  the block-drop run's 12 (its own 42-epoch schedule: warm-up unchanged, cosine to epoch 42), the
  same training budget as baseline + block drop.

Runs at most ``--jobs`` trainings at a time (``OMP_NUM_THREADS=1`` each), counting the baseline
runs still to finish in ``--work-dir`` (started separately); finished runs (a
``block_drop.json`` with ``stopped``, or the last checkpoint of ``uncompressed42``) are reused.
Then prints the val metric mean +- s.e. per variant and validation epoch, paired differences (vs
the uncompressed baseline, vs ``uncompressed42`` and vs progressive), and one row per block-drop
run: dropped blocks, val top-1 after every stage (from
``scalars.json``), the selection-subset metric after the drop / after recovery, the selection
wall-clock and the selection cost (candidates x subset clips) per stage and the recovery time
(from ``block_drop.json``; the subset size from the run's log); then the raw records as JSON
lines.

    python tools/analysis_tools/benchmark_block_drop_seeds.py --seeds 0 1 2 \
        --variants progressive oneshot nofeat loss block_mse subset16 --work-dir work_dirs/bd
    python tools/analysis_tools/benchmark_block_drop_seeds.py --task detector --seeds 0 1 2 \
        --variants uncompressed42 progressive oneshot --work-dir work_dirs/bd_detector
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

from mmtad_ext.utils.measure import format_mean_se, paired_differences

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# per task: the block-drop config, the uncompressed baseline config (30 epochs; block drop starts
# from its epoch_30.pth), the val metric and its factor to the reported unit (%)
TASKS = {
    'classifier': dict(
        config='configs/block_drop/block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py',
        base='configs/block_drop/videomae-tiny_1xb16-8x2x1-30e_synthetic-clips-rgb.py',
        metric='acc/top1', scale=100.0, label='val top-1'),
    'detector': dict(
        config='configs/block_drop/'
        'block-drop_actionformer-videomae-tiny_1xb4-3x4e_synthetic-tad-rgb.py',
        base='configs/block_drop/actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb.py',
        metric='tad/average_mAP', scale=1.0, label='val average mAP'),
}
BASE_EPOCHS, BLOCK_DROP_EPOCHS = 30, 12
LONG = f'uncompressed{BASE_EPOCHS + BLOCK_DROP_EPOCHS}'
VARIANTS = ('progressive', 'oneshot', 'nofeat', 'loss', 'block_mse', LONG)


def variant_name(name):
    """argparse type: a known variant or ``subset<N>``."""
    if name in VARIANTS or re.fullmatch(r'subset[1-9][0-9]*', name):
        return name
    raise argparse.ArgumentTypeError(f'unknown variant {name!r}: one of {VARIANTS} or subset<N>')


def base_name(args):
    """Run name of the task's 30-epoch baseline (its folder under --work-dir)."""
    return osp.splitext(osp.basename(TASKS[args.task]['base']))[0]


def base_ckpt(seed, args):
    return osp.join(args.work_dir, base_name(args), f'seed{seed}', f'epoch_{BASE_EPOCHS}.pth')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--task', choices=sorted(TASKS), default='classifier',
                   help='classifier: synthetic clips, val top-1; detector: ActionFormer + tiny '
                   'VideoMAE on synthetic raw video, val average mAP')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--variants', nargs='+', type=variant_name,
                   default=['progressive', 'oneshot', 'nofeat'])
    p.add_argument('--work-dir', default='work_dirs/bd')
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--report-only', action='store_true')
    return p.parse_args(argv)


def report(work):
    """The run's block_drop.json once the run has finished, else None."""
    path = osp.join(work, 'block_drop.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        rep = json.load(f)
    return rep if rep.get('stopped') else None


def finished(variant, seed, args):
    """Whether the run is complete: a stopped block_drop.json, or (``uncompressed42``) the
    last epoch's checkpoint."""
    work = run_dir(variant, seed, args)
    if variant == LONG:
        return osp.exists(osp.join(work, f'epoch_{BASE_EPOCHS + BLOCK_DROP_EPOCHS}.pth'))
    return report(work) is not None


def val_curve(work, args):
    """{epoch: metric in %} of the run's validations (its scalars.json)."""
    task = TASKS[args.task]
    out = {}
    for path in sorted(glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if task['metric'] in rec:
                    out[rec['step']] = task['scale'] * rec[task['metric']]
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
    """One line per finished block-drop run: blocks, val metric per stage, selection cost and
    time."""
    label = TASKS[args.task]['label']
    print(f'variant seed | dropped | {label} per stage | subset metric after drop / recovered | '
          'selection s per stage | candidates x clips (clip forwards) | recovery s per stage')
    for v in args.variants:
        if v == LONG:
            continue
        for s in args.seeds:
            work = run_dir(v, s, args)
            rep = report(work)
            if rep is None:
                print(f'{v} {s} | not finished')
                continue
            curve = val_curve(work, args)
            scale = TASKS[args.task]['scale']
            clips = subset_clips(work)
            st = rep['stages']
            cost = []
            for prev, rec in zip(st, st[1:]):
                cand = prev['depth'] if rec['scores'] else 0
                cost.append(f'{cand}x{clips} ({selection_forwards(rec, cand, clips)})')
            print(f'{v} {s} | {rep["dropped"]} | '
                  + ' '.join(f'{curve[e]:.1f}' for e in sorted(curve)) + ' | '
                  + ' '.join(f'{scale * r["metric_before"]:.1f}/{scale * r["metric_after"]:.1f}'
                             for r in st[1:]) + ' | '
                  + ' '.join(f'{r["selection_s"]:.1f}' for r in st[1:]) + ' | '
                  + ', '.join(cost) + ' | '
                  + ' '.join(f'{r["recovery_s"]:.0f}' for r in st[1:]))


def long_schedule_options(base_config):
    """--cfg-options training ``base_config`` for BASE_EPOCHS + BLOCK_DROP_EPOCHS epochs: the
    same warm-up, the cosine stretched to the new last epoch."""
    from mmengine.config import Config
    cfg = Config.fromfile(base_config)
    total = BASE_EPOCHS + BLOCK_DROP_EPOCHS
    if cfg.train_cfg.max_epochs != BASE_EPOCHS:
        raise ValueError(f'{base_config}: train_cfg.max_epochs is {cfg.train_cfg.max_epochs}, '
                         f'this benchmark expects {BASE_EPOCHS} (BASE_EPOCHS)')
    opts = [f'train_cfg.max_epochs={total}']
    for i, sched in enumerate(cfg.param_scheduler):
        if sched.get('end') == BASE_EPOCHS:
            opts.append(f'param_scheduler.{i}.end={total}')
            if 'T_max' in sched:
                opts.append(f'param_scheduler.{i}.T_max={total - sched.get("begin", 0)}')
    if not any(o.startswith('param_scheduler.') for o in opts):
        raise ValueError(f'{base_config}: no param_scheduler ends at epoch {BASE_EPOCHS}; '
                         'give the long run its schedule by hand')
    return opts


def cfg_options(variant, seed, args):
    if variant == LONG:
        return [f'randomness.seed={seed}'] + long_schedule_options(
            osp.join(ROOT, TASKS[args.task]['base']))
    opts = [f'randomness.seed={seed}', f'model.student_ckpt={base_ckpt(seed, args)}']
    if variant == 'nofeat':
        opts.append('model.distill_loss.feat_weight=0.0')
    elif variant in ('loss', 'block_mse'):
        opts.append(f'custom_hooks.0.criterion={variant}')
    elif variant.startswith('subset'):
        opts.append(f'custom_hooks.0.subset_size={int(variant[len("subset"):])}')
    elif variant == 'oneshot':
        dropped = report(run_dir('progressive', seed, args))['dropped']
        ids = '[' + ','.join(str(i) for i in dropped) + ']'
        n = BLOCK_DROP_EPOCHS
        opts += [f'custom_hooks.0.stage_epochs={n}', 'custom_hooks.0.max_drops=1',
                 f'custom_hooks.0.one_shot_ids={ids}', f'train_cfg.val_interval={n}',
                 f'param_scheduler.1.T_max={n - 1}', f'param_scheduler.1.end={n}']
    return opts


def run_dir(variant, seed, args):
    name = variant if variant == LONG else f'block_drop_{variant}'
    return osp.join(args.work_dir, name, f'seed{seed}')


def ready(variant, seed, args):
    if variant == LONG:
        return True
    if not osp.exists(base_ckpt(seed, args)):
        return False
    return variant != 'oneshot' or report(run_dir('progressive', seed, args)) is not None


def baselines_running(args):
    """Baseline trainings still to finish (benchmark_seeds.py runs them), at most --jobs."""
    missing = [s for s in args.seeds if not osp.exists(base_ckpt(s, args))]
    return min(len(missing), args.jobs)


def summarize(args):
    """Val metric (%) mean +- s.e. per variant and validation epoch; paired differences by seed
    (every variant vs the baseline and vs ``uncompressed42``, every block-drop variant vs
    progressive). Returns ``{setting: {seed: final value}}`` of the finished runs."""
    label = TASKS[args.task]['label']
    final = {'baseline': {}}
    for s in args.seeds:
        curve = val_curve(osp.join(args.work_dir, base_name(args), f'seed{s}'), args)
        if osp.exists(base_ckpt(s, args)) and curve:
            final['baseline'][s] = curve[max(curve)]
    if final['baseline']:
        print(f'baseline ({BASE_EPOCHS} epochs) {label}: '
              f'{format_mean_se(list(final["baseline"].values()))} {final["baseline"]}')
    for v in args.variants:
        final[v] = {}
        per_epoch = {}
        for s in args.seeds:
            if not finished(v, s, args):
                continue
            curve = val_curve(run_dir(v, s, args), args)
            for e, value in curve.items():
                per_epoch.setdefault(e, {})[s] = value
            final[v][s] = curve[max(curve)]
        for e in sorted(per_epoch):
            print(f'{v} {label} after epoch {e}: {format_mean_se(list(per_epoch[e].values()))} '
                  f'{per_epoch[e]}')
    pairs = [('baseline', v) for v in args.variants]
    pairs += [(LONG, v) for v in args.variants if v != LONG]
    pairs += [('progressive', v) for v in args.variants if v not in ('progressive', LONG)]
    for a, b in pairs:
        if not final.get(a) or not final.get(b) or not set(final[a]) & set(final[b]):
            continue
        diffs, m, _, se = paired_differences(final[b], final[a])
        per_seed = {k: round(d, 2) for k, d in diffs.items()}
        print(f'paired {b} - {a}: {m:+.2f} +- {se:.2f} (n={len(diffs)}) per seed {per_seed}')
    return final


def main(argv=None):
    args = parse_args(argv)
    config = osp.join(ROOT, TASKS[args.task]['config'])
    base = osp.join(ROOT, TASKS[args.task]['base'])
    todo = [(v, s) for v in args.variants for s in args.seeds if not finished(v, s, args)]
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
                cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'),
                       base if v == LONG else config, '--work-dir', work,
                       '--cfg-options'] + cfg_options(v, s, args)
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
        if v == LONG:
            continue
        for s in args.seeds:
            rep = report(run_dir(v, s, args))
            if rep is None:
                print(f'{v} seed {s}: not finished')
                continue
            st = rep['stages']
            print(json.dumps(dict(
                variant=v, seed=s, dropped=rep['dropped'],
                val=val_curve(run_dir(v, s, args), args),
                subset_after=[round(x['metric_after'], 4) for x in st],
                subset_before=[x['metric_before'] for x in st],
                selection_s=[x['selection_s'] for x in st],
                recovery_s=[x['recovery_s'] for x in st])))


if __name__ == '__main__':
    main()
