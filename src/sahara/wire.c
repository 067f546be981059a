/*
 * Sahara wire codec: one table of commands (id, name, minimum size), a decoder
 * for one packet per USB transfer, and one encoder per packet. Fields are read
 * and written one by one with the little-endian helpers of sahara.h; a buffer is
 * never cast to a struct. Both sides use it: the host engine (host.c) and the
 * emulated boot ROM (src/target/pbl.c).
 */
#include "edlstation/sahara.h"

#include <string.h>

struct cmd_info {
	const char *name;
	uint32_t min_len; /* whole packet, header included */
};

/* Indexed by command id; a NULL name is an unknown id. */
static const struct cmd_info cmd_table[] = {
        [EDL_SAHARA_HELLO] = {"HELLO", 0x30},
        [EDL_SAHARA_HELLO_RESP] = {"HELLO_RESP", 0x30},
        [EDL_SAHARA_READ_DATA] = {"READ_DATA", 0x14},
        [EDL_SAHARA_END_OF_IMAGE] = {"END_OF_IMAGE", 0x10},
        [EDL_SAHARA_DONE] = {"DONE", 0x08},
        [EDL_SAHARA_DONE_RESP] = {"DONE_RESP", 0x0c},
        [EDL_SAHARA_RESET] = {"RESET", 0x08},
        [EDL_SAHARA_RESET_RESP] = {"RESET_RESP", 0x08},
        [EDL_SAHARA_MEMORY_DEBUG] = {"MEMORY_DEBUG", 0x10},
        [EDL_SAHARA_MEMORY_READ] = {"MEMORY_READ", 0x10},
        [EDL_SAHARA_CMD_READY] = {"CMD_READY", 0x08},
        [EDL_SAHARA_SWITCH_MODE] = {"SWITCH_MODE", 0x0c},
        [EDL_SAHARA_EXECUTE] = {"EXECUTE", 0x0c},
        [EDL_SAHARA_EXECUTE_RESP] = {"EXECUTE_RESP", 0x10},
        [EDL_SAHARA_EXECUTE_DATA] = {"EXECUTE_DATA", 0x0c},
        [EDL_SAHARA_MEMORY_DEBUG64] = {"MEMORY_DEBUG64", 0x18},
        [EDL_SAHARA_MEMORY_READ64] = {"MEMORY_READ64", 0x18},
        [EDL_SAHARA_READ_DATA64] = {"READ_DATA64", 0x20},
        [EDL_SAHARA_RESET_STATE_MACHINE] = {"RESET_STATE_MACHINE", 0x08},
};

#define CMD_TABLE_LEN (sizeof(cmd_table) / sizeof(cmd_table[0]))

static const struct cmd_info *cmd_lookup(uint32_t cmd)
{
	if (cmd < CMD_TABLE_LEN && cmd_table[cmd].name != NULL)
		return &cmd_table[cmd];
	return NULL;
}

const char *edl_sahara_cmd_name(uint32_t cmd)
{
	const struct cmd_info *ci = cmd_lookup(cmd);

	return ci ? ci->name : "unknown";
}

int edl_sahara_decode(struct edl_sahara_pkt *out, const uint8_t *buf, size_t len,
                      struct edl_error *err)
{
	const struct cmd_info *ci;
	const uint8_t *b = buf + 8;

	memset(out, 0, sizeof(*out));
	if (len < 8)
		return edl_error_set(err, EDL_E_SAHARA_TRUNCATED,
		                     "%zu bytes read, a Sahara packet header needs 8", len);
	out->cmd = edl_sahara_get_le32(buf);
	out->length = edl_sahara_get_le32(buf + 4);
	ci = cmd_lookup(out->cmd);
	if (ci == NULL) {
		if (memcmp(buf, "<?xm", 4) == 0)
			return edl_error_set(err, EDL_E_SAHARA_UNKNOWN_CMD,
			                     "command 0x%08x: the bytes start with \"<?xm\", this "
			                     "looks like Firehose XML (a programmer is running)",
			                     out->cmd);
		return edl_error_set(err, EDL_E_SAHARA_UNKNOWN_CMD,
		                     "command 0x%08x (length field %u, %zu bytes read)", out->cmd,
		                     out->length, len);
	}
	if (out->length != len)
		return edl_error_set(err, EDL_E_SAHARA_LENGTH,
		                     "%s (0x%02x) length field says %u bytes, %zu bytes were read",
		                     ci->name, out->cmd, out->length, len);
	if (len < ci->min_len)
		return edl_error_set(err, EDL_E_SAHARA_TRUNCATED,
		                     "%s (0x%02x) is %zu bytes, it needs at least %u", ci->name,
		                     out->cmd, len, ci->min_len);

