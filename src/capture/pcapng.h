/*
 * Internals shared by the capture writer and reader: the pcapng block types
 * and option codes, the usbmon header layouts, and little/big-endian helpers
 * with bounds checks left to the callers.
 */
#ifndef EDLSTATION_CAPTURE_PCAPNG_H
#define EDLSTATION_CAPTURE_PCAPNG_H

#include <stdint.h>
#include <string.h>

#define PCAPNG_SHB 0x0A0D0D0Au  /* Section Header Block */
#define PCAPNG_IDB 0x00000001u  /* Interface Description Block */
#define PCAPNG_SPB 0x00000003u  /* Simple Packet Block */
#define PCAPNG_EPB 0x00000006u  /* Enhanced Packet Block */
#define PCAPNG_BOM 0x1A2B3C4Du  /* byte-order magic */
#define PCAPNG_OPT_END 0        /* opt_endofopt */
#define PCAPNG_OPT_COMMENT 1    /* opt_comment */
#define PCAPNG_IF_NAME 2        /* if_name */
#define PCAPNG_IF_DESCRIPTION 3 /* if_description */
#define PCAPNG_IF_TSRESOL 9     /* if_tsresol */
#define PCAPNG_SHB_USERAPPL 4   /* shb_userappl */

#define PCAP_MAGIC_US 0xa1b2c3d4u /* classic pcap, microseconds */
#define PCAP_MAGIC_NS 0xa1b23c4du /* classic pcap, nanoseconds */

#define USBMON_HDR_MMAPPED 64 /* LINKTYPE_USB_LINUX_MMAPPED */
#define USBMON_HDR_LINUX 48   /* LINKTYPE_USB_LINUX */
#define USBMON_EINPROGRESS (-115)

static inline uint16_t cap_rd16(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t cap_rd32(const uint8_t *p, bool be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
	          : (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	                       (uint32_t)p[3] << 24;
}

static inline uint64_t cap_rd64(const uint8_t *p, bool be)
{
	return be ? (uint64_t)cap_rd32(p, be) << 32 | cap_rd32(p + 4, be)
	          : (uint64_t)cap_rd32(p + 4, be) << 32 | cap_rd32(p, be);
}

static inline void cap_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void cap_wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void cap_wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t cap_pad4(uint32_t n)
{
	return (n + 3u) & ~3u;
}

#endif
