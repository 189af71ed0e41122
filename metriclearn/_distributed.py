"""The Dask backend of SGDMetricLearner: ``fit`` is the parameter server.

``fit`` holds the map ``L``. The training data are cut into shards, one per
worker thread, each built by a task from the input (so the scheduler can
rebuild a shard when its worker dies; nothing is scattered). For every shard
one task at a time runs ``local_steps`` mini-batch steps from a snapshot of
``L`` and returns the change it made; ``fit`` applies each change as it
arrives, scaled by one over the number of shards, and submits that shard's
next round with the current ``L``.

Every task is keyed by its ``(shard, round)`` and planned once. A task whose
worker dies is rerun by the scheduler under the same key and completes once;
``fit`` applies a key at most once (and records each in ``update_keys_``), so
no change is applied twice or lost.

Dask is optional: it is imported when this backend is used.
"""

import concurrent.futures
import time
import uuid
import warnings
from contextlib import contextmanager

import numpy as np

from ._kernels.sgd import pair_sq_distances
from ._sgd import (
    _N_SCALE_SAMPLE,
    _check_diverged,
    _LabelPairSampler,
    _pair_source,
    _report,
    _run_steps,
    _Schedule,
)
from .base import _best_threshold, check_points

__all__ = ["fit_labels", "fit_pairs", "fit_triplets"]

_MISSING = (
    "backend='dask' needs Dask's distributed scheduler, an optional dependency: "
    'pip install "metriclearn[dask]"'
)


def _import_dask():
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return dask, da, distributed


@contextmanager
def _connect(scheduler):
    """The client to use: the current default one (``scheduler=None``), or a
    connection to ``scheduler`` opened here and closed on exit.

    Losing the scheduler while the body runs raises a ``ConnectionError``
    that says so (the estimator's ``fit`` then leaves it as it was).
    """
    _, _, distributed = _import_dask()
    if scheduler is None:
        try:
            client = distributed.get_client()
        except ValueError as exc:
            raise ValueError(
                "backend='dask' with scheduler=None needs a running Dask client "
                "(distributed.Client(...)); none was found. Start one, or pass "
                "the scheduler's address, e.g. scheduler='tcp://127.0.0.1:8786'"
            ) from exc
        with _scheduler_loss(client):
            yield client
        return
    client = distributed.Client(scheduler, set_as_default=False)
    try:
        with _scheduler_loss(client):
            yield client
    finally:
        client.close()


@contextmanager
def _scheduler_loss(client):
    """Turn the errors of a lost scheduler (closed connections, futures
    cancelled with it) into one ``ConnectionError`` that names it."""
    address = getattr(client.scheduler, "address", None)
    try:
        yield
    except (OSError, concurrent.futures.CancelledError) as exc:
        if client.status == "running" and not _is_comm_closed(exc):
            raise  # not the scheduler's loss
        raise ConnectionError(
            f"backend='dask': the connection to the Dask scheduler at {address} was "
            f"lost during fit ({type(exc).__name__}: {exc}); the estimator is left "
            "as it was before fit. Restart the scheduler and its workers, then fit "
            "again"
        ) from exc


def _is_comm_closed(exc):
    from distributed.comm.core import CommClosedError

    return isinstance(exc, CommClosedError)


def _is_dask(obj):
    return hasattr(obj, "dask") and hasattr(obj, "chunks")


# --------------------------------------------------------------------------
# worker side: shards and rounds (module level, so tasks pickle by reference)
# --------------------------------------------------------------------------


def _points(X):
    return np.ascontiguousarray(X, dtype=np.float64)


def _index_shard(pairs, labels):
    """A shard of index pairs (or triplets, with ``labels=None``) into the
    shared point array."""
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int8)
    return None, np.ascontiguousarray(pairs), labels


def _point_pair_shard(points, labels):
    """A shard of point pairs ``(m, 2, d)`` (or point triplets ``(m, 3, d)``,
    with ``labels=None``), addressed as rows of its own ``(2 m, d)`` (or
    ``(3 m, d)``) array."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    name = "pairs" if labels is not None else "triplets"
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} contains NaN or infinity")
    m, size, d = points.shape
    idx = np.arange(size * m, dtype=np.intp).reshape(m, size)
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int8)
    return points.reshape(size * m, d), idx, labels


def _label_shard(X, codes, n_classes):
    """A shard of labelled points, with the sampler that draws its pairs."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError("Input X contains NaN or infinity")
    return X, _LabelPairSampler(codes, n_classes)


