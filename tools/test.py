"""Evaluate a checkpoint (temporal action detection mAP), as mmaction2's ``tools/test.py``.

Run::

    python tools/test.py configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py \
        work_dirs/x/epoch_16.pth --dump work_dirs/x/submission.json

The test evaluator's metrics are printed (per-class table in the log); ``--dump`` writes the
detections as an ActivityNet submission JSON. ``--no-eval --dump x.json`` only writes them (test
servers, unlabelled videos); a subset without any annotation is not evaluated either.

The checkpoint is read and checked before testing: an unreadable file or a checkpoint of
another model (missing, unexpected or reshaped keys) is an error naming the file and the keys
(``--non-strict`` loads the shared keys instead, as mmengine does by default). A run's own
checkpoints are checked after the structure they were saved with is restored: a block-drop
run's ``epoch_N.pth`` (dropped blocks, an unfinished stage's LoRA) and ``block_drop_stage{t}.pth``
(the student alone, tested as the student model), an A3D run's checkpoints with their BN bank.
"""
import argparse
import os
import os.path as osp

import torch
import mmtad_ext  # noqa: F401  (first: registers modules, applies compat, defers transformers)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmtad_ext.compat import configure_cpu_distributed
from mmtad_ext.engine.block_drop.checkpoint import student_config
from mmtad_ext.utils import check_checkpoint_matches, read_checkpoint, run_cli
from mmtad_ext.utils.errors import DEBUG_HELP


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model (mmtad-ext)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation logs')
    parser.add_argument('--dump', type=str,
                        help='write the detections as an ActivityNet submission JSON')
    parser.add_argument('--no-eval', action='store_true',
                        help='only write --dump, evaluate nothing (e.g. unlabelled videos)')
    parser.add_argument('--non-strict', action='store_true',
                        help='load a checkpoint whose keys differ from the model (not advised)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs, e.g. test_dataloader.batch_size=4')
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
    cfg.launcher = args.launcher
    if args.launcher != 'none':
        configure_cpu_distributed(cfg)  # without CUDA: gloo, DDP without device ids
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.no_eval and args.dump is None:
        raise ValueError('--no-eval writes the detections only: give --dump <file.json>')
    if args.dump is not None:
        evaluators = cfg.test_evaluator
        for evaluator in evaluators if isinstance(evaluators, list) else [evaluators]:
            if evaluator.get('type', '').split('.')[-1] == 'TADMetric':
                evaluator['dump'] = args.dump
                evaluator['format_only'] = args.no_eval
                break
        else:
            raise ValueError('--dump needs a TADMetric in test_evaluator')
    cfg.load_from = args.checkpoint
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    checkpoint = read_checkpoint(args.checkpoint)  # errors name the file
    cfg = student_config(cfg, checkpoint)  # a block-drop stage file: test the student
    runner = Runner.from_cfg(cfg)
    if not args.non_strict:
        check_checkpoint_matches(runner.model, checkpoint, args.checkpoint)
    del checkpoint  # the runner loads cfg.load_from itself (its checkpoint hooks run)
    runner.test()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # every rank done, then join the process group's threads before exit (otherwise a rank
        # whose peer already exited can abort at teardown: "terminate called without an
        # active exception")
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    run_cli(main)
