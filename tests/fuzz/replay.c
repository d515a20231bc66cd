/*
 * Runs a fuzz target without libFuzzer, so `make check` exercises every target with the
 * system compiler: LLVMFuzzerTestOneInput on each file of the seed corpus, then on a fixed
 * number of deterministic mutations of them (an xorshift PRNG doing bit flips, byte
 * inserts and deletes, dictionary tokens and splices), and one TAP line for the target.
 * A broken invariant aborts the process, which the TAP driver reports; the input that did
 * it is first saved to ./<target>-replay-crash for replaying (pass it as PATH) or for
 * tools/fuzz.
 *
 * usage: <target>_replay [-n MUTATIONS] [-t SECONDS] [-d DICT] [PATH...]
 * PATH is a corpus directory or a single input (default: the target's seed corpus);
 * MUTATIONS defaults to $FUZZ_REPLAY_MUTATIONS or the target's count in local.mk (0 runs
 * only the inputs), SECONDS, a cap on the whole run, to 4.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

/* tests/fuzz/local.mk defines these per target. */
#ifndef FUZZ_NAME
#define FUZZ_NAME "fuzz"
#endif
#ifndef FUZZ_CORPUS_DIR
#define FUZZ_CORPUS_DIR "corpus"
#endif
#ifndef FUZZ_DICT
#define FUZZ_DICT ""
#endif
#ifndef FUZZ_REPLAY_MUTATIONS
#define FUZZ_REPLAY_MUTATIONS 20000
#endif

#define REPLAY_MAX_INPUT 8192 /* mutations grow inputs up to this */
#define REPLAY_MAX_FILE (1 << 20)

struct replay_input {
    uint8_t *data;
    size_t len;
};

struct replay_set {
    struct replay_input *v;
    size_t n, cap;
};

/* The input being run, for the crash handlers. */
static const uint8_t *replay_cur;
static size_t replay_cur_len;
static uint64_t replay_rng = 0x9e3779b97f4a7c15u;

/* Declared weak: present only when a sanitizer runtime is linked in. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void replay_save_crash(void)
{
    static const char path[] = FUZZ_NAME "-replay-crash";
    static const char msg[] = "replay: the failing input is in ./" FUZZ_NAME "-replay-crash\n";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd == -1)
        return;
    if (replay_cur_len && write(fd, replay_cur, replay_cur_len) == -1)
        replay_cur_len = 0;
    close(fd);
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) == -1)
        return;
}

static void on_fatal_signal(int sig)
{
    replay_save_crash();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void replay_add(struct replay_set *s, const void *data, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        FUZZ_CHECK(s->v != NULL);
    }
    s->v[s->n].data = malloc(len ? len : 1);
    FUZZ_CHECK(s->v[s->n].data != NULL);
    if (len)
        memcpy(s->v[s->n].data, data, len);
    s->v[s->n++].len = len;
}

static void replay_free(struct replay_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].data);
    free(s->v);
}

/* Reads a whole file (at most REPLAY_MAX_FILE bytes); 0 or -1. */
static int replay_read(const char *path, struct replay_set *s)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t len;
    int rc = -1;

    if (f == NULL)
        return -1;
    buf = malloc(REPLAY_MAX_FILE);
    FUZZ_CHECK(buf != NULL);
    len = fread(buf, 1, REPLAY_MAX_FILE, f);
    if (!ferror(f)) {
        replay_add(s, buf, len);
        rc = 0;
    }
    free(buf);
    fclose(f);
    return rc;
}

static int replay_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the file at path, or every regular file of the directory, in name order. */
static int replay_load(const char *path, struct replay_set *s)
{
    struct dirent *e;
    char **names = NULL, full[4096];
    size_t n = 0;
    struct stat st;
    DIR *d;

    if (stat(path, &st) == -1)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return replay_read(path, s);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        FUZZ_CHECK(names != NULL);
        names[n] = strdup(e->d_name);
        FUZZ_CHECK(names[n++] != NULL);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), replay_name_cmp);
    for (size_t i = 0; i < n; i++) {
        snprintf(full, sizeof(full), "%s/%s", path, names[i]);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && replay_read(full, s) < 0)
            fprintf(stderr, "replay: cannot read %s\n", full);
        free(names[i]);
    }
    free(names);
    return 0;
}

