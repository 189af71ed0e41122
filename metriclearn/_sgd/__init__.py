"""The SGD family: large-scale metric learning by mini-batch SGD over ``L``.

Where each piece lives, from the estimators down to the kernels:

- :mod:`.pairs`, :mod:`.supervised`, :mod:`.triplets`, :mod:`.twoview`: one
  module per learner (``SGDMetricLearner``, ``SGDMetricLearner_Supervised``,
  ``SGDTripletLearner``, and ``SGDTwoViewLearner``, two maps from paired
  views on the local engine);
- :mod:`.base`: their parameters, training settings and the training of
  given tuples on either backend;
- :mod:`.engine` (``train_local``) and :mod:`.dask` (``train_tuples``,
  ``train_labels``): the two drivers, arrays and settings in, a
  :class:`~metriclearn._result.FitResult` out; neither knows an estimator;
- :mod:`.sources`: the training tuples, given or drawn from labels (target
  neighbours or random pairs), and their centring on the unit sphere;
- :mod:`.losses`: the losses, miners and the typed batches whose ``steps``
  call the numba kernels of :mod:`metriclearn._kernels.sgd` (pairs, and the
  embedding on the sphere), :mod:`metriclearn._kernels.sgd_triplets`
  (given triplets), :mod:`metriclearn._kernels.sgd_mining` (target
  neighbours, miners, steps with negatives mined in the batch),
  :mod:`metriclearn._kernels.sgd_batch` (the lifted structured, supervised
  and debiased contrastive losses over the whole batch),
  :mod:`metriclearn._kernels.sgd_magnet` (the magnet loss and its clusters)
  and :mod:`metriclearn._kernels.twoview` (the symmetric InfoNCE loss of
  paired views, for :mod:`.twoview`'s ``SGDTwoViewLearner``).

The package imports none of its modules: each is imported by name, so that
a driver or a loss never pulls in the estimators above it.
"""
