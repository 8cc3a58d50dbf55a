"""Errors a user can cause and fix, and the command-line wrapper that shows them as one line.

A *user error* is a wrong input, not a bug: a path that does not exist, a bad config value, an
unreadable checkpoint, a malformed annotation, a corrupt video. Its message names the file or
key and the fix, so the 30-line traceback under it only hides it. :func:`run_cli` runs a tool's
``main`` and prints such an error as ``<tool>: error: <message>`` (exit status 1); ``--debug``
shows the traceback instead. Any other exception (a bug) keeps its traceback.

Which exceptions are user errors (:func:`is_user_error`), anywhere in the chain of causes:

- :class:`UserError` and its subclasses (``CheckpointError``, ``AnnotationError``,
  ``VideoDecodeError``, ``FeatureFileError``, ``ConfigError``...);
- a bad path: ``FileNotFoundError``, ``IsADirectoryError``, ``NotADirectoryError``,
  ``PermissionError``;
- a ``ValueError`` raised by the package's own validation or by the tool itself (the frame
  that raised it lies in ``mmtad_ext/`` or in the tool's folder; not ``KeyError``, which a
  bug's dict lookup raises as well);
- an error of mmengine's config parser or registry (a config file that does not parse, a
  ``type`` not in the registry, a keyword the class does not take): ``ValueError``,
  ``KeyError``, ``TypeError``, ``SyntaxError`` or ``NameError`` raised in
  ``mmengine/config`` or ``mmengine/registry`` (a ``SyntaxError`` anywhere under the config
  parser).
"""
import os.path as osp
import sys
import traceback
from typing import Callable, Iterator, Optional, Sequence

PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
OWN_CODE_ERRORS = (ValueError, )
CONFIG_CODE_ERRORS = (ValueError, KeyError, TypeError, SyntaxError, NameError)
CONFIG_CODE_DIRS = (osp.join('mmengine', 'config'), osp.join('mmengine', 'registry'))
DEBUG_HELP = 'show the full traceback of an error (user errors print one line without it)'


class UserError(Exception):
    """Base class of the errors a user causes and can fix (bad file, config value, input).

    Subclasses also derive from the built-in type callers catch (``ValueError``...), so
    ``except ValueError`` keeps working.
    """


class ConfigError(UserError, ValueError):
    """A config does not fit the tool or API it is given to (e.g. a recognition config given
    to a detection tool)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (``__cause__`` / ``__context__``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _origin(exc: BaseException) -> str:
    """File of the frame that raised ``exc`` (the innermost frame of its traceback)."""
    tb = exc.__traceback__
    if tb is None:
        return ''
    while tb.tb_next is not None:
        tb = tb.tb_next
    return osp.abspath(tb.tb_frame.f_code.co_filename)


def _frames(exc: BaseException) -> Iterator[str]:
    """Files of every frame of the traceback of ``exc``."""
    tb = exc.__traceback__
    while tb is not None:
        yield osp.abspath(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next


def _package_dir() -> str:
    return osp.dirname(osp.dirname(osp.abspath(__file__)))  # mmtad_ext/


def is_user_error(exc: BaseException, own_dirs: Sequence[str] = ()) -> bool:
    """Whether ``exc`` is a user error (see the module docstring for the rules).

    Args:
        exc (BaseException): The exception.
        own_dirs (Sequence[str]): Folders whose code raises validation errors with a clear
            message besides ``mmtad_ext/`` (the tool's folder). Defaults to ().

    Returns:
        bool: True for a user error, False for a bug (or an interrupt).
    """
    if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit
        return False
    own = tuple(osp.abspath(d) + osp.sep for d in (_package_dir(), *own_dirs))
    for e in _chain(exc):
        if isinstance(e, (UserError, ) + PATH_ERRORS):
            return True
        origin = _origin(e)
        if isinstance(e, OWN_CODE_ERRORS) and origin.startswith(own):
            return True
        if (isinstance(e, CONFIG_CODE_ERRORS)
                and any(osp.sep + d + osp.sep in origin for d in CONFIG_CODE_DIRS)):
            return True
        if isinstance(e, SyntaxError) and any(  # the config parser's ast.parse
                osp.sep + CONFIG_CODE_DIRS[0] + osp.sep in f for f in _frames(e)):
            return True
    return False


def user_error_message(exc: BaseException) -> str:
    """The message of ``exc`` as the user should read it.

    An error re-raised from a DataLoader worker carries the worker's traceback in its
    message; only its last line (the original message) is kept.
    """
    if isinstance(exc, SyntaxError):
        return f'syntax error in the config, line {exc.lineno}: {exc.msg}'
    if (isinstance(exc, OSError) and exc.filename is not None and exc.strerror
            and str(exc).startswith('[Errno')):
        return f'{exc.strerror}: {exc.filename}'
    msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if 'Original Traceback (most recent call last)' in msg:
        lines = [ln for ln in msg.strip().splitlines() if ln.strip()]
        last = lines[-1].strip()
        msg = last.split(': ', 1)[1] if ': ' in last else last
    return msg or type(exc).__name__


def run_cli(main: Callable, argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main`` and print a user error as one line (exit status 1).

    Every tool ends with ``if __name__ == '__main__': run_cli(main)``. With ``--debug`` among
    the arguments (each tool's parser declares it, see :data:`DEBUG_HELP`) the error is
    raised with its traceback. Errors that are not user errors always show their traceback.

    Args:
        main (Callable): The tool's ``main()`` (parses ``sys.argv`` itself) or
            ``main(argv)``.
        argv (Sequence[str], optional): Passed to ``main`` when given. Defaults to None.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    debug = '--debug' in args
    tool_dir = osp.dirname(osp.abspath(main.__code__.co_filename))
    try:
        main() if argv is None else main(argv)
    except Exception as exc:  # noqa: B902 (the user errors are chosen below)
        if debug or not is_user_error(exc, own_dirs=(tool_dir, )):
            raise
        prog = osp.basename(sys.argv[0]) or 'mmtad_ext'
        print(f'{prog}: error: {user_error_message(exc)} (--debug shows the traceback)',
              file=sys.stderr)
        sys.exit(1)


def format_exception_line(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` on one line (for per-item summaries)."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()
