/*
 * webhook_util.c - the pure parts of webhooks: signing secrets (generated, sealed at
 * rest with AES-256-GCM, opened to sign), Tandem-Signature, the URL rules and the
 * address rules that keep deliveries off internal networks (SSRF), and the retry
 * schedule. No I/O here, so every rule is checked the same way at registration and
 * at delivery time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tandem/log.h"
#include "webhook.h"

#define SECRET_RANDOM_BYTES 32
#define SEAL_VERSION_PLAIN  0
#define SEAL_VERSION_GCM    1
#define GCM_NONCE_BYTES     12
#define GCM_TAG_BYTES       16
#define RETRY_CAP_MS        3600000

const char *const GW_WEBHOOK_EVENT_NAMES[GW_WEBHOOK_EVENTS_MAX] = {
    "participant.enrolled", "participant.withdrawn", "matching_run.completed",
    "match.proposed",       "match.accepted",        "match.declined",
    "match.ended",          "check_in.recorded",     "match.at_risk",
    "participant.updated",  "survey.opened",
};

static uint8_t SEALING_KEY[32], PREVIOUS_KEY[32];
static bool SEALING_KEY_SET, PREVIOUS_KEY_SET;

/* ---- hex (bytea columns travel as text) ------------------------------------------------ */

static int hex_nibble(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

char *gw_hex_encode(tdm_arena *a, const uint8_t *p, size_t n)
{
    static const char HEX[] = "0123456789abcdef";
    char *s = tdm_arena_alloc(a, 2 * n + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = HEX[p[i] >> 4];
        s[2 * i + 1] = HEX[p[i] & 0xF];
    }
    s[2 * n] = '\0';
    return s;
}

uint8_t *gw_hex_decode(tdm_arena *a, const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    if (strlen(hex) % 2 != 0)
        return NULL;
    uint8_t *out = tdm_arena_alloc(a, n + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return NULL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n;
    return out;
}

/* ---- signing secrets ------------------------------------------------------------------- */

int gw_webhook_secret_generate(char *out, size_t out_size)
{
    if (out_size < GW_WEBHOOK_SECRET_LEN + 1)
        return -1;
    uint8_t raw[SECRET_RANDOM_BYTES];
    unsigned char b64[48];
    if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
        return -1;
    int n = EVP_EncodeBlock(b64, raw, (int)sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    while (n > 0 && b64[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    snprintf(out, out_size, "%s%.*s", GW_WEBHOOK_SECRET_PREFIX, n, (const char *)b64);
    OPENSSL_cleanse(b64, sizeof(b64));
    return strlen(out) == GW_WEBHOOK_SECRET_LEN ? 0 : -1;
}

void gw_webhook_sealing_key_load(const char *k, const char *previous)
{
    /* Their lengths (and previous only with k) are checked by tdm_config_load. */
    SEALING_KEY_SET = k != NULL && k[0] != '\0';
    PREVIOUS_KEY_SET = SEALING_KEY_SET && previous != NULL && previous[0] != '\0';
    if (SEALING_KEY_SET)
        SHA256((const unsigned char *)k, strlen(k), SEALING_KEY);
    else
        tdm_log(TDM_LOG_WARN, NULL,
                "TANDEM_WEBHOOK_SECRET_KEY is not set (16+ characters): webhook signing secrets "
                "are stored unencrypted in gateway.webhooks");
    if (PREVIOUS_KEY_SET)
        SHA256((const unsigned char *)previous, strlen(previous), PREVIOUS_KEY);
}

bool gw_webhook_sealing_key_set(void)
{
    return SEALING_KEY_SET;
}

int gw_webhook_secret_seal(const char *aad, const char *secret, uint8_t *out, size_t *out_len)
{
    size_t n = strlen(secret);
    if (n > GW_WEBHOOK_SECRET_LEN)
        return -1;
    if (!SEALING_KEY_SET) {
        out[0] = SEAL_VERSION_PLAIN;
        memcpy(out + 1, secret, n);
        *out_len = 1 + n;
        return 0;
    }
    int rc = -1, len = 0;
    out[0] = SEAL_VERSION_GCM;
    uint8_t *nonce = out + 1, *ct = out + 1 + GCM_NONCE_BYTES;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || RAND_bytes(nonce, GCM_NONCE_BYTES) != 1)
        goto done;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, SEALING_KEY, nonce) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)secret, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, ct + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_BYTES, ct + n) != 1)
        goto done;
    *out_len = 1 + GCM_NONCE_BYTES + n + GCM_TAG_BYTES;
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

static int gcm_open(const uint8_t key[32], const char *aad, const uint8_t *sealed, size_t len,
                    char *out, size_t out_size)
{
    size_t n = len - 1 - GCM_NONCE_BYTES - GCM_TAG_BYTES;
    const uint8_t *nonce = sealed + 1, *ct = sealed + 1 + GCM_NONCE_BYTES;
    int rc = -1, outl = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        goto done;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &outl, ct, (int)n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_BYTES, (void *)(ct + n)) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + outl, &outl) != 1) {
        OPENSSL_cleanse(out, out_size);
        goto done;
    }
    out[n] = '\0';
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int gw_webhook_secret_open(const char *aad, const uint8_t *sealed, size_t len, char *out,
                           size_t out_size, bool *stale)
{
    if (stale != NULL)
        *stale = false;
    if (len < 1 || out_size < GW_WEBHOOK_SECRET_LEN + 1)
        return -1;
    if (sealed[0] == SEAL_VERSION_PLAIN) {
        if (len - 1 > GW_WEBHOOK_SECRET_LEN)
            return -1;
        memcpy(out, sealed + 1, len - 1);
        out[len - 1] = '\0';
        if (stale != NULL)
            *stale = SEALING_KEY_SET; /* stored before a key was configured */
        return 0;
    }
    if (sealed[0] != SEAL_VERSION_GCM || !SEALING_KEY_SET ||
        len < 1 + GCM_NONCE_BYTES + GCM_TAG_BYTES ||
        len - 1 - GCM_NONCE_BYTES - GCM_TAG_BYTES > GW_WEBHOOK_SECRET_LEN)
        return -1;
    if (gcm_open(SEALING_KEY, aad, sealed, len, out, out_size) == 0)
        return 0;
    if (!PREVIOUS_KEY_SET || gcm_open(PREVIOUS_KEY, aad, sealed, len, out, out_size) != 0)
        return -1;
    if (stale != NULL)
        *stale = true; /* sealed under the key being rotated out */
    return 0;
}

