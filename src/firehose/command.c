/*
 * Firehose command documents, host to device. Every command is one document
 * built with libxml2 (so attribute values such as labels are escaped by the
 * library, never by hand) and serialised into the engine's output buffer; one
 * document is one USB transfer. Attribute names are case-sensitive and follow
 * PROTOCOL.md section 3.
 */
#include "firehose/fh_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

/* Builds `<data><name/></data>`; *node is the command element. */
static int cmd_begin(xmlDocPtr *doc, xmlNodePtr *node, const char *name)
{
	xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
	if (d == NULL)
		return EDL_E_NOMEM;
	xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "data");
	if (root == NULL) {
		xmlFreeDoc(d);
		return EDL_E_NOMEM;
	}
	xmlDocSetRootElement(d, root);
	xmlNodePtr n = xmlNewChild(root, NULL, BAD_CAST name, NULL);
	if (n == NULL) {
		xmlFreeDoc(d);
		return EDL_E_NOMEM;
	}
	*doc = d;
	*node = n;
	return EDL_OK;
}

static int prop(xmlNodePtr node, const char *name, const char *value)
{
	return xmlNewProp(node, BAD_CAST name, BAD_CAST value) != NULL ? EDL_OK : EDL_E_NOMEM;
}

static int prop_u64(xmlNodePtr node, const char *name, uint64_t value)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	return prop(node, name, buf);
}

/* Serialises doc into out (replacing its contents) and frees doc. */
static int cmd_finish(xmlDocPtr doc, int rc, struct edl_buf *out)
{
	xmlChar *mem = NULL;
	int size = 0;

	if (rc == EDL_OK) {
		xmlDocDumpMemory(doc, &mem, &size);
		if (mem == NULL || size <= 0)
			rc = EDL_E_NOMEM;
	}
	if (rc == EDL_OK) {
		edl_buf_reset(out);
		rc = edl_buf_append(out, mem, (size_t)size);
	}
	xmlFree(mem);
	xmlFreeDoc(doc);
	return rc;
}

