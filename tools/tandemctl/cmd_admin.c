/*
 * cmd_admin.c - `tandemctl tenants|keys|programmes`: TenantService and the programme
 * half of EnrolmentService, one REST call each (lists follow every page).
 */
#include "ctl.h"
#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJECTIVES        20
#define MAX_SCOPES            16
#define MAX_PROGRAMME_FILE    (4u * 1024u * 1024u)
#define PROGRAMME_USAGE_NAMES "programmes create|list|show ID|set-status ID STATUS"

const char *ctl_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* POST/GET helper: on success prints the JSON (--json) or nothing and hands the body
 * over in *out (may be NULL); on failure prints the error. Returns an exit code. */
int ctl_rest(ctl *c, const char *what, const char *method, const char *path, json_t *body,
             const char *idem, json_t **out)
{
    ctl_response resp;
    int rc = ctl_call(&c->client, method, path, body, idem, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error(what, method, path, &resp);
    } else if (out != NULL) {
        *out = json_incref(resp.body);
    }
    ctl_response_free(&resp);
    return rc;
}

static int list(ctl *c, const char *what, const char *path, const char *field, json_t **items)
{
    ctl_response resp;
    int rc = ctl_list_all(&c->client, path, field, items, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error(what, "GET", path, &resp);
        json_decref(*items);
        *items = NULL;
    }
    ctl_response_free(&resp);
    return rc;
}

/* --json prints {"<field>": [...]}: the shape of one List answer, all pages in one. */
static void print_list_json(const char *field, json_t *items)
{
    json_t *doc = json_pack("{sO}", field, items);
    out_json(doc);
    json_decref(doc);
}

/* GET every page of path and print the items: {"<field>": [...]} with --json,
 * otherwise a table of columns with one row() per item. */
int ctl_list_and_print(ctl *c, const char *what, const char *path, const char *field,
                       const char *columns, void (*row)(out_table *t, json_t *item))
{
    json_t *items = NULL;
    int rc = list(c, what, path, field, &items);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        print_list_json(field, items);
    } else {
        out_table t;
        out_table_init(&t, columns);
        size_t i;
        json_t *x;
        json_array_foreach(items, i, x)
        {
            row(&t, x);
        }
        out_table_print(&t, stdout);
        out_table_free(&t);
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

/* ---- tenants --------------------------------------------------------------------- */

static int tenants_create(ctl *c)
{
    const char *name = ctl_opt(c, "name");
    const char *slug = ctl_opt(c, "slug");
    int rc = ctl_done_args(c, 2, 2, "tenants create --name NAME --slug SLUG");
    if (rc != 0) {
        return rc;
    }
    if (name == NULL || slug == NULL) {
        return ctl_usage_error("tenants create needs --name and --slug");
    }
    char idem[33];
    ctl_random_token(idem);
    json_t *body = json_pack("{ssss}", "name", name, "slug", slug);
    json_t *tenant = NULL;
    rc = ctl_rest(c, "create tenant", "POST", "/v1/tenants", body, idem, &tenant);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(tenant);
        } else {
            printf("Created tenant %s (%s): %s\n", ctl_str(tenant, "name"), ctl_str(tenant, "slug"),
                   ctl_str(tenant, "id"));
        }
    }
    json_decref(tenant);
    return rc;
}

static void tenant_row(out_table *t, json_t *x)
{
    const char *cells[] = {ctl_str(x, "id"), ctl_str(x, "slug"), ctl_str(x, "name"),
                           ctl_str(x, "createTime")};
    out_table_row(t, cells);
}

static int tenants_list(ctl *c)
{
    int rc = ctl_done_args(c, 2, 2, "tenants list");
    if (rc != 0) {
        return rc;
    }
    return ctl_list_and_print(c, "list tenants", "/v1/tenants", "tenants", "ID|Slug|Name|Created",
                              tenant_row);
}

int cmd_tenants(ctl *c)
{
    const char *verb = c->n_words > 1 ? c->words[1] : "";
    if (strcmp(verb, "create") == 0) {
        return tenants_create(c);
    }
    if (strcmp(verb, "list") == 0) {
        return tenants_list(c);
    }
    return ctl_usage_error("usage: tandemctl tenants create|list");
}

