/*
 * Internals of the package module shared by its files (one concern per file):
 * xml.c (hardened loading), rawprogram.c (program/erase/patch entries),
 * contents.c (contents.xml and partition layouts), path.c (safe paths inside the
 * root), discovery.c (which files make the package), files.c (opened and mapped
 * files), guard.c (SIGBUS guard of the mappings), md5list.c (manifests), hashcache.c, verify.c
 * (threaded hashing), plan.c (the ordered plan), package.c (load), report.c (check output). Tests
 * include this header too (tests/package).
 */
#ifndef EDLSTATION_PACKAGE_INTERNAL_H
#define EDLSTATION_PACKAGE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libxml/tree.h>

#include "edlstation/error.h"
#include "edlstation/expr.h"
#include "edlstation/package.h"
#include "edlstation/plan.h"

#define PKG_XML_MAX (8u << 20)        /* largest rawprogram/patch/contents XML accepted */
#define PKG_MANIFEST_MAX (4u << 20)   /* largest md5.txt / sha256sum file accepted */
#define PKG_CACHE_MAX (64u << 20)     /* largest hash cache file read */
#define PKG_PATH_MAX 255              /* longest relative path kept */
#define PKG_MAX_ENTRIES 20000         /* program/erase/patch elements per package */
#define PKG_DISCOVERY_MAX_FILES 20000 /* files looked at by discovery */
#define PKG_DISCOVERY_MAX_DEPTH 4

/* ---- xml.c ---------------------------------------------------------------- */

/*
 * Parses an untrusted XML file: at most PKG_XML_MAX bytes; a UTF-8 BOM and blank
 * lines before the declaration are skipped (line numbers still match the file);
 * any <!DOCTYPE or <!ENTITY is refused (EDL_E_PKG_XML_UNSAFE); libxml2 runs with
 * NONET and no entity substitution or DTD loading. On a parse error returns
 * EDL_E_PKG_PARSE with err "line N: libxml2's message". *line_offset receives
 * the lines skipped, to add to xmlGetLineNo(). The caller frees *out with xmlFreeDoc.
 */
int pkg_xml_read_mem(xmlDocPtr *out, unsigned *line_offset, const char *data, size_t len,
                     struct edl_error *err);
int pkg_xml_read_fd(xmlDocPtr *out, unsigned *line_offset, int fd, struct edl_error *err);

/* Reads a whole small file (at most max bytes) into a NUL-terminated buffer. */
int pkg_read_small_file(char **out, size_t *len, int fd, size_t max, struct edl_error *err);

/* ---- rawprogram.c --------------------------------------------------------- */

enum pkg_entry_kind {
	PKG_PROGRAM = 0,
	PKG_ERASE = 1,
	PKG_PATCH = 2,
	/* An element with a vendor= attribute (Quectel's <erase ... vendor="quectel"/>):
	 * kept verbatim for a VENDOR step, none of its attributes interpreted. */
	PKG_VENDOR = 3,
};

struct pkg_attr {
	char *name;
	char *value;
};

/* One <program>, <erase> or <patch> element (or a vendor entry) with every
 * attribute it had, in file order. */
struct pkg_entry {
	enum pkg_entry_kind kind;
	char element[32]; /* the element's name ("erase"), for vendor entries */
	size_t xml;       /* index of its file in pkg->xmls */
	unsigned line;    /* line in that file */
	struct pkg_attr *attrs;
	size_t n_attrs;

	bool ok; /* all required attributes parsed (else a diagnostic was emitted) */
	uint32_t sector_size;
	uint32_t lun;
	char start_text[EDL_PLAN_EXPR_MAX];
	struct edl_expr start;
	uint64_t num_sectors; /* num_partition_sectors (0 = as large as the image) */
	uint32_t pages_per_block;
	char last_text[EDL_PLAN_EXPR_MAX]; /* "" when absent */
	struct edl_expr last;
	char label[64];
	char filename[PKG_PATH_MAX + 1]; /* as written ("" = nothing to write) */
	uint64_t file_sector_offset;
	bool sparse;
	bool partofsingleimage;
	/* patch */
	uint64_t byte_offset;
	uint64_t size_in_bytes;
	char value_text[EDL_PLAN_EXPR_MAX];
	struct edl_expr value;
	char what[160];

	/* resolved by package.c */
	char path[PKG_PATH_MAX + 1]; /* relative to the root; "" when none */
	long file;                   /* index in pkg->files, -1 when none */
};

