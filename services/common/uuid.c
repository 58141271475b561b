/*
 * uuid.c - new random UUIDs (see tandem/uuid.h).
 */
#include "tandem/uuid.h"

#include <limits.h>
#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "tandem/check.h"

void tdm_uuid_random(uint8_t (*out)[16], size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t take = n - done;
        if (take > INT_MAX / 16)
            take = INT_MAX / 16;
        if (RAND_bytes(out[done], (int)(take * 16)) != 1)
            break;
        done += take;
    }
    for (size_t i = 0; i < n; i++) {
        if (i >= done)
            uuid_generate_random(out[i]); /* the CSPRNG failed: libuuid's own source */
        out[i][6] = (uint8_t)((out[i][6] & 0x0f) | 0x40); /* version 4 */
        out[i][8] = (uint8_t)((out[i][8] & 0x3f) | 0x80); /* the RFC's variant */
    }
}

void tdm_uuid_text(char out[37])
{
    uint8_t u[1][16];
    tdm_uuid_random(u, 1);
    uuid_unparse_lower(u[0], out);
}

bool tdm_uuid_parse(const char *s, uint8_t out[16])
{
    if (!tdm_uuid_valid(s))
        return false;
    for (int i = 0; i < 16; i++) {
        while (*s == '-')
            s++;
        out[i] = (uint8_t)(tdm_hex_digit(s[0]) << 4 | tdm_hex_digit(s[1]));
        s += 2;
    }
    return true;
}
