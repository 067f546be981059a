/*
 * Helpers shared by the Firehose tests: device documents as the programmer
 * writes them, parsing a host command back with libxml2, and a seeded
 * fragmenter so every stream can be fed a byte at a time, in random pieces or
 * whole.
 */
#ifndef EDLSTATION_TESTS_FH_TEST_H
#define EDLSTATION_TESTS_FH_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define FH_HDR "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"
#define FH_LOG(text) FH_HDR "<data><log value=\"" text "\" /></data>"
#define FH_ACK FH_HDR "<data><response value=\"ACK\" /></data>"
#define FH_NAK FH_HDR "<data><response value=\"NAK\" /></data>"
#define FH_RESP(attrs) FH_HDR "<data><response " attrs " /></data>"

/* A small deterministic generator (xorshift32): tests never use rand(). */
static inline uint32_t fh_rand(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

enum fh_split {
	FH_SPLIT_WHOLE = 0,
	FH_SPLIT_BYTES = 1,
	FH_SPLIT_RANDOM = 2,
};

/* Length of the next fragment of a stream with `left` bytes to go. */
static inline size_t fh_piece(enum fh_split how, uint32_t *seed, size_t left)
{
	switch (how) {
	case FH_SPLIT_BYTES:
		return 1;
	case FH_SPLIT_RANDOM: {
		size_t n = 1 + fh_rand(seed) % 37;
		return n < left ? n : left;
	}
	case FH_SPLIT_WHOLE:
	default:
		return left;
	}
}

/* Parses a command the host produced; returns the command element (under
 * <data>) and the document in *doc (free with xmlFreeDoc). */
static inline xmlNodePtr fh_parse_cmd(const uint8_t *data, size_t len, xmlDocPtr *doc)
{
	*doc = xmlReadMemory((const char *)data, (int)len, NULL, NULL, XML_PARSE_NONET);
	if (*doc == NULL)
		return NULL;
	xmlNodePtr root = xmlDocGetRootElement(*doc);
	if (root == NULL || xmlStrcmp(root->name, BAD_CAST "data") != 0)
		return NULL;
	for (xmlNodePtr n = root->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

/* The attribute's value (static copy) or NULL when absent. */
static inline const char *fh_attr(xmlNodePtr n, const char *name)
{
	static char buf[512];
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	if (v == NULL)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", (const char *)v);
	xmlFree(v);
	return buf;
}

static inline size_t fh_attr_count(xmlNodePtr n)
{
	size_t c = 0;
	for (xmlAttrPtr a = n->properties; a != NULL; a = a->next)
		c++;
	return c;
}

#endif