static int replay_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Adds the tokens of a libFuzzer dictionary: lines `name="value"` with \\, \" and \xNN
 * escapes; blank lines and # comments are skipped. */
static void replay_dict(const char *path, struct replay_set *s)
{
    char line[1024];
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *p = strchr(line, '"'), *end = strrchr(line, '"');
        uint8_t tok[sizeof(line)];
        size_t n = 0;

        if (line[strspn(line, " \t")] == '#' || p == NULL || end == p)
            continue;
        for (p++; p < end; p++) {
            if (*p == '\\' && p[1] == 'x' && replay_hex(p[2]) >= 0 && replay_hex(p[3]) >= 0) {
                tok[n++] = (uint8_t)(replay_hex(p[2]) << 4 | replay_hex(p[3]));
                p += 3;
            } else if (*p == '\\' && p + 1 < end) {
                p++;
                tok[n++] = (uint8_t)*p;
            } else {
                tok[n++] = (uint8_t)*p;
            }
        }
        if (n)
            replay_add(s, tok, n);
    }
    fclose(f);
}

static uint64_t replay_rand(void)
{
    replay_rng ^= replay_rng << 13;
    replay_rng ^= replay_rng >> 7;
    replay_rng ^= replay_rng << 17;
    return replay_rng;
}

static size_t replay_below(size_t n)
{
    return n ? (size_t)(replay_rand() % n) : 0;
}

/* Makes room for n bytes at pos in buf[0, *len), if the size cap allows. */
static bool replay_open_gap(uint8_t *buf, size_t *len, size_t pos, size_t n)
{
    if (*len + n > REPLAY_MAX_INPUT)
        return false;
    memmove(buf + pos + n, buf + pos, *len - pos);
    *len += n;
    return true;
}

/* One mutation of buf[0, *len) in place. */
static void replay_mutate_once(uint8_t *buf, size_t *len, const struct replay_set *corpus,
                               const struct replay_set *dict)
{
    static const uint8_t special[] = {0,   0xff, 0x7f, 0x80, '\r', '\n', ' ', '\t', ':', '=',
                                      '[', ']',  '"',  '0',  '9',  '?',  '/', ';',  '#', '\\'};
    static uint8_t scratch[REPLAY_MAX_INPUT];
    size_t pos = replay_below(*len + 1), n, m;
    const struct replay_input *other;

    switch (replay_below(8)) {
    case 0: /* flip a bit */
        if (*len)
            buf[pos % *len] ^= (uint8_t)(1u << replay_below(8));
        break;
    case 1: /* set a byte */
        if (*len)
            buf[pos % *len] =
                replay_below(2) ? special[replay_below(sizeof(special))] : (uint8_t)replay_rand();
        break;
    case 2: /* insert bytes */
        n = 1 + replay_below(replay_below(2) ? 4 : 64);
        if (replay_open_gap(buf, len, pos, n))
            memset(buf + pos,
                   replay_below(2) ? special[replay_below(sizeof(special))]
                                   : (int)(uint8_t)replay_rand(),
                   n);
        break;
    case 3: /* delete bytes */
        n = 1 + replay_below(replay_below(2) ? 4 : 64);
        if (pos < *len) {
            n = n < *len - pos ? n : *len - pos;
            memmove(buf + pos, buf + pos + n, *len - pos - n);
            *len -= n;
        }
        break;
    case 4: /* insert a dictionary token */
    case 5: /* overwrite with a dictionary token */
        if (dict->n == 0)
            break;
        other = &dict->v[replay_below(dict->n)];
        if (replay_below(2) == 0 && replay_open_gap(buf, len, pos, other->len))
            memcpy(buf + pos, other->data, other->len);
        else if (pos + other->len <= *len)
            memcpy(buf + pos, other->data, other->len);
        break;
    case 6: /* splice: our head, another input's tail */
        other = &corpus->v[replay_below(corpus->n)];
        n = replay_below(other->len + 1);
        if (pos + other->len - n <= REPLAY_MAX_INPUT) {
            memcpy(buf + pos, other->data + n, other->len - n);
            *len = pos + other->len - n;
        }
        break;
    default: /* copy a range of ourselves elsewhere */
        if (*len == 0)
            break;
        n = replay_below(*len);
        m = 1 + replay_below(*len - n);
        memcpy(scratch, buf + n, m);
        if (replay_open_gap(buf, len, pos, m))
            memcpy(buf + pos, scratch, m);
        break;
    }
}

