/*
 * client.c - the REST client of client.h over libcurl's easy interface.
 *
 * A CLI makes one request at a time, so one reused easy handle (keeping the
 * connection alive) is all it needs. Responses are bounded by CTL_MAX_RESPONSE_BYTES
 * (BatchEnrol answers may reach 32 MiB).
 */
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

typedef struct body_buffer {
    char *data;
    size_t len, cap;
    int too_big;
} body_buffer;

typedef struct call_meta {
    long retry_after_s;
} call_meta;

static const char *const CODE_NAMES[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *ctl_code_name(long code)
{
    if (code < 0 || code >= (long)(sizeof CODE_NAMES / sizeof CODE_NAMES[0])) {
        return "UNKNOWN";
    }
    return CODE_NAMES[code];
}

int ctl_client_init(ctl_client *c)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return -1;
    }
    c->curl = curl_easy_init();
    return c->curl != NULL ? 0 : -1;
}

void ctl_client_free(ctl_client *c)
{
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
        c->curl = NULL;
    }
    curl_global_cleanup();
}

void ctl_response_free(ctl_response *resp)
{
    json_decref(resp->body);
    resp->body = NULL;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_buffer *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > CTL_MAX_RESPONSE_BYTES) {
        b->too_big = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    call_meta *m = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        char value[32] = {0};
        size_t vlen = n - (sizeof name - 1);
        memcpy(value, ptr + sizeof name - 1, vlen < sizeof value - 1 ? vlen : sizeof value - 1);
        long s = strtol(value, NULL, 10);
        m->retry_after_s = s < 1 ? 1 : s > CTL_MAX_RETRY_AFTER_S ? CTL_MAX_RETRY_AFTER_S : s;
    }
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One attempt. Returns the outcome as ctl_call does. */
static int call_once(ctl_client *c, const char *method, const char *url, const char *payload,
                     const char *idempotency_key, ctl_response *resp, call_meta *meta)
{
    CURL *curl = c->curl;
    body_buffer buf = {0};
    struct curl_slist *headers = NULL;
    char line[1024];
    char errbuf[CURL_ERROR_SIZE] = {0};

    snprintf(line, sizeof line, "Authorization: Bearer %s", c->key != NULL ? c->key : "");
    headers = curl_slist_append(headers, line);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (c->tenant != NULL && c->tenant[0] != '\0') {
        snprintf(line, sizeof line, "X-Tandem-Tenant: %s", c->tenant);
        headers = curl_slist_append(headers, line);
    }
    if (idempotency_key != NULL) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", idempotency_key);
        headers = curl_slist_append(headers, line);
    }
    if (payload != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    headers = curl_slist_append(headers, "Expect:");

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, meta);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tandemctl/0.1");
    if (payload != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    }

    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    int outcome = CTL_EXIT_CONNECTION;
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof resp->error, "%s",
                 buf.too_big ? "the answer is larger than the client accepts"
                 : errbuf[0] ? errbuf
                             : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->http_status);
    json_error_t jerr;
    resp->body = buf.len > 0 ? json_loadb(buf.data, buf.len, 0, &jerr) : json_object();
    if (resp->body == NULL) {
        snprintf(resp->error, sizeof resp->error, "HTTP %ld with a body that is not JSON: %.200s",
                 resp->http_status, buf.data);
        outcome = resp->http_status == 200 ? CTL_EXIT_CONNECTION : CTL_EXIT_API;
        goto out;
    }
    outcome = resp->http_status == 200 ? CTL_EXIT_OK : CTL_EXIT_API;
out:
    free(buf.data);
    return outcome;
}

int ctl_call(ctl_client *c, const char *method, const char *path, json_t *body,
             const char *idempotency_key, ctl_response *resp)
{
    char *payload = NULL;
    if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT);
        if (payload == NULL) {
            memset(resp, 0, sizeof *resp);
            snprintf(resp->error, sizeof resp->error, "out of memory encoding the request");
            return CTL_EXIT_CONNECTION;
        }
    }
    size_t url_len = strlen(c->base_url) + strlen(path) + 1;
    char *url = malloc(url_len);
    if (url == NULL) {
        free(payload);
        memset(resp, 0, sizeof *resp);
        snprintf(resp->error, sizeof resp->error, "out of memory");
        return CTL_EXIT_CONNECTION;
    }
    snprintf(url, url_len, "%s%s", c->base_url, path);
    int repeatable = strcmp(method, "GET") == 0 || idempotency_key != NULL;
    int outcome = CTL_EXIT_CONNECTION;
    for (int attempt = 0;; attempt++) {
        memset(resp, 0, sizeof *resp);
        call_meta meta = {0};
        outcome = call_once(c, method, url, payload, idempotency_key, resp, &meta);
        int retry = 0;
        long wait_ms = 250L << (attempt < 6 ? attempt : 6);
        if (outcome == CTL_EXIT_API && resp->http_status == 429) {
            retry = 1; /* refused before any work: always safe to repeat */
            wait_ms = (meta.retry_after_s > 0 ? meta.retry_after_s : 1) * 1000L;
        } else if (repeatable && outcome == CTL_EXIT_API && resp->http_status == 503) {
            retry = 1;
        } else if (repeatable && outcome == CTL_EXIT_CONNECTION && resp->http_status == 0 &&
                   attempt < 2) {
            retry = 1;
        }
        if (!retry || attempt + 1 >= CTL_MAX_RETRIES) {
            break;
        }
        ctl_response_free(resp);
        sleep_ms(wait_ms);
    }
    free(url);
    free(payload);
    return outcome;
}

