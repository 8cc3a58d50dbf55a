"""Train a model from a config, as mmaction2's ``tools/train.py`` does.

Run::

    python tools/train.py configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py \
        --work-dir work_dirs/x
    python tools/train.py <config> --resume            # resume from the latest checkpoint
    torchrun --nproc_per_node=2 tools/train.py <config> --launcher pytorch   # or dist_train.sh

``import mmtad_ext`` happens before the config is parsed, so configs may inherit
``_base_ = 'mmtad_ext::...'``.
"""
import argparse
import os
import os.path as osp

import torch
import mmtad_ext  # noqa: F401  (first: registers modules, applies compat, defers transformers)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmtad_ext.compat import configure_cpu_distributed
from mmtad_ext.utils import check_resume_checkpoint, find_resume_checkpoint, run_cli
from mmtad_ext.utils.errors import DEBUG_HELP


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model (mmtad-ext)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir if no '
        'path is given')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the total batch size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--diff-rank-seed', action='store_true',
                        help='a different seed on every rank')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic options for the CUDNN backend')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs, e.g. train_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge the command-line arguments into the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.launcher != 'none':
        configure_cpu_distributed(cfg)  # without CUDA: gloo, DDP without device ids
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp needs OptimWrapper or AmpOptimWrapper, got {optim_wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.seed is not None or args.diff_rank_seed or args.deterministic:
        randomness = cfg.setdefault('randomness', {})
        if args.seed is not None:
            randomness['seed'] = args.seed
        randomness['diff_rank_seed'] = args.diff_rank_seed
        randomness['deterministic'] = args.deterministic
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def resolve_resume(cfg):
    """Check the checkpoint to resume from before the runner is built: an unreadable file
    named by ``--resume FILE`` is an error naming it; an automatic resume falls back to the
    previous readable checkpoint with a warning (``mmtad_ext.utils.find_resume_checkpoint``)."""
    if not cfg.get('resume', False):
        return cfg
    if cfg.get('load_from') is None:
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)  # None: nothing to resume yet
    else:
        check_resume_checkpoint(cfg.load_from)
    return cfg


def main():
    args = parse_args()
    cfg = resolve_resume(merge_args(Config.fromfile(args.config), args))
    runner = Runner.from_cfg(cfg)
    runner.train()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # every rank done, then join the process group's threads before exit (otherwise a rank
        # whose peer already exited can abort at teardown: "terminate called without an
        # active exception")
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    run_cli(main)
