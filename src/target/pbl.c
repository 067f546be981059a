/*
 * The emulated boot ROM (PBL): the device side of Sahara, sans-I/O, as strict
 * as the Qualcomm target code that is public (boot_sahara.c of the 2019-22 XBL,
 * "boot_sahara" below) and as the real units' logs show. It says HELLO, serves
 * command mode from its configuration, and pulls a programmer as a ROM does:
 * the ELF header, then the program header table, then every PT_LOAD segment
 * with file bytes in pieces (1 MiB, or the profile's read_piece), then
 * END_OF_IMAGE and, on DONE, DONE_RESP. Behaviours that differ between real
 * ROMs are the quirks of pbl.h.
 *
 * States (enum edl_pbl_state) and how they change:
 *
 *   WAIT_HELLO_RESP --HELLO_RESP mode 0/1--> TRANSFER --last piece--> END_OF_IMAGE(0)
 *       --DONE--> DONE_RESP, LOADED
 *   WAIT_HELLO_RESP --HELLO_RESP mode 3--> CMD_READY, COMMAND
 *   COMMAND --SWITCH_MODE(any mode)--> HELLO(new mode), WAIT_HELLO_RESP
 *   WAIT_HELLO_RESP --anything else--> HELLO again (boot_sahara_process_packets)
 *   any --RESET--> RESET_RESP, RESET
 *   any --RESET_STATE_MACHINE--> HELLO, WAIT_HELLO_RESP (unless no_reset_state_machine)
 *   error END_OF_IMAGE: TRANSFER and a failed HELLO_RESP go back to
 *       WAIT_HELLO_RESP, COMMAND stays (edl #663); with refusal_needs_reset
 *       every one leads to WAIT_RESET, where only RESET is accepted
 *   TRANSFER --ZLP, zlp_breaks_transfer--> HUNG (answers nothing, qdl #320)
 *   memory_dump: HELLO mode 2 --HELLO_RESP--> MEMORY_DEBUG (MEMORY_DEBUG64 on
 *       v3: table address and length), MEMORY_DEBUG --MEMORY_READ(64) inside
 *       the table or a region--> the raw bytes; outside, or longer than 1 MiB
 *       --> END_OF_IMAGE "invalid memory read" (stays); --RESET--> RESET
 *       (ramdump.c has the table and the contents)
 *
 * Junk outside WAIT_HELLO_RESP (bytes that are no host packet, a packet of
 * another state) is answered END_OF_IMAGE "invalid command": that is what a
 * host talking XML to a unit past its HELLO sees (04 00 00 00 10 00 00 00 ...).
 */
#include "edlstation/pbl.h"
#include "edlstation/elf_image.h"
#include "edlstation/error.h"
#include "edlstation/sahara.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define PBL_SLOTS 32
#define PBL_PK_PADDED_LEN 144 /* SHA-384 parts: 48-byte hash + 96 zeros (edl #701, #585 0x90) */
#define PBL_SLOT_SIZE 144     /* the largest answer: a zero-padded PK hash (>= 2 x 64) */
#define PBL_PIECE_MAX ((uint64_t)1 << 20)
#define PBL_MODE_LAST 4 /* SAHARA_MODE_LAST: modes 0..3 exist */
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

	/* The mode the next HELLO announces (boot_sahara's sahara_mode): set by
	 * HELLO_RESP and SWITCH_MODE. */
	uint32_t mode;
	uint64_t piece_max; /* quirks.read_piece, or 1 MiB */

	/* Command mode: an EXECUTE_RESP announcing data went out, so only the
	 * matching EXECUTE_DATA is valid (boot_sahara's WAIT_CMD_EXEC_DATA). */
	bool exec_armed;
	uint32_t exec_cmd;

	/* Memory debug: the table as served, and the answer to the last read. */
	uint8_t *table;
	size_t table_len;
	bool table64;
	uint8_t *mem_out;
	size_t mem_out_len;
	bool mem_due;
};

/* Where the memory table lies (SDM670's dump table area, linux-ramdump-parser-v2). */
#define PBL_DUMP_TABLE_ADDR 0x146bf000u

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

static uint32_t initial_mode(const struct edl_pbl_config *cfg)
{
	return cfg->memory_dump ? EDL_SAHARA_MODE_MEMORY_DEBUG : EDL_SAHARA_MODE_IMAGE_TX_PENDING;
}