/* ---- keys ------------------------------------------------------------------------ */

static const char *tenant_word(ctl *c)
{
    return c->n_words > 2 ? c->words[2] : c->client.tenant;
}

static int keys_create(ctl *c)
{
    const char *usage = "keys create TENANT_ID --name NAME [--scopes a,b] [--kind TENANT]";
    const char *name = ctl_opt(c, "name");
    const char *scopes = ctl_opt(c, "scopes");
    const char *kind = ctl_opt(c, "kind");
    long rps = 0, burst = 0;
    int rc = ctl_opt_long(c, "rps", 1, 1000000, &rps);
    if (rc == 0) {
        rc = ctl_opt_long(c, "burst", 1, 1000000, &burst);
    }
    if (rc == 0) {
        rc = ctl_done_args(c, 2, 3, usage);
    }
    if (rc != 0) {
        return rc;
    }
    const char *tenant = tenant_word(c);
    if (tenant == NULL || name == NULL) {
        return ctl_usage_error("usage: tandemctl %s", usage);
    }
    json_t *body = json_pack("{ss}", "displayName", name);
    json_t *list_scopes = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", scopes != NULL ? scopes : "admin");
    char *save = NULL;
    for (char *s = strtok_r(buf, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
        json_array_append_new(list_scopes, json_string(s));
    }
    json_object_set_new(body, "scopes", list_scopes);
    if (kind != NULL) {
        json_object_set_new(body, "kind", json_string(kind));
    }
    if (rps > 0 || burst > 0) {
        json_t *rl = json_object();
        if (rps > 0) {
            json_object_set_new(rl, "requestsPerSecond", json_integer(rps));
        }
        if (burst > 0) {
            json_object_set_new(rl, "burst", json_integer(burst));
        }
        json_object_set_new(body, "rateLimit", rl);
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/tenants/%s/apiKeys", tenant);
    char idem[33];
    ctl_random_token(idem);
    json_t *key = NULL;
    rc = ctl_rest(c, "create API key", "POST", path, body, idem, &key);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(key);
        } else {
            printf("Created API key %s (%s) for tenant %s.\n", ctl_str(key, "id"),
                   ctl_str(key, "displayName"), ctl_str(key, "tenantId"));
            printf("Secret (shown once, keep it safe):\n%s\n", ctl_str(key, "secret"));
        }
    }
    json_decref(key);
    return rc;
}

static void join_strings(const json_t *arr, char *buf, size_t size)
{
    size_t n = 0, i;
    json_t *x;
    buf[0] = '\0';
    json_array_foreach(arr, i, x)
    {
        if (n < size) {
            n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "",
                                  json_string_value(x) != NULL ? json_string_value(x) : "");
        }
    }
}

static void key_row(out_table *t, json_t *x)
{
    char scopes[256];
    join_strings(json_object_get(x, "scopes"), scopes, sizeof scopes);
    const char *cells[] = {
        ctl_str(x, "id"),           ctl_str(x, "displayName"),  ctl_str(x, "kind"),      scopes,
        ctl_str(x, "secretPrefix"), ctl_str(x, "lastUsedTime"), ctl_str(x, "revokeTime")};
    out_table_row(t, cells);
}

static int keys_list(ctl *c)
{
    int show_revoked = ctl_flag(c, "show-revoked");
    int rc = ctl_done_args(c, 2, 3, "keys list TENANT_ID [--show-revoked]");
    if (rc != 0) {
        return rc;
    }
    const char *tenant = tenant_word(c);
    if (tenant == NULL) {
        return ctl_usage_error("usage: tandemctl keys list TENANT_ID");
    }
    char path[CTL_MAX_PATH];
    ctl_path(path,
             show_revoked ? "/v1/tenants/%s/apiKeys?showRevoked=true" : "/v1/tenants/%s/apiKeys",
             tenant);
    return ctl_list_and_print(c, "list API keys", path, "apiKeys",
                              "ID|Name|Kind|Scopes|Prefix|Last used|Revoked", key_row);
}

