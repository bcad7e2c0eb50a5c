/* JSON reader: recursive descent over a text in memory into a tree of
 * cl_json_value (strict RFC 8259 grammar, depth limit, file:line:col errors). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/json.h"
#include "collapse/mem.h"

typedef struct {
    const char *s, *end; /* the text; p is the cursor */
    const char *p;
    const char *name; /* for messages */
    int line;
    const char *line_start;
    cl_status st;
} reader;

static int col_of(const reader *r, const char *at)
{
    return (int)(at - r->line_start) + 1;
}

static int rfail(reader *r, const char *fmt, const char *arg)
{
    if (r->st != CL_OK) return 0;
    char msg[160];
    snprintf(msg, sizeof msg, fmt, arg);
    r->st = cl_error(CL_EFORMAT, "%s:%d:%d: %s", r->name, r->line, col_of(r, r->p), msg);
    return 0;
}

static void skip_ws(reader *r)
{
    while (r->p < r->end) {
        char c = *r->p;
        if (c == '\n') {
            r->line++;
            r->line_start = r->p + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        r->p++;
    }
}

static int literal(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n))
        return rfail(r, "unexpected character (want a value)%s", "");
    r->p += n;
    return 1;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One \u escape (p after the 'u'), a surrogate pair taking a second one. */
static int unicode_escape(reader *r, unsigned *cp)
{
    if (r->end - r->p < 4 || !hex4(r->p, cp)) return rfail(r, "bad \\u escape%s", "");
    r->p += 4;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return rfail(r, "lone low surrogate in \\u escape%s", "");
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        unsigned lo;
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || !hex4(r->p + 2, &lo) ||
            lo < 0xdc00 || lo > 0xdfff)
            return rfail(r, "high surrogate without its low half%s", "");
        r->p += 6;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (*cp == 0) return rfail(r, "\\u0000 is not supported in strings%s", "");
    return 1;
}

/* A string literal (r->p at the opening quote) into a cl_alloc'ed,
 * NUL-terminated buffer. Decoded text is never longer than the literal. */
static char *string_lit(reader *r, size_t *len)
{
    const char *q = ++r->p;
    while (q < r->end && *q != '"') q += *q == '\\' && q + 1 < r->end ? 2 : 1;
    if (q >= r->end) {
        rfail(r, "unterminated string%s", "");
        return NULL;
    }
    char *out = cl_alloc((size_t)(q - r->p) + 1, "JSON string");
    if (!out) {
        r->st = CL_ENOMEM;
        return NULL;
    }
    size_t n = 0;
    while (*r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) {
            rfail(r, "control character in string (escape it)%s", "");
            goto fail;
        }
        if (c != '\\') {
            out[n++] = (char)c;
            r->p++;
            continue;
        }
        char e = *++r->p;
        r->p++;
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': out[n++] = e; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u':
            if (!unicode_escape(r, &cp)) goto fail;
            n += put_utf8(out + n, cp);
            break;
        default:
            r->p--;
            rfail(r, "bad escape in string%s", "");
            goto fail;
        }
    }
    r->p++;
    out[n] = 0;
    *len = n;
    return out;
fail:
    cl_free(out);
    return NULL;
}

static int digits(reader *r)
{
    const char *a = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    return r->p > a;
}

/* A number literal (strict JSON grammar); keeps its text for exact integers. */
static int number_lit(reader *r, cl_json_value *v)
{
    const char *a = r->p;
    if (*r->p == '-') r->p++;
    if (r->p < r->end && *r->p == '0')
        r->p++;
    else if (!digits(r))
        return rfail(r, "bad number%s", "");
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (!digits(r)) return rfail(r, "bad number (digits after '.')%s", "");
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
        if (!digits(r)) return rfail(r, "bad number (exponent)%s", "");
    }
    size_t n = (size_t)(r->p - a);
    char *t = cl_alloc(n + 1, "JSON number");
    if (!t) {
        r->st = CL_ENOMEM;
        return 0;
    }
    memcpy(t, a, n);
    v->text = t;
    v->len = n;
    v->number = strtod(t, NULL);
    if (!isfinite(v->number)) {
        r->p = a;
        return rfail(r, "number out of range%s", "");
    }
    return 1;
}

static int value(reader *r, cl_json_value *v, int depth);

