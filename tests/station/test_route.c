/*
 * Tests of route by identity (issue 15) without devices: the [route NAME]
 * sections as the INI loader reads them (every key, and each bad value refused
 * at its file and line with the fix), and the decision at the identity gate
 * (src/station/route.c): first matching route in file order, the OEM key
 * whole or as edl's 16-digit prefix, `any`, and the two refusals, a key no
 * programmer carries (EDL_E_PK_MISMATCH) and a known key whose ids match no
 * route (EDL_E_NO_ROUTE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edlstation/route.h"

#define PK32 "7be49b72f9e4337223ccb84d6eccca4e61ce16e3602ac2008cb18b75babe6195"

struct problems {
	unsigned n;
	char all[16384];
};

static void on_problem(const char *message, void *data)
{
	struct problems *p = data;
	size_t used = strlen(p->all);
	p->n++;
	snprintf(p->all + used, sizeof(p->all) - used, "%s\n", message);
}

static struct edl_station_config cfg;

static int parse(const char *text, struct problems *p)
{
	struct edl_error err;
	memset(p, 0, sizeof(*p));
	edl_station_config_default(&cfg);
	return edl_station_config_parse(&cfg, "r.ini", text, strlen(text), on_problem, p, &err);
}

static void assert_has(const char *text, const char *needle)
{
	if (strstr(text, needle) == NULL)
		fail_msg("missing \"%s\" in:\n%s", needle, text);
}

static void test_route_config_reads_every_key(void **state)
{
	struct problems p;
	(void)state;
	assert_int_equal(parse("[route alpha]\n"
	                       "msm = 0x007050E1\n"
	                       "oem = 0x0042\n"
	                       "model = 1\n"
	                       "usb_serial = 1A2B\n"
	                       "pk_hash = " PK32 "\n"
	                       "package = /srv/a\n"
	                       "programmer = prog.elf\n"
	                       "rawprogram = rawprogram0.xml\n"
	                       "rawprogram = rawprogram1.xml\n"
	                       "storage = emmc\n"
	                       "product = Alpha-1\n"
	                       "[route beta]\n"
	                       "pk_hash = 7be49b72f9e43372\n"
	                       "package = /srv/b\n"
	                       "[route]\n"
	                       "decision_ms = 5000\n",
	                       &p),
	                 EDL_OK);
	assert_int_equal(p.n, 0);
	assert_int_equal(cfg.n_routes, 2);
	const struct edl_station_route *a = &cfg.routes[0], *b = &cfg.routes[1];
	assert_string_equal(a->name, "alpha");
	assert_int_equal(a->line, 2);
	assert_true(a->have_msm && a->have_oem && a->have_model);
	assert_int_equal(a->msm_id, 0x007050e1);
	assert_int_equal(a->oem_id, 0x42);
	assert_int_equal(a->model_id, 1);
	assert_string_equal(a->usb_serial, "1A2B");
	assert_int_equal(a->pk_hash_len, 32);
	assert_int_equal(a->pk_hash[0], 0x7b);
	assert_int_equal(a->pk_hash[31], 0x95);
	assert_string_equal(a->package, "/srv/a");
	assert_string_equal(a->programmer, "prog.elf");
	assert_int_equal(a->n_rawprogram, 2);
	assert_true(a->storage_set);
	assert_int_equal(a->storage, EDL_STORAGE_EMMC);
	assert_string_equal(a->product, "Alpha-1");
	assert_string_equal(b->name, "beta");
	assert_false(b->have_msm);
	assert_int_equal(b->pk_hash_len, 8);
	assert_int_equal(cfg.route_hold_ms, 5000);
	/* Each key's line is kept for later messages. */
	assert_int_equal(edl_station_config_line(&cfg, "route alpha", "package"), 7);
}

