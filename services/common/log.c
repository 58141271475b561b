/*
 * log.c - JSON-lines logs on stderr, encoded by jansson so every string is escaped
 * correctly whatever a caller puts in it. See include/tandem/log.h.
 */
#include "tandem/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_service[64] = "tandem";
static tdm_log_level log_min_level = TDM_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tdm_log_init(const char *service, tdm_log_level level)
{
    snprintf(log_service, sizeof(log_service), "%s", service);
    log_min_level = level;
}

void tdm_log_set_level(tdm_log_level level)
{
    log_min_level = level;
}

int tdm_log_enabled(tdm_log_level level)
{
    return level >= log_min_level;
}

int tdm_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *tdm_log_level_name(tdm_log_level level)
{
    return level >= TDM_LOG_DEBUG && level <= TDM_LOG_ERROR ? level_names[level] : "info";
}

static json_t *line_begin(tdm_log_level level, const char *request_id)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    json_t *line = json_object();
    json_object_set_new(line, "time", json_string(when));
    json_object_set_new(line, "level", json_string(tdm_log_level_name(level)));
    json_object_set_new(line, "service", json_string(log_service));
    if (request_id != NULL && request_id[0] != '\0')
        json_object_set_new(line, "request_id", json_string(request_id));
    return line;
}

static void line_emit(json_t *line)
{
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(line);
    if (text == NULL)
        return;
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room only for the NUL: reuse it. */
    ssize_t off = 0;
    while ((size_t)off < len + 1) {
        ssize_t w = write(STDERR_FILENO, text + off, len + 1 - (size_t)off);
        if (w <= 0)
            break;
        off += w;
    }
    free(text);
}

void tdm_log(tdm_log_level level, const char *request_id, const char *fmt, ...)
{
    if (level < log_min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *line = line_begin(level, request_id);
    /* json_string refuses invalid UTF-8; fall back to a lossy copy. */
    json_t *m = json_string(msg);
    json_object_set_new(line, "msg", m != NULL ? m : json_stringn_nocheck(msg, strlen(msg)));
    line_emit(line);
}

void tdm_log_fields(tdm_log_level level, const char *request_id, const char *msg, ...)
{
    if (level < log_min_level)
        return;
    json_t *line = line_begin(level, request_id);
    json_object_set_new(line, "msg", json_string(msg));
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        if (value == NULL)
            continue;
        json_t *v = json_string(value);
        json_object_set_new(line, key, v != NULL ? v : json_stringn_nocheck(value, strlen(value)));
    }
    va_end(ap);
    line_emit(line);
}