int edl_pbl_new(struct edl_pbl **out, const struct edl_pbl_config *cfg)
{
	struct edl_pbl *p;

	const struct edl_pbl_quirks *q = &cfg->quirks;

	*out = NULL;
	if (cfg->sahara_version < 2 || cfg->sahara_version > 3 ||
	    cfg->pk_hash_len > sizeof(cfg->pk_hash))
		return EDL_E_INVAL;
	/* Answer sizes real ROMs have; pieces no smaller than an ELF header. */
	if ((q->serial_len != 0 && q->serial_len != 4 && q->serial_len != 8) ||
	    (q->hwid_len != 0 && q->hwid_len != 8 && q->hwid_len != 24) ||
	    (q->read_piece != 0 && q->read_piece < EDL_ELF64_EHDR_SIZE))
		return EDL_E_INVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return EDL_E_NOMEM;
	p->cfg = *cfg;
	if (p->cfg.max_image == 0)
		p->cfg.max_image = PBL_DEFAULT_MAX_IMAGE;
	p->piece_max = cfg->quirks.read_piece ? cfg->quirks.read_piece : PBL_PIECE_MAX;
	p->state = EDL_PBL_WAIT_HELLO_RESP;
	p->mode = initial_mode(cfg);
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
	free(p->table);
	free(p->mem_out);
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

/* HELLO with the current mode; the ROM then waits for HELLO_RESP (boot_sahara_handle_hello:
 * version, version supported 1, max command length 0x400, reserved words zero). */
static int send_hello(struct edl_pbl *p)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];

	p->state = EDL_PBL_WAIT_HELLO_RESP;
	p->exec_armed = false;
	return push(p, pkt,
	            edl_sahara_encode_hello(pkt, sizeof(pkt), p->cfg.sahara_version, 1,
	                                    PBL_MAX_CMD_LEN, p->mode));
}

/* END_OF_IMAGE with a status. An error status on an XBL-like ROM leaves only RESET
 * (boot_sahara_handle_end_image_tx: "Switch to WAIT_RESET state if error"). */
static int send_end(struct edl_pbl *p, uint32_t status)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];

	if (status != EDL_SAHARA_STATUS_SUCCESS && p->cfg.quirks.refusal_needs_reset) {
		drop_transfer(p);
		p->exec_armed = false;
		p->state = EDL_PBL_WAIT_RESET;
	}
	return push(p, pkt,
	            edl_sahara_encode_end_of_image(pkt, sizeof(pkt), p->cfg.image_id, status));
}

/* The transfer or the handshake failed: say why and wait for the host to start over. */
static int abort_transfer(struct edl_pbl *p, uint32_t status)
{
	drop_transfer(p);
	p->state = EDL_PBL_WAIT_HELLO_RESP;
	return send_end(p, status);
}

