"""`ganlab bench`: how fast ganlab trains, against a tutorial PyTorch loop and the hardware limit.

flops.py (FLOPs per step, from the config), matmul.py (measured fp32 matmul throughput),
runner.py (interleaved timing, the timed loops), study.py (study throughput, packing),
commands.py (the typer command). The malloc thresholds are ganlab.train.allocator's.
"""
