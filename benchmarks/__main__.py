"""``python -m benchmarks <suite>``: parse the flags, enter the bench environment, run."""

import sys
import tempfile

from . import cli, env


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = cli.parse(argv)  # --help and bad flags exit here, before any install
    if not env.inside():
        cache = tempfile.mkdtemp(prefix=env.COLD_PREFIX) if args.cold_numba else None
        env.reexec(argv, rebuild=args.rebuild_venv, native_blas=args.native_blas,
                   numba_cache=cache)
    from .runner import run

    return run(args, argv)


if __name__ == "__main__":
    sys.exit(main())
