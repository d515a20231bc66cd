/*
 * CRC32C (Castagnoli), the checksum of every log frame: computed by Intel ISA-L, which
 * uses the CPU's crc32 instruction when there is one.
 */
#ifndef STORE_CRC_H
#define STORE_CRC_H

#include <stddef.h>
#include <stdint.h>

/* The standard CRC32C of buf[0, len) (initial value and final xor 0xffffffff; the check
 * value of "123456789" is 0xe3069283).  Called by the record framing and the tests. */
uint32_t store_crc32c(const void *buf, size_t len);

#endif
