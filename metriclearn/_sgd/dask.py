"""The Dask backend of the SGD family: the caller is the parameter server.

The driver holds the map ``L``. The training data are cut into shards, one
per worker thread, each built by a task from the input (so the scheduler can
rebuild a shard when its worker dies; nothing is scattered). For every shard
one task at a time runs ``local_steps`` mini-batch steps from a snapshot of
``L`` and returns the change it made; the driver applies each change as it
arrives, scaled by one over the number of shards, and submits that shard's
next round with the current ``L``.

Every task is keyed by its ``(shard, round)`` and planned once. A task whose
worker dies is rerun by the scheduler under the same key and completes once;
the driver applies a key at most once (and records each in ``update_keys_``),
so no change is applied twice or lost.

:func:`train_tuples` trains on given pairs or triplets and
:func:`train_labels` on pairs or anchors drawn from class labels; both take
validated arrays and :class:`~metriclearn._sgd.engine.TrainingSettings` and
return a :class:`~metriclearn._result.FitResult`. Nothing here knows an
estimator. Dask is optional: it is imported when this backend is used.
"""

import concurrent.futures
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .._kernels.sgd import pair_sq_distances
from .._labels import LabelIndex
from .._result import FitResult
from .._threads import limit_threads
from .engine import N_SCALE_SAMPLE, Schedule, check_diverged, report, start, start_from_sample
from .losses import MagnetClusters
from .sources import (
    LabelPairSampler,
    NeighborSampler,
    centered,
    is_mined,
    magnet_batch,
    tuples_batch,
)

__all__ = ["DaskTuples", "compute", "epoch_sizes", "is_dask", "stratified_shards",
           "train_labels", "train_tuples"]

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


def is_dask(obj):
    """Whether ``obj`` is a Dask collection (array)."""
    return hasattr(obj, "dask") and hasattr(obj, "chunks")


def compute(obj, scheduler):
    """A Dask array computed on the backend's cluster (numpy as it is)."""
    if not is_dask(obj):
        return obj
    with _connect(scheduler) as client:
        return client.compute(obj).result()


@dataclass(frozen=True, eq=False)
class DaskTuples:
    """Point tuples given as a Dask array of shape ``(n, size, n_features)``
    (shape checked), with their validated labels (or ``None``)."""

    points: object
    y: np.ndarray | None = None

    @property
    def n_tuples(self):
        return self.points.shape[0]

    @property
    def n_features(self):
        return self.points.shape[2]


# --------------------------------------------------------------------------
# worker side: shards and rounds (module level, so tasks pickle by reference)
# --------------------------------------------------------------------------


def _points(X):
    return np.ascontiguousarray(X, dtype=np.float64)


def _index_shard(indices, labels):
    """A shard of index tuples into the shared point array."""
    return None, np.ascontiguousarray(indices), labels