/* Runs one input from a buffer of exactly its size, so overreads reach the sanitizer. */
static int replay_run(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    int rc;

    FUZZ_CHECK(copy != NULL);
    if (len)
        memcpy(copy, data, len);
    replay_cur = copy;
    replay_cur_len = len;
    rc = LLVMFuzzerTestOneInput(copy, len);
    replay_cur = NULL;
    replay_cur_len = 0;
    free(copy);
    return rc;
}

static double replay_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs n mutations (fewer if the deadline passes); returns how many ran, or -1 when the
 * target returned something else than 0 or -1. */
static long replay_mutations(const struct replay_set *corpus, const struct replay_set *dict, long n,
                             double deadline)
{
    static uint8_t buf[REPLAY_MAX_INPUT];
    size_t len = 0;
    long i;
    int rc;

    for (i = 0; i < n; i++) {
        /* Mostly a fresh copy of a seed; sometimes keep stacking onto the last input. */
        if (i == 0 || replay_below(4) != 0) {
            const struct replay_input *in = &corpus->v[replay_below(corpus->n)];

            len = in->len < sizeof(buf) ? in->len : sizeof(buf);
            memcpy(buf, in->data, len);
        }
        for (size_t k = 1 + replay_below(4); k > 0; k--)
            replay_mutate_once(buf, &len, corpus, dict);
        rc = replay_run(buf, len);
        if (rc != 0 && rc != -1)
            return -1;
        if ((i & 255) == 255 && replay_now() > deadline)
            return i + 1;
    }
    return i;
}

int main(int argc, char **argv)
{
    struct replay_set corpus = {0}, dict = {0};
    const char *dict_path = FUZZ_DICT, *env = getenv("FUZZ_REPLAY_MUTATIONS");
    long nmut = env ? atol(env) : FUZZ_REPLAY_MUTATIONS, ran = 0;
    double seconds = 4, start = replay_now();
    int i, npaths = 0, failed = 0;

    signal(SIGABRT, on_fatal_signal);
    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(replay_save_crash); /* the sanitizer owns SIGSEGV */
    } else {
        signal(SIGSEGV, on_fatal_signal);
        signal(SIGBUS, on_fatal_signal);
        signal(SIGFPE, on_fatal_signal);
        signal(SIGILL, on_fatal_signal);
    }

    printf("1..1\n");
    fflush(stdout);
    for (i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "-n") == 0) {
            nmut = atol(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
            seconds = atof(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "-d") == 0) {
            dict_path = argv[++i];
        } else {
            npaths++;
            if (replay_load(argv[i], &corpus) < 0) {
                printf("# cannot read %s\n", argv[i]);
                failed = 1;
            }
        }
    }
    if (npaths == 0 && replay_load(FUZZ_CORPUS_DIR, &corpus) < 0) {
        printf("# cannot read %s\n", FUZZ_CORPUS_DIR);
        failed = 1;
    }
    replay_dict(dict_path, &dict);
    if (corpus.n == 0)
        failed = 1;
    for (size_t k = 0; k < corpus.n && !failed; k++) {
        int rc = replay_run(corpus.v[k].data, corpus.v[k].len);

        failed = rc != 0 && rc != -1;
    }
    if (!failed && nmut > 0) {
        ran = replay_mutations(&corpus, &dict, nmut, start + seconds);
        failed = ran < 0;
    }
    printf("%s 1 - %s: %zu inputs, %ld of %ld mutations (%zu dictionary tokens), %.1f s\n",
           failed ? "not ok" : "ok", FUZZ_NAME, corpus.n, ran < 0 ? 0 : ran, nmut, dict.n,
           replay_now() - start);
    replay_free(&corpus);
    replay_free(&dict);
    return failed;
}
