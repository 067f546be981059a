/*
 * libFuzzer target for the station's INI loader: arbitrary bytes (NULs, CRs,
 * lines of any length, a BOM anywhere) go to edl_station_config_parse(). It
 * must end with EDL_OK or EDL_E_CONFIG, every problem must name a line of the
 * input, and every key it accepted must carry a line that exists. Each input
 * is parsed a second time behind a long comment line (longer than inih's
 * buffer): the comment must change nothing but the line numbers.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/station.h"

struct seen {
	unsigned problems;
};

static void on_problem(const char *message, void *data)
{
	struct seen *s = data;
	/* "fuzz.ini:LINE: ..." */
	assert(strncmp(message, "fuzz.ini:", 9) == 0);
	s->problems++;
}

static unsigned lines_of(const uint8_t *data, size_t size)
{
	unsigned n = 1;
	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct edl_station_config a, b;
	struct edl_error err;
	struct seen sa = {0}, sb = {0};

	edl_station_config_default(&a);
	int rc = edl_station_config_parse(&a, "fuzz.ini", (const char *)data, size, on_problem, &sa,
	                                  &err);
	assert(rc == EDL_OK || rc == EDL_E_CONFIG);
	assert((rc == EDL_OK) == (sa.problems == 0));
	unsigned lines = lines_of(data, size);
	for (size_t i = 0; i < a.source.n_keys; i++)
		assert(a.source.keys[i].line >= 1 && a.source.keys[i].line <= lines);

	/* The same text behind a 300-byte comment: same outcome, same values. A
	 * leading BOM only counts on line 1, so skip inputs that start with one. */
	if (size >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
		return 0;
	char *text = malloc(size + 302);
	if (text == NULL)
		return 0;
	text[0] = ';';
	memset(text + 1, 'x', 300);
	text[301] = '\n';
	memcpy(text + 302, data, size);
	edl_station_config_default(&b);
	int rc2 = edl_station_config_parse(&b, "fuzz.ini", text, size + 302, on_problem, &sb, &err);
	free(text);
	assert(rc2 == rc);
	assert(sb.problems == sa.problems);
	if (rc == EDL_OK) {
		assert(a.verify == b.verify && a.n_ports == b.n_ports && a.inflight == b.inflight);
		assert(strcmp(a.package, b.package) == 0 && strcmp(a.db, b.db) == 0);
	}
	return 0;
}
