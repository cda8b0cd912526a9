#!/usr/bin/env python3
"""Prints the exact patterns Protocol/openapi.yaml uses for dates, periods and
times: every valid date of the supported years 1970-2199 (leap days and ISO
53-week years listed), so a string matches exactly when the server accepts it."""
import datetime

YEARS = range(1970, 2200)
year = "(19[7-9][0-9]|20[0-9]{2}|21[0-9]{2})"
leap = "|".join(str(y) for y in YEARS if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))
long_weeks = "|".join(str(y) for y in YEARS if datetime.date(y, 12, 28).isocalendar()[1] == 53)
date = (f"({year}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
        f"|({leap})-02-29)")
period = (f"^({year}-(0[1-9]|1[0-2])|{year}-[Qq][1-4]|{year}-[Ww](0[1-9]|[1-4][0-9]|5[0-2])|({long_weeks})-[Ww]53)$")
time = "([Tt]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.,][0-9]+)?)?([Zz]|[+-](0[0-9]|1[0-4]):?[0-5][0-9])?)?"
print("LocalDate:", f"^{date}$")
print("Period:", period)
print("AsOf:", f"^{date}{time}$")