/* Root element kinds of the XML files a package may hold. */
enum pkg_xml_kind {
	PKG_XML_UNKNOWN = 0,
	PKG_XML_RAWPROGRAM = 1, /* <data> with <program>/<erase> */
	PKG_XML_PATCH = 2,      /* <patches> */
	PKG_XML_CONTENTS = 3,   /* <contents> (contents.xml) */
	PKG_XML_PTOOL = 4,      /* <configuration> (ptool partition.xml) */
	PKG_XML_NANDBOOT = 5,   /* <nandboot> (partition_nand.xml) */
};

const char *pkg_xml_kind_name(enum pkg_xml_kind kind);
enum pkg_xml_kind pkg_xml_classify(xmlDocPtr doc);

struct edl_package;

/* Appends every <program>/<erase>/<patch> and every element with a vendor=
 * attribute of doc (file index xml) to pkg's entries, in file order, emitting a
 * diagnostic per malformed attribute. */
int pkg_rawprogram_collect(struct edl_package *pkg, size_t xml, xmlDocPtr doc,
                           unsigned line_offset);

/* Frees an entry's attributes. */
void pkg_entry_clear(struct pkg_entry *e);

/* Value of attribute name (exact case) or NULL. */
const char *pkg_entry_attr(const struct pkg_entry *e, const char *name);

/* ---- contents.c ----------------------------------------------------------- */

struct pkg_contents {
	char product[64];
	char chipid[32];
	char build_id[64]; /* the "common" build's <build_id>, else the first non-empty one */
	char programmer[PKG_PATH_MAX + 1]; /* flash_programmer file_path/file_name, "" if none */
	size_t n_download_files;
	size_t n_partitions; /* ptool / nandboot layouts */
};

/* Reads facts from a contents.xml, ptool partition.xml or partition_nand.xml. */
int pkg_contents_read(struct pkg_contents *out, xmlDocPtr doc, struct edl_error *err);

/* ---- path.c ---------------------------------------------------------------- */

/*
 * Resolves `name` as written in a file of directory base_dir (relative to the
 * root, "" = the root) into a normalised relative path: backslashes become '/',
 * "." and ".." are applied lexically. Absolute paths (/x, C:\x, \\server) and
 * paths climbing above the root are EDL_E_PKG_ESCAPE; an empty result is
 * EDL_E_PKG_PARSE.
 */
int pkg_path_join(char *out, size_t cap, const char *base_dir, const char *name,
                  struct edl_error *err);

/* The directory part of a relative path ("" for a file in the root). */
void pkg_path_dirname(char *out, size_t cap, const char *rel);

/*
 * Opens rel (relative to root_real) for reading, following symbolic links only
 * while they stay inside the root (else EDL_E_PKG_ESCAPE naming the target). A
 * missing file is looked up case-insensitively (Windows packages) before
 * EDL_E_PKG_MISSING; the name found is written to found (cap bytes) when it differs.
 */
int pkg_path_open(int *fd, const char *root_real, const char *rel, char *found, size_t cap,
                  struct edl_error *err);

/* ---- files.c ---------------------------------------------------------------- */

struct pkg_segment {
	uint64_t off;   /* first byte of the step's data in the file */
	uint64_t len;   /* data bytes */
	uint64_t total; /* bytes the step writes (len + zero padding) */
	uint8_t sha256[32];
	bool done;
};

struct pkg_guard;

struct pkg_file {
	char path[PKG_PATH_MAX + 1];
	int fd;
	uint64_t size;
	uint64_t mtime_ns;
	uint64_t ctime_ns;
	uint64_t ino;
	uint64_t dev;
	const uint8_t *map; /* the whole file, read-only; NULL when empty or not mapped */
	bool mapped;
	bool copied;             /* map is a heap copy (small files: programmer), not a mapping */
	struct pkg_guard *guard; /* SIGBUS guard of the mapping (guard.c); NULL when none */
	uint8_t md5[16];
	uint8_t sha256[32];
	bool hashed;
	bool from_cache;
	bool checked; /* matched a manifest entry */
	struct pkg_segment *segs;
	size_t n_segs;
	size_t cap_segs;
	bool sparse_crc; /* a sparse image with CRC32 data to check */
	bool crc_ok;     /* CRC checked (now or in the cached load) */
	int crc_rc;      /* result of the check in this load */
	char crc_detail[EDL_ERROR_DETAIL_MAX];
};

struct pkg_fill {
	uint32_t value;
	uint64_t total;
	uint8_t sha256[32];
	bool done;
};

/* Opens (once) and maps rel; *index receives its position in pkg->files. */
int pkg_file_open(struct edl_package *pkg, const char *rel, long *index, char *found,
                  size_t found_cap, struct edl_error *err);

