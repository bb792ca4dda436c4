"""What reads finished stages: the run summary, release gates, run comparison, HTML.

The Markdown blocks and loss-curve plots every stage report is built from live lower,
in `picochat.markdown` and `picochat.plots`, so data/, training/ and evaluation/ can use
them without importing this package.
"""