void ctl_describe_error(const ctl_response *resp, char *buf, size_t size)
{
    if (resp->http_status == 0 || resp->body == NULL) {
        snprintf(buf, size, "%s", resp->error[0] ? resp->error : "no answer");
        return;
    }
    json_t *code = json_object_get(resp->body, "code");
    const char *message = json_string_value(json_object_get(resp->body, "message"));
    size_t n = (size_t)snprintf(buf, size, "HTTP %ld", resp->http_status);
    if (json_is_integer(code) && n < size) {
        n += (size_t)snprintf(buf + n, size - n, " %s",
                              ctl_code_name((long)json_integer_value(code)));
    }
    if (message != NULL && n < size) {
        n += (size_t)snprintf(buf + n, size - n, ": %s", message);
    }
    json_t *details = json_object_get(resp->body, "details");
    size_t i;
    json_t *d;
    json_array_foreach(details, i, d)
    {
        const char *field = json_string_value(json_object_get(d, "field"));
        const char *desc = json_string_value(json_object_get(d, "description"));
        if (n < size && (field != NULL || desc != NULL)) {
            n += (size_t)snprintf(buf + n, size - n, "%s%s%s%s", i == 0 ? " (" : "; ",
                                  field != NULL ? field : "", field != NULL ? ": " : "",
                                  desc != NULL ? desc : "");
        }
    }
    if (json_array_size(details) > 0 && n + 1 < size) {
        snprintf(buf + n, size - n, ")");
    }
}

void ctl_call_error(const char *what, const char *method, const char *path,
                    const ctl_response *resp)
{
    char msg[2048];
    ctl_describe_error(resp, msg, sizeof msg);
    fprintf(stderr, "tandemctl: %s: %s %s: %s\n", what, method, path, msg);
    if (resp->http_status == 0) {
        fprintf(stderr, "tandemctl: is the gateway running, and TANDEM_URL (--url) right?\n");
    } else if (resp->http_status == 501) {
        fprintf(stderr, "tandemctl: the server does not implement this call: is every Tandem "
                        "service deployed and up to date?\n");
    }
}

char *ctl_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

int ctl_list_all(ctl_client *c, const char *path, const char *field, json_t **items,
                 ctl_response *resp)
{
    *items = json_array();
    char *token = NULL;
    int outcome = CTL_EXIT_OK;
    for (;;) {
        char *escaped = ctl_escape(token != NULL ? token : "");
        size_t len = strlen(path) + (escaped != NULL ? strlen(escaped) : 0) + 64;
        char *page_path = malloc(len);
        if (escaped == NULL || page_path == NULL) {
            free(escaped);
            free(page_path);
            memset(resp, 0, sizeof *resp);
            snprintf(resp->error, sizeof resp->error, "out of memory");
            outcome = CTL_EXIT_CONNECTION;
            break;
        }
        snprintf(page_path, len, "%s%spageSize=500%s%s", path, strchr(path, '?') ? "&" : "?",
                 escaped[0] ? "&pageToken=" : "", escaped);
        free(escaped);
        outcome = ctl_call(c, "GET", page_path, NULL, NULL, resp);
        free(page_path);
        if (outcome != CTL_EXIT_OK) {
            break;
        }
        json_array_extend(*items, json_object_get(resp->body, field));
        const char *next = json_string_value(json_object_get(resp->body, "nextPageToken"));
        free(token);
        token = next != NULL && next[0] ? strdup(next) : NULL;
        ctl_response_free(resp);
        if (token == NULL) {
            break;
        }
    }
    free(token);
    return outcome;
}

void ctl_random_token(char out[33])
{
    unsigned char raw[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
    if (fd >= 0) {
        close(fd);
    }
    if (got != (ssize_t)sizeof raw) {
        /* No /dev/urandom: time and pid still make the key unique per invocation. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long mix = (unsigned long long)ts.tv_nsec ^
                                 ((unsigned long long)ts.tv_sec << 20) ^
                                 ((unsigned long long)getpid() << 40);
        for (size_t i = 0; i < sizeof raw; i++) {
            raw[i] = (unsigned char)(mix >> ((i % 8) * 8)) ^ (unsigned char)(i * 37);
        }
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}
