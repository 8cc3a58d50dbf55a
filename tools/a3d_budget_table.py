"""Build the budget table of a trained A3D model.

*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384), sec. 3.3.

Run::

    python tools/a3d_budget_table.py \
        configs/a3d/a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py \
        work_dirs/a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb/epoch_16.pth \
        --out-dir work_dirs/table

For every sub-network (gamma_w, gamma_s, gamma_t) of the grid (the config's ``a3d_table``, by
default the paper's 96; shrink it with ``--widths/--spatial/--temporal``): calibrate BN on
training batches (``model.calibrate``), measure top-1 on the validation set, count MACs
(mmengine's FlopAnalyzer) and time one clip (:mod:`mmtad_ext.apis.a3d_budget`).
Writes ``budget_table.json`` (all rows, Pareto fronts), ``budget_table.png`` and
``a3d_deploy.pth``: the weights plus the calibrated BN statistics and the rows of every
sub-network of the table (``--keep pareto``: only the rows of the two Pareto fronts, a smaller
file; the budget choice is the same), so that ``model.set_budget(gmacs=...)`` /
``set_budget(latency_ms=...)`` or ``model.set_subnet((w, s, t))`` switches instantly without
data.
"""
import argparse
import json
import os
import os.path as osp

import torch
import mmtad_ext  # noqa: F401  (first: registers modules, applies compat, defers transformers)
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmtad_ext.apis.a3d_budget import evaluate_subnets
from mmtad_ext.evaluation.functional import pareto_front
from mmtad_ext.models.utils import subnet_grid
from mmtad_ext.registry import MODELS
from mmtad_ext.utils import run_cli
from mmtad_ext.utils.errors import DEBUG_HELP
from mmtad_ext.visualization import plot_budget_table


def parse_args():
    parser = argparse.ArgumentParser(description='Build the A3D budget table')
    parser.add_argument('config', help='A3D config file')
    parser.add_argument('checkpoint', help='trained A3D checkpoint')
    parser.add_argument('--out-dir', default=None,
                        help='output folder (default: <checkpoint dir>/budget_table)')
    parser.add_argument('--widths', type=float, nargs='+', help='gamma_w values')
    parser.add_argument('--spatial', type=float, nargs='+', help='gamma_s values')
    parser.add_argument('--temporal', type=float, nargs='+', help='gamma_t values')
    parser.add_argument('--calib-batches', type=int, help='training batches for BN calibration')
    parser.add_argument('--max-val-batches', type=int, default=None,
                        help='validation batches for top-1 (default: all)')
    parser.add_argument('--latency-runs', type=int, default=10, help='timed runs per row')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--keep', choices=('all', 'pareto'), default='all',
                        help='sub-networks stored in a3d_deploy.pth (BN statistics and rows): '
                        'every one of the table, or those of the two Pareto fronts')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args()


def take(loader, n):
    """The first ``n`` batches of ``loader`` (all if ``n`` is None), decoded once."""
    out = []
    for batch in loader:
        if n is not None and len(out) >= n:
            break
        out.append(batch)
    return out


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    table_cfg = cfg.get('a3d_table', {})
    widths = args.widths or table_cfg.get('widths')
    spatial = args.spatial or table_cfg.get('spatial_factors')
    temporal = args.temporal or table_cfg.get('temporal_factors')
    if not (widths and spatial and temporal):
        raise KeyError(f'{args.config} has no complete a3d_table (widths, spatial_factors, '
                       'temporal_factors); give --widths/--spatial/--temporal')
    calib = args.calib_batches or table_cfg.get('calib_batches', 8)
    out_dir = args.out_dir or osp.join(osp.dirname(osp.abspath(args.checkpoint)), 'budget_table')
    os.makedirs(out_dir, exist_ok=True)

    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    if not callable(getattr(model, 'calibrate', None)):
        raise TypeError(f'{type(model).__name__} is not an A3D recognizer (A3DRecognizer3D)')
    torch.manual_seed(0)
    calib_batches = take(Runner.build_dataloader(cfg.train_dataloader, seed=0), calib)
    val_batches = take(Runner.build_dataloader(cfg.val_dataloader), args.max_val_batches)
    input_shape = tuple(val_batches[0]['inputs'][0].shape[1:])  # (C, T, H, W)
    subnets = subnet_grid(widths, spatial, temporal)
    print_log(f'{len(subnets)} sub-networks, input {input_shape}, {calib} calibration '
              f'batches, {len(val_batches)} validation batches', logger='current')
    rows = evaluate_subnets(model, subnets, calib_batches, val_batches, input_shape,
                            latency_runs=args.latency_runs)

    front_macs = pareto_front(rows, cost='gmacs')
    front_latency = pareto_front(rows, cost='latency_ms')
    kept_rows = rows if args.keep == 'all' else front_macs + front_latency
    keep = {(r['gamma_w'], r['gamma_s'], r['gamma_t']) for r in kept_rows}
    # the kept rows and only their BN statistics go into the deploy checkpoint
    model.set_budget_table(
        [r for r in rows if (r['gamma_w'], r['gamma_s'], r['gamma_t']) in keep])
    model.set_subnet((1.0, 1.0, 1.0), use_bank=True)

    table = dict(config=args.config, checkpoint=args.checkpoint, input_shape=input_shape,
                 calib_batches=calib, rows=rows, pareto_gmacs=front_macs,
                 pareto_latency=front_latency, threads=torch.get_num_threads())
    with open(osp.join(out_dir, 'budget_table.json'), 'w') as f:
        json.dump(table, f, indent=1)
    plot_budget_table(rows, osp.join(out_dir, 'budget_table.png'))
    torch.save(dict(meta=dict(config=args.config, source=args.checkpoint),
                    state_dict=model.state_dict()), osp.join(out_dir, 'a3d_deploy.pth'))
    print_log(f'{len(front_macs)} Pareto rows (GMACs); {len(keep)} sub-networks in '
              f'a3d_deploy.pth; wrote {out_dir}/budget_table.json, budget_table.png, '
              'a3d_deploy.pth', logger='current')


if __name__ == '__main__':
    run_cli(main)
