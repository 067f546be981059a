/*
 * Times in the store: integer milliseconds since the epoch (UTC) in the
 * database, ISO-8601 in reports, and the --since/--until forms people type:
 * an ISO-8601 date or time, "now", or a span back from now such as "24h".
 */
#include "store_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t edl_store_time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *edl_store_time_format(char *buf, size_t len, int64_t ms)
{
	/* Floor division so times before 1970 still print correctly. */
	int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	int frac = (int)(ms - secs * 1000);
	time_t t = (time_t)secs;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	return buf;
}

/* Reads exactly `digits` decimal digits at *p into *out and advances *p. */
static bool take_digits(const char **p, int digits, int *out)
{
	int v = 0;

	for (int i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += digits;
	*out = v;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static bool parse_iso(int64_t *out_ms, const char *s)
{
	struct tm tm = {0};
	int year, month, day, hour = 0, min = 0, sec = 0, ms = 0, off_h = 0, off_m = 0;
	int64_t offset_s = 0;
	const char *p = s;
	time_t t;

	if (!take_digits(&p, 4, &year) || *p++ != '-' || !take_digits(&p, 2, &month) ||
	    *p++ != '-' || !take_digits(&p, 2, &day))
		return false;
	if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
		return false;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &min))
			return false;
		if (*p == ':') {
			p++;
			if (!take_digits(&p, 2, &sec))
				return false;
			if (*p == '.') {
				int scale = 100;
				p++;
				if (!isdigit((unsigned char)*p))
					return false;
				for (; isdigit((unsigned char)*p); p++) {
					ms += (*p - '0') * scale;
					scale /= 10;
				}
			}
		}
		if (hour > 23 || min > 59 || sec > 59)
			return false;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;
			if (!take_digits(&p, 2, &off_h))
				return false;
			if (*p == ':')
				p++;
			if (!take_digits(&p, 2, &off_m) || off_h > 23 || off_m > 59)
				return false;
			offset_s = sign * (int64_t)(off_h * 3600 + off_m * 60);
		}
	}
	if (*p != '\0')
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*out_ms = ((int64_t)t - offset_s) * 1000 + ms;
	return true;
}

int edl_store_time_parse(int64_t *out_ms, const char *text, int64_t now_ms, struct edl_error *err)
{
	static const struct {
		char suffix;
		int64_t ms;
	} units[] = {
	        {'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000},
	};
	unsigned long long n;
	char *end;

	if (text == NULL || text[0] == '\0')
		return edl_error_set(err, EDL_E_INVAL, "empty time");
	if (strcmp(text, "now") == 0) {
		*out_ms = now_ms;
		return EDL_OK;
	}
	if (parse_iso(out_ms, text))
		return EDL_OK;
	if (isdigit((unsigned char)text[0])) {
		errno = 0;
		n = strtoull(text, &end, 10);
		if (errno == 0 && end != text && end[0] != '\0' && end[1] == '\0') {
			for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
				if (units[i].suffix != end[0])
					continue;
				/* Spans beyond 100 years are typing mistakes, not queries. */
				if (n > (unsigned long long)(3155760000000LL / units[i].ms))
					break;
				*out_ms = now_ms - (int64_t)n * units[i].ms;
				return EDL_OK;
			}
		}
	}
	return edl_error_set(
	        err, EDL_E_INVAL,
	        "'%.64s' is not a time: use ISO-8601 (2024-05-01, "
	        "2024-05-01T12:30:00Z) or a span back from now (90s, 30m, 24h, 7d, 2w)",
	        text);
}
