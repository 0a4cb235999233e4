"""TensorFlow's chatter kept off a compile worker's stderr, which the command's terminal (and
its progress bars) shares: the C++ libraries log through absl before anything initialises it,
so TF_CPP_MIN_LOG_LEVEL no longer silences them ("oneDNN custom operations are on", twice per
import), and the MLIR converter prints its settings ("fully_quantize: 0, ...") once per model.

A worker job runs with file descriptor 2 sent to a temporary file; when the job is done the
captured text goes to the real stderr, without those lines. A job that raises gets all of it
back, and error and fatal lines (E..., F...), Python warnings and tracebacks are always kept."""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

CHATTER = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [^\s\]]+:\d+\] "  # absl / TF C++ info and warning lines
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: "  # the second line of a cpu_feature_guard note
    rb"|fully_quantize: \d+, inference_type: )"  # the TFLite converter's settings
)
"""Lines TensorFlow prints on its own while it works well."""

P = ParamSpec("P")
R = TypeVar("R")


def is_chatter(line: bytes | str) -> bool:
    return CHATTER.match(line.encode() if isinstance(line, str) else line) is not None


@contextmanager
def chatter_filtered() -> Iterator[None]:
    """File descriptor 2 captured for the block, then written out without TensorFlow's chatter
    (all of it when the block raises)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        clean = False
        try:
            yield
            clean = True
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = b"".join(line for line in captured if not (clean and is_chatter(line)))
            if kept:
                os.write(2, kept)


def without_chatter(job: Callable[P, R]) -> Callable[P, R]:
    """A worker job run inside chatter_filtered (picklable by name like the job itself)."""

    @functools.wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with chatter_filtered():
            return job(*args, **kwargs)

    return run