int gw_webhook_signature(const char *secret, int64_t t, const char *body, size_t len, char *out,
                         size_t out_size)
{
    char prefix[32];
    int np = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *h = mac_alg != NULL ? EVP_MAC_CTX_new(mac_alg) : NULL;
    int ok = h != NULL &&
             EVP_MAC_init(h, (const unsigned char *)secret, strlen(secret), params) == 1 &&
             EVP_MAC_update(h, (const unsigned char *)prefix, (size_t)np) == 1 &&
             EVP_MAC_update(h, (const unsigned char *)body, len) == 1 &&
             EVP_MAC_final(h, mac, &mac_len, sizeof(mac)) == 1;
    EVP_MAC_CTX_free(h);
    EVP_MAC_free(mac_alg);
    if (!ok || out_size < 96)
        return -1;
    int off = snprintf(out, out_size, "t=%lld,v1=", (long long)t);
    for (size_t i = 0; i < mac_len; i++)
        off += snprintf(out + off, out_size - (size_t)off, "%02x", mac[i]);
    return 0;
}

/* ---- addresses ---------------------------------------------------------------------------- */

static bool v4_public(uint32_t a) /* host byte order */
{
    uint8_t b0 = a >> 24, b1 = (a >> 16) & 0xFF, b2 = (a >> 8) & 0xFF;
    if (b0 == 0 || b0 == 10 || b0 == 127 || b0 >= 224) /* this net, private, loopback, D/E */
        return false;
    if (b0 == 100 && (b1 & 0xC0) == 64) /* 100.64/10 shared (carrier NAT) */
        return false;
    if (b0 == 169 && b1 == 254) /* link-local, cloud metadata */
        return false;
    if (b0 == 172 && (b1 & 0xF0) == 16) /* 172.16/12 */
        return false;
    if (b0 == 192 && b1 == 168) /* 192.168/16 */
        return false;
    if (b0 == 192 && b1 == 0 && (b2 == 0 || b2 == 2)) /* IETF protocol, TEST-NET-1 */
        return false;
    if (b0 == 198 && (b1 & 0xFE) == 18) /* 198.18/15 benchmarking */
        return false;
    if ((b0 == 198 && b1 == 51 && b2 == 100) || (b0 == 203 && b1 == 0 && b2 == 113))
        return false; /* TEST-NET-2, -3 */
    return true;
}