/* Registers a digest the hashing pass computes: returns the segment index. */
int pkg_file_add_segment(struct pkg_file *f, uint64_t off, uint64_t len, uint64_t total,
                         size_t *index);
int pkg_fill_add(struct edl_package *pkg, uint32_t value, uint64_t total, size_t *index);

void pkg_file_close(struct pkg_file *f);

/* Replaces f's mapping by a heap copy read from its fd (files of at most
 * PKG_COPY_MAX bytes: the programmer), so truncating the file cannot touch the
 * bytes the station sends. */
#define PKG_COPY_MAX (64u << 20)
int pkg_file_copy(struct pkg_file *f, struct edl_error *err);

/* ---- guard.c ----------------------------------------------------------------- */

/*
 * Package mappings guarded against truncation. A process-wide SIGBUS handler
 * (installed on the first pkg_guard_add) checks si_addr against the registered
 * mappings: inside one, it maps anonymous zero pages over the rest of that
 * mapping (MAP_FIXED) and marks it truncated, and the faulting read goes on
 * with zeros; any other SIGBUS gets the previous action (default: the process
 * dies as before). Registration is thread-safe; the handler reads lock-free.
 */
struct pkg_guard *pkg_guard_add(const void *start, size_t len);
/* Unregisters before the mapping is unmapped; NULL is fine. */
void pkg_guard_remove(struct pkg_guard *g);
/* True once a read of the mapping hit the end of its truncated file. */
bool pkg_guard_truncated(const struct pkg_guard *g);

/* ---- md5list.c ------------------------------------------------------------- */

enum pkg_digest_kind {
	PKG_DIGEST_MD5 = 16,
	PKG_DIGEST_SHA256 = 32,
};

struct pkg_manifest_entry {
	size_t list;                 /* index of the manifest in pkg->xmls */
	unsigned line;               /* line in the manifest */
	char path[PKG_PATH_MAX + 1]; /* relative to the root */
	enum pkg_digest_kind kind;
	uint8_t digest[32];
	long file; /* index in pkg->files, -1 when absent */
};

/* A manifest's parsed lines. */
struct pkg_manifest {
	struct pkg_manifest_entry *entries;
	size_t n;
	bool quectel; /* VERSION/FILE:START form */
};

/*
 * Parses md5.txt (Quectel: "VERSION:1.0", "FILE:START", "FILE:\path:HEX",
 * "FILE:END") or md5sum/sha256sum output ("HEX  path", "HEX *path"). Paths are
 * resolved against base_dir (the manifest's directory). A malformed line is
 * EDL_E_PKG_PARSE naming the line; a path escaping the root EDL_E_PKG_ESCAPE.
 * Errors are reported through diag (with the line) and parsing goes on.
 */
