/*
 * The TLS record pump of a connection on a TLS listener: OpenSSL works on memory BIOs,
 * never on the socket.  Bytes libuv read go into the read BIO and SSL_read decrypts them
 * straight into the pipeline's input buffer; responses are SSL_written into the write
 * BIO, whose contents send.c puts on the socket.  The read BIO says "retry" when empty
 * (BIO_set_mem_eof_return(-1)), so an incomplete record means "wait", never EOF.  Moves a
 * connection from CONN_HANDSHAKE to CONN_READING when the handshake completes.
 */
#include "autoconfig.h"

#include <errno.h>

#include <openssl/err.h>

#define LOG_MODULE "conn"
#include "shm/log.h"
#include "worker/conn.h"

int worker__tls_open(struct conn *c, SSL_CTX *ctx)
{
    c->ssl = SSL_new(ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -ENOMEM;
    }
    /* An empty read BIO means "wait for more bytes", not end of stream. */
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio); /* the session owns the BIOs from here */
    SSL_set_accept_state(c->ssl);
    return 0;
}

void worker__tls_free(struct conn *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
}

/* OpenSSL's error queue is per thread, so one queue serves every connection of this
 * worker, and SSL_get_error() reads it: an entry left by anything else (a handler's failed
 * signature check, another connection's failure) would turn this connection's "want more
 * bytes" into a fatal error.  So it is emptied before each TLS I/O call, as nginx does. */
static void tls_errors_clear(void)
{
    ERR_clear_error();
}

bool worker__tls_input(struct conn *c, const char *data, size_t len)
{
    if (BIO_write(c->rbio, data, (int)len) != (int)len)
        return false;
    while (c->state <= CONN_DEFERRED) {
        int n, err;

        if (!worker__pipeline_room(c))
            return false;
        tls_errors_clear(); /* the handlers pipeline.c ran may have left some */
        n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
        if (c->state == CONN_HANDSHAKE && SSL_is_init_finished(c->ssl))
            c->state = CONN_READING;
        if (n > 0) {
            c->in_len += (size_t)n;
            worker__pipeline_process(c);
            continue;
        }
        err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ)
            return true;
        if (err != SSL_ERROR_ZERO_RETURN)
            log_debug("TLS session failed: %s", ERR_reason_error_string(ERR_peek_error()));
        ERR_clear_error();
        return false;
    }
    return true;
}

void worker__tls_flush(struct conn *c)
{
    char *p;
    long n;

    if (c->out.len) {
        tls_errors_clear();
        if (SSL_write(c->ssl, c->out.data, (int)c->out.len) <= 0)
            log_debug("TLS write failed: %s", ERR_reason_error_string(ERR_peek_error()));
        proto_buf_reset(&c->out);
    }
    /* The last response: close_notify (RFC 8446 §6.1) tells the client it has it all. */
    if (c->state == CONN_FINISHING && SSL_is_init_finished(c->ssl)) {
        tls_errors_clear();
        SSL_shutdown(c->ssl);
    }
    n = BIO_get_mem_data(c->wbio, &p);
    if (n > 0) {
        worker__conn_send(c, p, (size_t)n);
        (void)BIO_reset(c->wbio);
    }
}

bool worker__tls_unread(const struct conn *c)
{
    return BIO_ctrl_pending(c->rbio) > 0;
}
