/*
 * Android sparse image reader (format and the reason for not using libsparse in
 * include/edlstation/sparse.h). Every field is decoded with explicit
 * little-endian loads and checked against the mapped length before use: a
 * sparse file is untrusted input like any other package file.
 */
#include "edlstation/sparse.h"

#include "edlstation/expr.h"

#include <string.h>

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

bool edl_sparse_detect(const uint8_t *data, uint64_t len)
{
	return data != NULL && len >= EDL_SPARSE_HEADER_LEN && le32(data) == EDL_SPARSE_MAGIC;
}

bool edl_sparse_has_crc(const struct edl_sparse_info *info)
{
	return info->n_crc > 0 || info->image_checksum != 0;
}

static const char *type_name(uint16_t type)
{
	switch (type) {
	case EDL_SPARSE_RAW:
		return "RAW";
	case EDL_SPARSE_FILL:
		return "FILL";
	case EDL_SPARSE_DONT_CARE:
		return "DONT_CARE";
	case EDL_SPARSE_CRC32:
		return "CRC32";
	}
	return "unknown";
}

int edl_sparse_walk(struct edl_sparse_info *info, const uint8_t *data, uint64_t len,
                    edl_sparse_chunk_fn fn, void *user, struct edl_error *err)
{
	return edl_sparse_walk_bounded(info, data, len, 0, fn, user, err);
}

int edl_sparse_walk_bounded(struct edl_sparse_info *info, const uint8_t *data, uint64_t len,
                            uint64_t max_bytes, edl_sparse_chunk_fn fn, void *user,
                            struct edl_error *err)
{
	uint16_t file_hdr_sz, chunk_hdr_sz;
	uint64_t off, out_blocks = 0;

	memset(info, 0, sizeof(*info));
	if (!edl_sparse_detect(data, len))
		return edl_error_set(err, EDL_E_PKG_SPARSE, "no sparse header (magic 0x%08x)",
		                     EDL_SPARSE_MAGIC);
	if (le16(data + 4) != 1)
		return edl_error_set(err, EDL_E_PKG_SPARSE, "sparse major version %u, expected 1",
		                     le16(data + 4));
	file_hdr_sz = le16(data + 8);
	chunk_hdr_sz = le16(data + 10);
	info->block_size = le32(data + 12);
	info->total_blocks = le32(data + 16);
	info->total_chunks = le32(data + 20);
	info->image_checksum = le32(data + 24);
	if (file_hdr_sz < EDL_SPARSE_HEADER_LEN || file_hdr_sz > len)
		return edl_error_set(err, EDL_E_PKG_SPARSE, "file header size %u is invalid",
		                     file_hdr_sz);
	if (chunk_hdr_sz < EDL_SPARSE_CHUNK_HEADER_LEN)
		return edl_error_set(err, EDL_E_PKG_SPARSE, "chunk header size %u is below 12",
		                     chunk_hdr_sz);
	if (info->block_size == 0 || info->block_size % 4 != 0)
		return edl_error_set(err, EDL_E_PKG_SPARSE,
		                     "block size %u is not a non-zero multiple of 4",
		                     info->block_size);
	info->expanded_size = (uint64_t)info->total_blocks * info->block_size;
	if (max_bytes == 0 || max_bytes > EDL_SPARSE_MAX_EXPANDED)
		max_bytes = EDL_SPARSE_MAX_EXPANDED;
	if (info->expanded_size > max_bytes)
		return edl_error_set(err, EDL_E_PKG_SPARSE,
		                     "header claims %u blocks of %u bytes (%llu bytes expanded), "
		                     "more than the %llu bytes %s",
		                     info->total_blocks, info->block_size,
		                     (unsigned long long)info->expanded_size,
		                     (unsigned long long)max_bytes,
		                     max_bytes == EDL_SPARSE_MAX_EXPANDED
		                             ? "any sparse image may expand to"
		                             : "of the partition it is programmed to");
	if (info->total_chunks > (len - file_hdr_sz) / chunk_hdr_sz)
		return edl_error_set(err, EDL_E_PKG_SPARSE,
		                     "header claims %u chunks but the %llu-byte file holds at "
		                     "most %llu chunk headers of %u bytes",
		                     info->total_chunks, (unsigned long long)len,
		                     (unsigned long long)((len - file_hdr_sz) / chunk_hdr_sz),
		                     chunk_hdr_sz);

