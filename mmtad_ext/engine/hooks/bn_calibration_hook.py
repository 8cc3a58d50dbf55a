"""BNCalibrationHook: per-sub-network BN calibration at the end of A3D training.

*A3D: Adaptive 3D Networks for Video Action Recognition* (arXiv 2011.12384),
sec. 3.3 (from universally slimmable networks): BN statistics differ between sub-networks
(width, spatial and temporal size), so after training each sub-network of the budget table
gets its own statistics, recomputed on a few training batches with no weight update. The hook
asks the model to calibrate every sub-network of the config's ``a3d_table``
(:meth:`A3DRecognizer3D.calibrate`), which stores them in the model's BN bank; the bank is part
of the model's state dict, so the checkpoint saved right after (the hook runs before
``CheckpointHook``) is deployable: ``set_subnet``/``set_budget`` switch instantly. The hook
keeps no state of its own (the bank is the model's), so nothing is added to checkpoints.
"""
import time
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from mmtad_ext.models.utils import subnet_grid
from mmtad_ext.registry import HOOKS

TABLE_KEYS = ('widths', 'spatial_factors', 'temporal_factors')


def _check_table(table, source: str) -> None:
    """Raise a clear error unless ``table`` is an ``a3d_table``-like dict."""
    if not isinstance(table, dict) or not set(TABLE_KEYS) <= set(table):
        raise ValueError(f'{source} must be a dict with keys {TABLE_KEYS} (as the configs\' '
                         f'a3d_table), got {table!r}')
    for key in TABLE_KEYS:
        values = table[key]
        if (not isinstance(values, Sequence) or not values
                or not all(isinstance(v, (int, float)) and 0 < v <= 1 for v in values)):
            raise ValueError(f'{source}.{key} must be a non-empty sequence of factors in '
                             f'(0, 1], got {values!r}')


def _check_positive(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise ValueError(f'{name} must be None or a positive int, got {value!r}')


@HOOKS.register_module()
class BNCalibrationHook(Hook):
    """Calibrate and store BN statistics for every sub-network of the A3D table.

    Runs after the last training epoch (and every ``interval`` epochs if given), before
    ``CheckpointHook`` saves (priority ``LOW`` < ``VERY_LOW``). The model's
    :meth:`~mmtad_ext.models.recognizers.A3DRecognizer3D.calibrate` decodes the first
    ``num_batches`` batches of the training data loader once and uses them for every
    sub-network. Weights are unchanged; the model's running statistics and active sub-network
    are restored afterwards, so training and validation continue exactly as without the hook.
    In distributed training every rank calibrates on its own batches and the statistics are
    averaged over all ranks' batches (:func:`~mmtad_ext.models.utils.calibrate_bn`): the same
    on every rank and in the checkpoint.

    Args:
        table (dict, optional): ``widths``, ``spatial_factors`` and ``temporal_factors`` whose
            product is calibrated (optionally ``calib_batches``). Defaults to None: the
            config's ``a3d_table``.
        num_batches (int, optional): Training batches per sub-network. Defaults to None:
            the table's ``calib_batches``.
        interval (int, optional): Also calibrate every ``interval`` epochs (iterations with
            an ``IterBasedTrainLoop``). Defaults to None (only at the end of training).
    """

    priority = 'LOW'

    def __init__(self,
                 table: Optional[dict] = None,
                 num_batches: Optional[int] = None,
                 interval: Optional[int] = None) -> None:
        if table is not None:
            _check_table(table, 'table')
        _check_positive('num_batches', num_batches)
        _check_positive('interval', interval)
        self.table = table
        self.num_batches = num_batches
        self.interval = interval
        self.subnets: list = []
        self.by_epoch = True

    def before_train(self, runner) -> None:
        """Resolve the table and the number of batches; check model and training loop."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not callable(getattr(model, 'calibrate', None)):
            raise TypeError(f'BNCalibrationHook needs a model with calibrate(batches, subnets) '
                            f'(e.g. A3DRecognizer3D), got {type(model).__name__}')
        if not isinstance(runner.train_loop, (EpochBasedTrainLoop, IterBasedTrainLoop)):
            raise TypeError('BNCalibrationHook calibrates at the end of training; it needs an '
                            'EpochBasedTrainLoop or an IterBasedTrainLoop, got '
                            f'{type(runner.train_loop).__name__}')
        self.by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        table = self.table
        if table is None:
            table = runner.cfg.get('a3d_table')
            if table is None:
                raise KeyError('BNCalibrationHook: give table=dict(widths=..., '
                               'spatial_factors=..., temporal_factors=...) or define a3d_table '
                               'in the config')
            _check_table(table, 'config a3d_table')
        num_batches = self.num_batches or table.get('calib_batches')
        _check_positive('num_batches (or a3d_table.calib_batches)', num_batches)
        if num_batches is None:
            raise KeyError('BNCalibrationHook: give num_batches or a3d_table.calib_batches')
        self.resolved_num_batches = int(num_batches)
        self.subnets = subnet_grid(table['widths'], table['spatial_factors'],
                                   table['temporal_factors'])

    def after_train_epoch(self, runner) -> None:
        """Epoch-based loop: calibrate after the last epoch and every ``interval`` epochs."""
        if self.by_epoch and (self.is_last_train_epoch(runner) or (
                self.interval is not None and self.every_n_epochs(runner, self.interval))):
            self.calibrate(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Iteration-based loop: after the last iteration and every ``interval`` iterations."""
        if not self.by_epoch and (self.is_last_train_iter(runner) or (
                self.interval is not None and self.every_n_train_iters(runner, self.interval))):
            self.calibrate(runner)

    def calibrate(self, runner) -> None:
        """Calibrate every table sub-network and store it in the model's BN bank."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        start = time.perf_counter()
        model.calibrate(runner.train_dataloader, self.subnets, self.resolved_num_batches)
        print_log(f'BNCalibrationHook: {len(self.subnets)} sub-networks calibrated in '
                  f'{time.perf_counter() - start:.1f} s', logger='current')
