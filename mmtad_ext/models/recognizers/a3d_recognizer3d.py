"""A3DRecognizer3D: mutual training with spatial-temporal distillation and run-time budgets.

Paper 002 (A3D), sec. 3.1, eq. 3: each iteration trains the full network on the full clip with
cross-entropy, then sub-networks (the minimum width and ``num_random_widths`` random widths),
each on the clip resampled in the model at a random (gamma_s, gamma_t), with KL divergence to
the detached full-network output. Gradients of the three passes accumulate; one optimizer step.
Sec. 3.3: per-sub-network BN statistics (a bank keyed by sub-network, filled by
:meth:`A3DRecognizer3D.calibrate`) and the budget table live in the model's state dict
(``a3d_state.*`` tensors), so a deployable checkpoint switches sub-network instantly with
:meth:`A3DRecognizer3D.set_budget` or :meth:`A3DRecognizer3D.set_subnet`.
"""
import contextlib
import itertools
from typing import Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmaction.models.recognizers.recognizer3d import Recognizer3D
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

from mmtad_ext.evaluation.functional.budget import select_row
from mmtad_ext.registry import MODELS
from mmtad_ext.utils.deprecation import renamed_arg, warn_deprecated
from ..layers.slimmable_conv import SlimmableLinear
from ..utils.bn_calibration import bn_layers, calibrate_bn, load_bn_stats, snapshot_bn_stats
from ..utils.subnet import (SubNet, check_subnet, report_subnet_problem, resample_clip,
                            subnet_key)

