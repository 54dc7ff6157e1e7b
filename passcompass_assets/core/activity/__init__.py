"""A learning platform's activity: its exports read as events (``formats``), counted once each into a daily history
per student, course and kind of activity (``store``).

The formats are named here, free of the readers' imports, so the command line lists them without loading pandas.
"""

from typing import Literal, get_args

Format = Literal["moodle", "canvas", "xapi", "oulad", "generic"]
FORMATS: tuple[str, ...] = get_args(Format)
