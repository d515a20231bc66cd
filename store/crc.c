/*
 * CRC32C over ISA-L's crc32_iscsi().  That function neither inverts its initial value nor
 * its result, so the standard CRC32C is crc32_iscsi(buf, len, ~0) ^ ~0; its length is an
 * int, so a longer buffer goes in pieces, each continuing the running (uninverted) value.
 * Pure: no state, callable from any process.
 */
#include "autoconfig.h"

#include <isa-l/crc.h>

#include "store/crc.h"

#define CRC_PIECE (1u << 30)

uint32_t store_crc32c(const void *buf, size_t len)
{
    /* crc32_iscsi() takes a non-const pointer but only reads through it. */
    unsigned char *p = (unsigned char *)(uintptr_t)buf;
    uint32_t crc = 0xffffffffu;

    while (len > 0) {
        size_t n = len < CRC_PIECE ? len : CRC_PIECE;

        crc = crc32_iscsi(p, (int)n, crc);
        p += n;
        len -= n;
    }
    return crc ^ 0xffffffffu;
}