void edl_pbl_start(struct edl_pbl *p)
{
	p->state = EDL_PBL_WAIT_HELLO_RESP;
	p->mode = initial_mode(&p->cfg);
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
		count += (size_t)((ph.filesz + p->piece_max - 1) / p->piece_max);
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
		for (off = 0; off < ph.filesz; off += p->piece_max) {
			p->pieces[p->n_pieces].off = ph.offset + off;
			p->pieces[p->n_pieces].len =
			        ph.filesz - off < p->piece_max ? ph.filesz - off : p->piece_max;
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
	const struct edl_pbl_quirks *q = &c->quirks;
	size_t i;

	if (cmd < 32 && (q->refuse_exec_mask & (UINT32_C(1) << cmd)) != 0)
		return -1;
	switch (cmd) {
	case EDL_SAHARA_EXEC_SERIAL:
		edl_sahara_put_le32(buf, c->serial);
		*len = 4;
		if (q->serial_len == 8) {
			/* SDX7x v3: a 64-bit answer, the chip id in the upper word (edl
			 * #764 "Chip Serial Number : 443c5bd45c8" = 0x443 : 0xc5bd45c8). */
			edl_sahara_put_le32(buf + 4, q->chip_id);
			*len = 8;
		}
		return 0;
	case EDL_SAHARA_EXEC_MSM_HWID:
		/* v3 ROMs no longer answer it (qdl PR #280): chip id v3 replaces it. */
		if (c->sahara_version >= 3)
			return -1;
		/* 8 bytes, or the same 8 bytes three times on SDM845 (edl #398
		 * EXECUTE_RESP data_length 0x18; edl #635 shows the 24-byte answer). */
		*len = q->hwid_len == 24 ? 24 : 8;
		for (i = 0; i < *len; i += 8)
			edl_sahara_put_le64(buf + i, c->hwid);
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
		if (q->pk_hash_zero_padded) {
			/* SHA-384 parts: the hash, then zeros to 144 bytes (edl #701, #816). */
			memset(buf + c->pk_hash_len, 0, PBL_PK_PADDED_LEN - c->pk_hash_len);
			*len = PBL_PK_PADDED_LEN;
		} else {
			/* SHA-256 parts: 32 bytes, repeated (REAL-DEVICES §2). */
			memcpy(buf + c->pk_hash_len, c->pk_hash, c->pk_hash_len);
			*len = 2 * c->pk_hash_len;
		}
		return 0;
	case EDL_SAHARA_EXEC_SBL_VERSION:
		edl_sahara_put_le32(buf, c->sbl_version);
		*len = 4;
		return 0;
	}
	return -1;
}

/* Command mode (boot_sahara's WAIT_CMD_EXEC and WAIT_CMD_EXEC_DATA states). */
static int on_command(struct edl_pbl *p, const struct edl_sahara_pkt *pkt)
{
	uint8_t out[EDL_SAHARA_MAX_PKT], data[PBL_SLOT_SIZE];
	size_t n = 0;

	if (p->exec_armed) {
		/* EXECUTE_RESP announced data: only its EXECUTE_DATA is valid. */
		if (pkt->cmd != EDL_SAHARA_EXECUTE_DATA) {
			p->exec_armed = false;
			return send_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
		}
		p->exec_armed = false;
		if (pkt->u.exec.client_cmd != p->exec_cmd)
			return send_end(p, EDL_SAHARA_STATUS_EXEC_DATA_INVALID_CLIENT_CMD);
		exec_answer(p, p->exec_cmd, data, &n);
		return push(p, data, n);
	}
	switch (pkt->cmd) {
	case EDL_SAHARA_EXECUTE:
		/* A refused command gets no EXECUTE_RESP: boot_sahara_handle_cmd_exec answers
		 * only on success, the status (0x1f) goes out in END_OF_IMAGE. */
		if (exec_answer(p, pkt->u.exec.client_cmd, data, &n) != 0)
			return send_end(p, EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED);
		p->exec_armed = n > 0;
		p->exec_cmd = pkt->u.exec.client_cmd;
		return push(p, out,
		            edl_sahara_encode_execute_resp(out, sizeof(out), pkt->u.exec.client_cmd,
		                                           (uint32_t)n));
	case EDL_SAHARA_SWITCH_MODE:
		/* boot_sahara_handle_cmd_switch_mode: a mode below SAHARA_MODE_LAST is
		 * taken, any other leaves the mode; either way the ROM says HELLO again
		 * and waits for HELLO_RESP (what bkerler/edl needs after reading the
		 * chip info). */
		if (pkt->u.switch_mode.mode < PBL_MODE_LAST)
			p->mode = pkt->u.switch_mode.mode;
		return send_hello(p);
	}
	return send_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
}

/* Memory debug: build the table and announce it, 64-bit entries and
 * MEMORY_DEBUG64 on v3 targets, 32-bit ones and MEMORY_DEBUG before. */
static int announce_table(struct edl_pbl *p)
{
	uint8_t out[EDL_SAHARA_MAX_PKT];
	const struct edl_pbl_region *r;
	size_t n = edl_pbl_dump_regions(&p->cfg, &r);

	p->table64 = p->cfg.sahara_version >= 3;
	free(p->table);
	p->table_len = n * edl_pbl_dump_entry_size(p->table64);
	p->table = malloc(p->table_len);
	if (p->table == NULL)
		return EDL_E_NOMEM;
	edl_pbl_dump_table_bytes(r, n, p->table64, p->table);
	p->state = EDL_PBL_MEMORY_DEBUG;
	if (p->table64)
		return push(p, out,
		            edl_sahara_encode_memory_debug64(out, sizeof(out), PBL_DUMP_TABLE_ADDR,
		                                             p->table_len));
	return push(p, out,
	            edl_sahara_encode_memory_debug(out, sizeof(out), PBL_DUMP_TABLE_ADDR,
	                                           (uint32_t)p->table_len));
}

/* Whether [addr, addr+len) lies inside [base, base+size). */
static bool inside(uint64_t addr, uint64_t len, uint64_t base, uint64_t size)
{
	return addr >= base && addr - base <= size && len <= size - (addr - base);
}

/* MEMORY_READ(64): the bytes of the table or of one region, as one transfer. */
static int on_memory_read(struct edl_pbl *p, const struct edl_sahara_pkt *pkt)
{
	const struct edl_pbl_region *r;
	size_t n = edl_pbl_dump_regions(&p->cfg, &r);
	uint64_t addr = pkt->u.mem.addr, len = pkt->u.mem.len;
	uint8_t *buf;

	if (len == 0 || len > PBL_PIECE_MAX)
		return send_end(p, EDL_SAHARA_STATUS_INVALID_MEMORY_READ);
	buf = realloc(p->mem_out, (size_t)len);
	if (buf == NULL)
		return EDL_E_NOMEM;
	p->mem_out = buf;
	if (inside(addr, len, PBL_DUMP_TABLE_ADDR, p->table_len)) {
		memcpy(buf, p->table + (addr - PBL_DUMP_TABLE_ADDR), (size_t)len);
	} else {
		size_t i;

		for (i = 0; i < n; i++) {
			uint64_t base = p->table64 ? r[i].base : (uint32_t)r[i].base;
			uint64_t size = p->table64 ? r[i].length : (uint32_t)r[i].length;

			if (inside(addr, len, base, size)) {
				edl_pbl_dump_fill(p->cfg.serial, r[i].filename, addr - base, buf,
				                  (size_t)len);
				break;
			}
		}
		if (i == n)
			return send_end(p, EDL_SAHARA_STATUS_INVALID_MEMORY_READ);
	}
	p->mem_out_len = (size_t)len;
	p->mem_due = true;
	return EDL_OK;
}

/* boot_sahara_handle_hello_resp: the host's status, version and mode are checked. */
static int on_hello_resp(struct edl_pbl *p, const struct edl_sahara_pkt *pkt)
{
	uint8_t out[EDL_SAHARA_MAX_PKT];
	uint32_t st = pkt->u.hello_resp.status, ver = pkt->u.hello_resp.version;

	if (st != EDL_SAHARA_STATUS_SUCCESS)
		return abort_transfer(p, st <= EDL_SAHARA_STATUS_HW_BULK_TRANSFER_ERROR
		                                 ? st
		                                 : EDL_SAHARA_STATUS_UNKNOWN_HOST_ERROR);
	if (ver < pkt->u.hello_resp.version_compatible)
		return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_HOST_PROTOCOL);
	if (ver > p->cfg.sahara_version || ver < 1)
		return abort_transfer(p, EDL_SAHARA_STATUS_PROTOCOL_MISMATCH);
	if (pkt->u.hello_resp.mode >= PBL_MODE_LAST)
		return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_HOST_MODE);
	if (p->cfg.memory_dump)
		return announce_table(p);
	p->mode = pkt->u.hello_resp.mode;
	switch (p->mode) {
	case EDL_SAHARA_MODE_COMMAND:
		p->state = EDL_PBL_COMMAND;
		p->exec_armed = false;
		return push(p, out, edl_sahara_encode_cmd_ready(out, sizeof(out)));
	case EDL_SAHARA_MODE_MEMORY_DEBUG:
		/* Not a crashed unit: memory debug is not enabled. */
		return abort_transfer(p, EDL_SAHARA_STATUS_MEMORY_DEBUG_NOT_SUPPORTED);
	}
	/* Image transfer pending or complete: boot_sahara reads the image either way. */
	return start_transfer(p);
}

