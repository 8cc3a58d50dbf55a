"""The one home for measurement: counted MACs, latency, bytes saved for backward, seed statistics.

Used by :class:`~mmtad_ext.engine.hooks.BlockDropHook`'s stage report, the A3D budget table
(:mod:`mmtad_ext.apis.a3d_budget`), the tests that count memory, and every benchmark under
``tools/analysis_tools/``. Models never import it (they do not count, time or plot).

Conventions, one per quantity:

- **MACs**: multiply-accumulates of one forward, counted by mmengine's ``FlopAnalyzer`` from a
  traced run (mmengine, like fvcore, counts one fused multiply-add as one "flop", which is what
  papers report as FLOPs or MACs). Tables print GMACs.
- **Latency**: the median wall-clock milliseconds of ``repeats`` timed eval-mode forwards after
  ``warmup`` untimed ones (CUDA synchronised).
- **Saved-for-backward bytes**: :class:`SavedTensorMeter`.
- **Seeds**: mean +- standard error of the mean (sample sd / sqrt(n)); paired differences by
  seed for comparisons (:func:`paired_differences`).
"""
import math
import statistics
import time
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from mmtad_ext.utils.mode import eval_mode


@torch.no_grad()
def count_macs(module: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one eval-mode forward ``module(*inputs)``.

    Counted by :class:`mmengine.analysis.FlopAnalyzer`; the module's train/eval mode is
    restored afterwards.

    Args:
        module (nn.Module): The module to count.
        inputs (tuple[Tensor]): Positional inputs of its forward.

    Returns:
        int: MACs.
    """
    from mmengine.analysis import FlopAnalyzer
    with eval_mode(module):
        analyzer = FlopAnalyzer(module, tuple(inputs))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total())


@torch.no_grad()
def measure_latency_ms(module: nn.Module, inputs: Tuple[torch.Tensor, ...], repeats: int = 10,
                       warmup: int = 2) -> float:
    """Median wall-clock milliseconds of one eval-mode forward ``module(*inputs)``.

    Args:
        module (nn.Module): The module to time.
        inputs (tuple[Tensor]): Positional inputs of its forward.
        repeats (int): Timed forwards. Defaults to 10.
        warmup (int): Untimed forwards first. Defaults to 2.

    Returns:
        float: Median milliseconds.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f'repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}')
    inputs = tuple(inputs)
    cuda = any(isinstance(x, torch.Tensor) and x.is_cuda for x in inputs)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    with eval_mode(module):
        for _ in range(warmup):
            module(*inputs)
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            module(*inputs)
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
    return float(statistics.median(times))


class _Saved:
    """What the pack hook returns: the tensor, and a finaliser that un-counts it when freed."""

    __slots__ = ('tensor', 'release', '__weakref__')

    def __init__(self, tensor, release):
        self.tensor = tensor
        self.release = release

    def __del__(self):
        self.release()


class SavedTensorMeter:
    """Bytes of the tensors autograd saves for backward while the meter is entered.

    A context manager around :func:`torch.autograd.graph.saved_tensors_hooks`:

    - ``total_bytes``: every saved tensor's ``numel * element_size`` as it is saved (a tensor
      saved by two operations counts twice; parameters are not counted when ``exclude`` names
      them);
    - ``peak_bytes['total']``: the peak of the live saved storages (each storage counted once,
      released when autograd frees it), parameters in ``exclude`` left out;
    - ``peak_bytes['scope']``: the same, for the tensors saved while ``scope``'s forward runs
      (e.g. a backbone inside a detector). Zero without a ``scope``.

    Args:
        exclude (Iterable[Tensor]): Tensors whose storages are not counted (a model's
            parameters). Defaults to none.
        scope (nn.Module, optional): A submodule whose saved tensors are also counted apart.

    Example::

        with SavedTensorMeter(model.parameters()) as meter:
            loss = model(x).sum()
        loss.backward()
        meter.total_bytes, meter.peak_bytes['total']
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = (),
                 scope: Optional[nn.Module] = None) -> None:
        self.excluded = {t.untyped_storage().data_ptr() for t in exclude}
        self.total_bytes = 0
        self.peak_bytes: Dict[str, int] = dict(total=0, scope=0)
        self._current = dict(total=0, scope=0)
        self._live: Dict[int, list] = {}  # storage ptr -> [bytes, refs, in_scope]
        self._in_scope = False
        self._scope = scope
        self._handles = []
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def __enter__(self) -> 'SavedTensorMeter':
        if self._scope is not None:
            self._handles = [
                self._scope.register_forward_pre_hook(lambda *a: self._set_scope(True)),
                self._scope.register_forward_hook(lambda *a: self._set_scope(False))
            ]
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._handles = []

    def _set_scope(self, value: bool) -> None:
        self._in_scope = value

    def _add(self, nbytes: int, in_scope: bool, sign: int) -> None:
        self._current['total'] += sign * nbytes
        if in_scope:
            self._current['scope'] += sign * nbytes
        for k in self.peak_bytes:
            self.peak_bytes[k] = max(self.peak_bytes[k], self._current[k])

    def _pack(self, t: torch.Tensor):
        key = t.untyped_storage().data_ptr()
        if key in self.excluded:
            return t
        self.total_bytes += t.numel() * t.element_size()
        entry = self._live.get(key)
        if entry is None:
            self._live[key] = [t.untyped_storage().nbytes(), 1, self._in_scope]
            self._add(self._live[key][0], self._in_scope, 1)
        else:
            entry[1] += 1

        def release():
            entry = self._live.get(key)
            if entry is not None:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._live[key]
                    self._add(entry[0], entry[2], -1)

        return _Saved(t, release)

    @staticmethod
    def _unpack(saved):
        return saved.tensor if isinstance(saved, _Saved) else saved


def mean_se(values: Sequence[float]) -> Tuple[float, float, float]:
    """Mean, sample standard deviation and standard error of the mean (sd / sqrt(n)).

    Args:
        values (Sequence[float]): One value per seed.

    Returns:
        tuple[float, float, float]: ``(mean, sd, se)``; sd and se are NaN for one value.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError('mean_se needs at least one value')
    m = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else float('nan')
    return m, sd, sd / math.sqrt(len(values))


def paired_differences(a: Mapping, b: Mapping) -> Tuple[Dict, float, float, float]:
    """Per-seed differences ``a[s] - b[s]`` over the seeds both have, and their mean_se.

    Args:
        a (Mapping): seed -> value of one setting.
        b (Mapping): seed -> value of the setting it is compared with.

    Returns:
        tuple: ``(differences by seed, mean, sd, se)``.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError('paired_differences: the two settings share no seed')
    diffs = {s: float(a[s]) - float(b[s]) for s in seeds}
    return (diffs, *mean_se(list(diffs.values())))


def format_mean_se(values: Sequence[float], digits: int = 1) -> str:
    """``'mean +- se (n=N)'`` of :func:`mean_se`."""
    m, _, se = mean_se(values)
    return f'{m:.{digits}f} +- {se:.{digits}f} (n={len(values)})'
