/*
 * The MES policy (include/edlstation/mes.h), pure and testable: the JSON
 * before_unit reads and what its answer means (jansson parses it, strictly:
 * a hook that cannot answer must not let a unit through), the payload each
 * finished run queues for after_unit, the redelivery backoff, and the plan of
 * one provisioned unit (the package's plan with one partition's image
 * replaced). No I/O here besides the caller's buffers.
 */
#include "edlstation/mes.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/error.h"
#include "edlstation/json.h"
#include "edlstation/store.h"

/* ---- before_unit ------------------------------------------------------------------- */

static void opt_string(struct edl_json *j, const char *key, const char *v)
{
	if (v == NULL)
		return;
	edl_json_key(j, key);
	edl_json_string(j, v);
}

int edl_mes_before_input(struct edl_buf *b, const struct edl_mes_unit *u)
{
	struct edl_json j;

	edl_json_init_buf(&j, b, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	edl_json_key(&j, "event");
	edl_json_string(&j, "before_unit");
	opt_string(&j, "station", u->station);
	edl_json_key(&j, "slot");
	edl_json_int(&j, u->slot);
	opt_string(&j, "slot_label", u->slot_label);
	opt_string(&j, "port", u->port);
	opt_string(&j, "serial", u->serial);
	opt_string(&j, "usb_serial", u->usb_serial);
	opt_string(&j, "hw_id", u->hw_id);
	opt_string(&j, "msm_id", u->msm_id);
	opt_string(&j, "oem_id", u->oem_id);
	opt_string(&j, "model_id", u->model_id);
	opt_string(&j, "pk_hash", u->pk_hash);
	opt_string(&j, "package", u->package_hash);
	opt_string(&j, "product", u->product);
	edl_json_key(&j, "attempt");
	edl_json_int(&j, u->attempt);
	if (u->run_id > 0) {
		edl_json_key(&j, "run_id");
		edl_json_int(&j, u->run_id);
	}
	edl_json_object_end(&j);
	return edl_json_finish(&j);
}

/* Printable text that fits: lot, work order and operator are shown and
 * recorded; a control character or an oversized value is a bad answer. */
static int take_text(char *dst, size_t cap, json_t *obj, const char *key, bool required,
                     struct edl_error *err)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v)) {
		if (required)
			return edl_error_set(err, EDL_E_MES_HOOK,
			                     "before_unit hook answered without \"%s\"", key);
		return EDL_OK;
	}
	if (!json_is_string(v))
		return edl_error_set(err, EDL_E_MES_HOOK,
		                     "before_unit hook answered \"%s\" that is not a string", key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= cap)
		return edl_error_set(err, EDL_E_MES_HOOK,
		                     "before_unit hook answered a \"%s\" of %zu bytes: at most %zu",
		                     key, n, cap - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return edl_error_set(err, EDL_E_MES_HOOK,
			                     "before_unit hook answered a \"%s\" with control "
			                     "character 0x%02x",
			                     key, c);
	}
	memcpy(dst, s, n + 1);
	return EDL_OK;
}

int edl_mes_parse_answer(struct edl_mes_answer *a, const char *text, size_t len,
                         struct edl_error *err)
{
	json_error_t jerr;
	json_t *root = NULL, *v;
	int rc = EDL_OK;
	size_t start = 0;

