"""numba kernels: arrays in, arrays out.

One module per algorithm. Kernels never see an estimator, never import
scikit-learn and never write into their inputs; the estimators convert their
inputs once (float64, C order) before calling them.
"""
