"""`ganlab bench`: how fast ganlab trains, against a tutorial PyTorch loop, the study's Keras loop
and the hardware limit.

suite.py (the whole benchmark and its record), runner.py (the data, interleaved timing, the timed
loops), contenders.py (contenders in their own process: Keras), flops.py (FLOPs per step, counted
on the real step), matmul.py (measured fp32 matmul throughput), study.py (study throughput,
packing runs into processes), profile.py (where a step's time goes), tricks.py (what each
technique costs), tables.py (what is printed). The typer command is `ganlab.cli.bench`. The
malloc thresholds are ganlab.train.allocator's.
"""