	memset(a, 0, sizeof(*a));
	while (start < len && (text[start] == ' ' || text[start] == '\n' || text[start] == '\t' ||
	                       text[start] == '\r'))
		start++;
	if (start == len)
		return edl_error_set(err, EDL_E_MES_HOOK,
		                     "before_unit hook printed nothing: it must print one JSON "
		                     "object such as {\"accept\": true}");
	root = json_loadb(text + start, len - start, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return edl_error_set(
		        err, EDL_E_MES_HOOK,
		        "before_unit hook printed no valid JSON (%s at line %d, column "
		        "%d): it must print one JSON object such as {\"accept\": true}",
		        jerr.text, jerr.line, jerr.column);
	if (!json_is_object(root)) {
		rc = edl_error_set(err, EDL_E_MES_HOOK,
		                   "before_unit hook printed JSON that is not an object: it must "
		                   "print one such as {\"accept\": true}");
		goto out;
	}
	v = json_object_get(root, "accept");
	if (!json_is_boolean(v)) {
		rc = edl_error_set(
		        err, EDL_E_MES_HOOK,
		        "before_unit hook answered %s \"accept\": it must be true or false",
		        v == NULL ? "without" : "a non-boolean");
		goto out;
	}
	a->accept = json_is_true(v);
	rc = take_text(a->reason, sizeof(a->reason), root, "reason", false, err);
	if (rc == EDL_OK)
		rc = take_text(a->lot, sizeof(a->lot), root, "lot", false, err);
	if (rc == EDL_OK)
		rc = take_text(a->work_order, sizeof(a->work_order), root, "work_order", false,
		               err);
	if (rc == EDL_OK)
		rc = take_text(a->operator_name, sizeof(a->operator_name), root, "operator", false,
		               err);
	if (rc != EDL_OK)
		goto out;
	if (!a->accept) {
		if (a->reason[0] == '\0')
			snprintf(a->reason, sizeof(a->reason),
			         "refused by the MES (no reason given)");
		goto out;
	}
	v = json_object_get(root, "provision");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_object(v)) {
			rc = edl_error_set(
			        err, EDL_E_MES_HOOK,
			        "before_unit hook answered a \"provision\" that is not an "
			        "object: give {\"label\": \"PARTITION\", \"file\": "
			        "\"/path\"}");
			goto out;
		}
		rc = take_text(a->provision_label, sizeof(a->provision_label), v, "label", true,
		               err);
		if (rc == EDL_OK)
			rc = take_text(a->provision_file, sizeof(a->provision_file), v, "file",
			               true, err);
		if (rc != EDL_OK)
			goto out;
		if (a->provision_label[0] == '\0' || a->provision_file[0] != '/') {
			rc = edl_error_set(
			        err, EDL_E_MES_HOOK,
			        "before_unit hook answered a \"provision\" without a label "
			        "or with a file path that is not absolute ('%s')",
			        a->provision_file);
			goto out;
		}
		a->provision = true;
	}
out:
	json_decref(root);
	if (rc != EDL_OK)
		a->accept = false;
	return rc;
}

/* ---- provisioning ------------------------------------------------------------------ */

