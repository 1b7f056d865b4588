"""CSV that is safe to open in a spreadsheet.

Spreadsheet apps treat a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (and some strip a leading tab or carriage return first), so a value written by
an attacker (a username, a user agent) could run ``=HYPERLINK(...)`` or worse when an
admin opens an export. Such cells get a leading single quote, which the apps show as
text (OWASP "CSV Injection"). The value stays readable; a script reading the file sees
the quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

__all__ = ["FORMULA_PREFIXES", "csv_row", "spreadsheet_safe"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """``value``, with a ``'`` in front when a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def csv_row(values: Sequence[str]) -> str:
    """One CSV record (RFC 4180: quoted where needed, CRLF-terminated), every cell
    made spreadsheet-safe."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([spreadsheet_safe(v) for v in values])
    return out.getvalue()