	switch (out->cmd) {
	case EDL_SAHARA_HELLO:
		out->u.hello.version = edl_sahara_get_le32(b);
		out->u.hello.version_compatible = edl_sahara_get_le32(b + 4);
		out->u.hello.max_cmd_len = edl_sahara_get_le32(b + 8);
		out->u.hello.mode = edl_sahara_get_le32(b + 12);
		break;
	case EDL_SAHARA_HELLO_RESP:
		out->u.hello_resp.version = edl_sahara_get_le32(b);
		out->u.hello_resp.version_compatible = edl_sahara_get_le32(b + 4);
		out->u.hello_resp.status = edl_sahara_get_le32(b + 8);
		out->u.hello_resp.mode = edl_sahara_get_le32(b + 12);
		break;
	case EDL_SAHARA_READ_DATA:
		out->u.read_data.image_id = edl_sahara_get_le32(b);
		out->u.read_data.offset = edl_sahara_get_le32(b + 4);
		out->u.read_data.length = edl_sahara_get_le32(b + 8);
		break;
	case EDL_SAHARA_READ_DATA64:
		out->u.read_data.image_id = edl_sahara_get_le64(b);
		out->u.read_data.offset = edl_sahara_get_le64(b + 8);
		out->u.read_data.length = edl_sahara_get_le64(b + 16);
		break;
	case EDL_SAHARA_END_OF_IMAGE:
		out->u.end_of_image.image_id = edl_sahara_get_le32(b);
		out->u.end_of_image.status = edl_sahara_get_le32(b + 4);
		break;
	case EDL_SAHARA_DONE_RESP:
		out->u.done_resp.status = edl_sahara_get_le32(b);
		break;
	case EDL_SAHARA_MEMORY_DEBUG:
	case EDL_SAHARA_MEMORY_READ:
		out->u.mem.addr = edl_sahara_get_le32(b);
		out->u.mem.len = edl_sahara_get_le32(b + 4);
		break;
	case EDL_SAHARA_MEMORY_DEBUG64:
	case EDL_SAHARA_MEMORY_READ64:
		out->u.mem.addr = edl_sahara_get_le64(b);
		out->u.mem.len = edl_sahara_get_le64(b + 8);
		break;
	case EDL_SAHARA_SWITCH_MODE:
		out->u.switch_mode.mode = edl_sahara_get_le32(b);
		break;
	case EDL_SAHARA_EXECUTE:
	case EDL_SAHARA_EXECUTE_DATA:
		out->u.exec.client_cmd = edl_sahara_get_le32(b);
		break;
	case EDL_SAHARA_EXECUTE_RESP:
		out->u.exec.client_cmd = edl_sahara_get_le32(b);
		out->u.exec.data_length = edl_sahara_get_le32(b + 4);
		break;
	default: /* header-only packets */
		break;
	}
	return EDL_OK;
}

/* Writes the header of a packet of the table's size, zeroing the body. */
static uint8_t *begin(uint8_t *buf, size_t cap, uint32_t cmd, size_t *len)
{
	const struct cmd_info *ci = cmd_lookup(cmd);

	*len = ci->min_len;
	if (cap < *len) {
		*len = 0;
		return NULL;
	}
	memset(buf, 0, *len);
	edl_sahara_put_le32(buf, cmd);
	edl_sahara_put_le32(buf + 4, (uint32_t)*len);
	return buf + 8;
}

static size_t encode_u32s(uint8_t *buf, size_t cap, uint32_t cmd, size_t n, const uint32_t *v)
{
	size_t len, i;
	uint8_t *b = begin(buf, cap, cmd, &len);

	if (b == NULL)
		return 0;
	for (i = 0; i < n; i++)
		edl_sahara_put_le32(b + 4 * i, v[i]);
	return len;
}

static size_t encode_u64s(uint8_t *buf, size_t cap, uint32_t cmd, size_t n, const uint64_t *v)
{
	size_t len, i;
	uint8_t *b = begin(buf, cap, cmd, &len);

	if (b == NULL)
		return 0;
	for (i = 0; i < n; i++)
		edl_sahara_put_le64(b + 8 * i, v[i]);
	return len;
}

size_t edl_sahara_encode_hello_resp(uint8_t *buf, size_t cap, uint32_t version,
                                    uint32_t version_compatible, uint32_t status, uint32_t mode)
{
	const uint32_t v[] = {version, version_compatible, status, mode};

	return encode_u32s(buf, cap, EDL_SAHARA_HELLO_RESP, 4, v);
}

size_t edl_sahara_encode_done(uint8_t *buf, size_t cap)
{
	return encode_u32s(buf, cap, EDL_SAHARA_DONE, 0, NULL);
}

