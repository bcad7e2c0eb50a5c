/* Streaming JSON writer (the reader is json_read.c). */
#include <math.h>
#include <string.h>

#include "collapse/json.h"

void cl_json_init(cl_json *j, FILE *f, int pretty)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->pretty = pretty;
}

static void put(cl_json *j, const char *s)
{
    if (fputs(s, j->f) == EOF) j->err = 1;
}

static void put_str(cl_json *j, const char *s)
{
    if (fputc('"', j->f) == EOF) j->err = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char buf[8];
        if (*p == '"' || *p == '\\') {
            buf[0] = '\\';
            buf[1] = (char)*p;
            buf[2] = 0;
        } else if (*p == '\n') {
            strcpy(buf, "\\n");
        } else if (*p == '\t') {
            strcpy(buf, "\\t");
        } else if (*p < 0x20) {
            snprintf(buf, sizeof buf, "\\u%04x", *p);
        } else {
            buf[0] = (char)*p;
            buf[1] = 0;
        }
        put(j, buf);
    }
    if (fputc('"', j->f) == EOF) j->err = 1;
}

static void indent(cl_json *j)
{
    if (!j->pretty) return;
    put(j, "\n");
    for (int i = 0; i < j->depth; i++)
        put(j, "  ");
}

/* Separator, indentation and key before a value. */
static void prefix(cl_json *j, const char *key)
{
    if (j->depth == 0) {
        CL_ASSERT(key == NULL);
        return;
    }
    int lvl = j->depth - 1;
    if (j->kind[lvl] == '{')
        CL_ASSERT(key != NULL);
    else
        CL_ASSERT(key == NULL);
    if (j->count[lvl]++) put(j, ",");
    indent(j);
    if (key) {
        put_str(j, key);
        put(j, j->pretty ? ": " : ":");
    }
}

static void open_level(cl_json *j, const char *key, char kind)
{
    prefix(j, key);
    CL_ASSERT(j->depth < CL_JSON_MAXDEPTH);
    j->kind[j->depth] = kind;
    j->count[j->depth] = 0;
    j->depth++;
    put(j, kind == '{' ? "{" : "[");
}

static void close_level(cl_json *j, char kind)
{
    CL_ASSERT(j->depth > 0 && j->kind[j->depth - 1] == kind);
    int had = j->count[j->depth - 1];
    j->depth--;
    if (had) indent(j);
    put(j, kind == '{' ? "}" : "]");
}

void cl_json_obj_begin(cl_json *j, const char *key)
{
    open_level(j, key, '{');
}
void cl_json_obj_end(cl_json *j)
{
    close_level(j, '{');
}
void cl_json_arr_begin(cl_json *j, const char *key)
{
    open_level(j, key, '[');
}
void cl_json_arr_end(cl_json *j)
{
    close_level(j, '[');
}

void cl_json_num(cl_json *j, const char *key, double v)
{
    prefix(j, key);
    if (!isfinite(v)) {
        put(j, "null");
        return;
    }
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    put(j, buf);
}

void cl_json_int(cl_json *j, const char *key, int64_t v)
{
    prefix(j, key);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    put(j, buf);
}

void cl_json_bool(cl_json *j, const char *key, int v)
{
    prefix(j, key);
    put(j, v ? "true" : "false");
}

void cl_json_str(cl_json *j, const char *key, const char *s)
{
    prefix(j, key);
    put_str(j, s);
}

void cl_json_null(cl_json *j, const char *key)
{
    prefix(j, key);
    put(j, "null");
}

cl_status cl_json_finish(cl_json *j, const char *what)
{
    CL_ASSERT(j->depth == 0);
    put(j, "\n");
    if (fflush(j->f) != 0 || ferror(j->f)) j->err = 1;
    if (j->err) return cl_error(CL_EIO, "%s: write failed", what);
    return CL_OK;
}

void cl_json_u64(cl_json *j, const char *key, uint64_t v)
{
    prefix(j, key);
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    put(j, buf);
}