typedef void (*pkg_diag_fn)(void *data, int code, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int pkg_manifest_parse(struct pkg_manifest *out, const char *text, size_t len, const char *base_dir,
                       pkg_diag_fn diag, void *diag_data);
void pkg_manifest_free(struct pkg_manifest *m);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void pkg_hex(char *out, const uint8_t *d, size_t n);
/* Parses exactly 2n hex digits (any case). */
bool pkg_unhex(uint8_t *out, const char *hex, size_t n);

/* ---- hashcache.c ------------------------------------------------------------ */

struct pkg_cache_seg {
	uint64_t off, len, total;
	uint8_t sha256[32];
};

struct pkg_cache_file {
	char *path;
	uint64_t size, mtime_ns, ctime_ns, ino;
	uint8_t md5[16];
	uint8_t sha256[32];
	bool crc_ok;
	struct pkg_cache_seg *segs;
	size_t n_segs;
};

struct pkg_cache_fill {
	uint32_t value;
	uint64_t total;
	uint8_t sha256[32];
};

struct pkg_cache {
	struct pkg_cache_file *files;
	size_t n_files;
	struct pkg_cache_fill *fills;
	size_t n_fills;
};

/* The cache file of a package: <dir>/hashcache-<first 16 hex of SHA-256(root_real)>. */
int pkg_cache_path(char *out, size_t cap, const char *cache_dir, const char *root_real);

/* Default cache directory: ${XDG_CACHE_HOME:-$HOME/.cache}/edlstation. */
int pkg_cache_default_dir(char *out, size_t cap);

/*
 * Reads a cache file. A missing file gives an empty cache and EDL_OK; a corrupt
 * or truncated one (bad header, bad line, checksum trailer missing or wrong)
 * gives an empty cache and EDL_E_PKG_CACHE with err saying why: the caller
 * ignores it and rehashes.
 */
int pkg_cache_read(struct pkg_cache *out, const char *path, struct edl_error *err);

/* Writes the package's current hashes atomically (temp file + rename). */
int pkg_cache_write(const struct edl_package *pkg, const char *path, struct edl_error *err);

void pkg_cache_free(struct pkg_cache *c);

/* Applies cached hashes to pkg's files whose path, size, mtime, ctime and inode match
 * and whose every segment digest is cached; returns how many files it served. */
size_t pkg_cache_apply(struct edl_package *pkg, const struct pkg_cache *c);

/* ---- verify.c --------------------------------------------------------------- */

/* Hashes every file not served by the cache (MD5 + SHA-256 + segment digests in
 * one read pass), computes fill digests and sparse CRC checks, on `threads`
 * worker threads. I/O errors become diagnostics naming the file. */
int pkg_verify_run(struct edl_package *pkg, unsigned threads, struct edl_error *err);

/* Tests only: called (when set) between the hashing pass and the check that no
 * file changed while it was loaded, to change a file at that moment. */
extern void (*pkg_test_after_hash)(struct edl_package *pkg);

/* ---- plan.c ---------------------------------------------------------------- */

/* Builds pkg->plan from the entries (after files are opened). Emits diagnostics. */
int pkg_plan_build(struct edl_package *pkg);

/* Copies the computed digests into the plan's steps (after hashing). */
void pkg_plan_set_digests(struct edl_package *pkg);

/* ---- package.c ------------------------------------------------------------- */

struct pkg_xml {
	char path[PKG_PATH_MAX + 1]; /* relative to the root */
	const char *role;            /* "rawprogram", "patch", "manifest", "contents" */
};

/* What computes a program step's verify digest. */
struct pkg_step_digest {
	long file;    /* index in pkg->files; -1: a fill */
	size_t index; /* segment of that file, or index in pkg->fills */
};

struct edl_package {
	char *dir;       /* as given */
	char *root_real; /* realpath of dir */
	char *cache_dir; /* NULL: default */
	bool no_cache;
	bool strict; /* unlisted flashed files are errors */
	unsigned threads;
	uint64_t link_rate;
	uint64_t disk_sectors[EDL_PLAN_MAX_LUNS];
	bool storage_set;
	enum edl_storage_kind storage;
	bool storage_inferred;
	enum edl_package_layout layout;

	char programmer[PKG_PATH_MAX + 1]; /* "" when none */
	long programmer_file;

	struct pkg_xml *xmls;
	size_t n_xmls;
	struct pkg_entry *entries;
	size_t n_entries, cap_entries;
	struct pkg_file *files;
	size_t n_files, cap_files;
	struct pkg_fill *fills;
	size_t n_fills, cap_fills;
	struct pkg_manifest_entry *manifest;
	size_t n_manifest;
	struct edl_package_diag *diags;
	size_t n_diags, cap_diags;
	size_t n_errors;
	struct pkg_contents contents;
	bool have_contents;
	char name[PKG_PATH_MAX + 1]; /* edl_package_name() */
	char version[64];            /* edl_package_version() */

	struct edl_plan plan;
	size_t cap_steps;
	struct pkg_step_digest *step_digest; /* parallel to plan.steps */
	struct edl_package_stats stats;
};

/* snprintf for messages where truncating a long path is fine. */
void pkg_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records a problem; file may be NULL. */
void pkg_diag(struct edl_package *pkg, enum edl_diag_severity sev, int code, const char *file,
              unsigned line, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Records a problem at an entry's file and line. */
void pkg_entry_diag(struct edl_package *pkg, const struct pkg_entry *e, enum edl_diag_severity sev,
                    int code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Adds a file to pkg->xmls; returns its index or -1 on allocation failure. */
long pkg_add_xml(struct edl_package *pkg, const char *path, const char *role);

/* ---- discovery.c ----------------------------------------------------------- */

/* What discovery found: paths relative to the root. */
struct pkg_found {
	char programmer[PKG_PATH_MAX + 1];
	char **rawprogram;
	size_t n_rawprogram;
	char **patch;
	size_t n_patch;
	char **manifests;
	size_t n_manifests;
	char contents[PKG_PATH_MAX + 1];
	enum edl_package_layout layout;
};

/*
 * Finds the package's files under root_real, honouring the explicit choices of
 * opt. Returns EDL_OK, EDL_E_PKG_CHOICE (err lists the choices and the option
 * that names one), EDL_E_PKG_MISSING (no rawprogram, a named file absent) or
 * EDL_E_PKG_ESCAPE (a named file outside the root).
 */
int pkg_discover(struct pkg_found *out, const char *root_real,
                 const struct edl_package_options *opt, struct edl_error *err);
void pkg_found_free(struct pkg_found *f);

#endif