static int keys_revoke(ctl *c)
{
    int rc = ctl_done_args(c, 3, 3, "keys revoke KEY_ID");
    if (rc != 0) {
        return rc;
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/apiKeys/%s:revoke", c->words[2]);
    json_t *body = json_object();
    json_t *key = NULL;
    rc = ctl_rest(c, "revoke API key", "POST", path, body, NULL, &key);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(key);
        } else {
            printf("Revoked API key %s (%s) at %s.\n", ctl_str(key, "id"),
                   ctl_str(key, "displayName"), ctl_str(key, "revokeTime"));
        }
    }
    json_decref(key);
    return rc;
}

int cmd_keys(ctl *c)
{
    const char *verb = c->n_words > 1 ? c->words[1] : "";
    if (strcmp(verb, "create") == 0) {
        return keys_create(c);
    }
    if (strcmp(verb, "list") == 0) {
        return keys_list(c);
    }
    if (strcmp(verb, "revoke") == 0) {
        return keys_revoke(c);
    }
    return ctl_usage_error("usage: tandemctl keys create|list|revoke");
}

/* ---- programmes ------------------------------------------------------------------ */

/* The programme body from --file and the options (options win). */
static int programme_body(ctl *c, json_t **out)
{
    const char *file = ctl_opt(c, "file");
    json_t *p = NULL;
    if (file != NULL) {
        size_t len = 0;
        char *data = ctl_read_file(file, MAX_PROGRAMME_FILE, &len);
        if (data == NULL) {
            return CTL_EXIT_USAGE;
        }
        json_error_t jerr;
        p = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        free(data);
        if (!json_is_object(p)) {
            json_decref(p);
            return ctl_usage_error("%s: line %d: %s", file, jerr.line,
                                   p == NULL ? jerr.text : "expected a Programme object");
        }
    } else {
        p = json_object();
    }
    static const struct {
        const char *option, *field;
    } text[] = {{"name", "name"},     {"kind", "kind"},       {"description", "description"},
                {"status", "status"}, {"start", "startDate"}, {"end", "endDate"}};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        const char *v = ctl_opt(c, text[i].option);
        if (v != NULL) {
            json_object_set_new(p, text[i].field, json_string(v));
        }
    }
    long cadence = 0, threshold = 0;
    if (ctl_opt_long(c, "cadence", 1, 365, &cadence) != 0 ||
        ctl_opt_long(c, "anonymity-threshold", 1, 1000, &threshold) != 0) {
        json_decref(p);
        return CTL_EXIT_USAGE;
    }
    if (cadence > 0) {
        json_object_set_new(p, "checkInCadenceDays", json_integer(cadence));
    }
    if (threshold > 0) {
        json_object_set_new(p, "anonymityThreshold", json_integer(threshold));
    }
    const char *objectives[MAX_OBJECTIVES];
    size_t n = ctl_opt_all(c, "objective", objectives, MAX_OBJECTIVES);
    if (n > 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            const char *eq = strchr(objectives[i], '=');
            if (eq == NULL || eq == objectives[i] || eq[1] == '\0') {
                json_decref(arr);
                json_decref(p);
                return ctl_usage_error("--objective: write KEY=TITLE, not \"%s\"", objectives[i]);
            }
            json_t *o = json_object();
            json_object_set_new(o, "key",
                                json_stringn(objectives[i], (size_t)(eq - objectives[i])));
            json_object_set_new(o, "title", json_string(eq + 1));
            json_array_append_new(arr, o);
        }
        json_object_set_new(p, "objectives", arr);
    }
    if (!json_is_string(json_object_get(p, "kind"))) {
        json_object_set_new(p, "kind", json_string("REVERSE"));
    }
    *out = p;
    return 0;
}

