"""Deprecated names: one warning that both Python and the run's log show.

A renamed argument or value keeps working for one release. Python hides ``DeprecationWarning``
outside ``__main__`` by default, so the warning is also written to mmengine's current logger
(``print_log``, level WARNING), where a training run's user sees it.
"""
import logging
import warnings
from typing import Any

from mmengine.logging import print_log


def warn_deprecated(owner: str, old: str, new: str) -> None:
    """Warn (``DeprecationWarning``) and log (WARNING) that ``old`` is now ``new``.

    Args:
        owner (str): The class or function whose argument changed, e.g. ``'BlockDropHook'``.
        old (str): The old spelling, e.g. ``"criterion='map'"``.
        new (str): The new spelling, e.g. ``"criterion='metric'"``.
    """
    msg = (f'{owner}: {old} is deprecated and will be removed in the next release; '
           f'use {new}')
    warnings.warn(msg, DeprecationWarning, stacklevel=3)
    print_log(msg, logger='current', level=logging.WARNING)


def renamed_arg(owner: str, old: str, new: str, old_value: Any, new_value: Any,
                new_default: Any) -> Any:
    """The value of an argument renamed from ``old`` to ``new``.

    The caller keeps ``old`` as a keyword argument defaulting to None (not given). When both
    are given, ``old`` wins (with the warning saying so): in a config that inherits a shipped
    config, the base sets ``new`` and the user's override still uses ``old``.

    Args:
        owner (str): The class or function, for the messages.
        old (str): The old argument name.
        new (str): The new argument name.
        old_value: The value passed as ``old``; None when it was not given.
        new_value: The value of ``new``.
        new_default: The default of ``new`` (a ``new_value`` differing from it was given).

    Returns:
        ``new_value`` if ``old`` was not given, else ``old_value`` (with the warning).
    """
    if old_value is None:
        return new_value
    new_text = f'{new}=...'
    if new_value != new_default:
        new_text += f' (here {old}={old_value!r} overrides {new}={new_value!r})'
    warn_deprecated(owner, f'{old}=...', new_text)
    return old_value
