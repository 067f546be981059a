/*
 * What an EDL device's descriptors tell before any protocol runs: whether it is
 * an EDL device at all, and the chip serial its iProduct string carries
 * ("QUSB__BULK_SN:1A2B3C4D"). Shared by the station and the one-shot commands.
 */
#include "edlstation/usb.h"

#include <ctype.h>
#include <string.h>

bool edl_usb_is_edl(const struct edl_usb_device_info *info)
{
	return info->vid == EDL_USB_VID &&
	       (info->pid == EDL_USB_PID_EDL || info->pid == EDL_USB_PID_DUMP);
}

bool edl_usb_product_serial(const char *product, char hex[9], const char **token)
{
	const char *sn = strstr(product, "_SN:");
	size_t k = 0;

	hex[0] = '\0';
	if (token != NULL)
		*token = sn ? sn + 4 : NULL;
	if (sn == NULL)
		return false;
	for (sn += 4; k < 8 && isxdigit((unsigned char)*sn); sn++)
		hex[k++] = (char)tolower((unsigned char)*sn);
	hex[k] = '\0';
	/* Only 8 hex digits are a serial; whatever follows them is not part of it. */
	if (k != 8 || isxdigit((unsigned char)*sn)) {
		hex[0] = '\0';
		return false;
	}
	return true;
}
