/*
 * The emulated boot ROM (PBL): the device side of Sahara, sans-I/O. It says
 * HELLO, serves command mode from its configuration (serial, MSM HW id or chip
 * id v3, the OEM PK hash repeated twice as real ROMs return it, SBL version),
 * and pulls a programmer as a ROM does: the ELF header, then the program header
 * table, then every PT_LOAD segment with file bytes, in pieces of at most 1 MiB,
 * then END_OF_IMAGE and, on DONE, DONE_RESP complete. Anything it does not
 * expect, including bytes that are no Sahara packet at all (an XML probe), is
 * answered END_OF_IMAGE "invalid command": that is how a host's probe finds a
 * ROM whose HELLO went unheard.
 */
#include "edlstation/pbl.h"
#include "edlstation/elf_image.h"
#include "edlstation/error.h"
#include "edlstation/sahara.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define PBL_SLOTS 32
#define PBL_SLOT_SIZE 128 /* the largest answer: a 64-byte PK hash, twice */
#define PBL_PIECE_MAX ((uint64_t)1 << 20)
#define PBL_MAX_CMD_LEN 0x400
#define PBL_CHIP_ID_V3_LEN 52
#define PBL_DEFAULT_MAX_IMAGE ((size_t)16 << 20)

struct pbl_slot {
	uint8_t buf[PBL_SLOT_SIZE];
	size_t len;
};

/* Where the programmer transfer is. */
enum pbl_phase {
	PBL_PHASE_HEADER,   /* READ_DATA of the ELF header is out */
	PBL_PHASE_PHDRS,    /* READ_DATA of the program header table is out */
	PBL_PHASE_SEGMENTS, /* reading the PT_LOAD pieces */
	PBL_PHASE_END_SENT, /* END_OF_IMAGE(0) sent, waiting for DONE */
};

struct pbl_piece {
	uint64_t off;
	uint64_t len;
};

struct edl_pbl {
	struct edl_pbl_config cfg;
	enum edl_pbl_state state;

	struct pbl_slot out[PBL_SLOTS];
	size_t out_head;
	size_t out_count;

	/* Programmer transfer. */
	enum pbl_phase phase;
	struct edl_elf_header eh;
	uint8_t *img; /* as received; img_len = highest offset + length requested */
	size_t img_len;
	struct pbl_piece *pieces;
	size_t n_pieces;
	size_t next_piece;
	struct pbl_piece want; /* the outstanding READ_DATA */
	uint64_t got;          /* bytes of it received so far */
	bool awaiting;         /* raw data is due */

	/* Command mode. */
	bool exec_armed;
	uint32_t exec_cmd;
};

void edl_pbl_config_default(struct edl_pbl_config *cfg)
{
	static const uint8_t hash[32] = {
	        0x7b, 0xe4, 0x9b, 0x72, 0xf9, 0xe4, 0x33, 0x72, 0x23, 0xcc, 0xb8,
	        0x4d, 0x6e, 0xcc, 0xca, 0x4e, 0x61, 0xce, 0x16, 0xe3, 0x60, 0x2a,
	        0xc2, 0x00, 0x8c, 0xb1, 0x8b, 0x75, 0xba, 0xbe, 0x61, 0x95,
	};

	memset(cfg, 0, sizeof(*cfg));
	cfg->sahara_version = 2;
	cfg->serial = 0x1a2b3c4d;
	cfg->hwid = 0x000cf0e1000098a9ull; /* SDX55 */
	memcpy(cfg->pk_hash, hash, sizeof(hash));
	cfg->pk_hash_len = sizeof(hash);
	cfg->sbl_version = 0x00000001;
	cfg->image_id = 0x0d;
	cfg->max_image = PBL_DEFAULT_MAX_IMAGE;
}

int edl_pbl_new(struct edl_pbl **out, const struct edl_pbl_config *cfg)
{
	struct edl_pbl *p;

	*out = NULL;
	if (cfg->sahara_version < 2 || cfg->sahara_version > 3 ||
	    cfg->pk_hash_len > sizeof(cfg->pk_hash))
		return EDL_E_INVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return EDL_E_NOMEM;
	p->cfg = *cfg;
	if (p->cfg.max_image == 0)
		p->cfg.max_image = PBL_DEFAULT_MAX_IMAGE;
	p->state = EDL_PBL_WAIT_HELLO_RESP;
	*out = p;
	return EDL_OK;
}

