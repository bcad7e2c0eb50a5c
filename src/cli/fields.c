/* The two cl_cli_fields sinks: JSON and the canonical hash. */
#include <string.h>

#include "collapse/ckpt.h"
#include "fields.h"

/* ---- JSON ---- */

static cl_json *json_of(cl_cli_fields *f)
{
    return ((cl_cli_fields_json *)f)->j;
}

static void j_i64(cl_cli_fields *f, const char *key, int64_t v)
{
    cl_json_int(json_of(f), key, v);
}

static void j_u64(cl_cli_fields *f, const char *key, uint64_t v)
{
    cl_json_u64(json_of(f), key, v);
}

static void j_dbl(cl_cli_fields *f, const char *key, double v)
{
    cl_json_num(json_of(f), key, v);
}

static void j_bool(cl_cli_fields *f, const char *key, int v)
{
    cl_json_bool(json_of(f), key, v);
}

static void j_str(cl_cli_fields *f, const char *key, const char *s)
{
    if (s)
        cl_json_str(json_of(f), key, s);
    else
        cl_json_null(json_of(f), key);
}

static void j_begin(cl_cli_fields *f, const char *key, char kind)
{
    if (kind == '{')
        cl_json_obj_begin(json_of(f), key);
    else
        cl_json_arr_begin(json_of(f), key);
}

static void j_end(cl_cli_fields *f, char kind)
{
    if (kind == '{')
        cl_json_obj_end(json_of(f));
    else
        cl_json_arr_end(json_of(f));
}

void cl_cli_fields_json_init(cl_cli_fields_json *s, cl_json *j)
{
    s->f = (cl_cli_fields){j_i64, j_u64, j_dbl, j_bool, j_str, j_begin, j_end};
    s->j = j;
}

/* ---- hash ---- */

static void put(cl_cli_fields *f, const void *p, size_t n)
{
    cl_cli_fields_hash *s = (cl_cli_fields_hash *)f;
    s->h = cl_fnv1a(s->h, p, n);
}

static void put_key(cl_cli_fields *f, const char *key, char tag)
{
    if (key) put(f, key, strlen(key) + 1);
    put(f, &tag, 1);
}

static void put_u64(cl_cli_fields *f, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(f, b, 8);
}

static void h_i64(cl_cli_fields *f, const char *key, int64_t v)
{
    put_key(f, key, 'i');
    put_u64(f, (uint64_t)v);
}

static void h_u64(cl_cli_fields *f, const char *key, uint64_t v)
{
    put_key(f, key, 'u');
    put_u64(f, v);
}

static void h_dbl(cl_cli_fields *f, const char *key, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_key(f, key, 'd');
    put_u64(f, bits);
}

static void h_bool(cl_cli_fields *f, const char *key, int v)
{
    put_key(f, key, v ? 'T' : 'F');
}

static void h_str(cl_cli_fields *f, const char *key, const char *s)
{
    put_key(f, key, s ? 's' : 'n');
    if (s) put(f, s, strlen(s) + 1);
}

static void h_begin(cl_cli_fields *f, const char *key, char kind)
{
    put_key(f, key, kind);
}

static void h_end(cl_cli_fields *f, char kind)
{
    put_key(f, NULL, kind == '{' ? '}' : ']');
}

void cl_cli_fields_hash_init(cl_cli_fields_hash *s)
{
    s->f = (cl_cli_fields){h_i64, h_u64, h_dbl, h_bool, h_str, h_begin, h_end};
    s->h = CL_FNV_INIT;
}
