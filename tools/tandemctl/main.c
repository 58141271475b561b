/*
 * main.c - tandemctl: the command line, the help text (with the exit codes scripts
 * rely on), the environment (TANDEM_URL, TANDEM_KEY, TANDEM_TENANT) and dispatch.
 */
#include "ctl.h"
#include "rows.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_URL       "http://127.0.0.1:8080"
#define DEFAULT_TIMEOUT_S 120
#define MAX_URL_BYTES     1024

static const char HELP[] =
    "tandemctl - command-line client of the Tandem REST API\n"
    "\n"
    "Usage: tandemctl [options] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  tenants create --name NAME --slug SLUG     create a tenant (platform key)\n"
    "  tenants list                               list tenants (platform key)\n"
    "  keys create TENANT_ID --name NAME [--scopes admin,enrolment:read,...,scim]\n"
    "              [--kind TENANT|PLATFORM] [--rps N --burst N]\n"
    "                                             create an API key; its secret is shown once\n"
    "  keys list TENANT_ID [--show-revoked]       list a tenant's API keys\n"
    "  keys revoke KEY_ID                         revoke an API key\n"
    "  programmes create --name NAME [--kind REVERSE|TRADITIONAL|PEER]\n"
    "              [--description TEXT] [--objective KEY=TITLE]... [--status STATUS]\n"
    "              [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--cadence DAYS]\n"
    "              [--anonymity-threshold N] [--file PROGRAMME.json]\n"
    "  programmes create --from-template TEMPLATE_ID --name NAME [--start YYYY-MM-DD]\n"
    "              [--end YYYY-MM-DD] [--version N] [--overrides PROGRAMME.json --mask a,b]\n"
    "                                             a programme from a template version\n"
    "  programmes list                            list programmes\n"
    "  programmes show ID                         one programme\n"
    "  programmes set-status ID STATUS            move a programme forward (ENROLLING, ...)\n"
    "  templates create --file TEMPLATE.json [--name NAME]\n"
    "                                             create a programme template (platform key)\n"
    "  templates list                             list templates, each at its latest version\n"
    "  templates show ID [--version N]            one template (default: its latest version)\n"
    "  templates update ID --file CHANGES.json [--mask a,b]\n"
    "                                             a new version with the masked fields changed\n"
    "  participants import PROGRAMME FILE.csv|FILE.json [--chunk N] [--format csv|json]\n"
    "                                             bulk enrolment (BatchEnrol, <= 10,000 rows\n"
    "                                             a call); every refused row is reported\n"
    "  participants list PROGRAMME [--role MENTOR|MENTEE] [--status STATUS]\n"
    "  participants token PARTICIPANT_ID [--ttl SECONDS]   a participant token (stdout)\n"
    "  match run PROGRAMME [--algorithm OPTIMAL|STABLE|GREEDY] [--scope ALL|UNMATCHED]\n"
    "            [--dry-run] [--approve] [--wait SECONDS] [--pairs N]\n"
    "                                             run matching, follow it live, show pairs\n"
    "  match approve RUN_ID                       approve a run: proposals become matches\n"
    "  report PROGRAMME                           the programme report as tables\n"
    "  usage [--month YYYY-MM] [--tenant TENANT_ID] [--csv]\n"
    "                                             what each tenant used in a month (default:\n"
    "                                             this one, UTC): participants, matches,\n"
    "                                             check-ins, API calls; --csv for invoicing\n"
    "  benchmark TEMPLATE|PROGRAMME               a template's cross-firm benchmark (platform\n"
    "                                             key), or a programme beside its template's\n"
    "                                             benchmark (the tenant's own figures)\n"
    "  demo [--seed S] [--count N]                a law firm's reverse-mentoring programme,\n"
    "                                             from enrolment to report, on this server\n"
    "  demo consultancy [--seed S]                one template run at six firms of different\n"
    "                                             sizes and cultures, side by side (platform key)\n"
    "  demo generate --count N [--seed S]         write N generated people as a BatchEnrol\n"
    "                                             body ({\"participants\": [...]}) on stdout\n"
    "\n"
    "Options (anywhere on the line):\n"
    "  --url URL        the gateway (TANDEM_URL; default " DEFAULT_URL ")\n"
    "  --key KEY        API key (TANDEM_KEY)\n"
    "  --tenant ID      X-Tandem-Tenant: the tenant a platform key acts for (TANDEM_TENANT)\n"
    "  --json           machine-readable JSON on stdout (errors stay on stderr)\n"
    "  --timeout S      per-request timeout in seconds (default 120)\n"
    "  --no-progress    no progress bars (they are drawn only on a terminal anyway)\n"
    "  -h, --help       this text\n"
    "\n"
    "CSV files have a header row naming their columns:\n" ROWS_CSV_COLUMNS_HELP "\n"
    "Lists are written a;b;c and skills name:level;name:level (level 1-5).\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  API error: the server refused the request (HTTP status and message on stderr)\n"
    "  2  usage error: bad arguments, or an input file that cannot be read or parsed\n"
    "  3  connection failure: no usable answer from TANDEM_URL\n"
    "  4  partial failure: some rows were refused (each reported), the others enrolled\n";

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tandemctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(tandemctl --help lists the commands and options)\n", stderr);
    return CTL_EXIT_USAGE;
}