static void drop_transfer(struct edl_pbl *p)
{
	free(p->pieces);
	p->pieces = NULL;
	p->n_pieces = 0;
	p->next_piece = 0;
	p->awaiting = false;
	p->got = 0;
}

void edl_pbl_free(struct edl_pbl *p)
{
	if (p == NULL)
		return;
	drop_transfer(p);
	free(p->img);
	free(p);
}

/* Queues a copy of one device->host transfer. */
static int push(struct edl_pbl *p, const uint8_t *data, size_t len)
{
	struct pbl_slot *s;

	if (len == 0 || len > PBL_SLOT_SIZE)
		return EDL_E_INTERNAL;
	if (p->out_count == PBL_SLOTS)
		return EDL_E_BUSY;
	s = &p->out[(p->out_head + p->out_count) % PBL_SLOTS];
	memcpy(s->buf, data, len);
	s->len = len;
	p->out_count++;
	return EDL_OK;
}

static int send_hello(struct edl_pbl *p)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	uint32_t mode = p->cfg.memory_dump ? EDL_SAHARA_MODE_MEMORY_DEBUG
	                                   : EDL_SAHARA_MODE_IMAGE_TX_PENDING;

	return push(p, pkt,
	            edl_sahara_encode_hello(pkt, sizeof(pkt), p->cfg.sahara_version, 1,
	                                    PBL_MAX_CMD_LEN, mode));
}

static int send_end(struct edl_pbl *p, uint32_t status)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];

	return push(p, pkt,
	            edl_sahara_encode_end_of_image(pkt, sizeof(pkt), p->cfg.image_id, status));
}

/* The transfer failed: say why and wait for the host to start over. */
static int abort_transfer(struct edl_pbl *p, uint32_t status)
{
	drop_transfer(p);
	p->state = EDL_PBL_WAIT_HELLO_RESP;
	return send_end(p, status);
}

void edl_pbl_start(struct edl_pbl *p)
{
	p->state = EDL_PBL_WAIT_HELLO_RESP;
	if (!p->cfg.hello_consumed)
		send_hello(p);
}

/* Asks the host for [off, off+len) of the image, growing the image buffer. */
static int request(struct edl_pbl *p, uint64_t off, uint64_t len, uint32_t fail_status)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	uint64_t end;
	size_t n;

	if (len == 0 || off > p->cfg.max_image || len > p->cfg.max_image - off)
		return abort_transfer(p, fail_status);
	end = off + len;
	if (end > p->img_len) {
		uint8_t *img = realloc(p->img, (size_t)end);

		if (img == NULL)
			return EDL_E_NOMEM;
		memset(img + p->img_len, 0, (size_t)end - p->img_len);
		p->img = img;
		p->img_len = (size_t)end;
	}
	p->want.off = off;
	p->want.len = len;
	p->got = 0;
	p->awaiting = true;
	if (p->cfg.sahara_version >= 3)
		n = edl_sahara_encode_read_data64(pkt, sizeof(pkt), p->cfg.image_id, off, len);
	else
		n = edl_sahara_encode_read_data(pkt, sizeof(pkt), p->cfg.image_id, (uint32_t)off,
		                                (uint32_t)len);
	return push(p, pkt, n);
}

static int start_transfer(struct edl_pbl *p)
{
	drop_transfer(p);
	free(p->img);
	p->img = NULL;
	p->img_len = 0;
	p->state = EDL_PBL_TRANSFER;
	p->phase = PBL_PHASE_HEADER;
	/* 64 bytes hold either header; any ELF32 with a program header table is longer. */
	return request(p, 0, EDL_ELF64_EHDR_SIZE, EDL_SAHARA_STATUS_INVALID_HEADER_SIZE);
}

