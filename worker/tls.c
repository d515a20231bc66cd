/*
 * The TLS server context.  Built by the master before fork, so every worker inherits the
 * same certificate, key and session-ticket keys: a session resumes on any worker.  The
 * server-side session cache is off (it would be per process); tickets do the resuming.
 */
#include "autoconfig.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#define LOG_MODULE "tls"
#include "shm/log.h"
#include "worker/worker.h"

static const unsigned char tls_alpn[] = "\x08http/1.1";

static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned char *sel;

    if (SSL_select_next_proto(&sel, outlen, tls_alpn, sizeof(tls_alpn) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 §3.2: no_application_protocol */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static void tls_log_error(const char *what, const char *file)
{
    char buf[256];

    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    log_error("%s %s: %s", what, file, buf);
    ERR_clear_error();
}

SSL_CTX *worker_tls_ctx_new(const char *cert_file, const char *key_file, const char *min_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        tls_log_error("SSL_CTX_new", "");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, strcmp(min_version, "1.3") == 0 ? TLS1_3_VERSION
                                                                       : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        tls_log_error("cannot load certificate", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        tls_log_error("cannot load private key", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_log_error("private key does not match the certificate", key_file);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