_STATE = 'a3d_state.'
#: Numeric fields of a budget-table row (as stored in checkpoints and in the JSON table).
TABLE_FIELDS = ('gamma_w', 'gamma_s', 'gamma_t', 'gmacs', 'latency_ms', 'top1')
FULL_SUBNET: SubNet = (1.0, 1.0, 1.0)

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
    """Recognizer3D with A3D mutual training and sub-network switching.

    A sub-network is ``(gamma_w, gamma_s, gamma_t)`` (:data:`mmtad_ext.models.utils.SubNet`):
    width factor and spatial/temporal input factors, each in (0, 1]. Public interface beyond
    ``Recognizer3D``'s: :meth:`set_subnet` and :attr:`active_subnet`, :meth:`calibrate` (BN
    statistics of sub-networks into :attr:`bn_bank`), :meth:`set_budget_table` and
    :meth:`set_budget`, :meth:`sample_subnets`.

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
        self._active_subnet: SubNet = FULL_SUBNET
        self.bn_bank: Dict[SubNet, dict] = {}  # sub-network -> calibrated BN statistics
        # whose statistics the BN buffers hold: None = those of training (the full network's),
        # else the sub-network whose bank statistics set_subnet loaded last
        self._bn_source: Optional[SubNet] = None
        self.budget_table: List[dict] = []
        self._route = None  # (wrapper.__call__, wrapper.no_sync) while routed_forward() runs

    # ------------------------------------------------------------------ sub-networks
    @property
    def active_subnet(self) -> SubNet:
        """The sub-network ``(gamma_w, gamma_s, gamma_t)`` the model runs now."""
        return self._active_subnet

    def set_subnet(self, subnet: Sequence[float], use_bank: bool = True,
                   strict: bool = False) -> None:
        """Switch width and input size; with ``use_bank`` also load the calibrated BN stats.

        A sub-network outside the trained range (:meth:`untrained_reasons`) or, with
        ``use_bank``, one without calibrated statistics in :attr:`bn_bank` (it would run on
        the statistics the BN buffers hold now) is reported with a WARNING log line and a
        :class:`~mmtad_ext.models.utils.SubNetWarning`, or refused with ``strict=True``.
        The full network needs no bank entry while the buffers hold its training statistics.

        Args:
            subnet (Sequence[float]): ``(gamma_w, gamma_s, gamma_t)``: width factor, spatial
                and temporal input factors, each a real number in (0, 1].
            use_bank (bool): Load the sub-network's calibrated BN statistics from
                :attr:`bn_bank`. False switches the architecture only and keeps the current
                statistics (measuring MACs, calibrating). Defaults to True.
            strict (bool): Raise ``ValueError`` instead of warning. Defaults to False.

        Raises:
            TypeError: ``subnet`` is not a sequence of three real numbers.
            ValueError: A factor is NaN or not in (0, 1], ``subnet`` does not have three
                factors, or (``strict=True``) the sub-network is untrained or uncalibrated.
        """
        subnet = check_subnet(subnet)
        problems = self.untrained_reasons(subnet)
        calibrated = subnet in self.bn_bank
        if use_bank and not calibrated and not (subnet == FULL_SUBNET
                                                and self._bn_source is None):
            held = ('the full network\'s training statistics' if self._bn_source is None else
                    f'the calibrated statistics of {subnet_key(self._bn_source)}')
            problems.append(f'it has no calibrated BN statistics in bn_bank and would run on '
                            f'{held}; calibrate it with model.calibrate(batches, [subnet]) or '
                            'tools/a3d_budget_table.py, or pass use_bank=False')
        if problems:
            report_subnet_problem(f'sub-network {subnet_key(subnet)}: ' + '; '.join(problems), strict)
        self._apply_subnet(subnet)
        if use_bank and calibrated:
            load_bn_stats(self, self.bn_bank[subnet])
            self._bn_source = subnet

    def untrained_reasons(self, subnet: Sequence[float]) -> List[str]:
        """Why ``subnet`` lies outside the range mutual training covered (empty if inside).

        Trained: widths in ``mutual_cfg.width_range`` and 1 (the full network), spatial and
        temporal factors from the smallest of ``mutual_cfg.spatial_factors`` /
        ``temporal_factors`` up to 1 (between trained factors the input size is interpolated).

        Args:
            subnet (Sequence[float]): ``(gamma_w, gamma_s, gamma_t)``, checked by
                :func:`~mmtad_ext.models.utils.check_subnet`.

        Returns:
            list[str]: One phrase per factor outside its trained range.
        """
        gamma_w, gamma_s, gamma_t = check_subnet(subnet)
        cfg, eps = self.mutual_cfg, 1e-9
        lo, hi = cfg['width_range']
        reasons = []
        if not (lo - eps <= gamma_w <= hi + eps or gamma_w == 1):
            reasons.append(f'gamma_w={gamma_w:g} is outside the trained widths '
                           f'[{lo:g}, {hi:g}]' + ('' if hi == 1 else ' and 1'))
        for name, v, key in (('gamma_s', gamma_s, 'spatial_factors'),
                             ('gamma_t', gamma_t, 'temporal_factors')):
            smallest = min(cfg[key])
            if v < smallest - eps:
                reasons.append(f'{name}={v:g} is below the smallest trained factor {smallest:g} '
                               f'(mutual_cfg.{key})')
        return reasons

    def _apply_subnet(self, subnet: SubNet) -> None:
        """Switch the backbone to a checked ``subnet`` (no range check, BN buffers unchanged)."""
        gamma_w, gamma_s, gamma_t = subnet
        self.backbone.set_width(gamma_w)
        if hasattr(self.backbone, 'set_input_scale'):
            self.backbone.set_input_scale(gamma_s, gamma_t)
        self._active_subnet = (gamma_w, gamma_s, gamma_t)

    def set_budget_table(self, rows: Sequence[dict]) -> None:
        """Store the budget table and keep the BN statistics of exactly its sub-networks.

        Args:
            rows (Sequence[dict]): Rows with the fields :data:`TABLE_FIELDS` (as written by
                ``tools/a3d_budget_table.py``); every row's sub-network must be calibrated
                (:meth:`calibrate`). Bank entries of other sub-networks are dropped, so a
                deploy checkpoint holds only what :meth:`set_budget` can choose.
        """
        table = []
        for row in rows:
            if 'gflops' in row and 'gmacs' not in row:  # tables written before the rename
                warn_deprecated('A3DRecognizer3D.set_budget_table', "a row's 'gflops'",
                                "'gmacs'")
                row = {('gmacs' if k == 'gflops' else k): v for k, v in row.items()}
            missing = [f for f in TABLE_FIELDS if f not in row]
            if missing:
                raise KeyError(f'budget-table row {row!r} lacks {missing}')
            try:
                gammas = check_subnet([row['gamma_w'], row['gamma_s'], row['gamma_t']])
                values = {f: float(row[f]) for f in TABLE_FIELDS[3:]}
            except (TypeError, ValueError) as e:
                raise type(e)(f'budget-table row {row!r}: {e}') from None
            bad = [f for f, v in values.items() if v != v or v < 0]
            if bad:
                raise ValueError(f'budget-table row {row!r}: {bad} must be numbers >= 0')
            table.append(dict(zip(TABLE_FIELDS[:3], gammas), **values))
        subnets = {(r['gamma_w'], r['gamma_s'], r['gamma_t']) for r in table}
        uncalibrated = sorted(subnets - set(self.bn_bank))
        if uncalibrated:
            raise KeyError(f'no calibrated BN statistics for {uncalibrated[:5]}; run '
                           'calibrate() on these sub-networks first')
        self.budget_table = table
        # the full network's statistics stay too, so that set_subnet can always return to it
        self.bn_bank = {k: v for k, v in self.bn_bank.items()
                        if k in subnets or k == FULL_SUBNET}

    def set_budget(self, gmacs: Optional[float] = None, latency_ms: Optional[float] = None,
                   gflops: Optional[float] = None, strict: bool = False) -> dict:
        """Switch to the most accurate sub-network of the budget table within the budget.

        Args:
            gmacs (float, optional): Budget in GMACs per clip (a positive number, ``inf``
                allowed). Defaults to None.
            latency_ms (float, optional): Budget in milliseconds per clip. Defaults to None.
            gflops (float, optional): Deprecated name of ``gmacs``.
            strict (bool): Passed to :meth:`set_subnet`: raise instead of warning when the
                chosen row lies outside the trained range. Defaults to False.

        Returns:
            dict: The chosen table row.
        """
        gmacs = renamed_arg('A3DRecognizer3D.set_budget', 'gflops', 'gmacs', gflops, gmacs, None)
        row = select_row(self.budget_table, gmacs=gmacs, latency_ms=latency_ms)
        self.set_subnet((row['gamma_w'], row['gamma_s'], row['gamma_t']), use_bank=True,
                        strict=strict)
        return row

    def extract_feat(self, inputs: torch.Tensor, **kwargs) -> tuple:
        """Resample ``inputs`` (N, V, C, T, H, W) to the active sub-network, then extract."""
        if not hasattr(self.backbone, 'set_input_scale'):
            inputs = resample_clip(inputs, self._active_subnet[1], self._active_subnet[2])
        return super().extract_feat(inputs, **kwargs)

    # ------------------------------------------------------------------ BN calibration
    def calibration_forward(self, data: dict) -> None:
        """Forward one data-loader batch for BN calibration (no loss, no gradient)."""
        data = self.data_preprocessor(data, False)
        self.extract_feat(data['inputs'], stage='backbone')

    @torch.no_grad()
    def calibrate(self, batches: Iterable, subnets: Sequence[Sequence[float]],
                  num_batches: Optional[int] = None, strict: bool = False) -> Dict[SubNet, dict]:
        """Calibrate the BN statistics of each sub-network and store them in :attr:`bn_bank`.

        A3D sec. 3.3: for each sub-network, the running statistics of every BN layer are
        recomputed on the same batches (:func:`~mmtad_ext.models.utils.calibrate_bn`: cumulative
        average, no weight update, averaged over ranks under ``torch.distributed``), and their
        active slice is stored. The first ``num_batches`` batches are taken once and reused for
        every sub-network. The model is left as it was: running statistics, active sub-network
        and train/eval mode are restored (other layers run in eval mode meanwhile, e.g. no
        dropout), so training or evaluation continue exactly as without the call.

        Args:
            batches (Iterable): Data-loader batches (a data loader, or a list of its batches).
            subnets (Sequence): Sub-networks ``(gamma_w, gamma_s, gamma_t)`` to calibrate.
            num_batches (int, optional): Batches to use (>= 1); fewer if ``batches`` runs out
                (logged). Defaults to None: all of ``batches`` (must then be finite).
            strict (bool): Raise ``ValueError`` instead of warning (WARNING log line and
                :class:`~mmtad_ext.models.utils.SubNetWarning`) when a sub-network lies outside
                the trained range (:meth:`untrained_reasons`). Defaults to False.

        Returns:
            dict: ``{subnet: {bn layer name: dict(mean=..., var=...)}}``, the calibrated
            statistics of ``subnets`` (also stored in :attr:`bn_bank`).
        """
        if num_batches is not None and (isinstance(num_batches, bool)
                                        or not isinstance(num_batches, int) or num_batches < 1):
            raise ValueError(f'num_batches must be None or a positive int, got {num_batches!r}')
        if isinstance(subnets, (str, bytes)) or not hasattr(subnets, '__iter__'):
            raise TypeError(f'subnets must be a list of (gamma_w, gamma_s, gamma_t), got '
                            f'{subnets!r}')
        subnets = [check_subnet(s) for s in subnets]
        if not subnets:
            raise ValueError('calibrate() got no sub-network to calibrate')
        untrained = [f'{subnet_key(s)} ({"; ".join(r)})' for s in subnets
                     for r in [self.untrained_reasons(s)] if r]
        if untrained:
            report_subnet_problem(f'calibrating {len(untrained)} sub-networks outside the trained range: '
                    + ', '.join(untrained[:5]) + (' ...' if len(untrained) > 5 else ''), strict,
                    stacklevel=4)  # under torch.no_grad's wrapper
        cached = list(itertools.islice(batches, num_batches))  # decoded once, reused
        if not cached:
            raise ValueError('BN calibration got no batch: the calibration data is empty')
        if num_batches is not None and len(cached) < num_batches:
            print_log(f'BN calibration: the data gave {len(cached)} of the {num_batches} '
                      'requested batches', logger='current')
        # calibration resets the running statistics: keep the current ones and the sub-network
        buffers = {name: b.detach().clone() for name, b in self.named_buffers()}
        previous, was_training = self._active_subnet, self.training
        self.eval()  # BN layers are switched to training mode by the calibration itself
        calibrated = {}
        try:
            for subnet in subnets:
                self._apply_subnet(subnet)
                active = calibrate_bn(self, cached, len(cached),
                                      forward_fn=self.calibration_forward)
                calibrated[self._active_subnet] = snapshot_bn_stats(self, active)
        finally:
            for name, b in self.named_buffers():
                b.copy_(buffers[name])
            self._apply_subnet(previous)
            self.train(was_training)
        self.bn_bank.update(calibrated)
        print_log(f'calibrated BN statistics of {len(calibrated)} sub-networks on '
                  f'{len(cached)} batches', logger='current')
        return calibrated

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
        """Class scores (B, num_classes) at the active sub-network."""
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

    def sample_subnets(self) -> List[SubNet]:
        """The sub-networks of one iteration: min width, then random widths."""
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
        subnets = self.sample_subnets()
        try:
            with self._grad_sync(last=not subnets):
                with optim_wrapper.optim_context(self):
                    self._apply_subnet(FULL_SUBNET)
                    logits = self._logits(inputs)
                    losses = self.cls_head.loss_by_feat(logits, data_samples)
                loss, log_vars = self.parse_losses(losses)
                optim_wrapper.backward(loss)
            teacher = logits.detach()
            for i, subnet in enumerate(subnets):
                name = 'min' if i == 0 else f'rand{i}'
                with self._grad_sync(last=i == len(subnets) - 1):
                    with optim_wrapper.optim_context(self), self._frozen_bn_stats(
                            not self.mutual_cfg['sub_bn_update']):
                        self._apply_subnet(subnet)
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
            self._apply_subnet(FULL_SUBNET)
        return log_vars

    # ------------------------------------------------------------------ persistence
    # The A3D state is stored as plain tensors under ``a3d_state.`` in the state dict (not as
    # ``get_extra_state``, whose non-tensor values break ``torch.jit.trace`` and with it
    # mmengine's FLOP counter): generator state, active sub-network, BN bank, budget table.
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        p = prefix + _STATE
        destination[p + 'generator'] = self._generator.get_state()
        destination[p + 'active_subnet'] = torch.tensor(self._active_subnet, dtype=torch.float64)
        destination[p + 'bn_source'] = torch.tensor(  # (3, ), or (0, ): training statistics
            self._bn_source or (), dtype=torch.float64)
        subnets = list(self.bn_bank)
        destination[p + 'bank_subnets'] = torch.tensor(
            subnets, dtype=torch.float64).reshape(-1, 3)
        for i, subnet in enumerate(subnets):
            for name, stats in self.bn_bank[subnet].items():
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
        if own:  # else e.g. a plain mmaction2 checkpoint: keep the current A3D state
            self._load_a3d_state(own)

    def restore_checkpoint_structure(self, checkpoint: dict) -> None:
        """Load the checkpoint's A3D state (BN bank, budget table, active sub-network) first,
        so that its ``a3d_state.bank.*`` keys match strictly (see
        :func:`mmtad_ext.utils.check_checkpoint_matches`)."""
        sd = checkpoint.get('state_dict', checkpoint)
        own = {}
        for k, v in sd.items():
            k = k[len('module.'):] if k.startswith('module.') else k
            if k.startswith(_STATE):
                own[k[len(_STATE):]] = v
        if own:
            self._load_a3d_state(own)

    def _load_a3d_state(self, own: dict) -> None:
        """Set the A3D state from the ``a3d_state.*`` entries of a state dict (prefix removed)."""
        self._generator.set_state(own['generator'])
        # Checkpoints written before the "config" -> "subnet" rename store these two tensors as
        # 'active_config' and 'bank_configs' (same layout); they still load.
        active = own['active_subnet'] if 'active_subnet' in own else own['active_config']
        bank_subnets = own['bank_subnets'] if 'bank_subnets' in own else own['bank_configs']
        bank: Dict[SubNet, dict] = {}
        for i, subnet in enumerate(bank_subnets.tolist()):
            head = f'bank.{i}.'
            names = {k[len(head):-len('.mean')] for k in own
                     if k.startswith(head) and k.endswith('.mean')}
            bank[tuple(subnet)] = {
                n: dict(mean=own[f'{head}{n}.mean'].clone(), var=own[f'{head}{n}.var'].clone())
                for n in names
            }
        self.bn_bank = bank
        self.budget_table = [dict(zip(TABLE_FIELDS, row)) for row in own['budget_table'].tolist()]
        # absent in checkpoints written before it was stored: taken as training statistics
        source = own.get('bn_source', torch.empty(0)).tolist()
        self._bn_source = tuple(source) if source else None
        # the BN buffers loaded next by the children are those of this sub-network
        self._apply_subnet(check_subnet(active.tolist()))