/* Builds the list of pieces from the received program header table. */
static int plan_segments(struct edl_pbl *p)
{
	const uint8_t *table = p->img + p->eh.phoff;
	size_t tsize = (size_t)edl_elf_phdr_table_size(&p->eh);
	struct edl_elf_phdr ph;
	size_t i, count = 0;
	uint64_t off;

	for (i = 0; i < p->eh.phnum; i++) {
		if (edl_elf_parse_phdr(&ph, &p->eh, table, tsize, i, NULL) != EDL_OK)
			return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_PHDR_SIZE);
		if (ph.type != EDL_ELF_PT_LOAD || ph.filesz == 0)
			continue;
		if (ph.offset > p->cfg.max_image || ph.filesz > p->cfg.max_image - ph.offset)
			return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_DATA_SIZE);
		count += (size_t)((ph.filesz + PBL_PIECE_MAX - 1) / PBL_PIECE_MAX);
	}
	if (count == 0)
		return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_IMAGE_TYPE);
	p->pieces = calloc(count, sizeof(*p->pieces));
	if (p->pieces == NULL)
		return EDL_E_NOMEM;
	for (i = 0; i < p->eh.phnum; i++) {
		edl_elf_parse_phdr(&ph, &p->eh, table, tsize, i, NULL);
		if (ph.type != EDL_ELF_PT_LOAD || ph.filesz == 0)
			continue;
		for (off = 0; off < ph.filesz; off += PBL_PIECE_MAX) {
			p->pieces[p->n_pieces].off = ph.offset + off;
			p->pieces[p->n_pieces].len =
			        ph.filesz - off < PBL_PIECE_MAX ? ph.filesz - off : PBL_PIECE_MAX;
			p->n_pieces++;
		}
	}
	p->next_piece = 0;
	p->phase = PBL_PHASE_SEGMENTS;
	return EDL_OK;
}

/* The outstanding request is complete: decide what to ask next. */
static int next_request(struct edl_pbl *p)
{
	struct pbl_piece pc;
	int rc;

	p->awaiting = false;
	switch (p->phase) {
	case PBL_PHASE_HEADER:
		if (edl_elf_parse_header(&p->eh, p->img, p->img_len, NULL) != EDL_OK)
			return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_ELF_HDR);
		p->phase = PBL_PHASE_PHDRS;
		return request(p, p->eh.phoff, edl_elf_phdr_table_size(&p->eh),
		               EDL_SAHARA_STATUS_INVALID_PHDR_SIZE);
	case PBL_PHASE_PHDRS:
		rc = plan_segments(p);
		if (rc != EDL_OK || p->state != EDL_PBL_TRANSFER)
			return rc;
		/* Ask for the first piece. */
		/* fall through */
	case PBL_PHASE_SEGMENTS:
		if (p->next_piece < p->n_pieces) {
			pc = p->pieces[p->next_piece++];
			return request(p, pc.off, pc.len, EDL_SAHARA_STATUS_INVALID_DATA_SIZE);
		}
		p->phase = PBL_PHASE_END_SENT;
		return send_end(p, EDL_SAHARA_STATUS_SUCCESS);
	case PBL_PHASE_END_SENT:
		break;
	}
	return EDL_OK;
}

static int on_raw(struct edl_pbl *p, const uint8_t *data, size_t len)
{
	uint64_t room = p->want.len - p->got;

	if (len > room)
		/* More than asked for in one transfer: the ROM's read would overflow. */
		return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_RX_LENGTH);
	memcpy(p->img + p->want.off + p->got, data, len);
	p->got += len;
	if (p->got < p->want.len)
		return EDL_OK;
	return next_request(p);
}

static bool is_host_packet(const struct edl_sahara_pkt *pkt)
{
	switch (pkt->cmd) {
	case EDL_SAHARA_HELLO_RESP:
	case EDL_SAHARA_DONE:
	case EDL_SAHARA_RESET:
	case EDL_SAHARA_SWITCH_MODE:
	case EDL_SAHARA_EXECUTE:
	case EDL_SAHARA_EXECUTE_DATA:
	case EDL_SAHARA_MEMORY_READ:
	case EDL_SAHARA_MEMORY_READ64:
	case EDL_SAHARA_RESET_STATE_MACHINE:
		return true;
	}
	return false;
}