static uint32_t v4_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool v6_public(const uint8_t *a)
{
    static const uint8_t ZERO[10] = {0};
    if (memcmp(a, ZERO, 10) == 0) {
        if (a[10] == 0xFF && a[11] == 0xFF) /* ::ffff:a.b.c.d */
            return v4_public(v4_at(a + 12));
        if (a[10] == 0 && a[11] == 0) /* ::, ::1 and deprecated IPv4-compatible */
            return false;
    }
    if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B) /* 64:ff9b::/96 NAT64 */
        return v4_public(v4_at(a + 12));
    if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16 6to4 */
        return v4_public(v4_at(a + 2));
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8) /* documentation */
        return false;
    if ((a[0] & 0xFE) == 0xFC) /* fc00::/7 unique local */
        return false;
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) /* fe80::/10 link-local */
        return false;
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) /* fec0::/10 site-local (deprecated) */
        return false;
    if (a[0] == 0xFF) /* multicast */
        return false;
    return true;
}

bool gw_webhook_addr_public(const struct sockaddr *sa)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_public(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return v6_public(in6->sin6_addr.s6_addr);
    }
    return false;
}

bool gw_webhook_literal(const char *host, bool *is_public)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        *is_public = v4_public(ntohl(a4.s_addr));
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        *is_public = v6_public(a6.s6_addr);
        return true;
    }
    return false;
}

/* ---- URLs ------------------------------------------------------------------------------------ */

static tdm_status *url_invalid(const char *why)
{
    tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT, "url: %s", why);
    return tdm_status_add_violation(st, "url", "%s", why);
}

tdm_status *gw_webhook_url_check(tdm_arena *a, const char *url, bool allow_private,
                                 const char **host)
{
    size_t n = url != NULL ? strlen(url) : 0;
    if (n == 0)
        return url_invalid("required");
    if (n > GW_WEBHOOK_URL_MAX)
        return url_invalid("must be at most 2048 characters");
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7F)
            return url_invalid("must be an absolute URL without spaces or control characters");
    }
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL;
    tdm_status *st = NULL;
    if (u == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0') {
        st = url_invalid("must be an absolute http(s) URL with a host");
        goto done;
    }
    if (strcmp(scheme, "https") != 0 && !(allow_private && strcmp(scheme, "http") == 0)) {
        st = url_invalid(allow_private ? "must be an http or https URL" : "must be an https URL");
        goto done;
    }
    size_t hl = strlen(h);
    if (h[0] == '[' && hl > 2)
        *host = tdm_arena_strndup(a, h + 1, hl - 2);
    else
        *host = tdm_arena_strdup(a, h);
    if (*host == NULL)
        st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
done:
    curl_free(scheme);
    curl_free(h);
    curl_url_cleanup(u);
    return st;
}

int64_t gw_webhook_retry_delay_ms(int attempts, int64_t base_ms)
{
    int64_t d = base_ms;
    for (int i = 1; i < attempts && d < RETRY_CAP_MS; i++)
        d *= 2;
    if (d > RETRY_CAP_MS)
        d = RETRY_CAP_MS;
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)rand();
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(r % (uint32_t)(half + 1)) : 0);
}
