/*
 * LD_PRELOAD shim for wrk (built by tools/bench into its temp dir): counts wrk's TLS
 * handshakes and how many of them resumed a session, and with BENCH_TLS_FULL=1 makes
 * every handshake a full one.
 *
 * Why: on reconnect wrk calls SSL_shutdown() + SSL_clear() and reuses the same SSL
 * object, which keeps the previous session, so with "Connection: close" every
 * handshake after the first resumes it (a TLS 1.3 PSK handshake, no certificate
 * signature) instead of being the full handshake the newconn scenario wants.
 * Forgetting the session before a handshake starts restores full handshakes.
 *
 * At exit it prints "TLSSHIM handshakes=N resumed=M" on stderr; the harness checks M.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

static int (*real_connect)(SSL *);
static int full_only;
static unsigned long handshakes, resumed;

__attribute__((constructor)) static void shim_init(void)
{
    const char *v = getenv("BENCH_TLS_FULL");

    real_connect = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
    full_only = v != NULL && strcmp(v, "1") == 0;
}

__attribute__((destructor)) static void shim_report(void)
{
    fprintf(stderr, "TLSSHIM handshakes=%lu resumed=%lu full_only=%d\n",
            __atomic_load_n(&handshakes, __ATOMIC_RELAXED),
            __atomic_load_n(&resumed, __ATOMIC_RELAXED), full_only);
}

int SSL_connect(SSL *ssl)
{
    int rc;

    if (full_only && SSL_in_before(ssl))
        SSL_set_session(ssl, NULL); /* nothing to resume: a full handshake */
    rc = real_connect(ssl);         /* non-blocking: called again until it returns 1 */
    if (rc == 1) {
        __atomic_fetch_add(&handshakes, 1, __ATOMIC_RELAXED);
        if (SSL_session_reused(ssl))
            __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
    }
    return rc;
}