def _point_shard(points, labels, center=None):
    """A shard of point tuples ``(m, size, d)``, addressed as rows of its own
    ``(size m, d)`` array (less ``center``, on the unit sphere)."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    name = "pairs" if labels is not None else "triplets"
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} contains NaN or infinity")
    if center is not None:
        points = points - center
    m, size, d = points.shape
    idx = np.arange(size * m, dtype=np.intp).reshape(m, size)
    return points.reshape(size * m, d), idx, labels


def _label_shard(X, codes, sampling, n_neighbors, center=None):
    """A shard of labelled points (less ``center``, on the unit sphere), with
    the sampler that draws its tuples (target neighbours, with
    ``sampling='neighbors'``, among the shard's points)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError("Input X contains NaN or infinity")
    if center is not None:
        X = np.ascontiguousarray(X - center)
    with limit_threads(1, blas=1):
        pairs = LabelPairSampler(LabelIndex(codes))
        if sampling == "neighbors":
            return X, NeighborSampler(X, pairs, n_neighbors)
        return X, pairs


def _shard_clusters(shard, L, cfg, seed, previous=None):
    """One task: the magnet loss's clusters of a shard of labelled points
    (:meth:`MagnetClusters.fit`) at the map ``L``, on one thread, with the
    variance of the ``previous`` clusters of the shard (measured at ``L``
    for its first)."""
    X, sampler = shard
    variance = None if previous is None else previous.variance
    with limit_threads(1, blas=1):
        return MagnetClusters.fit(X, sampler.index.codes, L, cfg, np.random.RandomState(seed),
                                  variance=variance)


def _round(X_shared, shard, L, etas, n_items, batch_size, cfg, precond, seed, shuffle,
           start, clusters=None):
    """One task: ``n_items`` tuples (pairs, triplets or anchors) in
    ``len(etas)`` mini-batch steps with the loss ``cfg`` on a shard, from the
    snapshot ``L``, on one thread (the magnet loss with the shard's
    ``clusters``). Returns ``(delta_L, summed loss, tuples used)``."""
    rng = np.random.RandomState(seed)
    m = int(n_items)
    if isinstance(shard[1], (LabelPairSampler, NeighborSampler)):
        X, sampler = shard
        if cfg.name == "magnet":
            batch = magnet_batch(X, sampler.index.codes, m, rng, clusters=clusters)
        elif is_mined(cfg, sampler.sampling):
            if sampler.with_partner.size == 0:  # no anchor with a positive here
                return np.zeros_like(L), 0.0, 0
            batch = sampler.anchor_batch(X, m, rng)
        else:
            pairs, labels = sampler.draw(-(-m // 2), rng)
            batch = tuples_batch(X, pairs, labels, np.arange(min(m, pairs.shape[0])))
    else:
        X = X_shared if shard[0] is None else shard[0]
        _, indices, labels = shard
        n = indices.shape[0]
        order = rng.randint(n, size=m) if shuffle else (start + np.arange(m)) % n
        batch = tuples_batch(X, indices, labels, order)
    if batch.n_items == 0:
        return np.zeros_like(L), 0.0, 0
    with limit_threads(1, blas=1):
        L_new, losses = batch.steps(L, etas, batch_size, cfg, precond)
    return L_new - L, float(losses.sum()), int(batch.n_items)


def _shard_sq_distances(X_shared, shard, L, normalize):
    X = X_shared if shard[0] is None else shard[0]
    return pair_sq_distances(X, shard[1], L, normalize)


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


def _round_sizes(size, per_round):
    """Tuples of each round of one epoch of a shard: ``size`` in rounds of
    at most ``per_round`` (at least one round, of at least one tuple)."""
    size = max(int(size), 1)
    full, rest = divmod(size, per_round)
    return np.array([per_round] * full + ([rest] if rest else []), dtype=np.intp)


def _train(client, x_future, shards, sizes, L, precond, settings, rng):
    """Asynchronous parameter-server SGD over the shard futures.

    ``sizes[s]`` is the number of tuples in one epoch of shard ``s``, and
    the sizes add up to a local epoch's: a round takes at most
    ``batch_size * local_steps`` of them, the last round of an epoch what is
    left. An epoch ends when every shard has done its rounds of it; once the
    schedule decides to stop, no further result is applied (the tasks still
    running are cancelled). Returns a :class:`~metriclearn._result.FitResult`
    (with the attributes ``preconditioner_``, ``t_``, ``n_updates_`` and
    ``update_keys_``: the applied ``(shard, round)`` keys in order).
    """
    _, _, distributed = _import_dask()
    n_shards = len(shards)
    B, steps = int(settings.batch_size), int(settings.local_steps)
    per_round = B * steps
    plan = [_round_sizes(size, per_round) for size in sizes]  # one epoch each
    rounds = np.array([p.shape[0] for p in plan], dtype=np.intp)
    planned = rounds * settings.max_iter
    cfg = settings.loss
    base_seed = int(rng.randint(2**31 - 1))
    token = uuid.uuid4().hex[:12]
    schedule = Schedule(settings)
    damping = 1.0 / n_shards
    # the magnet loss's clusters of each shard (a future), refitted at the
    # map of the first round of every cfg.refresh-th epoch of the shard
    clusters = [None] * n_shards

    submitted = np.zeros(n_shards, dtype=np.intp)
    done = np.zeros(n_shards, dtype=np.intp)
    pending = {}  # key -> (shard, round, future)
    applied = set()
    order = []
    epoch_loss, epoch_items = {}, {}
    history = []
    converged = False
    tic = time.perf_counter()

    def submit(s):
        r = int(submitted[s])
        n_items = int(plan[s][r % rounds[s]])
        n_steps = -(-n_items // B)
        seed = int(np.random.SeedSequence([base_seed, s, r]).generate_state(1)[0] >> 1)
        key = f"metriclearn-sgd-{token}-{s}-{r}"
        if cfg.name == "magnet" and r % rounds[s] == 0 and (r // rounds[s]) % cfg.refresh == 0:
            clusters[s] = client.submit(_shard_clusters, shards[s], L.copy(), cfg, seed ^ 1,
                                        clusters[s], key=key + "-clusters")
        fut = client.submit(
            _round, x_future, shards[s], L.copy(), schedule.etas(n_steps), n_items, B, cfg,
            precond, seed, bool(settings.shuffle),
            int(plan[s][: r % rounds[s]].sum()) + (r // rounds[s]) * int(sizes[s]),
            clusters[s],
            key=key,  # no workers=: never pinned, any worker may run (or rerun) it
        )
        pending[key] = (s, r, n_steps, fut)
        submitted[s] += 1
        return fut

    queue = distributed.as_completed([submit(s) for s in range(n_shards)], loop=client.loop)
    try:
        for fut in queue:
            if fut.key not in pending:  # never twice, whatever the scheduler reruns
                continue
            s, r, n_steps, _ = pending.pop(fut.key)
            delta, loss, n_used = fut.result()
            del fut
            if (s, r) in applied:
                continue
            L += damping * delta
            applied.add((s, r))
            order.append((s, r))
            done[s] += 1
            schedule.t += n_steps * damping
            e = r // rounds[s]
            epoch_loss[e] = epoch_loss.get(e, 0.0) + loss
            epoch_items[e] = epoch_items.get(e, 0) + n_used
            # epochs complete in order, once every shard has done its rounds
            stop = False
            while np.all(done >= (len(history) + 1) * rounds):
                k = len(history)
                history.append(epoch_loss.pop(k) / max(epoch_items.get(k, 0), 1))
                check_diverged(L, history, settings.eta0)
                elapsed = time.perf_counter() - tic
                tic = time.perf_counter()
                report(settings, k + 1, history[-1], schedule.eta,
                       epoch_items.pop(k, 0) / max(elapsed, 1e-12))
                if schedule.end_epoch(history[-1]):
                    converged = stop = True
                    break
            if stop:
                break  # nothing arriving after the decision is applied
            if submitted[s] < planned[s]:
                queue.add(submit(s))
    finally:
        if pending:
            client.cancel([fut for _, _, _, fut in pending.values()])
    return FitResult(L, len(history), converged, history, {
        "preconditioner_": precond,
        "t_": int(round(schedule.t)),
        "n_updates_": len(order),
        "update_keys_": np.asarray(order, dtype=np.intp).reshape(-1, 2),
    })


@contextmanager
def _quiet_graph():
    """Silence Dask's warning about a large graph: numpy input travels inside
    the graph on purpose, so the scheduler can rebuild lost shards from it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge graph.*")
        yield


def _release(client, futures):
    client.cancel([f for f in futures if f is not None])


def train_tuples(data, settings, rng, *, scheduler, shared):
    """Train on given tuples: pairs (labels given) or triplets.

    ``data`` is a validated :class:`~metriclearn._validation.Tuples` (numpy;
    ``shared`` says whether its ``X`` is the preprocessor, shipped once to
    the cluster, rather than the tuples' own points, shipped shard by shard)
    or a :class:`DaskTuples`. For a Dask array of pairs the result carries
    the pairs' squared learned distances, computed on the cluster, for the
    caller to calibrate on.
    """
    dask, _, _ = _import_dask()
    with _connect(scheduler) as client, _quiet_graph():
        labels = data.y
        if labels is not None:
            labels = labels.astype(np.int8)
        if isinstance(data, DaskTuples):
            n, size, d = data.points.shape
            sample = np.unique(rng.randint(n, size=min(n, N_SCALE_SAMPLE)))
            points = np.asarray(client.compute(data.points[sample]).result(),
                                dtype=np.float64)
            if not np.all(np.isfinite(points)):
                name = "pairs" if labels is not None else "triplets"
                raise ValueError(f"{name} contains NaN or infinity")
            center = None
            if settings.loss.normalize:
                center = np.asarray(client.compute(data.points.mean(axis=(0, 1))).result())
                points = points - center
            if size == 3:
                first = np.concatenate([points[:, 0], points[:, 0]])
                second = np.concatenate([points[:, 1], points[:, 2]])
            else:
                first, second = points[:, 0], points[:, 1]
            precond, L = start_from_sample(first, second, settings, rng)
        else:
            n, size = data.indices.shape
            d = data.n_features
            data, center = centered(data, settings)
            precond, L = start(data.X, data.indices, settings, rng)
        n_shards = _n_shards(client, n)
        bounds = _bounds(n, n_shards)

        def part(lab, a, b):
            return None if lab is None else lab[a:b]

        x_future = None
        if isinstance(data, DaskTuples):
            blocks = data.points.rechunk({0: tuple(np.diff(bounds)), 1: size, 2: d})
            parts = [dask.delayed(_point_shard)(blocks.blocks[s], part(labels, a, b), center)
                     for s, (a, b) in enumerate(_spans(bounds))]
        else:
            # with shuffle, shards are random subsets (input sorted by label
            # would otherwise give shards of a single kind of pair)
            perm = rng.permutation(n) if settings.shuffle else np.arange(n)
            if labels is not None:
                labels = labels[perm]
            if shared:
                parts = [dask.delayed(_index_shard)(data.indices[perm[a:b]],
                                                    part(labels, a, b))
                         for a, b in _spans(bounds)]
                x_future = client.compute(dask.delayed(_points)(data.X))
            else:
                pts = data.X.reshape(n, size, d)
                parts = [dask.delayed(_point_shard)(pts[perm[a:b]], part(labels, a, b))
                         for a, b in _spans(bounds)]
        shards = client.compute(parts)
        try:
            result = _train(client, x_future, shards, np.diff(bounds), L, precond,
                            settings, rng)
            if isinstance(data, DaskTuples) and labels is not None:
                sq = client.gather([
                    client.submit(_shard_sq_distances, x_future, shard, result.components,
                                  settings.loss.normalize, pure=False)
                    for shard in shards
                ])
                result.sq_distances = np.concatenate(sq)
        finally:
            _release(client, [*shards, x_future])
    result.attributes["center_"] = center
    return result


def stratified_shards(index, n_shards, rng):
    """The rows of each shard: every class's rows in a random order dealt
    out in turn to the shards, so that each shard holds about
    ``1 / n_shards`` of every class whatever the order of the rows (rows
    sorted by class, as scikit-learn's loaders return them, would otherwise
    give shards of a single class, which draw no dissimilar pair). Each
    shard's rows are in increasing order."""
    owner = np.empty(index.codes.shape[0], dtype=np.intp)
    dealt = 0
    for c in range(index.n_classes):
        rows = index.order[index.start[c]:index.start[c] + index.counts[c]]
        owner[rng.permutation(rows)] = (dealt + np.arange(rows.shape[0])) % n_shards
        dealt += rows.shape[0]
    return [np.flatnonzero(owner == s) for s in range(n_shards)]


def epoch_sizes(per_epoch, rows):
    """Each shard's share of an epoch of ``per_epoch`` tuples, by its number
    of rows (the shares add up to ``per_epoch``)."""
    counts = np.array([r.shape[0] for r in rows], dtype=np.float64)
    bounds = np.round(np.concatenate([[0.0], np.cumsum(counts)]) * per_epoch / counts.sum())
    return np.diff(bounds).astype(np.intp)


def train_labels(X, sampler, settings, rng, *, scheduler):
    """Train on pairs (or anchors) drawn from class labels: ``X`` numpy
    (validated) or a Dask array of shape ``(n_samples, n_features)``, and the
    :class:`~metriclearn._sgd.sources.LabelPairSampler` of its labels.

    Each shard holds a stratified share of the rows (:func:`stratified_shards`;
    with a Dask array, gathered from its blocks by tasks) and draws its own
    tuples among them: random pairs, or anchors whose positives are target
    neighbours within the shard (``sampling='neighbors'``) and whose negatives
    are mined in each batch. An epoch is the local backend's: ``m`` anchors,
    or ``m`` similar and ``m`` dissimilar pairs, shared out by rows.
    """
    dask, _, _ = _import_dask()
    with _connect(scheduler) as client, _quiet_graph():
        codes = sampler.index.codes
        n, d = X.shape
        m, cut = settings.per_epoch(
            n, n * settings.n_neighbors if settings.sampling == "neighbors"
            else sampler.n_distinct)
        sample_pairs, _ = sampler.draw(min(m, N_SCALE_SAMPLE // 2), rng)
        if is_dask(X):
            rows, inverse = np.unique(sample_pairs, return_inverse=True)
            pts = np.asarray(client.compute(X[rows]).result(), dtype=np.float64)
            if not np.all(np.isfinite(pts)):
                raise ValueError("Input X contains NaN or infinity")
            pts = pts[inverse.reshape(sample_pairs.shape)]
            first, second = pts[:, 0], pts[:, 1]
        else:
            first, second = X[sample_pairs[:, 0]], X[sample_pairs[:, 1]]
        center = None
        if settings.loss.normalize:
            center = np.asarray(client.compute(X.mean(axis=0)).result() if is_dask(X)
                                else X.mean(axis=0))
            first, second = first - center, second - center
        precond, L = start_from_sample(first, second, settings, rng)
        n_shards = _n_shards(client, n // 2)
        rows = stratified_shards(sampler.index, n_shards, rng)
        # (the magnet loss's anchors are every point: no target neighbours)
        sampling = "random" if settings.loss.name == "magnet" else settings.sampling
        parts = [
            dask.delayed(_label_shard)(X[r], codes[r], sampling, settings.n_neighbors, center)
            for r in rows
        ]
        shards = client.compute(parts)
        per_epoch = m if is_mined(settings.loss, settings.sampling) else 2 * m
        sizes = epoch_sizes(per_epoch, rows)
        try:
            result = _train(client, None, shards, sizes, L, precond, settings, rng)
        finally:
            _release(client, shards)
    result.attributes["center_"] = center
    result.warnings.extend([cut] if cut else [])
    return result