def _round(X_shared, shard, L, etas, batch_size, cfg, precond, seed, shuffle, start):
    """One task: ``len(etas)`` mini-batch steps with the loss ``cfg`` on a
    shard from the snapshot ``L``. Returns ``(delta_L, summed loss, tuples
    used)``."""
    rng = np.random.RandomState(seed)
    m = etas.shape[0] * batch_size
    if isinstance(shard[1], _LabelPairSampler):
        X, sampler = shard
        if cfg.is_pair:
            pairs, labels = sampler.draw(-(-m // 2), rng)
            order = np.arange(min(m, pairs.shape[0]))
            batch = ("pairs", X, pairs, labels, order)
        else:
            if sampler.with_partner.size == 0:  # no anchor with a positive here
                return np.zeros_like(L), 0.0, 0
            batch = sampler.anchor_batch(X, m, rng)
            order = batch[3]
    else:
        X = X_shared if shard[0] is None else shard[0]
        _, pairs, labels = shard
        n = pairs.shape[0]
        order = rng.randint(n, size=m) if shuffle else (start + np.arange(m)) % n
        batch = (("pairs", X, pairs, labels, order) if labels is not None
                 else ("triplets", X, pairs, order))
    if order.shape[0] == 0:
        return np.zeros_like(L), 0.0, 0
    L_new, losses = _run_steps(batch, L, etas, batch_size, cfg, precond)
    return L_new - L, float(losses.sum()), int(order.shape[0])


def _shard_sq_distances(X_shared, shard, L):
    X = X_shared if shard[0] is None else shard[0]
    return pair_sq_distances(X, shard[1], L)


# --------------------------------------------------------------------------
# the parameter server
# --------------------------------------------------------------------------


def _n_shards(client, n_items):
    threads = sum(client.nthreads().values())
    return int(max(1, min(threads, n_items)))


def _bounds(n, n_shards):
    return np.linspace(0, n, n_shards + 1).round().astype(np.intp)


def _spans(bounds):
    """``(start, stop)`` of each shard."""
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _train(est, client, x_future, shards, sizes, L, precond, rng):
    """Asynchronous parameter-server SGD over the shard futures.

    ``sizes[s]`` is the number of pairs in one epoch of shard ``s``. Returns
    the map, the loss history, the number of complete epochs, whether the
    stopping rule was met, and the applied ``(shard, round)`` keys in order.
    """
    _, _, distributed = _import_dask()
    n_shards = len(shards)
    B, steps = int(est.batch_size), int(est.local_steps)
    per_round = B * steps
    rounds = np.maximum(1, -(-np.asarray(sizes) // per_round))  # per epoch
    planned = rounds * est.max_iter
    cfg = est._loss_config()
    base_seed = int(rng.randint(2**31 - 1))
    token = uuid.uuid4().hex[:12]
    schedule = _Schedule(est)
    damping = 1.0 / n_shards

    submitted = np.zeros(n_shards, dtype=np.intp)
    done = np.zeros(n_shards, dtype=np.intp)
    pending = {}  # key -> (shard, round, future)
    applied = set()
    order = []
    epoch_loss, epoch_pairs = {}, {}
    history = []
    converged = stopping = False
    tic = time.perf_counter()

    def submit(s):
        r = int(submitted[s])
        seed = int(np.random.SeedSequence([base_seed, s, r]).generate_state(1)[0] >> 1)
        key = f"metriclearn-sgd-{token}-{s}-{r}"
        fut = client.submit(
            _round, x_future, shards[s], L.copy(), schedule.etas(steps), B, cfg,
            precond, seed, bool(est.shuffle), (r * per_round) % max(sizes[s], 1),
            key=key,  # no workers=: never pinned, any worker may run (or rerun) it
        )
        pending[key] = (s, r, fut)
        submitted[s] += 1
        return fut

    queue = distributed.as_completed([submit(s) for s in range(n_shards)], loop=client.loop)
    try:
        for fut in queue:
            if fut.key not in pending:  # never twice, whatever the scheduler reruns
                continue
            s, r, _ = pending.pop(fut.key)
            delta, loss, n_used = fut.result()
            del fut
            if (s, r) in applied:
                continue
            L += damping * delta
            applied.add((s, r))
            order.append((s, r))
            done[s] += 1
            schedule.t += steps * damping
            e = r // rounds[s]
            epoch_loss[e] = epoch_loss.get(e, 0.0) + loss
            epoch_pairs[e] = epoch_pairs.get(e, 0) + n_used
            # epochs complete in order, once every shard has done its rounds
            while not stopping and np.all(done >= (len(history) + 1) * rounds):
                k = len(history)
                history.append(epoch_loss.pop(k) / max(epoch_pairs.get(k, 0), 1))
                _check_diverged(L, history, est.eta0)
                if est.verbose:
                    elapsed = time.perf_counter() - tic
                    tic = time.perf_counter()
                    _report(est, k + 1, history[-1], schedule.eta,
                            epoch_pairs.pop(k) / max(elapsed, 1e-12), est._unit(cfg))
                if schedule.end_epoch(history[-1]):
                    converged = stopping = True
            if not stopping and submitted[s] < planned[s]:
                queue.add(submit(s))
    finally:
        if pending:
            client.cancel([fut for _, _, fut in pending.values()])
    return L, history, len(history), converged, order, schedule.t


def _finish(est, L, history, n_iter, converged, order, precond, t, stacklevel=7):
    est.preconditioner_ = precond
    est.t_ = int(round(t))
    est._finish(L, history, n_iter, converged, partial=False, stacklevel=stacklevel)
    est.n_updates_ = len(order)
    est.update_keys_ = np.asarray(order, dtype=np.intp).reshape(-1, 2)


@contextmanager
def _quiet_graph():
    """Silence Dask's warning about a large graph: numpy input travels inside
    the graph on purpose, so the scheduler can rebuild lost shards from it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge graph.*")
        yield


def fit_pairs(est, pairs, y, rng, calibration_params):
    """``SGDMetricLearner.fit`` on Dask: pairs as numpy (points or indices
    into the array ``preprocessor``) or as a Dask array of point pairs."""
    with _connect(est.scheduler) as client, _quiet_graph():
        _fit_pairs(est, client, pairs, y, rng, calibration_params)


def fit_triplets(est, triplets, rng):
    """``SGDTripletLearner.fit`` on Dask: triplets as numpy (points or indices
    into the array ``preprocessor``) or as a Dask array of point triplets."""
    with _connect(est.scheduler) as client, _quiet_graph():
        _fit_tuples(est, client, triplets, None, rng)


def fit_labels(est, X, y, rng):
    """``SGDMetricLearner_Supervised.fit`` on Dask: ``X`` and ``y`` as numpy
    or Dask arrays; each shard is a block of rows drawing its own pairs."""
    with _connect(est.scheduler) as client, _quiet_graph():
        _fit_labels(est, client, X, y, rng)


def _fit_pairs(est, client, pairs, y, rng, calibration_params):
    labels, shards, x_future, L = _fit_tuples(est, client, pairs, y, rng)
    try:
        sq = client.gather([
            client.submit(_shard_sq_distances, x_future, shard, L, pure=False)
            for shard in shards
        ])
    finally:
        client.cancel(shards + ([x_future] if x_future is not None else []))
    est.threshold_ = _best_threshold(
        np.sqrt(np.concatenate(sq)), labels,
        calibration_params.get("strategy", "accuracy"),
        calibration_params.get("min_rate"),
        calibration_params.get("beta", 1.0),
    )


def _fit_tuples(est, client, pairs, y, rng):
    """Train on pairs (``y`` given) or triplets (``y=None``). For pairs,
    returns the shuffled labels, the shard futures, the shared point future
    and the map, for the caller to calibrate on and release; for triplets
    everything is released here."""
    dask, _, _ = _import_dask()
    size, name = (2, "pairs") if y is not None else (3, "triplets")
    if _is_dask(y):
        y = client.compute(y).result()
    if _is_dask(pairs):
        if pairs.ndim != 3 or pairs.shape[1] != size:
            raise ValueError(
                f"{name} given as a Dask array must have shape (n, {size}, n_features); "
                f"got shape {pairs.shape}"
            )
        # labels and shapes are checked on a one-feature stand-in
        labels = (_pair_source(np.zeros((pairs.shape[0], 2, 1)), y, None).labels
                  if y is not None else None)
        n, d = pairs.shape[0], pairs.shape[2]
        sample = np.unique(rng.randint(n, size=min(n, _N_SCALE_SAMPLE)))
        points = np.asarray(client.compute(pairs[sample]).result(), dtype=np.float64)
        if not np.all(np.isfinite(points)):
            raise ValueError(f"{name} contains NaN or infinity")
        if size == 3:
            first = np.concatenate([points[:, 0], points[:, 0]])
            second = np.concatenate([points[:, 1], points[:, 2]])
        else:
            first, second = points[:, 0], points[:, 1]
        precond, L = est._start_from_sample(first, second, rng)
        X_shared, own_points = None, False
    else:
        if size == 3:
            from ._sgd_triplets import _triplet_source

            source = _triplet_source(pairs, est.preprocessor_)
        else:
            source = _pair_source(pairs, y, est.preprocessor_)
        labels, n, d = source.labels, source.n_pairs, source.X.shape[1]
        precond, L = est._start(source.X, source.pairs, rng)
        X_shared = source.X
        own_points = source.X is not est.preprocessor_
    est.n_features_in_ = d
    n_shards = _n_shards(client, n)
    bounds = _bounds(n, n_shards)

    def part(lab, a, b):
        return None if lab is None else lab[a:b]

    if _is_dask(pairs):
        blocks = pairs.rechunk({0: tuple(np.diff(bounds)), 1: size, 2: d})
        parts = [dask.delayed(_point_pair_shard)(blocks.blocks[s], part(labels, a, b))
                 for s, (a, b) in enumerate(_spans(bounds))]
        x_future = None
    else:
        # with shuffle, shards are random subsets (input sorted by label
        # would otherwise give shards of a single kind of pair)
        perm = rng.permutation(n) if est.shuffle else np.arange(n)
        if labels is not None:
            labels = labels[perm]
        if own_points:
            pts = X_shared.reshape(n, size, d)
            parts = [dask.delayed(_point_pair_shard)(pts[perm[a:b]], part(labels, a, b))
                     for a, b in _spans(bounds)]
            x_future = None
        else:
            parts = [dask.delayed(_index_shard)(source.pairs[perm[a:b]], part(labels, a, b))
                     for a, b in _spans(bounds)]
            x_future = client.compute(dask.delayed(_points)(X_shared))
    shards = client.compute(parts)
    try:
        L, history, n_iter, converged, order, t = _train(
            est, client, x_future, shards, np.diff(bounds), L, precond, rng
        )
    except BaseException:
        client.cancel(shards + ([x_future] if x_future is not None else []))
        raise
    # the warning points at the user's fit (one frame deeper for pairs)
    _finish(est, L, history, n_iter, converged, order, precond, t,
            stacklevel=7 if labels is None else 8)
    if labels is None:
        client.cancel(shards + ([x_future] if x_future is not None else []))
    return labels, shards, x_future, L


def _fit_labels(est, client, X, y, rng):
    dask, _, _ = _import_dask()
    if _is_dask(y):
        y = client.compute(y).result()
    y = np.asarray(y)
    if _is_dask(X):
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ValueError(
                "X given as a Dask array must have shape (n_samples, n_features) "
                f"matching y of shape {y.shape}; got shape {X.shape}"
            )
        est.n_features_in_ = X.shape[1]
    else:
        X, y = check_points(est, X, y=y, reset=True, ensure_min_samples=2)
    sampler = est._sampler(y)
    classes, codes = np.unique(y, return_inverse=True)
    codes = codes.ravel()
    n, d = X.shape
    m = est._pairs_per_epoch(n)
    sample_pairs, _ = sampler.draw(min(m, _N_SCALE_SAMPLE // 2), rng)
    if _is_dask(X):
        rows, inverse = np.unique(sample_pairs, return_inverse=True)
        pts = np.asarray(client.compute(X[rows]).result(), dtype=np.float64)
        if not np.all(np.isfinite(pts)):
            raise ValueError("Input X contains NaN or infinity")
        pts = pts[inverse.reshape(sample_pairs.shape)]
        first, second = pts[:, 0], pts[:, 1]
    else:
        first, second = X[sample_pairs[:, 0]], X[sample_pairs[:, 1]]
    precond, L = est._start_from_sample(first, second, rng)
    n_shards = _n_shards(client, n // 2)
    bounds = _bounds(n, n_shards)
    if _is_dask(X):
        X_blocks = X.rechunk({0: tuple(np.diff(bounds)), 1: d})
        blocks = [X_blocks.blocks[s] for s in range(n_shards)]
    else:
        blocks = [X[a:b] for a, b in _spans(bounds)]
    parts = [
        dask.delayed(_label_shard)(block, codes[a:b], classes.shape[0])
        for block, (a, b) in zip(blocks, _spans(bounds), strict=True)
    ]
    shards = client.compute(parts)
    # each shard's share of the epoch's 2 m pairs, by its number of rows
    sizes = np.maximum(1, np.round(2 * m * np.diff(bounds) / n)).astype(np.intp)
    try:
        L, history, n_iter, converged, order, t = _train(
            est, client, None, shards, sizes, L, precond, rng
        )
    finally:
        client.cancel(shards)
    _finish(est, L, history, n_iter, converged, order, precond, t)
