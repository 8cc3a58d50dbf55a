"""Deprecated names: a DeprecationWarning for Python and a WARNING in mmengine's log."""
import logging

import pytest
from mmengine.logging import MMLogger

from mmtad_ext.utils import renamed_arg, warn_deprecated


@pytest.fixture
def logged():
    """The messages of WARNING records of mmengine's current logger during the test."""
    messages = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_warn_deprecated_warns_and_logs(logged):
    with pytest.warns(DeprecationWarning) as caught:
        warn_deprecated('BlockDropHook', "criterion='map'", "criterion='metric'")
    msg = ("BlockDropHook: criterion='map' is deprecated and will be removed in the next "
           "release; use criterion='metric'")
    assert [str(w.message) for w in caught] == [msg]
    assert logged == [msg]


def test_renamed_arg(logged):
    assert renamed_arg('F', 'old', 'new', None, 3, new_default=1) == 3  # new name: silent
    assert logged == []
    with pytest.warns(DeprecationWarning, match=r'F: old=\.\.\. is deprecated .* use new=\.\.\.'):
        assert renamed_arg('F', 'old', 'new', 5, 1, new_default=1) == 5
    assert len(logged) == 1
    # both: a config's base sets the new name, the user's override uses the old one
    with pytest.warns(DeprecationWarning, match=r'use new=\.\.\. \(here old=5 overrides new=3\)'):
        assert renamed_arg('F', 'old', 'new', 5, 3, new_default=1) == 5
