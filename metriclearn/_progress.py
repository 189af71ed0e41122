"""What a fit prints: one mechanism for every learner's ``verbose``.

The levels are the same in every learner:

- 0 (or False): nothing;
- 1 (or True): a start line with the size of the problem, and a closing
  line with the time, the iterations run and whether the fit converged;
- 2: also a line at most every few seconds (:data:`INTERVAL`) with the
  objective and an estimate of the time left to ``max_iter`` (an upper
  bound: a fit that converges stops sooner);
- 3 and more: a line every iteration.

With ``metriclearn.set_config(progress_bar=True)`` and ``tqdm`` installed,
levels 1 and 2 show a progress bar on stderr instead of the periodic lines.
Lines go to stdout, each prefixed by the learner's name in brackets. At
every level but 0, the first time a fit in a process makes numba compile a
kernel (a kernel not in numba's cache yet), a line says so.

The fit templates of :mod:`metriclearn.base` open the report (the start
line), run the solver inside :func:`reporting`, and close it; a solver
reports its iterations to :func:`current` and knows nothing of the levels.
"""

import contextlib
import contextvars
import sys
import time

from numba.core import event

from ._config import get_config

__all__ = ["INTERVAL", "Progress", "current", "reporting"]

# seconds between the periodic lines of verbose=2
INTERVAL = 5.0


def _seconds(t):
    if t < 60:
        return f"{t:.2f} s" if t < 10 else f"{t:.1f} s"
    m, s = divmod(int(round(t)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class Progress:
    """The progress report of one fit.

    Parameters
    ----------
    name : str
        The learner's class name (the prefix of every line).
    verbose : int or bool
        The level (see the module's docstring).
    max_iter : int or None
        Iterations allowed (for the estimate of the time left); None for a
        solver without a limit of its own.
    unit : str
        What an iteration is ("iterations", "epochs", "sweeps").
    """

    def __init__(self, name, verbose, max_iter, unit="iterations"):
        self.name = name
        self.level = int(verbose)
        self.max_iter = None if max_iter is None else int(max_iter)
        self.unit = unit
        self._t0 = time.perf_counter()
        self._last = self._t0
        self._bar = None

    @property
    def every_iteration(self):
        """Whether every iteration gets its line (level 3 and more)."""
        return self.level >= 3

    def print(self, text):
        """A line of the report, at every level but 0."""
        if self.level > 0:
            print(f"[{self.name}] {text}", flush=True)

    def start(self, problem):
        """The start line: ``problem`` says what is fitted (sizes)."""
        self._t0 = self._last = time.perf_counter()
        if self.level <= 0:
            return
        limit = "" if self.max_iter is None else f": up to {self.max_iter:,} {self.unit}"
        self.print(f"fitting {problem}{limit}")
        if self.level <= 2 and self.max_iter is not None and get_config()["progress_bar"]:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # optional: the periodic lines instead
                return
            self._bar = tqdm(total=self.max_iter, desc=self.name, unit=self.unit.rstrip("s"),
                             leave=False, file=sys.stderr)

    def update(self, iteration, text=""):
        """After ``iteration`` (1-based) iterations; ``text`` states the
        objective (and anything else worth a line). Prints at level 3, or at
        level 2 when :data:`INTERVAL` has passed since the last line."""
        if self.level <= 0:
            return
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.update(iteration - self._bar.n)
            if text:
                self._bar.set_postfix_str(text, refresh=False)
            return
        if self.level >= 3 or (self.level == 2 and now - self._last >= INTERVAL):
            self._last = now
            eta = ""
            if self.level == 2 and self.max_iter is not None:
                left = ((now - self._t0) / max(iteration, 1)
                        * max(self.max_iter - iteration, 0))
                eta = f"  (at most {_seconds(left)} left)"
            self.print(f"{self.unit[:-1] if self.unit.endswith('s') else self.unit} "
                       f"{iteration:>5d}  {text}{eta}".rstrip())

    def close(self, n_iter, converged):
        """The closing line: time, iterations and convergence."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.level <= 0:
            return
        state = "converged" if converged else "stopped at max_iter"
        self.print(f"{state} after {n_iter:,} {self.unit} in "
                   f"{_seconds(time.perf_counter() - self._t0)}")


# the report of the fit running in this context (a silent one outside fits)
_current = contextvars.ContextVar("metriclearn_progress", default=None)


def current():
    """The :class:`Progress` of the fit running here (silent when none)."""
    progress = _current.get()
    return progress if progress is not None else Progress("", 0, 1)


_COMPILING = ("compiling numba kernels: their first use with this installation (later "
              "processes load them from numba's cache; 'python -m metriclearn warmup' "
              "compiles them all at once)")
_told = []  # whether a fit of this process has said it (once is enough)


class _CompileNotice(event.Listener):
    """Says, once per process, that numba is compiling (a cache miss)."""

    def __init__(self, progress):
        self.progress = progress

    def on_start(self, ev):
        if not _told:
            _told.append(True)
            self.progress.print(_COMPILING)

    def on_end(self, ev):
        pass


@contextlib.contextmanager
def reporting(progress):
    """Run the body with ``progress`` as :func:`current`, started before
    and closed after by the caller (and, when it prints, listening for
    numba's compilations)."""
    token = _current.set(progress)
    try:
        if progress.level > 0 and not _told:
            with event.install_listener("numba:compile", _CompileNotice(progress)):
                yield progress
        else:
            yield progress
    finally:
        _current.reset(token)