size_t edl_sahara_encode_reset(uint8_t *buf, size_t cap)
{
	return encode_u32s(buf, cap, EDL_SAHARA_RESET, 0, NULL);
}

size_t edl_sahara_encode_switch_mode(uint8_t *buf, size_t cap, uint32_t mode)
{
	return encode_u32s(buf, cap, EDL_SAHARA_SWITCH_MODE, 1, &mode);
}

size_t edl_sahara_encode_execute(uint8_t *buf, size_t cap, uint32_t client_cmd)
{
	return encode_u32s(buf, cap, EDL_SAHARA_EXECUTE, 1, &client_cmd);
}

size_t edl_sahara_encode_execute_data(uint8_t *buf, size_t cap, uint32_t client_cmd)
{
	return encode_u32s(buf, cap, EDL_SAHARA_EXECUTE_DATA, 1, &client_cmd);
}

size_t edl_sahara_encode_memory_read(uint8_t *buf, size_t cap, uint32_t addr, uint32_t len)
{
	const uint32_t v[] = {addr, len};

	return encode_u32s(buf, cap, EDL_SAHARA_MEMORY_READ, 2, v);
}

size_t edl_sahara_encode_memory_read64(uint8_t *buf, size_t cap, uint64_t addr, uint64_t len)
{
	const uint64_t v[] = {addr, len};

	return encode_u64s(buf, cap, EDL_SAHARA_MEMORY_READ64, 2, v);
}

size_t edl_sahara_encode_reset_state_machine(uint8_t *buf, size_t cap)
{
	return encode_u32s(buf, cap, EDL_SAHARA_RESET_STATE_MACHINE, 0, NULL);
}

size_t edl_sahara_encode_hello(uint8_t *buf, size_t cap, uint32_t version,
                               uint32_t version_compatible, uint32_t max_cmd_len, uint32_t mode)
{
	const uint32_t v[] = {version, version_compatible, max_cmd_len, mode};

	return encode_u32s(buf, cap, EDL_SAHARA_HELLO, 4, v);
}

size_t edl_sahara_encode_read_data(uint8_t *buf, size_t cap, uint32_t image_id, uint32_t offset,
                                   uint32_t length)
{
	const uint32_t v[] = {image_id, offset, length};

	return encode_u32s(buf, cap, EDL_SAHARA_READ_DATA, 3, v);
}

size_t edl_sahara_encode_read_data64(uint8_t *buf, size_t cap, uint64_t image_id, uint64_t offset,
                                     uint64_t length)
{
	const uint64_t v[] = {image_id, offset, length};

	return encode_u64s(buf, cap, EDL_SAHARA_READ_DATA64, 3, v);
}

size_t edl_sahara_encode_end_of_image(uint8_t *buf, size_t cap, uint32_t image_id, uint32_t status)
{
	const uint32_t v[] = {image_id, status};

	return encode_u32s(buf, cap, EDL_SAHARA_END_OF_IMAGE, 2, v);
}

size_t edl_sahara_encode_done_resp(uint8_t *buf, size_t cap, uint32_t image_tx_status)
{
	return encode_u32s(buf, cap, EDL_SAHARA_DONE_RESP, 1, &image_tx_status);
}

size_t edl_sahara_encode_cmd_ready(uint8_t *buf, size_t cap)
{
	return encode_u32s(buf, cap, EDL_SAHARA_CMD_READY, 0, NULL);
}

size_t edl_sahara_encode_execute_resp(uint8_t *buf, size_t cap, uint32_t client_cmd,
                                      uint32_t data_length)
{
	const uint32_t v[] = {client_cmd, data_length};

	return encode_u32s(buf, cap, EDL_SAHARA_EXECUTE_RESP, 2, v);
}

size_t edl_sahara_encode_reset_resp(uint8_t *buf, size_t cap)
{
	return encode_u32s(buf, cap, EDL_SAHARA_RESET_RESP, 0, NULL);
}

size_t edl_sahara_encode_memory_debug(uint8_t *buf, size_t cap, uint32_t table_addr,
                                      uint32_t table_len)
{
	const uint32_t v[] = {table_addr, table_len};

	return encode_u32s(buf, cap, EDL_SAHARA_MEMORY_DEBUG, 2, v);
}

size_t edl_sahara_encode_memory_debug64(uint8_t *buf, size_t cap, uint64_t table_addr,
                                        uint64_t table_len)
{
	const uint64_t v[] = {table_addr, table_len};

	return encode_u64s(buf, cap, EDL_SAHARA_MEMORY_DEBUG64, 2, v);
}