static ctl_option *find_option(ctl *c, const char *name)
{
    ctl_option *found = NULL;
    for (size_t i = 0; i < c->n_options; i++) {
        if (strcmp(c->options[i].name, name) == 0) {
            c->options[i].used = 1;
            found = &c->options[i];
        }
    }
    return found;
}

const char *ctl_opt(ctl *c, const char *name)
{
    ctl_option *o = find_option(c, name);
    return o != NULL ? o->value : NULL;
}

size_t ctl_opt_all(ctl *c, const char *name, const char **values, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_options; i++) {
        if (strcmp(c->options[i].name, name) == 0 && n < max) {
            c->options[i].used = 1;
            values[n++] = c->options[i].value;
        }
    }
    return n;
}

int ctl_flag(ctl *c, const char *name)
{
    return find_option(c, name) != NULL;
}

int ctl_opt_long(ctl *c, const char *name, long min, long max, long *out)
{
    const char *v = ctl_opt(c, name);
    if (v == NULL) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        return ctl_usage_error("--%s: \"%s\" is not a whole number from %ld to %ld", name, v, min,
                               max);
    }
    *out = n;
    return 0;
}

int ctl_done_args(ctl *c, size_t min_words, size_t max_words, const char *usage)
{
    for (size_t i = 0; i < c->n_options; i++) {
        if (!c->options[i].used) {
            return ctl_usage_error("unknown option --%s for this command (usage: tandemctl %s)",
                                   c->options[i].name, usage);
        }
    }
    if (c->n_words < min_words || c->n_words > max_words) {
        return ctl_usage_error("usage: tandemctl %s", usage);
    }
    return 0;
}

