/*
 * scim_filter.c - the SCIM filter grammar of RFC 7644 section 3.4.2.2, parsed by
 * recursive descent, and matching of the parsed tree against a resource.
 *
 *     FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
 *     valuePath = attrPath "[" valFilter "]"
 *     valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
 *     attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
 *     logExp    = FILTER SP ("and" / "or") SP FILTER
 *     compValue = false / null / true / number / string   (JSON, RFC 8259)
 *     attrPath  = [URI ":"] ATTRNAME *1subAttr
 *
 * The RFC's prose adds what the ABNF leaves out: parentheses group any filter
 * ("precedence grouping"), "and" binds tighter than "or", keywords and attribute
 * names are case-insensitive. The parser is written as the grammar reads, one function
 * per rule: or_expr -> and_expr -> unary -> attr_expr. Identity providers put one
 * space between tokens; more white space is accepted.
 *
 * A URI and a sub-attribute both contain separators (":" and "."; "2.0" in every SCIM
 * URN), so an attribute path is read as one token of name and URN characters and then
 * split: the schema is everything before the last ":", the sub-attribute whatever
 * follows the first "." after it.
 */
#include "scim_filter.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct parser {
    tdm_arena *arena;
    const char *text;
    size_t len;
    size_t pos;
    int depth;
    int nodes;
    const char *err; /* the first error; parsing stops there */
} parser;

static void fail(parser *p, const char *msg)
{
    if (p->err != NULL)
        return;
    p->err = tdm_arena_printf(p->arena, "%s (at character %zu)",
                              msg != NULL ? msg : "out of memory", p->pos + 1);
    if (p->err == NULL)
        p->err = "out of memory";
}

static bool at_end(const parser *p)
{
    return p->pos >= p->len;
}

static char peek(const parser *p)
{
    return at_end(p) ? '\0' : p->text[p->pos];
}

static void skip_space(parser *p)
{
    while (!at_end(p) && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t'))
        p->pos++;
}

/* A character of an attribute path token: name characters, and ":" "." for URNs and
 * sub-attributes; "$" for "$ref". */
static bool path_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == ':' || c == '.' || c == '$';
}

/* A word (keyword or operator) at the cursor, case-insensitive, followed by a
 * delimiter; consumed when it matches. */
static bool take_word(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || strncasecmp(p->text + p->pos, word, n) != 0)
        return false;
    char next = p->pos + n < p->len ? p->text[p->pos + n] : '\0';
    if (isalnum((unsigned char)next) || next == '_' || next == '-')
        return false;
    p->pos += n;
    return true;
}

static scim_filter *new_node(parser *p, scim_node_kind kind)
{
    if (++p->nodes > SCIM_FILTER_MAX_NODES) {
        fail(p, "the filter has more than 512 comparisons and operators");
        return NULL;
    }
    scim_filter *f = tdm_arena_calloc(p->arena, 1, sizeof(*f));
    if (f == NULL) {
        fail(p, "out of memory");
        return NULL;
    }
    f->kind = kind;
    return f;
}

/* ATTRNAME = ALPHA *(nameChar); "$ref" is the one name RFC 7643 starts otherwise. */
static bool valid_name(const char *s)
{
    if (strcmp(s, "$ref") == 0)
        return true;
    if (!isalpha((unsigned char)s[0]))
        return false;
    for (const char *c = s + 1; *c != '\0'; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
            return false;
    }
    return true;
}

static bool parse_attr_path(parser *p, scim_attr_path *out)
{
    size_t start = p->pos;
    while (!at_end(p) && path_char(p->text[p->pos]))
        p->pos++;
    if (p->pos == start) {
        fail(p, "expected an attribute name");
        return false;
    }
    char *tok = tdm_arena_strndup(p->arena, p->text + start, p->pos - start);
    if (tok == NULL) {
        fail(p, "out of memory");
        return false;
    }
    memset(out, 0, sizeof(*out));
    char *name = tok;
    char *colon = strrchr(tok, ':');
    if (colon != NULL) {
        *colon = '\0';
        out->schema = tok;
        name = colon + 1;
        if (strncasecmp(tok, "urn:", 4) != 0 || tok[4] == '\0') {
            p->pos = start;
            fail(p, tdm_arena_printf(p->arena,
                                     "\"%s\" is not a schema URN followed by an attribute", tok));
            return false;
        }
    }
    char *dot = strchr(name, '.');
    if (dot != NULL) {
        *dot = '\0';
        out->sub = dot + 1;
    }
    out->name = name;
    if (!valid_name(out->name) || (out->sub != NULL && !valid_name(out->sub))) {
        p->pos = start;
        size_t n = 0; /* the token as sent, up to what ends it (the input has no NUL) */
        while (start + n < p->len && strchr(" [](", p->text[start + n]) == NULL)
            n++;
        fail(p, tdm_arena_printf(p->arena, "\"%.*s\" is not a valid attribute path", (int)n,
                                 p->text + start));
        return false;
    }
    return true;
}

