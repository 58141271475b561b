/*
 * log.h - JSON-lines logging on stderr.
 *
 * One line per event: {"time":"2026-11-26T18:00:00.123Z","level":"info",
 * "service":"enrolment","request_id":"...","msg":"...", <fields>}. The level comes
 * from TANDEM_LOG_LEVEL; lines below it cost one comparison. Fields are given as
 * key/value string pairs ending with NULL, so any line can carry structured context
 * without a format language:
 *
 *     tdm_log_fields(TDM_LOG_WARN, rid, "query failed", "sqlstate", "40001", NULL);
 *
 * Writes go straight to fd 2 with one write() per line (atomic for lines under
 * PIPE_BUF on pipes), so lines from several processes sharing a log do not interleave.
 */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

typedef enum tdm_log_level {
    TDM_LOG_DEBUG = 0,
    TDM_LOG_INFO = 1,
    TDM_LOG_WARN = 2,
    TDM_LOG_ERROR = 3,
} tdm_log_level;

/* Set once at start-up; service is copied. */
void tdm_log_init(const char *service, tdm_log_level level);
void tdm_log_set_level(tdm_log_level level);
int tdm_log_enabled(tdm_log_level level);

/* Parse "debug"|"info"|"warn"|"error"; returns -1 when unknown. */
int tdm_log_level_parse(const char *s);
const char *tdm_log_level_name(tdm_log_level level);

/* request_id may be NULL. */
void tdm_log(tdm_log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* msg is literal; the variadic part is key, value, key, value, ..., NULL.
 * A NULL value omits its key. */
void tdm_log_fields(tdm_log_level level, const char *request_id, const char *msg, ...)
    __attribute__((sentinel));

#define tdm_debug(rid, ...) tdm_log(TDM_LOG_DEBUG, (rid), __VA_ARGS__)
#define tdm_info(rid, ...)  tdm_log(TDM_LOG_INFO, (rid), __VA_ARGS__)
#define tdm_warn(rid, ...)  tdm_log(TDM_LOG_WARN, (rid), __VA_ARGS__)
#define tdm_error(rid, ...) tdm_log(TDM_LOG_ERROR, (rid), __VA_ARGS__)

#endif
