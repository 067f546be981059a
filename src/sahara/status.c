/*
 * Names of Sahara END_OF_IMAGE status codes and of the protocol modes. The
 * numbers follow Qualcomm's list (some public tools print texts shifted by one:
 * the numbers are what the device sends, so the table is keyed by number).
 */
#include "edlstation/sahara.h"

static const char *const status_names[] = {
        [EDL_SAHARA_STATUS_SUCCESS] = "success",
        [EDL_SAHARA_STATUS_INVALID_CMD] = "invalid command",
        [EDL_SAHARA_STATUS_PROTOCOL_MISMATCH] = "protocol mismatch",
        [EDL_SAHARA_STATUS_INVALID_TARGET_PROTOCOL] = "invalid target protocol",
        [EDL_SAHARA_STATUS_INVALID_HOST_PROTOCOL] = "invalid host protocol",
        [EDL_SAHARA_STATUS_INVALID_PACKET_SIZE] = "invalid packet size",
        [EDL_SAHARA_STATUS_UNEXPECTED_IMAGE_ID] = "unexpected image id",
        [EDL_SAHARA_STATUS_INVALID_HEADER_SIZE] = "invalid header size",
        [EDL_SAHARA_STATUS_INVALID_DATA_SIZE] = "invalid data size",
        [EDL_SAHARA_STATUS_INVALID_IMAGE_TYPE] = "invalid image type",
        [EDL_SAHARA_STATUS_INVALID_TX_LENGTH] = "invalid tx length",
        [EDL_SAHARA_STATUS_INVALID_RX_LENGTH] = "invalid rx length",
        [EDL_SAHARA_STATUS_GENERAL_TX_RX_ERROR] = "general tx/rx error",
        [EDL_SAHARA_STATUS_READ_DATA_ERROR] = "read data error",
        [EDL_SAHARA_STATUS_UNSUPPORTED_NUM_PHDRS] = "unsupported number of program headers",
        [EDL_SAHARA_STATUS_INVALID_PHDR_SIZE] = "invalid program header size",
        [EDL_SAHARA_STATUS_MULTIPLE_SHARED_SEG] = "multiple shared segments",
        [EDL_SAHARA_STATUS_UNINIT_PHDR_LOC] = "uninitialized program header location",
        [EDL_SAHARA_STATUS_INVALID_DEST_ADDR] = "invalid destination address",
        [EDL_SAHARA_STATUS_INVALID_IMG_HDR_DATA_SIZE] = "invalid image header data size",
        [EDL_SAHARA_STATUS_INVALID_ELF_HDR] = "invalid ELF header",
        [EDL_SAHARA_STATUS_UNKNOWN_HOST_ERROR] = "unknown host error",
        [EDL_SAHARA_STATUS_TIMEOUT_RX] = "timeout receiving",
        [EDL_SAHARA_STATUS_TIMEOUT_TX] = "timeout transmitting",
        [EDL_SAHARA_STATUS_INVALID_HOST_MODE] = "invalid host mode",
        [EDL_SAHARA_STATUS_INVALID_MEMORY_READ] = "invalid memory read",
        [EDL_SAHARA_STATUS_INVALID_DATA_SIZE_REQUEST] = "invalid data size request",
        [EDL_SAHARA_STATUS_MEMORY_DEBUG_NOT_SUPPORTED] = "memory debug not supported",
        [EDL_SAHARA_STATUS_INVALID_MODE_SWITCH] = "invalid mode switch",
        [EDL_SAHARA_STATUS_CMD_EXEC_FAILURE] = "command execution failure",
        [EDL_SAHARA_STATUS_EXEC_CMD_INVALID_PARAM] = "invalid command parameter",
        [EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED] = "command not supported",
        [EDL_SAHARA_STATUS_EXEC_DATA_INVALID_CLIENT_CMD] = "invalid client command for data",
        [EDL_SAHARA_STATUS_HASH_TABLE_AUTH_FAILURE] = "hash table authentication failure",
        [EDL_SAHARA_STATUS_HASH_VERIFICATION_FAILURE] = "hash verification failure",
        [EDL_SAHARA_STATUS_HASH_TABLE_NOT_FOUND] = "hash table not found",
        [EDL_SAHARA_STATUS_TARGET_INIT_FAILURE] = "target initialization failure",
        [EDL_SAHARA_STATUS_IMAGE_AUTH_FAILURE] = "image authentication failure",
        [EDL_SAHARA_STATUS_INVALID_IMG_HASH_TABLE_SIZE] = "invalid image hash table size",
        [EDL_SAHARA_STATUS_ENUMERATION_FAILURE] = "enumeration failure",
        [EDL_SAHARA_STATUS_HW_BULK_TRANSFER_ERROR] = "hardware bulk transfer error",
};

const char *edl_sahara_status_name(uint32_t status)
{
	if (status < sizeof(status_names) / sizeof(status_names[0]) && status_names[status])
		return status_names[status];
	return "unknown status";
}

const char *edl_sahara_mode_name(uint32_t mode)
{
	switch (mode) {
	case EDL_SAHARA_MODE_IMAGE_TX_PENDING:
		return "image transfer pending";
	case EDL_SAHARA_MODE_IMAGE_TX_COMPLETE:
		return "image transfer complete";
	case EDL_SAHARA_MODE_MEMORY_DEBUG:
		return "memory debug";
	case EDL_SAHARA_MODE_COMMAND:
		return "command";
	}
	return "unknown mode";
}
