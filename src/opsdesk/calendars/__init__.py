"""Business calendars: working time between instants and instants a working duration away.

Pure computation with no I/O. See `BusinessCalendar` for the rules of working time.
"""

from opsdesk.calendars.calendar import SEARCH_LIMIT_YEARS, SPAN_LIMIT_YEARS, BusinessCalendar
from opsdesk.calendars.definition import CalendarDefinition, CalendarError
from opsdesk.calendars.durations import DurationError, format_duration, parse_duration

__all__ = [
    "SEARCH_LIMIT_YEARS",
    "SPAN_LIMIT_YEARS",
    "BusinessCalendar",
    "CalendarDefinition",
    "CalendarError",
    "DurationError",
    "format_duration",
    "parse_duration",
]