static const struct {
    const char *word;
    scim_op op;
} OPERATORS[] = {
    {"eq", SCIM_OP_EQ}, {"ne", SCIM_OP_NE}, {"co", SCIM_OP_CO}, {"sw", SCIM_OP_SW},
    {"ew", SCIM_OP_EW}, {"gt", SCIM_OP_GT}, {"lt", SCIM_OP_LT}, {"ge", SCIM_OP_GE},
    {"le", SCIM_OP_LE}, {"pr", SCIM_OP_PR},
};

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A JSON string at the cursor (after its opening quote), decoded. */
static bool parse_string(parser *p, scim_value *v)
{
    p->pos++; /* the opening quote */
    /* Decoded text is never longer than its escaped form. */
    char *out = tdm_arena_alloc(p->arena, p->len - p->pos + 1);
    if (out == NULL) {
        fail(p, "out of memory");
        return false;
    }
    size_t n = 0;
    while (!at_end(p)) {
        unsigned char c = (unsigned char)p->text[p->pos];
        if (c == '"') {
            p->pos++;
            out[n] = '\0';
            v->kind = SCIM_VALUE_STRING;
            v->str = out;
            v->len = n;
            return true;
        }
        if (c < 0x20) {
            fail(p, "a control character in a string must be escaped");
            return false;
        }
        if (c != '\\') {
            out[n++] = (char)c;
            p->pos++;
            continue;
        }
        if (p->len - p->pos < 2)
            break;
        char e = p->text[p->pos + 1];
        p->pos += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple != NULL && e != '\0') {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            out[n++] = decoded[simple - "\"\\/bfnrt"];
            continue;
        }
        int cp = e == 'u' && p->len - p->pos >= 4 ? hex4(p->text + p->pos) : -1;
        if (cp < 0) {
            p->pos -= 2;
            fail(p, "an invalid escape in a string");
            return false;
        }
        p->pos += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo = p->len - p->pos >= 6 && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u'
                         ? hex4(p->text + p->pos + 2)
                         : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                fail(p, "an unpaired surrogate in a string");
                return false;
            }
            p->pos += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(p, "an unpaired surrogate in a string");
            return false;
        }
        if (cp == 0) {
            fail(p, "a string may not contain NUL");
            return false;
        }
        n += put_utf8(out + n, (unsigned)cp);
    }
    fail(p, "a string is not closed");
    return false;
}

/* number = [ "-" ] int [ frac ] [ exp ] (RFC 8259 section 6). */
static bool parse_number(parser *p, scim_value *v)
{
    size_t start = p->pos;
    const char *s = p->text;
    size_t i = p->pos;
    if (i < p->len && s[i] == '-')
        i++;
    if (i >= p->len || !isdigit((unsigned char)s[i]))
        goto bad;
    if (s[i] == '0')
        i++;
    else
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || !isdigit((unsigned char)s[i]))
            goto bad;
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || !isdigit((unsigned char)s[i]))
            goto bad;
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
    }
    char *copy = tdm_arena_strndup(p->arena, s + start, i - start);
    if (copy == NULL) {
        fail(p, "out of memory");
        return false;
    }
    v->kind = SCIM_VALUE_NUMBER;
    v->num = strtod(copy, NULL);
    if (!isfinite(v->num))
        goto bad;
    p->pos = i;
    return true;
bad:
    fail(p, "expected a value: a string in double quotes, a number, true, false or null");
    return false;
}

static bool parse_value(parser *p, scim_value *v)
{
    memset(v, 0, sizeof(*v));
    char c = peek(p);
    if (c == '"')
        return parse_string(p, v);
    if (take_word(p, "true")) {
        v->kind = SCIM_VALUE_TRUE;
        return true;
    }
    if (take_word(p, "false")) {
        v->kind = SCIM_VALUE_FALSE;
        return true;
    }
    if (take_word(p, "null")) {
        v->kind = SCIM_VALUE_NULL;
        return true;
    }
    return parse_number(p, v);
}

