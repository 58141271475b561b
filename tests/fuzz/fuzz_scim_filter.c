/*
 * fuzz_scim_filter.c - SCIM filters and PATCH paths (services/gateway/scim_filter.c),
 * which identity providers and anyone holding a `scim` key send.
 *
 * The first byte chooses filter or PATCH path; the rest is the text. Asserts: parsing
 * never reads outside the input or recurses without bound (ASan, the stack), refuses
 * with a message or accepts, never both; an accepted filter is matched against a
 * resource with every kind of value (objects, arrays of objects and of strings,
 * numbers, booleans, null, an extension) without fault.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/gateway/scim_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *resource(void)
{
    static json_t *r;
    if (r == NULL) {
        r = json_loads(
            "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u1\","
            "\"userName\":\"ada\",\"active\":true,\"nickName\":null,\"yearsQualified\":4.5,"
            "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"L\"},"
            "\"emails\":[{\"type\":\"work\",\"value\":\"a@b.example\",\"primary\":true},"
            "\"loose\",3,[1]],\"meta\":{\"version\":\"W/\\\"1\\\"\"},"
            "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
            "{\"department\":\"Corporate\",\"manager\":{\"value\":\"u2\"}}}",
            0, NULL);
        if (r == NULL)
            abort();
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tdm_arena *a = tdm_arena_new(0);
    if (a == NULL)
        abort();
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *err = NULL;
    if (data[0] & 1) {
        scim_patch_path p;
        int rc = scim_patch_path_parse(a, text, len, &p, &err);
        if ((rc == 0) == (err != NULL) || (rc == 0 && p.attr.name == NULL))
            abort();
        if (rc == 0 && p.value_filter != NULL)
            (void)scim_filter_match(p.value_filter, resource());
    } else {
        const scim_filter *f = scim_filter_parse(a, text, len, &err);
        if ((f != NULL) == (err != NULL))
            abort();
        if (f != NULL)
            (void)scim_filter_match(f, resource());
    }
    tdm_arena_free(a);
    return 0;
}
