/*
 * Throwaway directories for the store's unit tests: made with mkdtemp under /tmp, removed
 * with everything in them.
 */
#ifndef TESTS_UNIT_STORE_TMPDIR_H
#define TESTS_UNIT_STORE_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/tessera-<name>-XXXXXX in buf; 0 or -1. */
static inline int tmpdir_make(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/tmp/tessera-%s-XXXXXX", name);
    return mkdtemp(buf) ? 0 : -1;
}

static inline int tmpdir_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes path and everything under it; 0 or -1 (a missing path is -1). */
static inline int tmpdir_remove(const char *path)
{
    return nftw(path, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
