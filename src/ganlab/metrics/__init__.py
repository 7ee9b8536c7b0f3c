"""Measuring MNIST GANs on the features of ganlab's own evaluator.

evaluator.py (network, committed weights, SHA-256 check), train_evaluator.py (its recipe),
features.py (extraction, reference cache), fid.py, kid.py, prdc.py, classes.py,
memorisation.py (pure metric functions plus thin accumulating classes), suite.py (all of them
at once, with the real-data floor), commands.py (`ganlab eval`, `ganlab evaluator`).
"""
