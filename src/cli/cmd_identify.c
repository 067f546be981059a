/*
 * `edlstation identify`: Sahara command mode on every EDL device attached now:
 * prints a table of each unit's port, slot, chip serial, HW id, OEM PK hash and
 * Sahara version, and leaves it in EDL ready for flashing. It runs the
 * station's own sessions in identify-only mode, so it sees units exactly as
 * `run` would: their events (JSON, captured in a temporary file) are echoed to
 * stderr as text lines and the "identified" ones make the table. A USB that
 * cannot be used is a failure (exit 1), never "no devices".
 */
#include "edlstation/cli.h"
#include "edlstation/station.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDENTIFY_USAGE "[--config FILE] [--json]"

/* The string value of "key" in one compact JSON object line of the station's
 * events ("" when absent); escapes decoded, \u sequences shown as '?'. */
static void json_field(const char *line, const char *key, char *out, size_t len)
{
	char pat[40];
	size_t o = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = strstr(line, pat);
	out[0] = '\0';
	if (p == NULL)
		return;
	for (p += strlen(pat); *p && *p != '"' && o + 1 < len; p++) {
		char c = *p;
		if (c == '\\' && p[1]) {
			p++;
			c = *p == 'n' ? ' ' : *p == 't' ? ' ' : *p;
			if (*p == 'u') {
				for (int i = 0; i < 4 && p[1]; i++)
					p++;
				c = '?';
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
}

struct identity {
	char port[32], slot[32], serial[16], hwid[24], pk[160];
	unsigned sahara;
};

static int by_port(const void *a, const void *b)
{
	const struct identity *x = a, *y = b;
	return strcmp(x->port, y->port);
}

static int identify_table(struct edl_station_config *cfg)
{
	struct edl_station_summary sum;
	struct edl_error err;
	struct identity *ids = NULL;
	size_t n_ids = 0, cap = 0;
	char *line = NULL;
	size_t line_cap = 0;
	FILE *events = tmpfile();
	int saved = -1;

	if (events == NULL) {
		perror("edlstation identify: temporary file");
		return EDL_EXIT_FAILURE;
	}
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	if (saved < 0 || dup2(fileno(events), STDOUT_FILENO) < 0) {
		perror("edlstation identify: redirecting events");
		fclose(events);
		return EDL_EXIT_FAILURE;
	}
	cfg->log_format = EDL_LOGFMT_JSON;
	int rc = edl_station_run(cfg, &sum, &err);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(events);
	while (getline(&line, &line_cap, events) > 0) {
		char event[32], port[32], slot[32], serial[16], msg[1024];
		json_field(line, "event", event, sizeof(event));
		json_field(line, "port", port, sizeof(port));
		json_field(line, "slot", slot, sizeof(slot));
		json_field(line, "serial", serial, sizeof(serial));
		json_field(line, "message", msg, sizeof(msg));
		if (!event[0] || !strcmp(event, "summary") || !strcmp(event, "stage"))
			continue;
		if (port[0] && strcmp(port, slot) != 0)
			fprintf(stderr, "[%s %s%s%s] %s: %s\n", slot, port, serial[0] ? " SN:" : "",
			        serial, event, msg);
		else if (port[0])
			fprintf(stderr, "[%s%s%s] %s: %s\n", port, serial[0] ? " SN:" : "", serial,
			        event, msg);
		else
			fprintf(stderr, "%s: %s\n", event, msg);
		if (strcmp(event, "identified") != 0)
			continue;
		if (n_ids == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct identity *g = realloc(ids, ncap * sizeof(*ids));
			if (g == NULL)
				break;
			ids = g, cap = ncap;
		}
		struct identity *id = &ids[n_ids++];
		memset(id, 0, sizeof(*id));
		snprintf(id->port, sizeof(id->port), "%s", port);
		snprintf(id->slot, sizeof(id->slot), "%s",
		         slot[0] && strcmp(slot, port) ? slot : "-");
		if (sscanf(msg,
		           "serial %15[0-9a-f], HW id %23[0-9a-f] (msm %*[0-9a-f] oem %*[0-9a-f] "
		           "model %*[0-9a-f]), PK hash %159[0-9a-f-], Sahara v%u",
		           id->serial, id->hwid, id->pk, &id->sahara) < 3) {
			/* A programmer already running: no Sahara identity. */
			snprintf(id->serial, sizeof(id->serial), "%s", serial[0] ? serial : "-");
			snprintf(id->hwid, sizeof(id->hwid), "-");
			snprintf(id->pk, sizeof(id->pk), "(programmer running)");
		}
	}
	free(line);
	fclose(events);
	if (err.code != EDL_OK)
		fprintf(stderr, "edlstation identify: %s\n", err.detail);
	if (n_ids > 1)
		qsort(ids, n_ids, sizeof(*ids), by_port);
	printf("%-10s %-6s %-9s %-17s %-7s %s\n", "PORT", "SLOT", "SERIAL", "HW-ID", "SAHARA",
	       "PK-HASH");
	for (size_t i = 0; i < n_ids; i++) {
		char ver[16] = "-";
		if (ids[i].sahara)
			snprintf(ver, sizeof(ver), "v%u", ids[i].sahara);
		printf("%-10s %-6s %-9s %-17s %-7s %s\n", ids[i].port, ids[i].slot, ids[i].serial,
		       ids[i].hwid, ver, ids[i].pk);
	}
	if (rc == EDL_OK && sum.failed > 0)
		printf("%u unit(s) could not be identified (see the messages above)\n", sum.failed);
	free(ids);
	return edl_cli_station_exit(rc, &sum);
}

int edl_cli_identify(int argc, char **argv)
{
	struct edl_station_config *cfg = malloc(sizeof(*cfg));
	struct edl_cli_usb_device *devs = NULL;
	struct edl_error err;
	bool json = false;
	size_t n = 0;
	int code = EDL_EXIT_USAGE;

	if (cfg == NULL) {
		fprintf(stderr, "edlstation identify: out of memory\n");
		return EDL_EXIT_FAILURE;
	}
	edl_station_config_default(cfg);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				edl_cli_usage_error("identify", IDENTIFY_USAGE,
				                    "--config needs a file");
				goto out;
			}
			if (edl_station_config_load(cfg, argv[++i], &err) != EDL_OK) {
				fprintf(stderr, "edlstation identify: %s\n", err.detail);
				goto out;
			}
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: edlstation identify " IDENTIFY_USAGE "\n"
			       "  Reads every attached EDL unit's identity in Sahara command mode "
			       "and\n"
			       "  leaves it in EDL: a table of port, slot, serial, HW id, Sahara "
			       "version\n"
			       "  and OEM PK hash (--json: the station's JSON events instead).\n"
			       "  Exit: 0 all identified (or none attached), 1 USB unusable, 2 "
			       "usage or\n"
			       "  config error, 3 some units not identified.\n");
			code = EDL_EXIT_OK;
			goto out;
		} else if (argv[i][0] == '-') {
			edl_cli_usage_error("identify", IDENTIFY_USAGE, "unknown option '%s'",
			                    argv[i]);
			goto out;
		} else {
			edl_cli_usage_error("identify", IDENTIFY_USAGE, "unexpected argument '%s'",
			                    argv[i]);
			goto out;
		}
	}
	if (edl_cli_usb_list(&devs, &n, &err) != EDL_OK) {
		fprintf(stderr, "edlstation identify: %s\n", err.detail);
		code = EDL_EXIT_FAILURE;
		goto out;
	}
	cfg->identify_only = true;
	cfg->retries = 0;
	cfg->count = (unsigned)n;
	if (n == 0) {
		printf("(no EDL devices)\n");
		code = EDL_EXIT_OK;
		goto out;
	}
	if (json) {
		struct edl_station_summary sum;
		cfg->log_format = EDL_LOGFMT_JSON;
		int rc = edl_station_run(cfg, &sum, &err);
		if (err.code != EDL_OK)
			fprintf(stderr, "edlstation identify: %s\n", err.detail);
		code = edl_cli_station_exit(rc, &sum);
	} else {
		code = identify_table(cfg);
	}
out:
	free(devs);
	free(cfg);
	return code;
}