void ctl_print_programme(const json_t *p)
{
    printf("Programme %s\n", ctl_str(p, "id"));
    printf("  name        %s\n", ctl_str(p, "name"));
    if (ctl_str(p, "description")[0]) {
        printf("  description %s\n", ctl_str(p, "description"));
    }
    printf("  kind        %s\n", ctl_str(p, "kind"));
    printf("  status      %s\n", ctl_str(p, "status"));
    json_t *from = json_object_get(p, "template");
    if (json_is_object(from)) {
        printf("  template    %s, version %lld\n", ctl_str(from, "id"),
               json_integer_value(json_object_get(from, "version")));
    }
    if (ctl_str(p, "startDate")[0] || ctl_str(p, "endDate")[0]) {
        printf("  dates       %s to %s\n", ctl_str(p, "startDate"), ctl_str(p, "endDate"));
    }
    json_t *cadence = json_object_get(p, "checkInCadenceDays");
    if (json_is_integer(cadence)) {
        printf("  check-ins   every %lld days\n", json_integer_value(cadence));
    }
    json_t *mentors = json_object_get(p, "mentorCount");
    json_t *mentees = json_object_get(p, "menteeCount");
    printf("  enrolled    %lld mentors, %lld mentees\n", json_integer_value(mentors),
           json_integer_value(mentees));
    json_t *objectives = json_object_get(p, "objectives");
    if (json_array_size(objectives) > 0) {
        printf("  objectives\n");
        size_t i;
        json_t *o;
        json_array_foreach(objectives, i, o)
        {
            printf("    %-22s %s\n", ctl_str(o, "key"), ctl_str(o, "title"));
        }
    }
}

static int programmes_create(ctl *c)
{
    const char *template_id = ctl_opt(c, "from-template");
    if (template_id != NULL) {
        return ctl_programmes_from_template(c, template_id);
    }
    json_t *body = NULL;
    int rc = programme_body(c, &body);
    if (rc != 0) {
        return rc;
    }
    rc = ctl_done_args(c, 2, 2,
                       "programmes create --name NAME [--kind KIND] [--objective KEY=TITLE]...");
    if (rc == 0 && !json_is_string(json_object_get(body, "name"))) {
        rc = ctl_usage_error("programmes create needs --name (or a name in --file)");
    }
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    char idem[33];
    ctl_random_token(idem);
    json_t *p = NULL;
    rc = ctl_rest(c, "create programme", "POST", "/v1/programmes", body, idem, &p);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(p);
        } else {
            ctl_print_programme(p);
        }
    }
    json_decref(p);
    return rc;
}

static void programme_row(out_table *t, json_t *x)
{
    out_table_rowf(t, "%s|%s|%s|%s|%lld|%lld", ctl_str(x, "id"), ctl_str(x, "name"),
                   ctl_str(x, "kind"), ctl_str(x, "status"),
                   json_integer_value(json_object_get(x, "mentorCount")),
                   json_integer_value(json_object_get(x, "menteeCount")));
}

static int programmes_list(ctl *c)
{
    int rc = ctl_done_args(c, 2, 2, "programmes list");
    if (rc != 0) {
        return rc;
    }
    return ctl_list_and_print(c, "list programmes", "/v1/programmes", "programmes",
                              "ID|Name|Kind|Status|>Mentors|>Mentees", programme_row);
}

static int programmes_show(ctl *c)
{
    int rc = ctl_done_args(c, 3, 3, "programmes show ID");
    if (rc != 0) {
        return rc;
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s", c->words[2]);
    json_t *p = NULL;
    rc = ctl_rest(c, "show programme", "GET", path, NULL, NULL, &p);
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(p);
        } else {
            ctl_print_programme(p);
        }
    }
    json_decref(p);
    return rc;
}

static int programmes_set_status(ctl *c)
{
    int rc = ctl_done_args(c, 4, 4, "programmes set-status ID STATUS");
    if (rc != 0) {
        return rc;
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s?updateMask=status", c->words[2]);
    json_t *body = json_pack("{ss}", "status", c->words[3]);
    json_t *p = NULL;
    rc = ctl_rest(c, "update programme", "PATCH", path, body, NULL, &p);
    json_decref(body);
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(p);
        } else {
            printf("Programme %s is now %s.\n", ctl_str(p, "id"), ctl_str(p, "status"));
        }
    }
    json_decref(p);
    return rc;
}

int cmd_programmes(ctl *c)
{
    const char *verb = c->n_words > 1 ? c->words[1] : "";
    if (strcmp(verb, "create") == 0) {
        return programmes_create(c);
    }
    if (strcmp(verb, "list") == 0) {
        return programmes_list(c);
    }
    if (strcmp(verb, "show") == 0) {
        return programmes_show(c);
    }
    if (strcmp(verb, "set-status") == 0) {
        return programmes_set_status(c);
    }
    return ctl_usage_error("usage: tandemctl " PROGRAMME_USAGE_NAMES);
}
