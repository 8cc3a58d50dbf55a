"""SummaryOptimWrapperConstructor: mmengine's parameter-wise options with a short log.

mmengine's ``DefaultOptimWrapperConstructor`` logs one INFO line per parameter and option
(``paramwise_options -- backbone.layer1.0.conv1.weight:lr=...``, about 300 lines for an ETAD
model with an encoder) and one WARNING per frozen parameter. This constructor builds exactly
the same parameter groups (it only wraps mmengine's ``__call__``), moves those per-parameter lines
to DEBUG (``log_level='DEBUG'`` shows them) and logs instead one INFO line per rule: how many
parameter tensors each custom key took and the rates it gave them, and the rates of all other
parameters (the outcome of the norm/bias/... decay rules). A custom key that takes no trainable
parameter, usually a misspelt key, is a WARNING.
"""
import difflib
import logging
from collections import Counter
from typing import Dict, List, Optional

from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from mmtad_ext.registry import OPTIM_WRAPPER_CONSTRUCTORS

# the per-parameter messages of DefaultOptimWrapperConstructor.add_params (mmengine 0.10)
OPTION_PREFIX = 'paramwise_options -- '
FROZEN_SUFFIX = 'is skipped since its requires_grad=False'


class _CollectParamLines(logging.Filter):
    """Keep mmengine's per-parameter records out of the logger, storing their messages."""

    def __init__(self) -> None:
        super().__init__()
        self.options: List[str] = []
        self.frozen: List[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(OPTION_PREFIX):
            self.options.append(message)
            return False
        if message.endswith(FROZEN_SUFFIX):
            self.frozen.append(message)
            return False
        return True


def _rate(value: Optional[float], base: Optional[float]) -> str:
    """``'1e-05 (x0.01)'``: a group's value and its multiple of the optimizer's."""
    if value is None or not base:
        return f'{value}'
    return f'{value:g} (x{value / base:g})'


def _unmatched_reason(key: str, trainable: List[str]) -> str:
    """Why a custom key took no parameter, with the closest module path as a suggestion."""
    containing = sum(key in name for name in trainable)
    if containing:
        return f'the {containing} trainable parameters containing it are taken by longer keys'
    if not trainable:
        return 'there is no trainable parameter'
    # every module path and parameter name, e.g. 'backbone', 'backbone.stem', ...
    paths = {'.'.join(name.lstrip('.').split('.')[:i]) for name in trainable
             for i in range(1, name.count('.') + 2)}
    guess = difflib.get_close_matches(key.strip('.'), paths, n=1)
    return (f'no trainable parameter name contains it; keys are substrings of names such as '
            f'{trainable[0].lstrip(".")!r}' + (f'; did you mean {guess[0]!r}?' if guess else ''))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SummaryOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that logs a per-rule summary of ``paramwise_cfg``.

    Same arguments and parameter groups as mmengine's constructor; use it with
    ``optim_wrapper = dict(constructor='SummaryOptimWrapperConstructor', paramwise_cfg=...)``.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if not self.paramwise_cfg:  # mmengine logs nothing per parameter then
            return super().__call__(model)
        logger = MMLogger.get_current_instance()
        collect = _CollectParamLines()
        logger.addFilter(collect)
        try:
            optim_wrapper = super().__call__(model)
        finally:
            logger.removeFilter(collect)
        for message in collect.options + collect.frozen:
            print_log(message, logger='current', level=logging.DEBUG)
        if collect.frozen:
            print_log(f'paramwise_cfg: {len(collect.frozen)} parameter tensors have '
                      'requires_grad=False and are not optimised (names at DEBUG)',
                      logger='current')
        self._log_summary(getattr(model, 'module', model), optim_wrapper.optimizer.param_groups)
        return optim_wrapper

    def _log_summary(self, model: nn.Module, param_groups: List[dict]) -> None:
        """Log per custom key, then for the remaining parameters, counts and rates."""
        # the name mmengine matches custom keys against: f'{prefix}.{name}' (also at the root)
        names: Dict[int, str] = {}
        for prefix, module in model.named_modules(remove_duplicate=False):
            for name, param in module.named_parameters(recurse=False):
                names.setdefault(id(param), f'{prefix}.{name}')
        custom_keys = self.paramwise_cfg.get('custom_keys', {})
        # mmengine's precedence: the longest key first, ties in alphabetical order
        sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)
        taken: Dict[Optional[str], Counter] = {key: Counter() for key in [*custom_keys, None]}
        numel: Counter = Counter()
        trainable = []
        for group in param_groups:
            for param in group['params']:
                name = names[id(param)]
                trainable.append(name)
                key = next((k for k in sorted_keys if k in name), None)
                taken[key][(group['lr'], group.get('weight_decay'))] += 1
                numel[key] += param.numel()
        print_log(f'paramwise_cfg: {len(trainable)} trainable parameter tensors '
                  '(each parameter\'s options are logged at DEBUG)', logger='current')
        for key, options in custom_keys.items():
            if not taken[key]:
                print_log(f'paramwise_cfg.custom_keys: {key!r} matches nothing '
                          f'({_unmatched_reason(key, trainable)})', logger='current',
                          level=logging.WARNING)
                continue
            self._log_rule(f'custom key {key!r} {options}', taken[key], numel[key])
        rules = {k: v for k, v in self.paramwise_cfg.items() if k != 'custom_keys'}
        if taken[None]:
            self._log_rule(f'other parameters {rules}' if rules else 'other parameters',
                           taken[None], numel[None])

    def _log_rule(self, rule: str, rates: Counter, numel: int) -> None:
        """One INFO line: the tensors a rule gave each (lr, weight_decay)."""
        parts = [f'{count} with lr={_rate(lr, self.base_lr)}, '
                 f'weight_decay={_rate(wd, self.base_wd)}'
                 for (lr, wd), count in sorted(rates.items(), key=lambda item: -item[1])]
        print_log(f'paramwise_cfg: {rule}: {sum(rates.values())} tensors ({numel} elements): '
                  + '; '.join(parts), logger='current')
