"""The report: CSV tables and one self-contained HTML page from a results root.

Reads files only (never ``icml22dl.papers``), so it works on any results root::

    from icml22dl.report import write_report
    write_report("results")  # results/report.html, results/claims.csv, results/runs.csv

Figures need the ``plots`` extra (matplotlib), imported only when a figure is drawn.
"""

from icml22dl.report.aggregate import load_claims, write_csv
from icml22dl.report.html import write_report

__all__ = ["load_claims", "write_csv", "write_report"]
