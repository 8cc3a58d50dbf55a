"""Train one config with several independent seeds and report the metric's mean, sd and s.e.

Each seed is a fresh ``tools/train.py`` run with ``randomness.seed=<seed>`` (model init, data
order and every sampler follow it); the metric is the last validation result in the run's
``scalars.json``. Configs given together are paired by seed (``--configs A B``: per-seed
differences B - A with their s.e.). Runs whose scalars exist are reused, so an interrupted
benchmark resumes.

    python tools/analysis_tools/benchmark_seeds.py \
        --configs configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py \
                  configs/actionformer/actionformer_1xb8-30e_synthetic-tad-feature.py \
        --seeds 0 1 2 --jobs 1 --work-dir work_dirs/seeds
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

TRAIN = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'train.py')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--configs', nargs='+', required=True)
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--metric', default='tad/average_mAP')
    p.add_argument('--work-dir', default='work_dirs/seeds')
    p.add_argument('--jobs', type=int, default=1, help='runs side by side (1 thread each)')
    p.add_argument('--cfg-options', nargs='*', default=[], help='passed to every run')
    return p.parse_args()


def last_metric(work_dir: str, metric: str):
    """The last value of ``metric`` in the run's vis_data/scalars.json, or None."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    value = None
    for path in files:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if metric in rec:
                    value = float(rec[metric])
    return value


def run_one(config: str, seed: int, args) -> tuple:
    name = osp.splitext(osp.basename(config))[0]
    work = osp.join(args.work_dir, name, f'seed{seed}')
    value = last_metric(work, args.metric)
    if value is not None:
        return config, seed, value, None
    os.makedirs(work, exist_ok=True)
    cmd = [sys.executable, TRAIN, config, '--work-dir', work, '--cfg-options',
           f'randomness.seed={seed}'] + args.cfg_options
    env = dict(os.environ, OMP_NUM_THREADS='1')
    start = time.time()
    with open(osp.join(work, 'train.log'), 'w') as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode:
        raise RuntimeError(f'{config} seed {seed} failed; see {work}/train.log')
    return config, seed, last_metric(work, args.metric), (time.time() - start) / 60


def main():
    args = parse_args()
    jobs = [(c, s) for c in args.configs for s in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run_one(*job, args), jobs))
    table = {c: {} for c in args.configs}
    for config, seed, value, minutes in results:
        table[config][seed] = value
        took = '' if minutes is None else f' ({minutes:.1f} min)'
        print(f'{osp.basename(config)} seed {seed}: {args.metric} {value:.2f}{took}')
    for config, vals in table.items():
        v = np.array([vals[s] for s in args.seeds])
        print(f'{osp.basename(config)}: {v.mean():.2f} +- {v.std(ddof=1):.2f} (sd), s.e. '
              f'{v.std(ddof=1) / np.sqrt(len(v)):.2f}, n={len(v)}')
    if len(args.configs) > 1:
        base = np.array([table[args.configs[0]][s] for s in args.seeds])
        for config in args.configs[1:]:
            d = np.array([table[config][s] for s in args.seeds]) - base
            print(f'paired {osp.basename(config)} - {osp.basename(args.configs[0])}: '
                  f'{d.mean():+.2f} +- {d.std(ddof=1) / np.sqrt(len(d)):.2f} (s.e.), '
                  f'range {d.min():+.2f} .. {d.max():+.2f}')


if __name__ == '__main__':
    main()