	off = file_hdr_sz;
	for (uint32_t i = 0; i < info->total_chunks; i++) {
		struct edl_sparse_chunk c;
		uint16_t type;
		uint32_t chunk_sz, total_sz;
		uint64_t data_len, expect;

		if (len - off < chunk_hdr_sz)
			return edl_error_set(
			        err, EDL_E_PKG_SPARSE,
			        "chunk %u at offset 0x%llx: file ends inside its header "
			        "(%u of %u chunks read)",
			        i, (unsigned long long)off, i, info->total_chunks);
		type = le16(data + off);
		chunk_sz = le32(data + off + 4);
		total_sz = le32(data + off + 8);
		if (total_sz < chunk_hdr_sz || total_sz > len - off)
			return edl_error_set(
			        err, EDL_E_PKG_SPARSE,
			        "chunk %u at offset 0x%llx: total size %u runs past the "
			        "end of the file (%llu bytes)",
			        i, (unsigned long long)off, total_sz, (unsigned long long)len);
		data_len = total_sz - chunk_hdr_sz;
		memset(&c, 0, sizeof(c));
		c.type = (enum edl_sparse_chunk_type)type;
		c.index = i;
		c.out_offset = out_blocks * info->block_size;
		c.out_len = (uint64_t)chunk_sz * info->block_size;
		switch (type) {
		case EDL_SPARSE_RAW:
			expect = c.out_len;
			c.file_offset = off + chunk_hdr_sz;
			info->n_raw++;
			break;
		case EDL_SPARSE_FILL:
			expect = 4;
			info->n_fill++;
			break;
		case EDL_SPARSE_DONT_CARE:
			expect = 0;
			info->n_dont_care++;
			break;
		case EDL_SPARSE_CRC32:
			expect = 4;
			info->n_crc++;
			if (chunk_sz != 0)
				return edl_error_set(
				        err, EDL_E_PKG_SPARSE,
				        "chunk %u at offset 0x%llx: CRC32 chunk covers "
				        "%u blocks, expected 0",
				        i, (unsigned long long)off, chunk_sz);
			break;
		default:
			return edl_error_set(err, EDL_E_PKG_SPARSE,
			                     "chunk %u at offset 0x%llx: unknown chunk type 0x%04x",
			                     i, (unsigned long long)off, type);
		}
		if (data_len != expect)
			return edl_error_set(
			        err, EDL_E_PKG_SPARSE,
			        "chunk %u at offset 0x%llx: %s chunk of %u blocks has %llu "
			        "data bytes, expected %llu",
			        i, (unsigned long long)off, type_name(type), chunk_sz,
			        (unsigned long long)data_len, (unsigned long long)expect);
		if (type == EDL_SPARSE_FILL || type == EDL_SPARSE_CRC32)
			c.value = le32(data + off + chunk_hdr_sz);
		if ((uint64_t)chunk_sz > (uint64_t)info->total_blocks - out_blocks)
			return edl_error_set(
			        err, EDL_E_PKG_SPARSE,
			        "chunk %u at offset 0x%llx: blocks %llu..%llu exceed the "
			        "image's %u blocks",
			        i, (unsigned long long)off, (unsigned long long)out_blocks,
			        (unsigned long long)(out_blocks + chunk_sz - 1),
			        info->total_blocks);
		out_blocks += chunk_sz;
		if (fn != NULL) {
			int rc = fn(&c, user);
			if (rc != 0)
				return rc;
		}
		off += total_sz;
	}
	if (out_blocks != info->total_blocks)
		return edl_error_set(err, EDL_E_PKG_SPARSE,
		                     "chunks cover %llu blocks but the header says %u",
		                     (unsigned long long)out_blocks, info->total_blocks);
	return EDL_OK;
}