static bool present(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int check_range(const char *cmd, const struct edl_fh_range *r, struct edl_error *err)
{
	if (r->sector_size == 0)
		return edl_error_set(err, EDL_E_INVAL, "%s of LUN %" PRIu32 ": sector size is 0",
		                     cmd, r->lun);
	if (!present(r->start_sector))
		return edl_error_set(err, EDL_E_INVAL, "%s of LUN %" PRIu32 ": no start sector",
		                     cmd, r->lun);
	return EDL_OK;
}

/* The sectors a command addresses: shared by every range command. */
static int address_props(xmlNodePtr n, const struct edl_fh_range *r)
{
	int rc = prop_u64(n, "SECTOR_SIZE_IN_BYTES", r->sector_size);
	if (rc == EDL_OK)
		rc = prop_u64(n, "num_partition_sectors", r->num_sectors);
	if (rc == EDL_OK)
		rc = prop_u64(n, "physical_partition_number", r->lun);
	if (rc == EDL_OK)
		rc = prop(n, "start_sector", r->start_sector);
	return rc;
}

/* The addressing of program, erase and read: the sectors, and NAND's extras. */
static int range_props(xmlNodePtr n, const struct edl_fh_range *r)
{
	int rc = address_props(n, r);
	if (rc == EDL_OK && r->pages_per_block > 0)
		rc = prop_u64(n, "PAGES_PER_BLOCK", r->pages_per_block);
	if (rc == EDL_OK && present(r->last_sector))
		rc = prop(n, "last_sector", r->last_sector);
	if (rc == EDL_OK && present(r->label))
		rc = prop(n, "label", r->label);
	return rc;
}

static int range_cmd(struct edl_buf *out, const char *name, const struct edl_fh_range *r,
                     struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc = check_range(name, r, err);
	if (rc != EDL_OK)
		return rc;
	rc = cmd_begin(&doc, &n, name);
	if (rc != EDL_OK)
		return rc;
	return cmd_finish(doc, range_props(n, r), out);
}

int edl_fh_cmd_configure(struct edl_buf *out, const struct edl_fh_configure *c, uint64_t payload,
                         struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	const char *mem;
	int rc;

	switch (c->storage) {
	case EDL_STORAGE_EMMC:
	case EDL_STORAGE_UFS:
	case EDL_STORAGE_NAND:
		mem = edl_storage_name(c->storage);
		break;
	default:
		return edl_error_set(err, EDL_E_INVAL, "configure: unknown storage kind %d",
		                     (int)c->storage);
	}
	if (payload < EDL_FH_PAYLOAD_MIN || payload > EDL_FH_PAYLOAD_MAX)
		return edl_error_set(err, EDL_E_INVAL,
		                     "configure: payload %" PRIu64 " outside %u..%u bytes", payload,
		                     EDL_FH_PAYLOAD_MIN, EDL_FH_PAYLOAD_MAX);
	rc = cmd_begin(&doc, &n, "configure");
	if (rc != EDL_OK)
		return rc;
	rc = prop(n, "MemoryName", mem);
	if (rc == EDL_OK)
		rc = prop_u64(n, "MaxPayloadSizeToTargetInBytes", payload);
	if (rc == EDL_OK)
		rc = prop(n, "ZlpAwareHost", c->zlp_aware ? "1" : "0");
	if (rc == EDL_OK)
		rc = prop(n, "SkipStorageInit", c->skip_storage_init ? "1" : "0");
	if (rc == EDL_OK)
		rc = prop(n, "Verbose", "0");
	if (rc == EDL_OK)
		rc = prop(n, "AlwaysValidate", "0");
	if (rc == EDL_OK && c->storage == EDL_STORAGE_NAND && c->pages_per_block > 0)
		rc = prop_u64(n, "PAGES_PER_BLOCK", c->pages_per_block);
	return cmd_finish(doc, rc, out);
}

int edl_fh_cmd_program(struct edl_buf *out, const struct edl_fh_range *r, struct edl_error *err)
{
	return range_cmd(out, "program", r, err);
}

int edl_fh_cmd_erase(struct edl_buf *out, const struct edl_fh_range *r, struct edl_error *err)
{
	return range_cmd(out, "erase", r, err);
}

int edl_fh_cmd_read(struct edl_buf *out, const struct edl_fh_range *r, struct edl_error *err)
{
	return range_cmd(out, "read", r, err);
}

int edl_fh_cmd_patch(struct edl_buf *out, const struct edl_fh_patch *p, struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc;

	if (p->sector_size == 0 || !present(p->start_sector) || !present(p->value) ||
	    !present(p->filename) || p->size_in_bytes == 0 || p->size_in_bytes > 8)
		return edl_error_set(err, EDL_E_INVAL,
		                     "patch of LUN %" PRIu32 " byte_offset %" PRIu64
		                     ": needs a sector size, start sector, filename, value and "
		                     "1..8 bytes (size_in_bytes %" PRIu64 ")",
		                     p->lun, p->byte_offset, p->size_in_bytes);
	rc = cmd_begin(&doc, &n, "patch");
	if (rc != EDL_OK)
		return rc;
	rc = prop_u64(n, "SECTOR_SIZE_IN_BYTES", p->sector_size);
	if (rc == EDL_OK)
		rc = prop_u64(n, "byte_offset", p->byte_offset);
	if (rc == EDL_OK)
		rc = prop(n, "filename", p->filename);
	if (rc == EDL_OK)
		rc = prop_u64(n, "physical_partition_number", p->lun);
	if (rc == EDL_OK)
		rc = prop_u64(n, "size_in_bytes", p->size_in_bytes);
	if (rc == EDL_OK)
		rc = prop(n, "start_sector", p->start_sector);
	if (rc == EDL_OK)
		rc = prop(n, "value", p->value);
	return cmd_finish(doc, rc, out);
}

int edl_fh_cmd_getstorageinfo(struct edl_buf *out, uint32_t lun, struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc = cmd_begin(&doc, &n, "getstorageinfo");
	(void)err;
	if (rc != EDL_OK)
		return rc;
	return cmd_finish(doc, prop_u64(n, "physical_partition_number", lun), out);
}

int edl_fh_cmd_getsha256digest(struct edl_buf *out, const struct edl_fh_range *r,
                               struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc = check_range("getsha256digest", r, err);
	if (rc != EDL_OK)
		return rc;
	rc = cmd_begin(&doc, &n, "getsha256digest");
	if (rc != EDL_OK)
		return rc;
	return cmd_finish(doc, address_props(n, r), out);
}

int edl_fh_cmd_setbootable(struct edl_buf *out, uint32_t lun, struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc = cmd_begin(&doc, &n, "setbootablestoragedrive");
	(void)err;
	if (rc != EDL_OK)
		return rc;
	return cmd_finish(doc, prop_u64(n, "value", lun), out);
}

int edl_fh_cmd_nop(struct edl_buf *out, struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc = cmd_begin(&doc, &n, "nop");
	(void)err;
	if (rc != EDL_OK)
		return rc;
	return cmd_finish(doc, EDL_OK, out);
}

int edl_fh_cmd_power(struct edl_buf *out, const char *value, uint32_t delay_s,
                     struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc;

	if (value == NULL || (strcmp(value, "reset") != 0 && strcmp(value, "off") != 0 &&
	                      strcmp(value, "reset_to_edl") != 0))
		return edl_error_set(err, EDL_E_INVAL,
		                     "power value '%s' is not reset, off or reset_to_edl",
		                     value != NULL ? value : "(null)");
	rc = cmd_begin(&doc, &n, "power");
	if (rc != EDL_OK)
		return rc;
	rc = prop(n, "value", value);
	if (rc == EDL_OK)
		rc = prop_u64(n, "DelayInSeconds", delay_s);
	return cmd_finish(doc, rc, out);
}

int edl_fh_cmd_vendor(struct edl_buf *out, const char *element, const char *const *attrs,
                      size_t n_pairs, struct edl_error *err)
{
	xmlDocPtr doc;
	xmlNodePtr n;
	int rc;

	if (element == NULL || xmlValidateName(BAD_CAST element, 0) != 0)
		return edl_error_set(err, EDL_E_INVAL, "vendor entry: '%s' is not an element name",
		                     element != NULL ? element : "(null)");
	if (n_pairs > 64 || (n_pairs > 0 && attrs == NULL))
		return edl_error_set(err, EDL_E_INVAL, "vendor entry <%s>: %zu attributes", element,
		                     n_pairs);
	for (size_t i = 0; i < n_pairs; i++) {
		const char *name = attrs[2 * i], *value = attrs[2 * i + 1];
		if (name == NULL || xmlValidateName(BAD_CAST name, 0) != 0 || value == NULL)
			return edl_error_set(err, EDL_E_INVAL,
			                     "vendor entry <%s>: attribute %zu ('%s') needs an XML "
			                     "name and a value",
			                     element, i, name != NULL ? name : "(null)");
		for (size_t j = 0; j < i; j++)
			if (strcmp(attrs[2 * j], name) == 0)
				return edl_error_set(
				        err, EDL_E_INVAL,
				        "vendor entry <%s>: attribute '%s' given twice", element,
				        name);
	}
	rc = cmd_begin(&doc, &n, element);
	if (rc != EDL_OK)
		return rc;
	/* Verbatim: the programmer's vendor handler reads these names as given. */
	for (size_t i = 0; i < n_pairs && rc == EDL_OK; i++)
		rc = prop(n, attrs[2 * i], attrs[2 * i + 1]);
	return cmd_finish(doc, rc, out);
}
