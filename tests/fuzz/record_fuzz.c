/*
 * Fuzz target of the log record codec (store/record.c) and the segment reader
 * (store/segment.c).  Byte 0 picks the mode, modulo 3; the rest is the input:
 *   0  one payload for store_record_decode(): it returns 0, -EPROTO or -ENOTSUP, and a
 *      record that decodes (a client change only with a version) encodes again into a
 *      frame that decodes to the same record;
 *   1  a segment file, scanned from a memfd (reached as /proc/self/fd/N);
 *   2  the same after every frame's CRC is set right, so that mutated payloads get past
 *      the CRC to the decoder.
 * A scan hands over records at increasing offsets inside the good prefix; it ends CLEAN at
 * the end of the file, or TORN, when cutting the file at valid_end must leave a CLEAN file
 * with the same records, or CORRUPT with a message naming the file.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/crc.h"
#include "store/segment.h"
#include "tests/fuzz/fuzz.h"

static char fuzz_path[64];

static void fuzz_round_trip(const struct store_record *r)
{
    msgpack_sbuffer sb;
    struct store_record back, want = *r;
    uint32_t len;

    want.version = STORE_RECORD_VERSION; /* an older record is written back as the current */
    msgpack_sbuffer_init(&sb);
    FUZZ_CHECK(store_record_encode(r, &sb) == 0);
    FUZZ_CHECK(store_frame_check((const uint8_t *)sb.data, sb.size, &len) == 0);
    FUZZ_CHECK(sb.size == STORE_FRAME_HEADER + len);
    FUZZ_CHECK(store_record_decode((const uint8_t *)sb.data + STORE_FRAME_HEADER, len, &back) == 0);
    FUZZ_CHECK(memcmp(&back, &want, sizeof(back)) == 0);
    msgpack_sbuffer_destroy(&sb);
}

/* A client change's version orders it against other writers' changes: never 0. */
static void fuzz_client_version(const struct store_record *r)
{
    if (r->type == STORE_REC_CLIENT_PUT)
        FUZZ_CHECK(r->u.client.version != 0);
    if (r->type == STORE_REC_CLIENT_DELETE || r->type == STORE_REC_CLIENT_REVOKE)
        FUZZ_CHECK(r->u.ref.version != 0);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    struct store_record r;
    int rc = store_record_decode(data, size, &r);

    FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOTSUP);
    if (rc == 0) {
        fuzz_client_version(&r);
        fuzz_round_trip(&r);
    }
}

static void fuzz_file_write(const uint8_t *data, size_t size)
{
    static int fd = -1;

    if (fd == -1) {
        fd = memfd_create("tessera-record-fuzz", MFD_CLOEXEC);
        FUZZ_CHECK(fd != -1);
        snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
}

/* Sets the CRC of every whole frame with a length in bounds, up to the first that is not. */
static void fuzz_fix_crcs(uint8_t *p, size_t size)
{
    size_t off = 0;

    while (size - off >= STORE_FRAME_HEADER) {
        uint32_t len =
            p[off] | p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
        uint32_t crc;

        if (len == 0 || len > STORE_RECORD_MAX || size - off - STORE_FRAME_HEADER < len)
            return;
        crc = store_crc32c(p + off + STORE_FRAME_HEADER, len);
        for (int i = 0; i < 4; i++)
            p[off + 4 + i] = (uint8_t)(crc >> (8 * i));
        off += STORE_FRAME_HEADER + len;
    }
}

struct fuzz_seen {
    uint64_t n, next; /* records seen; the least offset the next one may have */
};

static int fuzz_on_record(const struct store_record *r, uint64_t offset, void *arg)
{
    struct fuzz_seen *s = arg;

    FUZZ_CHECK(offset >= s->next);
    FUZZ_CHECK(r->version >= 1 && r->version <= STORE_RECORD_VERSION && r->seq > 0);
    s->next = offset + STORE_FRAME_HEADER + 1;
    s->n++;
    return 0;
}

static void fuzz_scan(const uint8_t *data, size_t size)
{
    struct store_scan_result res;
    struct fuzz_seen seen = {0, 0}, again = {0, 0};
    int rc;

    fuzz_file_write(data, size);
    rc = store_segment_scan(fuzz_path, fuzz_on_record, &seen, &res);
    FUZZ_CHECK(res.size == size && res.records == seen.n && res.valid_end <= size);
    FUZZ_CHECK(seen.n == 0 || seen.next <= res.valid_end);
    if (rc == -EBADMSG || rc == -ENOTSUP) {
        FUZZ_CHECK(res.end == STORE_SCAN_CORRUPT && res.valid_end < size);
        FUZZ_CHECK(strstr(res.msg, fuzz_path) != NULL);
        return;
    }
    FUZZ_CHECK(rc == 0);
    if (res.end == STORE_SCAN_CLEAN) {
        FUZZ_CHECK(res.valid_end == size);
        return;
    }
    FUZZ_CHECK(res.end == STORE_SCAN_TORN && res.valid_end < size);
    FUZZ_CHECK(store_segment_cut(fuzz_path, &res) == 0);
    FUZZ_CHECK(store_segment_scan(fuzz_path, fuzz_on_record, &again, &res) == 0);
    FUZZ_CHECK(res.end == STORE_SCAN_CLEAN && again.n == seen.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_decode(data + 1, size - 1);
        break;
    case 1:
        fuzz_scan(data + 1, size - 1);
        break;
    default:
        copy = malloc(size); /* at least a byte, whatever size - 1 is */
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, data + 1, size - 1);
        fuzz_fix_crcs(copy, size - 1);
        fuzz_scan(copy, size - 1);
        free(copy);
        break;
    }
    return 0;
}
