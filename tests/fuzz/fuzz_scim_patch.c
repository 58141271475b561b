/*
 * fuzz_scim_patch.c - SCIM PATCH requests (services/gateway/scim_patch.c) applied to a
 * User, as an identity provider or anyone holding a `scim` key sends them.
 *
 * Asserts: any JSON request is applied or refused without fault or leak (ASan, LSan);
 * a refusal says why (status 400, a scimType, a detail) and leaves the resource as it
 * was; an accepted request leaves an object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/gateway/scim_patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    json_t *request = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (request == NULL)
        return 0;
    json_t *user = json_loads(
        "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u1\","
        "\"userName\":\"ada\",\"active\":true,\"name\":{\"givenName\":\"Ada\"},"
        "\"emails\":[{\"type\":\"work\",\"value\":\"a@b.example\",\"primary\":true},\"loose\"],"
        "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":\"C\"}}",
        0, NULL);
    json_t *before = json_deep_copy(user);
    tdm_arena *a = tdm_arena_new(0);
    if (user == NULL || before == NULL || a == NULL)
        abort();
    scim_error err = {0};
    if (scim_patch_apply(a, user, request, &err) != 0) {
        if (err.status != 400 || err.scim_type == NULL || err.detail == NULL ||
            !json_equal(user, before))
            abort();
    } else if (!json_is_object(user)) {
        abort();
    }
    tdm_arena_free(a);
    json_decref(before);
    json_decref(user);
    json_decref(request);
    return 0;
}