/* Appends a zeroed item to v->items (doubling the capacity as needed). */
static cl_json_value *add_item(reader *r, cl_json_value *v, int *cap)
{
    if (v->n == *cap) {
        int nc = *cap ? 2 * *cap : 4;
        cl_json_value *a = cl_alloc_array((size_t)nc, sizeof *a, "JSON container");
        if (!a) {
            r->st = CL_ENOMEM;
            return NULL;
        }
        if (v->n) memcpy(a, v->items, sizeof *a * (size_t)v->n);
        cl_free(v->items);
        v->items = a;
        *cap = nc;
    }
    return &v->items[v->n++];
}

/* The member names of one object seen so far, for the duplicate check: a
 * linear scan up to KEYS_LINEAR members, then an open-addressing table of
 * item indices (+1; 0 = empty) kept at most half full, so an object of n
 * members costs O(n), not O(n^2) string compares (a 400 KB object took
 * 3.5 s before). */
#define KEYS_LINEAR 16

typedef struct {
    int *slot;
    size_t cap; /* power of two, or 0 */
} keyset;

static size_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211u;
    return (size_t)h;
}

/* Index of an earlier member named like items[i], or -1 (then items[i] is
 * in the table). -2 when out of memory. */
static int key_seen(keyset *ks, const cl_json_value *items, int i)
{
    if (i < KEYS_LINEAR) {
        for (int j = 0; j < i; j++)
            if (!strcmp(items[j].key, items[i].key)) return j;
        return -1;
    }
    if ((size_t)i + 1 > ks->cap / 2) { /* (re)build for members 0..i-1 */
        size_t nc = ks->cap ? 2 * ks->cap : 4 * KEYS_LINEAR;
        int *t = cl_alloc_array(nc, sizeof *t, "JSON member names");
        if (!t) return -2;
        cl_free(ks->slot);
        ks->slot = t;
        ks->cap = nc;
        for (int j = 0; j < i; j++) {
            size_t h = key_hash(items[j].key) & (nc - 1);
            while (t[h]) h = (h + 1) & (nc - 1);
            t[h] = j + 1;
        }
    }
    size_t h = key_hash(items[i].key) & (ks->cap - 1);
    for (; ks->slot[h]; h = (h + 1) & (ks->cap - 1))
        if (!strcmp(items[ks->slot[h] - 1].key, items[i].key)) return ks->slot[h] - 1;
    ks->slot[h] = i + 1;
    return -1;
}

static int members(reader *r, cl_json_value *v, int depth, int obj, keyset *ks);

/* An array or object; r->p at '[' or '{'. */
static int container(reader *r, cl_json_value *v, int depth)
{
    int obj = *r->p == '{';
    v->type = obj ? CL_JSON_OBJECT : CL_JSON_ARRAY;
    if (depth >= CL_JSON_MAXDEPTH) return rfail(r, "nested deeper than %s levels", "32");
    keyset ks = {NULL, 0};
    int ok = members(r, v, depth, obj, &ks);
    cl_free(ks.slot);
    return ok;
}

/* The items of a container (r->p at its bracket). */
static int members(reader *r, cl_json_value *v, int depth, int obj, keyset *ks)
{
    int cap = 0;
    char close = obj ? '}' : ']';
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 1;
    }
    for (;;) {
        skip_ws(r);
        cl_json_value *it = add_item(r, v, &cap);
        if (!it) return 0;
        if (obj) {
            if (r->p >= r->end || *r->p != '"') return rfail(r, "expected a member name%s", "");
            const char *at = r->p;
            size_t kl;
            if (!(it->key = string_lit(r, &kl))) return 0;
            int dup = key_seen(ks, v->items, v->n - 1);
            if (dup == -2) {
                r->st = CL_ENOMEM;
                return 0;
            }
            if (dup >= 0) {
                r->p = at;
                return rfail(r, "duplicate member \"%s\"", it->key);
            }
            skip_ws(r);
            if (r->p >= r->end || *r->p != ':') return rfail(r, "expected ':'%s", "");
            r->p++;
            skip_ws(r);
        }
        if (!value(r, it, depth + 1)) return 0;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return 1;
        }
        return rfail(r, obj ? "expected ',' or '}'%s" : "expected ',' or ']'%s", "");
    }
}