/* The answer to one EXECUTE; *len 0 = supported but empty, -1 = not supported. */
static int exec_answer(const struct edl_pbl *p, uint32_t cmd, uint8_t *buf, size_t *len)
{
	const struct edl_pbl_config *c = &p->cfg;

	switch (cmd) {
	case EDL_SAHARA_EXEC_SERIAL:
		edl_sahara_put_le32(buf, c->serial);
		*len = 4;
		return 0;
	case EDL_SAHARA_EXEC_MSM_HWID:
		if (c->sahara_version >= 3)
			return -1;
		edl_sahara_put_le64(buf, c->hwid);
		*len = 8;
		return 0;
	case EDL_SAHARA_EXEC_CHIP_ID_V3:
		if (c->sahara_version < 3)
			return -1;
		memset(buf, 0, PBL_CHIP_ID_V3_LEN);
		edl_sahara_put_le32(buf, c->serial);
		edl_sahara_put_le32(buf + 36, (uint32_t)(c->hwid >> 32));
		edl_sahara_put_le16(buf + 40, (uint16_t)(c->hwid >> 16));
		edl_sahara_put_le16(buf + 42, (uint16_t)c->hwid);
		*len = PBL_CHIP_ID_V3_LEN;
		return 0;
	case EDL_SAHARA_EXEC_PK_HASH:
		memcpy(buf, c->pk_hash, c->pk_hash_len);
		memcpy(buf + c->pk_hash_len, c->pk_hash, c->pk_hash_len);
		*len = 2 * c->pk_hash_len;
		return 0;
	case EDL_SAHARA_EXEC_SBL_VERSION:
		edl_sahara_put_le32(buf, c->sbl_version);
		*len = 4;
		return 0;
	}
	return -1;
}

static int on_command(struct edl_pbl *p, const struct edl_sahara_pkt *pkt)
{
	uint8_t out[EDL_SAHARA_MAX_PKT], data[PBL_SLOT_SIZE];
	size_t n = 0;

	switch (pkt->cmd) {
	case EDL_SAHARA_EXECUTE:
		if (exec_answer(p, pkt->u.exec.client_cmd, data, &n) != 0) {
			p->exec_armed = false;
			return send_end(p, EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED);
		}
		p->exec_armed = n > 0;
		p->exec_cmd = pkt->u.exec.client_cmd;
		return push(p, out,
		            edl_sahara_encode_execute_resp(out, sizeof(out), pkt->u.exec.client_cmd,
		                                           (uint32_t)n));
	case EDL_SAHARA_EXECUTE_DATA:
		if (!p->exec_armed || pkt->u.exec.client_cmd != p->exec_cmd)
			return send_end(p, EDL_SAHARA_STATUS_EXEC_DATA_INVALID_CLIENT_CMD);
		p->exec_armed = false;
		exec_answer(p, p->exec_cmd, data, &n);
		return push(p, data, n);
	case EDL_SAHARA_SWITCH_MODE:
		switch (pkt->u.switch_mode.mode) {
		case EDL_SAHARA_MODE_IMAGE_TX_PENDING:
		case EDL_SAHARA_MODE_IMAGE_TX_COMPLETE:
			p->state = EDL_PBL_WAIT_HELLO_RESP;
			return send_hello(p);
		case EDL_SAHARA_MODE_COMMAND:
			return push(p, out, edl_sahara_encode_cmd_ready(out, sizeof(out)));
		case EDL_SAHARA_MODE_MEMORY_DEBUG:
			return send_end(p, EDL_SAHARA_STATUS_MEMORY_DEBUG_NOT_SUPPORTED);
		}
		return send_end(p, EDL_SAHARA_STATUS_INVALID_MODE_SWITCH);
	}
	return send_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
}

