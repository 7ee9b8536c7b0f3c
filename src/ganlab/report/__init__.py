"""Reports read back from run and study directories, and the plots a run draws as it trains.

runs.py (a run directory as the report sees it), figures.py (pictures and curves as data URIs),
studies.py (each variant against its control), html.py (the self-contained HTML page,
`write_report`), plots.py (loss and metric plots; `PlotWriter`, the training hook that draws
them), gif.py (sample GIFs). The command is `ganlab report` (`ganlab.cli.study`).
"""
