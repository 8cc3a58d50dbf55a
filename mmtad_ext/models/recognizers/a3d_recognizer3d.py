"""A3DRecognizer3D: mutual training with spatial-temporal distillation and run-time budgets.

Paper 002 (A3D), sec. 3.1, eq. 3: each iteration trains the full network on the full clip with
cross-entropy, then sub-networks (the minimum width and ``num_random_widths`` random widths),
each on the clip resampled in the model at a random (gamma_s, gamma_t), with KL divergence to
the detached full-network output. Gradients of the three passes accumulate; one optimizer step.
Sec. 3.3: per-configuration BN statistics (a bank keyed by configuration) and the
configuration-budget table live in the model's state dict (``a3d_state.*`` tensors), so a deployable
checkpoint switches configuration instantly with :meth:`A3DRecognizer3D.set_budget`.
"""
import contextlib
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmaction.models.recognizers.recognizer3d import Recognizer3D
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

from mmtad_ext.a3d.bn_calibration import (bn_layers, calibrate_bn, load_bn_stats,
                                          snapshot_bn_stats)
from mmtad_ext.a3d.budget import select_row
from mmtad_ext.a3d.configs import config_key, resample_clip
from mmtad_ext.registry import MODELS
from ..layers.slimmable_conv import SlimmableLinear

_STATE = 'a3d_state.'
#: Numeric fields of a budget-table row (as stored in checkpoints and in the JSON table).
TABLE_FIELDS = ('gamma_w', 'gamma_s', 'gamma_t', 'gflops', 'latency_ms', 'top1')

DEFAULT_MUTUAL_CFG = dict(
    width_range=(0.5, 1.0),
    spatial_factors=(0.57, 0.71, 0.86, 1.0),
    temporal_factors=(0.25, 0.5, 0.75, 1.0),
    num_random_widths=1,
    kl_weight=1.0,
    temperature=1.0,
    sub_bn_update=False,
    seed=0)


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0):
    """KL(teacher || student) of softened class distributions, batch mean, times T^2."""
    t = temperature
    return F.kl_div(
        F.log_softmax(student / t, dim=1), F.softmax(teacher.detach() / t, dim=1),
        reduction='batchmean') * t * t


