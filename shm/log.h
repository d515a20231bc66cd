/*
 * One line per event on stderr: time, level, process role and pid, module, message.
 * Every process (master, worker, store) logs through here; shm/ is the one folder every
 * process-level module may use, so the logger lives beside the shared memory it reports on.
 * A file sets LOG_MODULE before including this header.  Never pass a token, secret,
 * password or Authorization header to these functions.
 */
#ifndef SHM_LOG_H
#define SHM_LOG_H

enum shm_log_level { SHM_LOG_DEBUG, SHM_LOG_INFO, SHM_LOG_WARN, SHM_LOG_ERROR };

#define SHM_LOG_SITE_BURST 10 /* lines a second one format site may write */

#ifndef LOG_MODULE
#define LOG_MODULE "tessera"
#endif

/* Sets the role ("master", "worker/1") and threshold of this process; called after fork. */
void shm_log_setup(const char *role, enum shm_log_level level);
enum shm_log_level shm_log_current_level(void);
/* Parses "debug", "info", "warn", "error"; returns -EINVAL for anything else. */
int shm_log_level_parse(const char *name, enum shm_log_level *out);
/* Writes one line, unless its format site already wrote SHM_LOG_SITE_BURST lines in this
 * second: then it is only counted, and a summary line says how many were suppressed once
 * the second is over.  The format must be a string literal (its address names the site). */
void shm_log_write(enum shm_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes the summaries of suppressed lines whose second is over.  Any later line does it
 * too; a process's periodic timer calls it so a summary does not wait for the next event. */
void shm_log_flush(void);

#define log_debug(...) shm_log_write(SHM_LOG_DEBUG, LOG_MODULE, __VA_ARGS__)
#define log_info(...) shm_log_write(SHM_LOG_INFO, LOG_MODULE, __VA_ARGS__)
#define log_warn(...) shm_log_write(SHM_LOG_WARN, LOG_MODULE, __VA_ARGS__)
#define log_error(...) shm_log_write(SHM_LOG_ERROR, LOG_MODULE, __VA_ARGS__)

#endif