/* While waiting for HELLO_RESP. boot_sahara_process_packets dispatches on the
 * first byte: a HELLO_RESP of the wrong size is refused, anything else that is
 * not valid here (XML, another packet, a 0x13 without a handler) only makes the
 * ROM send its HELLO again — the ROM cannot know whether its first HELLO was
 * read, so a ROM whose HELLO was consumed answers a probe with HELLO too. */
static int on_wait_hello_resp(struct edl_pbl *p, const struct edl_sahara_pkt *pkt, bool is_pkt,
                              const uint8_t *data)
{
	if (is_pkt && pkt->cmd == EDL_SAHARA_HELLO_RESP)
		return on_hello_resp(p, pkt);
	if (!is_pkt && data[0] == EDL_SAHARA_HELLO_RESP)
		return abort_transfer(p, EDL_SAHARA_STATUS_INVALID_PACKET_SIZE);
	return send_hello(p);
}

/* A zero-length transfer: nothing to a ROM, except one that breaks on it mid-transfer. */
static int on_zlp(struct edl_pbl *p)
{
	if (p->cfg.quirks.zlp_breaks_transfer && p->state == EDL_PBL_TRANSFER) {
		/* qdl #320 (QCS8550): a ZLP after a READ_DATA answer leaves the ROM's
		 * endpoint stuck: nothing is answered any more. */
		drop_transfer(p);
		p->state = EDL_PBL_HUNG;
	}
	return EDL_OK;
}