@MODELS.register_module()
class A3DRecognizer3D(Recognizer3D):
    """Recognizer3D with A3D mutual training and configuration switching.

    The backbone must provide ``set_width(gamma_w)`` (e.g. ``SlimmableResNet3D``); if it also
    provides ``set_input_scale(gamma_s, gamma_t)`` (A3D SlowFast) it resamples its own inputs,
    otherwise the recognizer resamples the clip. The head's ``fc_cls`` is replaced by a
    :class:`SlimmableLinear` (same parameters, same state-dict keys). No neck.

    Args:
        backbone (dict): Slimmable backbone config.
        cls_head (dict): Head config with an ``fc_cls`` linear layer (``I3DHead``,
            ``SlowFastHead``).
        mutual_cfg (dict, optional): Mutual-training settings, merged into the defaults
            (the paper's [0.016, 1] range): ``width_range`` (min, max) sampled uniformly,
            ``spatial_factors``, ``temporal_factors``, ``num_random_widths`` (1),
            ``kl_weight`` (1.0), ``temperature`` (1.0), ``sub_bn_update`` (False: sub-networks
            leave the running statistics alone; they are calibrated after training) and
            ``seed`` (0) of the generator of the random choices. Defaults to None.
        **kwargs: Other arguments of ``Recognizer3D`` (``train_cfg``, ``test_cfg``,
            ``data_preprocessor``).
    """

    def __init__(self, backbone: dict, cls_head: dict, mutual_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if kwargs.get('neck') is not None:
            raise ValueError('A3DRecognizer3D does not support a neck (it would need slimming)')
        super().__init__(backbone=backbone, cls_head=cls_head, **kwargs)
        if not hasattr(self.backbone, 'set_width'):
            raise TypeError(f'{type(self.backbone).__name__} has no set_width(); use a slimmable '
                            'backbone such as SlimmableResNet3D')
        cfg = dict(DEFAULT_MUTUAL_CFG)
        unknown = set(mutual_cfg or {}) - set(cfg)
        if unknown:
            raise KeyError(f'unknown mutual_cfg keys {sorted(unknown)}; valid: {sorted(cfg)}')
        cfg.update(mutual_cfg or {})
        lo, hi = cfg['width_range']
        if not 0 < lo <= hi <= 1:
            raise ValueError(f'mutual_cfg.width_range must satisfy 0 < min <= max <= 1, got '
                             f'{cfg["width_range"]}')
        for key in ('spatial_factors', 'temporal_factors'):
            if not cfg[key] or not all(0 < f <= 1 for f in cfg[key]):
                raise ValueError(f'mutual_cfg.{key} must be non-empty factors in (0, 1], got '
                                 f'{cfg[key]}')
        self.mutual_cfg = cfg
        self._generator = torch.Generator().manual_seed(int(cfg['seed']))
        fc = self.cls_head.fc_cls
        self.cls_head.fc_cls = SlimmableLinear(
            fc.in_features, fc.out_features, bias=fc.bias is not None,
            fixed_in_head=getattr(self.backbone, 'head_fixed_in_channels', 0))
        self.active_config = (1.0, 1.0, 1.0)
        self.bn_bank: Dict[tuple, dict] = {}  # (gamma_w, gamma_s, gamma_t) -> BN statistics
        self.budget_table: List[dict] = []
        self._route = None  # (wrapper.__call__, wrapper.no_sync) while routed_forward() runs

    # ------------------------------------------------------------------ configurations
    def set_config(self, gamma_w: float, gamma_s: float = 1.0, gamma_t: float = 1.0,
                   use_bank: bool = True) -> None:
        """Switch width and input size; with ``use_bank`` also load the calibrated BN stats.

        Args:
            gamma_w (float): Width factor in (0, 1].
            gamma_s (float): Spatial input factor in (0, 1]. Defaults to 1.
            gamma_t (float): Temporal input factor in (0, 1]. Defaults to 1.
            use_bank (bool): Load the configuration's calibrated BN statistics if the bank has
                them (a warning is logged if it has others but not these). Defaults to True.
        """
        for name, v in (('gamma_s', gamma_s), ('gamma_t', gamma_t)):
            if not 0 < v <= 1:
                raise ValueError(f'{name} must be in (0, 1], got {v}')
        self.backbone.set_width(gamma_w)
        if hasattr(self.backbone, 'set_input_scale'):
            self.backbone.set_input_scale(gamma_s, gamma_t)
        self.active_config = (float(gamma_w), float(gamma_s), float(gamma_t))
        if use_bank and self.bn_bank:
            if self.active_config in self.bn_bank:
                load_bn_stats(self, self.bn_bank[self.active_config])
            else:
                print_log(f'no calibrated BN statistics for {config_key(*self.active_config)}; '
                          'calibrate it with '
                          'calibrate_config() or tools/a3d_budget_table.py', logger='current')

    def set_budget(self, gflops: Optional[float] = None,
                   latency_ms: Optional[float] = None) -> dict:
        """Switch to the most accurate configuration of the budget table within the budget.

        Returns:
            dict: The chosen table row.
        """
        row = select_row(self.budget_table, gflops=gflops, latency_ms=latency_ms)
        self.set_config(row['gamma_w'], row['gamma_s'], row['gamma_t'], use_bank=True)
        return row

    def extract_feat(self, inputs: torch.Tensor, **kwargs) -> tuple:
        """Resample ``inputs`` (N, V, C, T, H, W) to the active configuration, then extract."""
        if not hasattr(self.backbone, 'set_input_scale'):
            inputs = resample_clip(inputs, self.active_config[1], self.active_config[2])
        return super().extract_feat(inputs, **kwargs)

    # ------------------------------------------------------------------ BN calibration
    def calibration_forward(self, data: dict) -> None:
        """Forward one data-loader batch for BN calibration (no loss, no gradient)."""
        data = self.data_preprocessor(data, False)
        self.extract_feat(data['inputs'], stage='backbone')

    def calibrate_config(self, config: Sequence[float], batches, num_batches: int) -> None:
        """Calibrate BN statistics for ``config`` and store them in the bank."""
        self.set_config(*config, use_bank=False)
        active = calibrate_bn(self, batches, num_batches)
        self.bn_bank[self.active_config] = snapshot_bn_stats(self, active)

    # ------------------------------------------------------------------ mutual training
    @contextlib.contextmanager
    def routed_forward(self, wrapper: torch.nn.Module):
        """Send the forward passes of :meth:`train_step` through ``wrapper`` (a DDP wrapper).

        Used by :class:`~mmtad_ext.engine.DelegatingDistributedDataParallel`. The passes before
        the last one run under ``wrapper.no_sync()``: their gradients accumulate locally and
        the last backward pass all-reduces the sum once per iteration.
        """
        self._route = (wrapper.__call__, wrapper.no_sync)  # bound methods: not submodules
        try:
            yield
        finally:
            self._route = None

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Class scores (B, num_classes) at the active configuration."""
        if self._route is not None:
            return self._route[0](inputs, mode='tensor', stage='head')
        return self.extract_feat(inputs, stage='head')[0]

    def _grad_sync(self, last: bool):
        """Context of one forward/backward pass: no DDP all-reduce unless it is the last."""
        if self._route is None or last:
            return contextlib.nullcontext()
        return self._route[1]()

    def loss(self, inputs: torch.Tensor, data_samples, **kwargs) -> dict:
        """Not used: A3D trains in :meth:`train_step` (three passes, one step).

        Reached through ``forward(mode='loss')``, e.g. from mmengine's default
        ``MMDistributedDataParallel.train_step``, which would silently train the full network
        only; this raises instead.
        """
        raise RuntimeError(
            'A3DRecognizer3D trains in train_step (mutual training); forward(mode="loss") would '
            'train the full network only. Under a distributed launcher set model_wrapper_cfg='
            'dict(type="mmtad_ext.DelegatingDistributedDataParallel") (the A3D configs do)')

    def sample_sub_configs(self) -> List[tuple]:
        """The sub-network configurations of one iteration: min width, then random widths."""
        cfg, g = self.mutual_cfg, self._generator
        lo, hi = cfg['width_range']

        def pick(values):
            return float(values[int(torch.randint(len(values), (1, ), generator=g))])

        widths = [lo] + [lo + (hi - lo) * float(torch.rand(1, generator=g))
                         for _ in range(cfg['num_random_widths'])]
        return [(w, pick(cfg['spatial_factors']), pick(cfg['temporal_factors']))
                for w in widths]

    @contextlib.contextmanager
    def _frozen_bn_stats(self, frozen: bool):
        """Keep running statistics unchanged (momentum 0) inside the block if ``frozen``."""
        layers = list(bn_layers(self).values()) if frozen else []
        saved = [m.momentum for m in layers]
        try:
            for m in layers:
                m.momentum = 0.0
            yield
        finally:
            for m, mom in zip(layers, saved):
                m.momentum = mom

    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One A3D iteration: full net + CE, sub-nets + KL, accumulated gradients, one step."""
        if getattr(optim_wrapper, '_accumulative_counts', 1) != 1:
            raise ValueError('A3DRecognizer3D.train_step runs three backward passes per '
                             'iteration; set optim_wrapper.accumulative_counts=1')
        data = self.data_preprocessor(data, True)
        inputs, data_samples = data['inputs'], data['data_samples']
        sub_configs = self.sample_sub_configs()
        try:
            with self._grad_sync(last=not sub_configs):
                with optim_wrapper.optim_context(self):
                    self.set_config(1.0, 1.0, 1.0, use_bank=False)
                    logits = self._logits(inputs)
                    losses = self.cls_head.loss_by_feat(logits, data_samples)
                loss, log_vars = self.parse_losses(losses)
                optim_wrapper.backward(loss)
            teacher = logits.detach()
            for i, config in enumerate(sub_configs):
                name = 'min' if i == 0 else f'rand{i}'
                with self._grad_sync(last=i == len(sub_configs) - 1):
                    with optim_wrapper.optim_context(self), self._frozen_bn_stats(
                            not self.mutual_cfg['sub_bn_update']):
                        self.set_config(*config, use_bank=False)
                        sub_logits = self._logits(inputs)
                        kl = self.mutual_cfg['kl_weight'] * distill_kl(
                            sub_logits, teacher, self.mutual_cfg['temperature'])
                    sub_loss, sub_vars = self.parse_losses({f'loss_kl_{name}': kl})
                    optim_wrapper.backward(sub_loss)
                total = log_vars['loss'] + sub_vars.pop('loss')
                log_vars.update(sub_vars, loss=total)
            optim_wrapper.step()
            optim_wrapper.zero_grad()
        finally:
            self.set_config(1.0, 1.0, 1.0, use_bank=False)
        return log_vars

    # ------------------------------------------------------------------ persistence
    # The A3D state is stored as plain tensors under ``a3d_state.`` in the state dict (not as
    # ``get_extra_state``, whose non-tensor values break ``torch.jit.trace`` and with it
    # mmengine's FLOP counter): generator state, active configuration, BN bank, budget table.
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        p = prefix + _STATE
        destination[p + 'generator'] = self._generator.get_state()
        destination[p + 'active_config'] = torch.tensor(self.active_config, dtype=torch.float64)
        configs = list(self.bn_bank)
        destination[p + 'bank_configs'] = torch.tensor(
            configs, dtype=torch.float64).reshape(-1, 3)
        for i, config in enumerate(configs):
            for name, stats in self.bn_bank[config].items():
                destination[f'{p}bank.{i}.{name}.mean'] = stats['mean']
                destination[f'{p}bank.{i}.{name}.var'] = stats['var']
        destination[p + 'budget_table'] = torch.tensor(
            [[float(r[f]) for f in TABLE_FIELDS] for r in self.budget_table],
            dtype=torch.float64).reshape(-1, len(TABLE_FIELDS))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        p = prefix + _STATE
        own = {k[len(p):]: v for k, v in state_dict.items() if k.startswith(p)}
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        unexpected_keys[:] = [k for k in unexpected_keys if not k.startswith(p)]
        if not own:  # e.g. a plain mmaction2 checkpoint: keep the current A3D state
            return
        self._generator.set_state(own['generator'])
        bank: Dict[tuple, dict] = {}
        for i, config in enumerate(own['bank_configs'].tolist()):
            head = f'bank.{i}.'
            names = {k[len(head):-len('.mean')] for k in own
                     if k.startswith(head) and k.endswith('.mean')}
            bank[tuple(config)] = {
                n: dict(mean=own[f'{head}{n}.mean'].clone(), var=own[f'{head}{n}.var'].clone())
                for n in names
            }
        self.bn_bank = bank
        self.budget_table = [dict(zip(TABLE_FIELDS, row)) for row in own['budget_table'].tolist()]
        # the BN buffers loaded next by the children are those of this configuration
        self.set_config(*own['active_config'].tolist(), use_bank=False)