static int on_hello_resp(struct edl_pbl *p, const struct edl_sahara_pkt *pkt)
{
	uint8_t out[EDL_SAHARA_MAX_PKT];

	if (pkt->u.hello_resp.version < 1)
		return send_end(p, EDL_SAHARA_STATUS_INVALID_HOST_PROTOCOL);
	if (p->cfg.memory_dump) {
		/* Announce an empty region table; dumping itself is not emulated. */
		if (p->cfg.sahara_version >= 3)
			return push(p, out,
			            edl_sahara_encode_memory_debug64(out, sizeof(out), 0, 0));
		return push(p, out, edl_sahara_encode_memory_debug(out, sizeof(out), 0, 0));
	}
	switch (pkt->u.hello_resp.mode) {
	case EDL_SAHARA_MODE_IMAGE_TX_PENDING:
		return start_transfer(p);
	case EDL_SAHARA_MODE_COMMAND:
		p->state = EDL_PBL_COMMAND;
		p->exec_armed = false;
		return push(p, out, edl_sahara_encode_cmd_ready(out, sizeof(out)));
	}
	return send_end(p, EDL_SAHARA_STATUS_INVALID_HOST_MODE);
}

int edl_pbl_feed(struct edl_pbl *p, const uint8_t *data, size_t len)
{
	struct edl_sahara_pkt pkt;
	uint8_t out[EDL_SAHARA_MAX_PKT];
	bool is_pkt;

	if (p->state == EDL_PBL_RESET || p->state == EDL_PBL_LOADED || len == 0)
		return EDL_OK;
	is_pkt = edl_sahara_decode(&pkt, data, len, NULL) == EDL_OK && is_host_packet(&pkt);
	/* While data is due every byte is data, except a host packet that arrives
	 * alone instead of the data (a host that gives up sends RESET). */
	if (p->state == EDL_PBL_TRANSFER && p->awaiting &&
	    !(is_pkt && p->got == 0 && len < p->want.len))
		return on_raw(p, data, len);
	if (!is_pkt)
		return send_end(p, EDL_SAHARA_STATUS_INVALID_CMD);

	switch (pkt.cmd) {
	case EDL_SAHARA_RESET:
		drop_transfer(p);
		p->state = EDL_PBL_RESET;
		return push(p, out, edl_sahara_encode_reset_resp(out, sizeof(out)));
	case EDL_SAHARA_RESET_STATE_MACHINE:
		drop_transfer(p);
		p->state = EDL_PBL_WAIT_HELLO_RESP;
		return send_hello(p);
	}
	switch (p->state) {
	case EDL_PBL_WAIT_HELLO_RESP:
		if (pkt.cmd == EDL_SAHARA_HELLO_RESP)
			return on_hello_resp(p, &pkt);
		break;
	case EDL_PBL_COMMAND:
		return on_command(p, &pkt);
	case EDL_PBL_TRANSFER:
		if (pkt.cmd == EDL_SAHARA_DONE && p->phase == PBL_PHASE_END_SENT) {
			drop_transfer(p);
			p->state = EDL_PBL_LOADED;
			return push(p, out,
			            edl_sahara_encode_done_resp(out, sizeof(out),
			                                        EDL_SAHARA_MODE_IMAGE_TX_COMPLETE));
		}
		break;
	default:
		break;
	}
	return send_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
}

bool edl_pbl_next_out(struct edl_pbl *p, struct edl_chunk *out)
{
	struct pbl_slot *s;

	if (p->out_count == 0)
		return false;
	s = &p->out[p->out_head];
	out->data = s->buf;
	out->len = s->len;
	out->zlp = true;
	p->out_head = (p->out_head + 1) % PBL_SLOTS;
	p->out_count--;
	return true;
}

enum edl_pbl_state edl_pbl_state(const struct edl_pbl *p)
{
	return p->state;
}

const uint8_t *edl_pbl_image(const struct edl_pbl *p, size_t *len)
{
	*len = p->img_len;
	return p->img;
}

void edl_pbl_image_sha256(const struct edl_pbl *p, uint8_t out[32])
{
	unsigned int n = 32;
	static const uint8_t empty = 0;

	if (EVP_Digest(p->img_len ? p->img : &empty, p->img_len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}