char *ctl_read_file(const char *path, size_t max_bytes, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "tandemctl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max_bytes) {
        fprintf(stderr, "tandemctl: %s: larger than %zu bytes\n", path, max_bytes);
        fclose(f);
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        if (n == cap) {
            if (cap >= max_bytes) {
                fprintf(stderr, "tandemctl: %s: larger than %zu bytes\n", path, max_bytes);
                free(buf);
                buf = NULL;
                break;
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *grown = realloc(buf, cap + 1);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "tandemctl: %s: read error\n", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

const char *ctl_path(char buf[CTL_MAX_PATH], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = 0;
    for (const char *p = fmt; *p && n + 1 < CTL_MAX_PATH; p++) {
        if (p[0] == '%' && p[1] == 's') {
            char *e = ctl_escape(va_arg(ap, const char *));
            size_t el = e != NULL ? strlen(e) : 0;
            if (n + el >= CTL_MAX_PATH) {
                el = CTL_MAX_PATH - 1 - n;
            }
            if (e != NULL) {
                memcpy(buf + n, e, el);
            }
            n += el;
            free(e);
            p++;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    va_end(ap);
    return buf;
}

static const char *const FLAGS[] = {"json",         "help",    "dry-run", "no-progress",
                                    "show-revoked", "approve", "h",       "csv"};

static int is_flag(const char *name)
{
    for (size_t i = 0; i < sizeof FLAGS / sizeof FLAGS[0]; i++) {
        if (strcmp(FLAGS[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Splits argv into words and options. Returns 0 or CTL_EXIT_USAGE. */
static int parse_command_line(ctl *c, int argc, char **argv)
{
    static char help[] = "--help";
    int only_words = 0; /* after "--" */
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!only_words && strcmp(a, "--") == 0) {
            only_words = 1;
            continue;
        }
        if (!only_words && strcmp(a, "-h") == 0) {
            a = help;
        }
        if (only_words || strncmp(a, "--", 2) != 0) {
            if (c->n_words == CTL_MAX_WORDS) {
                return ctl_usage_error("too many arguments");
            }
            c->words[c->n_words++] = a;
            continue;
        }
        if (c->n_options == CTL_MAX_OPTIONS) {
            return ctl_usage_error("too many options");
        }
        ctl_option *o = &c->options[c->n_options++];
        o->name = a + 2;
        char *eq = strchr(a + 2, '=');
        if (eq != NULL) {
            *eq = '\0';
            o->value = eq + 1;
        } else if (is_flag(o->name)) {
            o->value = "1";
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            return ctl_usage_error("--%s needs a value", o->name);
        }
    }
    return 0;
}

static const char *env_or(const char *value, const char *env, const char *fallback)
{
    if (value != NULL) {
        return value;
    }
    const char *e = getenv(env);
    return e != NULL && e[0] != '\0' ? e : fallback;
}

/* Every command but `demo generate` talks to the server and needs a key. */
static int needs_server(const ctl *c)
{
    return !(c->n_words >= 2 && strcmp(c->words[0], "demo") == 0 &&
             strcmp(c->words[1], "generate") == 0);
}

static int dispatch(ctl *c)
{
    static const struct {
        const char *name;
        int (*run)(ctl *);
    } commands[] = {
        {"tenants", cmd_tenants},
        {"keys", cmd_keys},
        {"programmes", cmd_programmes},
        {"templates", cmd_templates},
        {"participants", cmd_participants},
        {"match", cmd_match},
        {"report", cmd_report},
        {"demo", cmd_demo},
        {"usage", cmd_usage},
        {"benchmark", cmd_benchmark},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(c->words[0], commands[i].name) == 0) {
            return commands[i].run(c);
        }
    }
    return ctl_usage_error("unknown command \"%s\"", c->words[0]);
}

int main(int argc, char **argv)
{
    static ctl c;
    int rc = parse_command_line(&c, argc, argv);
    if (rc != 0) {
        return rc;
    }
    if (ctl_flag(&c, "help") || c.n_words == 0) {
        fputs(HELP, c.n_words == 0 && !ctl_flag(&c, "help") ? stderr : stdout);
        return ctl_flag(&c, "help") ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    c.json = ctl_flag(&c, "json");
    c.progress = !c.json && !ctl_flag(&c, "no-progress") && isatty(STDERR_FILENO);
    long timeout = DEFAULT_TIMEOUT_S;
    rc = ctl_opt_long(&c, "timeout", 1, 3600, &timeout);
    if (rc != 0) {
        return rc;
    }
    static char url[MAX_URL_BYTES];
    snprintf(url, sizeof url, "%s", env_or(ctl_opt(&c, "url"), "TANDEM_URL", DEFAULT_URL));
    size_t ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/') {
        url[--ul] = '\0';
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        return ctl_usage_error("TANDEM_URL (--url) must start with http:// or https://, not "
                               "\"%s\"",
                               url);
    }
    c.client.base_url = url;
    c.client.key = env_or(ctl_opt(&c, "key"), "TANDEM_KEY", NULL);
    c.client.tenant = env_or(ctl_opt(&c, "tenant"), "TANDEM_TENANT", NULL);
    c.client.timeout_s = timeout;
    if (needs_server(&c) && c.client.key == NULL) {
        return ctl_usage_error("no API key: set TANDEM_KEY or pass --key");
    }
    if (ctl_client_init(&c.client) != 0) {
        fprintf(stderr, "tandemctl: cannot initialise libcurl\n");
        return CTL_EXIT_CONNECTION;
    }
    rc = dispatch(&c);
    ctl_client_free(&c.client);
    return rc;
}