static int value(reader *r, cl_json_value *v, int depth)
{
    v->line = r->line;
    v->col = col_of(r, r->p);
    if (r->p >= r->end) return rfail(r, "unexpected end of input (want a value)%s", "");
    switch (*r->p) {
    case '{': case '[': return container(r, v, depth);
    case '"':
        v->type = CL_JSON_STRING;
        return (v->text = string_lit(r, &v->len)) != NULL;
    case 't': v->type = CL_JSON_BOOL; v->boolean = 1; return literal(r, "true");
    case 'f': v->type = CL_JSON_BOOL; return literal(r, "false");
    case 'n': v->type = CL_JSON_NULL; return literal(r, "null");
    default:
        v->type = CL_JSON_NUMBER;
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) return number_lit(r, v);
        return rfail(r, "unexpected character (want a value)%s", "");
    }
}

static void free_items(cl_json_value *v)
{
    for (int i = 0; i < v->n; i++) {
        free_items(&v->items[i]);
        cl_free((void *)v->items[i].key);
    }
    cl_free(v->items);
    cl_free((void *)v->text);
}

void cl_json_value_free(cl_json_value *root)
{
    if (!root) return;
    free_items(root);
    cl_free(root);
}

cl_status cl_json_parse(const char *text, size_t len, const char *name, cl_json_value **root)
{
    *root = NULL;
    if (len > CL_JSON_MAXFILE)
        return cl_error(CL_EFORMAT, "%s: larger than %d MiB", name ? name : "<json>",
                        CL_JSON_MAXFILE >> 20);
    reader r = {text, text + len, text, name ? name : "<json>", 1, text, CL_OK};
    cl_json_value *v = cl_alloc(sizeof *v, "JSON value");
    if (!v) return CL_ENOMEM;
    skip_ws(&r);
    if (value(&r, v, 0)) {
        skip_ws(&r);
        if (r.p < r.end) rfail(&r, "unexpected text after the value%s", "");
    }
    if (r.st != CL_OK) {
        cl_json_value_free(v);
        return r.st;
    }
    *root = v;
    return CL_OK;
}

cl_status cl_json_parse_file(const char *path, cl_json_value **root)
{
    *root = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cl_error(CL_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    cl_status st = CL_OK;
    for (;;) {
        if (n == cap) {
            if (cap > CL_JSON_MAXFILE) {
                st = cl_error(CL_EFORMAT, "%s: larger than %d MiB", path, CL_JSON_MAXFILE >> 20);
                break;
            }
            size_t nc = cap ? 2 * cap : 1 << 14;
            if (nc > CL_JSON_MAXFILE) nc = CL_JSON_MAXFILE + 1; /* one byte too many: EOF? */
            char *b = cl_alloc(nc, "JSON file");
            if (!b) {
                st = CL_ENOMEM;
                break;
            }
            if (n) memcpy(b, buf, n);
            cl_free(buf);
            buf = b;
            cap = nc;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = cl_error(CL_EIO, "%s: read failed", path);
            break;
        }
    }
    fclose(f);
    if (st == CL_OK) st = cl_json_parse(buf, n, path, root);
    cl_free(buf);
    return st;
}

const cl_json_value *cl_json_get(const cl_json_value *obj, const char *key)
{
    if (!obj || obj->type != CL_JSON_OBJECT) return NULL;
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->items[i].key, key)) return &obj->items[i];
    return NULL;
}

const char *cl_json_as_str(const cl_json_value *v)
{
    return v && v->type == CL_JSON_STRING ? v->text : NULL;
}

int cl_json_as_bool(const cl_json_value *v, int *out)
{
    if (!v || v->type != CL_JSON_BOOL) return 0;
    *out = v->boolean;
    return 1;
}

int cl_json_as_double(const cl_json_value *v, double *out)
{
    if (!v || v->type != CL_JSON_NUMBER) return 0;
    *out = v->number;
    return 1;
}

/* The literal is an integer (no fraction or exponent) that fits. */
int cl_json_as_i64(const cl_json_value *v, int64_t *out)
{
    if (!v || v->type != CL_JSON_NUMBER || strpbrk(v->text, ".eE")) return 0;
    errno = 0;
    long long x = strtoll(v->text, NULL, 10);
    if (errno) return 0;
    *out = x;
    return 1;
}

int cl_json_as_u64(const cl_json_value *v, uint64_t *out)
{
    if (!v || v->type != CL_JSON_NUMBER || v->text[0] == '-' || strpbrk(v->text, ".eE"))
        return 0;
    errno = 0;
    unsigned long long x = strtoull(v->text, NULL, 10);
    if (errno) return 0;
    *out = x;
    return 1;
}