static const scim_filter *parse_or(parser *p, bool in_value_path);

/* "(" filter ")" or "[" filter "]" at the cursor (the caller has checked the opening
 * character), close being ')' or ']'. */
static const scim_filter *parse_enclosed(parser *p, bool in_value_path, char close)
{
    if (++p->depth > SCIM_FILTER_MAX_DEPTH) {
        fail(p, "the filter nests more than 32 levels");
        return NULL;
    }
    p->pos++;
    const scim_filter *inner = parse_or(p, in_value_path);
    if (inner == NULL)
        return NULL;
    skip_space(p);
    if (peek(p) != close) {
        fail(p, close == ')' ? "expected \")\"" : "expected \"]\"");
        return NULL;
    }
    p->pos++;
    p->depth--;
    return inner;
}

static const scim_filter *parse_group(parser *p, bool in_value_path)
{
    return parse_enclosed(p, in_value_path, ')');
}

/* The "[" valFilter "]" after path (at the cursor), for filters and PATCH paths alike. */
static const scim_filter *parse_value_filter(parser *p, const scim_attr_path *path,
                                             bool in_value_path)
{
    if (in_value_path) {
        fail(p, "a value path may not contain another value path");
        return NULL;
    }
    if (path->sub != NULL) {
        fail(p, "a value path filters an attribute, not a sub-attribute");
        return NULL;
    }
    return parse_enclosed(p, true, ']');
}

/* attrExp, or valuePath outside a value path. */
static const scim_filter *parse_attr_expr(parser *p, bool in_value_path)
{
    scim_attr_path path;
    if (!parse_attr_path(p, &path))
        return NULL;
    if (peek(p) == '[') {
        scim_filter *f = new_node(p, SCIM_NODE_VALUE_PATH);
        if (f == NULL)
            return NULL;
        f->attr = path;
        f->left = parse_value_filter(p, &path, in_value_path);
        return f->left != NULL ? f : NULL;
    }
    size_t before = p->pos;
    skip_space(p);
    if (p->pos == before) {
        fail(p, "expected a space and an operator after the attribute");
        return NULL;
    }
    scim_filter *f = new_node(p, SCIM_NODE_COMPARE);
    if (f == NULL)
        return NULL;
    f->attr = path;
    size_t i = 0, n = sizeof(OPERATORS) / sizeof(OPERATORS[0]);
    while (i < n && !take_word(p, OPERATORS[i].word))
        i++;
    if (i == n) {
        fail(p, "expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le or pr)");
        return NULL;
    }
    f->op = OPERATORS[i].op;
    if (f->op == SCIM_OP_PR)
        return f;
    before = p->pos;
    skip_space(p);
    if (p->pos == before) {
        fail(p, "expected a space and a value after the operator");
        return NULL;
    }
    if (!parse_value(p, &f->value))
        return NULL;
    return f;
}

static const scim_filter *parse_unary(parser *p, bool in_value_path)
{
    skip_space(p);
    size_t start = p->pos;
    if (take_word(p, "not")) {
        skip_space(p);
        if (peek(p) != '(') {
            /* "not" is also a possible attribute name ("not eq 1"): read it as one. */
            p->pos = start;
            return parse_attr_expr(p, in_value_path);
        }
        scim_filter *f = new_node(p, SCIM_NODE_NOT);
        if (f == NULL)
            return NULL;
        f->left = parse_group(p, in_value_path);
        return f->left != NULL ? f : NULL;
    }
    if (peek(p) == '(')
        return parse_group(p, in_value_path);
    if (at_end(p)) {
        fail(p, "the filter ends where a comparison was expected");
        return NULL;
    }
    return parse_attr_expr(p, in_value_path);
}

/* left (op right)*, op being "and" or "or" between spaces. */
static const scim_filter *parse_chain(parser *p, bool in_value_path, const char *word,
                                      scim_node_kind kind,
                                      const scim_filter *(*operand)(parser *, bool))
{
    const scim_filter *left = operand(p, in_value_path);
    while (left != NULL) {
        size_t save = p->pos;
        skip_space(p);
        if (p->pos == save || !take_word(p, word)) {
            p->pos = save;
            return left;
        }
        scim_filter *f = new_node(p, kind);
        if (f == NULL)
            return NULL;
        f->left = left;
        f->right = operand(p, in_value_path);
        if (f->right == NULL)
            return NULL;
        left = f;
    }
    return NULL;
}