static void test_route_config_errors_name_file_line_and_fix(void **state)
{
	struct problems p;
	(void)state;
	assert_int_equal(parse("[route alpha]\n"
	                       "msm = zz\n"
	                       "oem = 0x12345\n"
	                       "pk_hash = 7be4\n"
	                       "package = /srv/a\n"
	                       "colour = red\n"
	                       "msm = 1\n"
	                       "msm = 2\n"
	                       "[route bad name!]\n"
	                       "package = /x\n"
	                       "[route nokey]\n"
	                       "package = /srv/n\n"
	                       "[route nopkg]\n"
	                       "pk_hash = any\n",
	                       &p),
	                 EDL_E_CONFIG);
	assert_has(p.all,
	           "r.ini:2: [route alpha] msm: 'zz' is not accepted — give the MSM id in hex");
	assert_has(p.all, "r.ini:3: [route alpha] oem: '0x12345' is not accepted");
	assert_has(p.all,
	           "r.ini:4: [route alpha] pk_hash: '7be4' is not accepted — give the OEM key");
	assert_has(p.all, "r.ini:6: [route alpha] colour: unknown key — the keys of a route are "
	                  "product, msm");
	assert_has(p.all, "r.ini:8: [route alpha] msm: set twice");
	assert_has(p.all, "r.ini:10: [route bad name!] package: 'bad name!' is not a route name");
	/* A route's own problems are told at its first key (inih tells no section lines). */
	assert_has(p.all, "r.ini:12: [route nokey]: no pk_hash — add pk_hash =");
	assert_has(p.all, "r.ini:14: [route nopkg]: no package — add package = DIR");
}

static void test_route_config_package_and_routes_both_refused(void **state)
{
	struct problems p;
	(void)state;
	assert_int_equal(
	        parse("[package]\ndir = /srv/one\n[route a]\npk_hash = any\npackage = /a\n", &p),
	        EDL_E_CONFIG);
	assert_has(p.all, "r.ini:2: [package] dir and [route] sections both given");
}

/* ---- the decision ---- */

static struct edl_station_route routes[4];
static struct edl_route_entry entries[4];
static const struct edl_plan plan_a, plan_b, plan_c;
static const struct edl_sahara_image image_a, image_b, image_c;

static void set_pk(struct edl_station_route *r, const uint8_t *pk, size_t len)
{
	memcpy(r->pk_hash, pk, len);
	r->pk_hash_len = len;
}

static uint8_t unit_pk[48];

static size_t setup_routes(void)
{
	memset(routes, 0, sizeof(routes));
	for (size_t i = 0; i < sizeof(unit_pk); i++)
		unit_pk[i] = (uint8_t)(0x10 + i);
	/* alpha: msm 007050e1, the whole 32-byte key. */
	snprintf(routes[0].name, sizeof(routes[0].name), "alpha");
	snprintf(routes[0].product, sizeof(routes[0].product), "Alpha");
	routes[0].have_msm = true;
	routes[0].msm_id = 0x007050e1;
	set_pk(&routes[0], unit_pk, 32);
	/* beta: msm 0008b0e1, edl's 8-byte prefix of the same key, USB serial prefix. */
	snprintf(routes[1].name, sizeof(routes[1].name), "beta");
	routes[1].have_msm = true;
	routes[1].msm_id = 0x0008b0e1;
	snprintf(routes[1].usb_serial, sizeof(routes[1].usb_serial), "ab");
	set_pk(&routes[1], unit_pk, 8);
	/* gamma: any unit of msm 001ca0e1, unfused: no key check. */
	snprintf(routes[2].name, sizeof(routes[2].name), "gamma");
	routes[2].have_msm = true;
	routes[2].msm_id = 0x001ca0e1;
	routes[2].pk_any = true;
	entries[0] = (struct edl_route_entry){&routes[0], &plan_a, &image_a, "hash-a"};
	entries[1] = (struct edl_route_entry){&routes[1], &plan_b, &image_b, "hash-b"};
	entries[2] = (struct edl_route_entry){&routes[2], &plan_c, &image_c, "hash-c"};
	return 3;
}

static struct edl_sahara_identity sid;

static void decide(uint32_t msm, size_t pk_len, const char *usb, struct edl_unit_decision *d)
{
	size_t n = setup_routes();
	memset(&sid, 0, sizeof(sid));
	sid.have_serial = true;
	sid.have_hwid = true;
	sid.msm_id = msm;
	memcpy(sid.pk_hash, unit_pk, pk_len);
	sid.pk_hash_len = pk_len;
	struct edl_unit_identity id = {
	        .port = "1-1.1", .usb_serial = usb, .serial = "1a2b3c4d", .sahara = &sid};
	edl_route_decide(entries, n, &id, d);
}