int edl_pbl_feed(struct edl_pbl *p, const uint8_t *data, size_t len)
{
	struct edl_sahara_pkt pkt;
	uint8_t out[EDL_SAHARA_MAX_PKT];
	bool is_pkt;

	if (p->state == EDL_PBL_RESET || p->state == EDL_PBL_LOADED || p->state == EDL_PBL_HUNG)
		return EDL_OK;
	if (len == 0)
		return on_zlp(p);
	is_pkt = edl_sahara_decode(&pkt, data, len, NULL) == EDL_OK && is_host_packet(&pkt);
	/* While data is due every byte is data, except a host packet that arrives
	 * alone instead of the data (a host that gives up sends RESET). */
	if (p->state == EDL_PBL_TRANSFER && p->awaiting &&
	    !(is_pkt && p->got == 0 && len < p->want.len))
		return on_raw(p, data, len);

	if (is_pkt && pkt.cmd == EDL_SAHARA_RESET) {
		drop_transfer(p);
		p->mem_due = false;
		p->state = EDL_PBL_RESET;
		return push(p, out, edl_sahara_encode_reset_resp(out, sizeof(out)));
	}
	if (is_pkt && pkt.cmd == EDL_SAHARA_RESET_STATE_MACHINE &&
	    !p->cfg.quirks.no_reset_state_machine) {
		/* Sahara 2.9's "start over" (qdl's min version note): a fresh HELLO. */
		drop_transfer(p);
		p->mode = initial_mode(&p->cfg);
		return send_hello(p);
	}
	switch (p->state) {
	case EDL_PBL_WAIT_HELLO_RESP:
		return on_wait_hello_resp(p, &pkt, is_pkt, data);
	case EDL_PBL_COMMAND:
		if (is_pkt)
			return on_command(p, &pkt);
		break;
	case EDL_PBL_MEMORY_DEBUG:
		if (is_pkt &&
		    (pkt.cmd == EDL_SAHARA_MEMORY_READ || pkt.cmd == EDL_SAHARA_MEMORY_READ64))
			return on_memory_read(p, &pkt);
		break;
	case EDL_PBL_TRANSFER:
		if (is_pkt && pkt.cmd == EDL_SAHARA_DONE && p->phase == PBL_PHASE_END_SENT) {
			/* boot_sahara_handle_done_resp: image_tx_status is the mode, which
			 * is COMPLETE only when the ROM knows this was its last image. */
			uint32_t status = p->cfg.quirks.done_resp_pending
			                          ? EDL_SAHARA_MODE_IMAGE_TX_PENDING
			                          : EDL_SAHARA_MODE_IMAGE_TX_COMPLETE;

			drop_transfer(p);
			p->state = EDL_PBL_LOADED;
			return push(p, out, edl_sahara_encode_done_resp(out, sizeof(out), status));
		}
		break;
	default:
		/* WAIT_RESET: everything but RESET is refused again. */
		break;
	}
	return send_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
}

bool edl_pbl_next_out(struct edl_pbl *p, struct edl_chunk *out)
{
	struct pbl_slot *s;

	if (p->out_count == 0) {
		if (!p->mem_due)
			return false;
		/* A memory read's answer: raw bytes, one transfer (split by USB). */
		p->mem_due = false;
		out->data = p->mem_out;
		out->len = p->mem_out_len;
		out->zlp = true;
		return true;
	}
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
