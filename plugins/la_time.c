/* Log Analytics datetimes as 100 ns ticks since the Unix epoch.
 *
 * ingestion_time() and TimeGenerated carry up to 7 fractional digits; the cursor keeps
 * that precision so a watermark written back into a query names exactly the row it
 * came from (a coarser one would re-read or skip rows stamped in the same second). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "la.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic, any year). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int aw_la_time_parse(const char *s, size_t len, int64_t *ticks)
{
	int y, mo, d, h, mi, sec;
	int64_t frac = 0;
	size_t i = 19, nfrac = 0;

	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (nfrac < 7) {
				frac = frac * 10 + (s[i] - '0');
				nfrac++;
			}
			i++;
		}
		if (nfrac == 0)
			return -1;
		for (; nfrac < 7; nfrac++)
			frac *= 10;
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		/* UTC */
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
		   !strncmp(s + i + 1, "00:00", 5)) {
		/* an explicit zero offset is UTC too; other offsets never come from the API */
	} else {
		return -1;
	}
	*ticks =
	    ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * AW_LA_TICKS_PER_SEC) +
	    frac;
	return 0;
}

void aw_la_time_format(int64_t ticks, char buf[AW_LA_TIME_LEN])
{
	int64_t secs = ticks / AW_LA_TICKS_PER_SEC, frac = ticks % AW_LA_TICKS_PER_SEC;
	int64_t days, rem, y;
	int m, d;

	if (frac < 0) {
		frac += AW_LA_TICKS_PER_SEC;
		secs--;
	}
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		/* Out of the range KQL accepts: clamp to an obviously wrong but valid date. */
		snprintf(buf, AW_LA_TIME_LEN, "%s",
			 y < 0 ? "0001-01-01T00:00:00.0000000Z" : "9999-12-31T23:59:59.9999999Z");
		return;
	}
	/* The fields are in range by construction; the compiler cannot see it, so format
	 * into a roomy buffer and copy the fixed-width result. */
	char tmp[96];
	int n = snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%07dZ", (int)y, m, d,
			 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
	size_t len = n > 0 && (size_t)n < AW_LA_TIME_LEN ? (size_t)n : AW_LA_TIME_LEN - 1;
	memcpy(buf, tmp, len);
	buf[len] = '\0';
}

int64_t aw_la_now_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * AW_LA_TICKS_PER_SEC + ts.tv_nsec / 100;
}