int edl_mes_plan_provision(struct edl_plan **out, const struct edl_plan *base, const char *label,
                           const uint8_t *data, size_t len, const char *file, struct edl_error *err)
{
	struct edl_plan *p;
	size_t found = 0, at = 0;
	static const uint8_t zeros[4096];

	*out = NULL;
	for (size_t i = 0; i < base->n_steps; i++) {
		if (base->steps[i].kind == EDL_STEP_PROGRAM &&
		    strcmp(base->steps[i].label, label) == 0) {
			if (found++ == 0)
				at = i;
		}
	}
	if (found == 0)
		return edl_error_set(err, EDL_E_NOENT,
		                     "provisioning %s: the package programs no partition labelled "
		                     "'%s' (its rawprogram must program one: ship a placeholder "
		                     "image for it)",
		                     file, label);
	if (found > 1)
		return edl_error_set(err, EDL_E_INVAL,
		                     "provisioning %s: partition '%s' is written in %zu pieces (a "
		                     "sparse image): give it a plain image in the package",
		                     file, label, found);
	const struct edl_plan_step *s = &base->steps[at];
	/* The partition as the rawprogram sizes it; without a size, the image's. */
	uint64_t part_sectors = s->partition_sectors ? s->partition_sectors : s->num_sectors;
	uint64_t part = part_sectors * (uint64_t)s->sector_size;
	if ((uint64_t)len > part || s->sector_size == 0)
		return edl_error_set(
		        err, EDL_E_RANGE,
		        "provisioning %s: %zu bytes do not fit partition '%s' (%" PRIu64
		        " bytes, %" PRIu64 " sectors of %u)",
		        file, len, label, part, part_sectors, s->sector_size);
	/* The file, then zeros over at least what the package's image covered:
	 * none of the image is left behind it. */
	uint64_t sectors = ((uint64_t)len + s->sector_size - 1) / s->sector_size;
	if (sectors < s->num_sectors)
		sectors = s->num_sectors;
	uint64_t room = sectors * (uint64_t)s->sector_size;
	p = calloc(1, sizeof(*p));
	struct edl_plan_step *steps = calloc(base->n_steps ? base->n_steps : 1, sizeof(*steps));
	if (p == NULL || steps == NULL) {
		free(p);
		free(steps);
		return edl_error_set(err, EDL_E_NOMEM, "provisioning %s: out of memory", file);
	}
	*p = *base;
	memcpy(steps, base->steps, base->n_steps * sizeof(*steps));
	p->steps = steps;
	/* Vendor attributes stay the base plan's (read-only, it outlives us). */
	struct edl_plan_step *t = &steps[at];
	t->data = data;
	t->data_len = len;
	p->total_bytes += (sectors - s->num_sectors) * (uint64_t)s->sector_size;
	t->num_sectors = sectors;
	t->fill = false;
	t->file_offset = 0;
	snprintf(t->filename, sizeof(t->filename), "%s", file);
	snprintf(t->source, sizeof(t->source), "before_unit provision");
	/* The digest of the whole range as written: the file, then zeros. */
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned mdlen = 32;
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	          (len == 0 || EVP_DigestUpdate(ctx, data, len) == 1);
	for (uint64_t left = room - len; ok && left > 0;) {
		size_t n = left > sizeof(zeros) ? sizeof(zeros) : (size_t)left;
		ok = EVP_DigestUpdate(ctx, zeros, n) == 1;
		left -= n;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, t->sha256, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	t->verify = ok && s->verify; /* digested as the package's image was */
	*out = p;
	return EDL_OK;
}

void edl_mes_plan_free(struct edl_plan *p)
{
	if (p == NULL)
		return;
	free(p->steps);
	free(p);
}

/* ---- after_unit -------------------------------------------------------------------- */

int edl_mes_after_payload(struct edl_buf *b, const struct edl_mes_result *r)
{
	struct edl_json j;
	char t[40];

	edl_json_init_buf(&j, b, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	edl_json_key(&j, "event");
	edl_json_string(&j, "after_unit");
	edl_json_key(&j, "run_id");
	edl_json_int(&j, r->run_id);
	opt_string(&j, "station", r->station);
	opt_string(&j, "serial", r->serial);
	edl_json_key(&j, "slot");
	edl_json_int(&j, r->slot);
	opt_string(&j, "slot_label", r->slot_label);
	opt_string(&j, "port", r->port);
	edl_json_key(&j, "attempt");
	edl_json_int(&j, r->attempt);
	if (r->retry_of > 0) {
		edl_json_key(&j, "retry_of");
		edl_json_int(&j, r->retry_of);
	}
	edl_json_key(&j, "final");
	edl_json_bool(&j, r->final);
	opt_string(&j, "result", r->result);
	opt_string(&j, "stage", r->stage);
	if (r->error_code != 0) {
		edl_json_key(&j, "error");
		edl_json_string(&j, edl_error_name(r->error_code));
		edl_json_key(&j, "class");
		edl_json_string(&j, edl_error_class_name(edl_error_class(r->error_code)));
	}
	opt_string(&j, "message", r->message);
	if (r->start_ms > 0) {
		edl_json_key(&j, "start");
		edl_json_string(&j, edl_store_time_format(t, sizeof(t), r->start_ms));
	}
	if (r->end_ms > 0) {
		edl_json_key(&j, "end");
		edl_json_string(&j, edl_store_time_format(t, sizeof(t), r->end_ms));
	}
	edl_json_key(&j, "bytes_written");
	edl_json_uint(&j, r->bytes_written);
	opt_string(&j, "package", r->package_hash);
	opt_string(&j, "product", r->product);
	opt_string(&j, "lot", r->lot);
	opt_string(&j, "work_order", r->work_order);
	opt_string(&j, "operator", r->operator_name);
	edl_json_object_end(&j);
	return edl_json_finish(&j);
}

uint64_t edl_mes_backoff_ms(unsigned failures, uint32_t min_ms, uint32_t max_ms, uint32_t random)
{
	uint64_t base = min_ms ? min_ms : 1;

	if (max_ms < min_ms)
		max_ms = min_ms;
	for (unsigned i = 1; i < failures && base < max_ms; i++)
		base *= 2;
	if (base > max_ms)
		base = max_ms;
	/* Jitter: stations that lost the MES together do not all retry at once. */
	base += random % (base / 4 + 1);
	return base > max_ms ? max_ms : base;
}