static void test_route_decide_first_match_gets_its_package(void **state)
{
	struct edl_unit_decision d;
	(void)state;
	decide(0x007050e1, 32, "", &d);
	assert_false(d.refuse);
	assert_ptr_equal(d.plan, &plan_a);
	assert_ptr_equal(d.image, &image_a);
	assert_string_equal(d.package_hash, "hash-a");
	assert_string_equal(d.product, "Alpha");
	assert_string_equal(d.route, "alpha");
	/* The 16-digit prefix and the USB serial prefix (any case). */
	decide(0x0008b0e1, 32, "AB12CD34", &d);
	assert_false(d.refuse);
	assert_ptr_equal(d.plan, &plan_b);
	assert_string_equal(d.product, "beta"); /* no product: the route's name */
	/* Unfused route: any key. */
	decide(0x001ca0e1, 48, "", &d);
	assert_false(d.refuse);
	assert_ptr_equal(d.plan, &plan_c);
}

static void test_route_decide_unknown_key_is_refused_as_wrong_programmer(void **state)
{
	struct edl_unit_decision d;
	(void)state;
	/* Same first 32 bytes, but a 48-byte (SHA-384) key: not alpha's whole key; beta
	 * would take its prefix, but only on its msm and serial. */
	decide(0x007050e1, 48, "", &d);
	assert_true(d.refuse);
	assert_int_equal(d.code, EDL_E_NO_ROUTE); /* beta's prefix knows the key */
	unit_pk[0] ^= 0xff;
	size_t n = setup_routes();
	memset(&sid, 0, sizeof(sid));
	sid.have_hwid = true;
	sid.msm_id = 0x007050e1;
	sid.pk_hash[0] = 0xee;
	sid.pk_hash_len = 32;
	struct edl_unit_identity id = {.usb_serial = "", .sahara = &sid};
	/* gamma is `any` but for another msm: not this unit's. */
	edl_route_decide(entries, n, &id, &d);
	assert_true(d.refuse);
	assert_int_equal(d.code, EDL_E_NO_ROUTE);
	/* Without the unfused route, the key is nobody's: wrong programmer. */
	edl_route_decide(entries, 2, &id, &d);
	assert_true(d.refuse);
	assert_int_equal(d.code, EDL_E_PK_MISMATCH);
	assert_int_equal(edl_error_class(d.code), EDL_CLASS_WRONG_PROGRAMMER);
	assert_has(d.message, "secure-boot key mismatch: this unit's OEM key is ee000000");
	assert_has(d.message, "no programmer for it");
	assert_has(d.message, "alpha 10111213");
}

static void test_route_decide_known_key_other_ids_is_no_route(void **state)
{
	struct edl_unit_decision d;
	(void)state;
	decide(0x0008b0e1, 32, "cd00", &d); /* beta's msm, another USB serial */
	assert_true(d.refuse);
	assert_int_equal(d.code, EDL_E_NO_ROUTE);
	assert_int_equal(edl_error_class(d.code), EDL_CLASS_WRONG_PACKAGE);
	assert_has(d.message, "no route for this unit: msm 0008b0e1");
	assert_has(d.message, "USB serial cd00");
	assert_has(d.message, "the key of route alpha");
}

static void test_route_decide_no_key_reported(void **state)
{
	struct edl_unit_decision d;
	(void)state;
	decide(0x007050e1, 0, "", &d);
	assert_true(d.refuse);
	assert_int_equal(d.code, EDL_E_NO_ROUTE); /* gamma takes any key, not this msm */
	struct edl_unit_identity idk = {.usb_serial = "", .sahara = &sid};
	edl_route_decide(entries, 2, &idk, &d);
	assert_true(d.refuse);
	assert_int_equal(d.code, EDL_E_PK_MISMATCH);
	assert_has(d.message, "OEM key is not reported");
	/* No Sahara identity at all: only a route without id keys could match. */
	setup_routes();
	struct edl_unit_identity id = {.usb_serial = "ab"};
	edl_route_decide(entries, 3, &id, &d);
	assert_true(d.refuse);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_route_config_reads_every_key),
	        cmocka_unit_test(test_route_config_errors_name_file_line_and_fix),
	        cmocka_unit_test(test_route_config_package_and_routes_both_refused),
	        cmocka_unit_test(test_route_decide_first_match_gets_its_package),
	        cmocka_unit_test(test_route_decide_unknown_key_is_refused_as_wrong_programmer),
	        cmocka_unit_test(test_route_decide_known_key_other_ids_is_no_route),
	        cmocka_unit_test(test_route_decide_no_key_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
