# One date-time format across the admin, with the zone's abbreviation (the staff member's
# zone, activated by config.middleware.StaffTimeZoneMiddleware).
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