static const scim_filter *parse_and(parser *p, bool in_value_path)
{
    return parse_chain(p, in_value_path, "and", SCIM_NODE_AND, parse_unary);
}

static const scim_filter *parse_or(parser *p, bool in_value_path)
{
    return parse_chain(p, in_value_path, "or", SCIM_NODE_OR, parse_and);
}

static bool parser_init(parser *p, tdm_arena *a, const char *text, size_t len, const char **err)
{
    memset(p, 0, sizeof(*p));
    p->arena = a;
    p->text = text;
    p->len = len;
    if (len > SCIM_FILTER_MAX_BYTES) {
        *err = "the filter is longer than 4096 bytes";
        return false;
    }
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        *err = "the filter contains a NUL character";
        return false;
    }
    return true;
}

const scim_filter *scim_filter_parse(tdm_arena *a, const char *text, size_t len, const char **err)
{
    parser p;
    if (!parser_init(&p, a, text, len, err))
        return NULL;
    const scim_filter *f = parse_or(&p, false);
    if (f != NULL) {
        skip_space(&p);
        if (!at_end(&p)) {
            f = NULL;
            fail(&p, "expected \"and\", \"or\" or the end of the filter");
        }
    }
    if (f == NULL)
        *err = p.err != NULL ? p.err : "invalid filter";
    return f;
}

int scim_patch_path_parse(tdm_arena *a, const char *text, size_t len, scim_patch_path *out,
                          const char **err)
{
    parser p;
    if (!parser_init(&p, a, text, len, err))
        return -1;
    memset(out, 0, sizeof(*out));
    if (!parse_attr_path(&p, &out->attr))
        goto bad;
    if (peek(&p) == '[') {
        out->value_filter = parse_value_filter(&p, &out->attr, false);
        if (out->value_filter == NULL)
            goto bad;
        if (peek(&p) == '.') {
            p.pos++;
            size_t start = p.pos;
            while (!at_end(&p) && path_char(p.text[p.pos]) && p.text[p.pos] != '.' &&
                   p.text[p.pos] != ':')
                p.pos++;
            out->sub_after = tdm_arena_strndup(a, p.text + start, p.pos - start);
            if (out->sub_after == NULL || !valid_name(out->sub_after)) {
                p.pos = start;
                fail(&p, "expected a sub-attribute after \"].\"");
                goto bad;
            }
        }
    }
    if (!at_end(&p)) {
        fail(&p, "unexpected text after the path");
        goto bad;
    }
    return 0;
bad:
    *err = p.err != NULL ? p.err : "invalid path";
    return -1;
}

/* ---- matching ------------------------------------------------------------------- */

bool scim_name_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

/* The member of obj named name, whatever its case. */
static const json_t *member(const json_t *obj, const char *name)
{
    if (!json_is_object(obj) || name == NULL)
        return NULL;
    const json_t *v = json_object_get(obj, name);
    if (v != NULL)
        return v;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (strcasecmp(key, name) == 0)
            return val;
    }
    return NULL;
}

const json_t *scim_attr_lookup(const json_t *resource, const scim_attr_path *path)
{
    /* In a value path over simple values (emails[value ew ".org"] over strings), the
     * element itself is the "value". */
    if (resource != NULL && !json_is_object(resource) && path->schema == NULL &&
        path->sub == NULL && scim_name_eq(path->name, "value"))
        return resource;
    const json_t *scope = resource;
    if (path->schema != NULL && !scim_name_eq(path->schema, SCIM_SCHEMA_USER))
        scope = member(resource, path->schema); /* an extension's attributes */
    return member(scope, path->name);
}

static bool case_exact(const scim_attr_path *path)
{
    return (path->sub == NULL &&
            (scim_name_eq(path->name, "id") || scim_name_eq(path->name, "externalId"))) ||
           (scim_name_eq(path->name, "meta") && scim_name_eq(path->sub, "version"));
}

static bool present(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    return true;
}