/*
 * Two readings of a CRC32 chunk exist. The format (sparse_format.h) and
 * libsparse's reader take the CRC-32 of every output byte, DONT_CARE counted as
 * zeros. libsparse's writer (sparse_file_write with crc) counts RAW data, only
 * one block of each FILL pattern, and no DONT_CARE, so its own reader rejects
 * such images. A value that matches either reading is accepted: the check is
 * there to catch damaged images, not to reject the reference tool's output.
 */
struct crc_state {
	const uint8_t *data;
	uint32_t block_size;
	uint32_t crc;    /* every output byte */
	uint32_t writer; /* libsparse writer's reading */
	struct edl_error *err;
};

/* The CRC continued from crc over a piece whose own CRC (from 0) is piece_crc
 * and whose length is n: the CRC is affine in its start value, so
 * crc(A||B) = crc(B) ^ zeros(crc(A), n) ^ zeros(0, n). */
static uint32_t crc_append(uint32_t crc, uint32_t piece_crc, uint64_t n)
{
	return piece_crc ^ edl_crc32_zeros(crc, n) ^ edl_crc32_zeros(0, n);
}

/* CRC of a FILL pattern over len bytes in O(log len) by doubling a 4 KiB piece:
 * a hostile FILL of many GiB costs microseconds, not a pass. */
static uint32_t crc_pattern(uint32_t crc, uint32_t value, uint64_t len)
{
	uint8_t pattern[4096];
	uint32_t piece;
	uint64_t count, piece_len = sizeof(pattern);

	if (value == 0)
		return edl_crc32_zeros(crc, len);
	for (size_t i = 0; i < sizeof(pattern); i += 4) {
		pattern[i] = (uint8_t)value;
		pattern[i + 1] = (uint8_t)(value >> 8);
		pattern[i + 2] = (uint8_t)(value >> 16);
		pattern[i + 3] = (uint8_t)(value >> 24);
	}
	/* Every piece starts on a 4-byte boundary, so pieces commute. */
	piece = edl_crc32(0, pattern, sizeof(pattern));
	for (count = len / sizeof(pattern); count > 0; count >>= 1) {
		if (count & 1)
			crc = crc_append(crc, piece, piece_len);
		if (count > 1) {
			piece = crc_append(piece, piece, piece_len);
			piece_len *= 2;
		}
	}
	return edl_crc32(crc, pattern, (size_t)(len % sizeof(pattern)));
}

static int crc_chunk(const struct edl_sparse_chunk *c, void *user)
{
	struct crc_state *st = user;

	switch (c->type) {
	case EDL_SPARSE_RAW:
		st->crc = edl_crc32(st->crc, st->data + c->file_offset, c->out_len);
		st->writer = edl_crc32(st->writer, st->data + c->file_offset, c->out_len);
		break;
	case EDL_SPARSE_DONT_CARE:
		st->crc = edl_crc32_zeros(st->crc, c->out_len);
		break;
	case EDL_SPARSE_FILL:
		st->crc = crc_pattern(st->crc, c->value, c->out_len);
		st->writer = crc_pattern(st->writer, c->value, st->block_size);
		break;
	case EDL_SPARSE_CRC32:
		if (c->value != st->crc && c->value != st->writer)
			return edl_error_set(st->err, EDL_E_PKG_HASH,
			                     "CRC32 chunk %u says 0x%08x but the data before it "
			                     "gives 0x%08x",
			                     c->index, c->value, st->crc);
		break;
	}
	return 0;
}

int edl_sparse_check_crc(const uint8_t *data, uint64_t len, struct edl_error *err)
{
	struct edl_sparse_info info;
	struct crc_state st = {.data = data, .err = err};
	int rc;

	rc = edl_sparse_walk(&info, data, len, NULL, NULL, err);
	if (rc != EDL_OK)
		return rc;
	st.block_size = info.block_size;
	rc = edl_sparse_walk(&info, data, len, crc_chunk, &st, err);
	if (rc != EDL_OK)
		return rc;
	if (info.image_checksum != 0 && info.image_checksum != st.crc &&
	    info.image_checksum != st.writer)
		return edl_error_set(err, EDL_E_PKG_HASH,
		                     "sparse header checksum 0x%08x differs from the expanded "
		                     "image's CRC32 0x%08x",
		                     info.image_checksum, st.crc);
	return EDL_OK;
}