static int str_cmp(const char *a, size_t alen, const char *b, size_t blen, bool exact)
{
    size_t n = alen < blen ? alen : blen;
    int c = exact ? memcmp(a, b, n) : strncasecmp(a, b, n);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* One scalar value against the comparison (not pr, not ne). */
static bool scalar_matches(const json_t *v, scim_op op, const scim_value *want, bool exact)
{
    if (want->kind == SCIM_VALUE_NULL)
        return op == SCIM_OP_EQ && (v == NULL || json_is_null(v));
    if (v == NULL || json_is_null(v))
        return false;
    if (json_is_boolean(v)) {
        bool b = json_is_true(v);
        if (op != SCIM_OP_EQ || (want->kind != SCIM_VALUE_TRUE && want->kind != SCIM_VALUE_FALSE))
            return false;
        return b == (want->kind == SCIM_VALUE_TRUE);
    }
    int cmp;
    if (json_is_number(v)) {
        if (want->kind != SCIM_VALUE_NUMBER)
            return false;
        double d = json_number_value(v);
        cmp = d < want->num ? -1 : d > want->num ? 1 : 0;
    } else if (json_is_string(v)) {
        if (want->kind != SCIM_VALUE_STRING)
            return false;
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        switch (op) {
        case SCIM_OP_CO:
            if (want->len == 0)
                return true;
            for (size_t i = 0; i + want->len <= len; i++) {
                if (str_cmp(s + i, want->len, want->str, want->len, exact) == 0)
                    return true;
            }
            return false;
        case SCIM_OP_SW:
            return len >= want->len && str_cmp(s, want->len, want->str, want->len, exact) == 0;
        case SCIM_OP_EW:
            return len >= want->len &&
                   str_cmp(s + len - want->len, want->len, want->str, want->len, exact) == 0;
        default:
            break;
        }
        cmp = str_cmp(s, len, want->str, want->len, exact);
    } else {
        return false; /* objects and arrays are reached through their values */
    }
    switch (op) {
    case SCIM_OP_EQ:
        return cmp == 0;
    case SCIM_OP_GT:
        return cmp > 0;
    case SCIM_OP_LT:
        return cmp < 0;
    case SCIM_OP_GE:
        return cmp >= 0;
    case SCIM_OP_LE:
        return cmp <= 0;
    default:
        return false; /* co, sw, ew on numbers */
    }
}

/* A value of the attribute (one element of a multi-valued one) against the comparison:
 * a complex value is compared by its sub-attribute, or its "value". */
static bool value_matches(const json_t *v, const scim_filter *f, scim_op op, bool exact)
{
    if (json_is_object(v))
        v = member(v, f->attr.sub != NULL ? f->attr.sub : "value");
    else if (f->attr.sub != NULL)
        return false;
    if (op == SCIM_OP_PR)
        return present(v);
    return scalar_matches(v, op, &f->value, exact);
}

static bool compare_matches(const scim_filter *f, const json_t *resource)
{
    const json_t *v = scim_attr_lookup(resource, &f->attr);
    scim_op op = f->op == SCIM_OP_NE ? SCIM_OP_EQ : f->op;
    bool exact = case_exact(&f->attr);
    bool any = false;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (value_matches(e, f, op, exact)) {
                any = true;
                break;
            }
        }
        if (op == SCIM_OP_EQ && f->value.kind == SCIM_VALUE_NULL && json_array_size(v) == 0)
            any = true;
    } else if (v == NULL && f->attr.sub == NULL) {
        any = op != SCIM_OP_PR && scalar_matches(NULL, op, &f->value, exact);
    } else {
        any = value_matches(v, f, op, exact);
    }
    return f->op == SCIM_OP_NE ? !any : any;
}

bool scim_filter_match(const scim_filter *f, const json_t *resource)
{
    switch (f->kind) {
    case SCIM_NODE_COMPARE:
        return compare_matches(f, resource);
    case SCIM_NODE_AND:
        return scim_filter_match(f->left, resource) && scim_filter_match(f->right, resource);
    case SCIM_NODE_OR:
        return scim_filter_match(f->left, resource) || scim_filter_match(f->right, resource);
    case SCIM_NODE_NOT:
        return !scim_filter_match(f->left, resource);
    case SCIM_NODE_VALUE_PATH: {
        const json_t *v = scim_attr_lookup(resource, &f->attr);
        if (json_is_object(v))
            return scim_filter_match(f->left, v);
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (scim_filter_match(f->left, e))
                return true;
        }
        return false;
    }
    }
    return false;
}
