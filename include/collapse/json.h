/* JSON: a tiny streaming writer and a small reader.
 *
 * Writer: objects, arrays, numbers, strings, booleans. Numbers print with %.17g (round-trip exact); NaN and
 * infinities become null (JSON has no spelling for them). Keys and strings
 * are escaped. Output goes to a caller-owned FILE*.
 *
 *   cl_json j; cl_json_init(&j, stdout, 1);
 *   cl_json_obj_begin(&j, NULL);
 *   cl_json_num(&j, "nc1", 0.25);
 *   cl_json_obj_end(&j);
 *   st = cl_json_finish(&j, "out.json");   // CL_EIO if any write failed
 *
 * Inside an object every call takes a key; inside an array (or at the top
 * level) key must be NULL. Nesting deeper than CL_JSON_MAXDEPTH, or a key
 * where none is allowed, is a programmer error (CL_ASSERT).
 *
 * Reader: cl_json_parse turns a text into a tree of cl_json_value (objects,
 * arrays, strings with every escape incl. surrogate pairs, numbers,
 * true/false/null), strict RFC 8259 grammar, nesting at most
 * CL_JSON_MAXDEPTH levels. Lookups never fail loudly: they return NULL/0
 * for a missing key or a value of another type, and the caller names the
 * key (v->line, v->col say where a value is).
 *
 *   cl_json_value *root;
 *   if (cl_json_parse_file("run/config.json", &root) != CL_OK) ... cl_errmsg()
 *   int64_t e;
 *   if (cl_json_as_i64(cl_json_get(cl_json_get(root, "options"), "epochs"), &e)) ...
 *   cl_json_value_free(root); */
#ifndef COLLAPSE_JSON_H
#define COLLAPSE_JSON_H

#include <stdint.h>
#include <stdio.h>

#include "collapse/error.h"

#define CL_JSON_MAXDEPTH 32

typedef struct {
    FILE *f;
    int pretty;                        /* 1: newline + two-space indent per level */
    int depth;
    char kind[CL_JSON_MAXDEPTH];       /* '{' or '[' per open level */
    int count[CL_JSON_MAXDEPTH];       /* items written at each level */
    int err;                           /* a write failed */
} cl_json;

void cl_json_init(cl_json *j, FILE *f, int pretty);
void cl_json_obj_begin(cl_json *j, const char *key);
void cl_json_obj_end(cl_json *j);
void cl_json_arr_begin(cl_json *j, const char *key);
void cl_json_arr_end(cl_json *j);
void cl_json_num(cl_json *j, const char *key, double v);
void cl_json_int(cl_json *j, const char *key, int64_t v);
void cl_json_bool(cl_json *j, const char *key, int v);
void cl_json_str(cl_json *j, const char *key, const char *s);
void cl_json_null(cl_json *j, const char *key);
/* An unsigned integer written exactly (seeds; %llu). */
void cl_json_u64(cl_json *j, const char *key, uint64_t v);
/* Checks every level was closed (CL_ASSERT), writes a final newline and
 * flushes. Returns CL_EIO (message names `what`, e.g. the file) if any write
 * failed. Does not close the FILE. */
cl_status cl_json_finish(cl_json *j, const char *what);


/* ---- reader ---- */

/* cl_json_parse and cl_json_parse_file refuse larger texts: a tree takes up
 * to ~130 bytes per byte of text ("[0,0,...]"), so at most ~140 MB. */
#define CL_JSON_MAXFILE (1 << 20)

typedef enum {
    CL_JSON_NULL,
    CL_JSON_BOOL,
    CL_JSON_NUMBER,
    CL_JSON_STRING,
    CL_JSON_ARRAY,
    CL_JSON_OBJECT
} cl_json_type;

typedef struct cl_json_value cl_json_value;
struct cl_json_value {
    cl_json_type type;
    int line, col;         /* where the value starts (1-based; col in bytes) */
    const char *key;       /* member name inside an object, else NULL */
    int boolean;           /* CL_JSON_BOOL */
    double number;         /* CL_JSON_NUMBER: nearest double */
    const char *text;      /* CL_JSON_NUMBER: the literal as written (exact
                              integers); CL_JSON_STRING: decoded UTF-8, NUL-terminated
                              (\u0000 is refused) */
    size_t len;            /* bytes of text */
    int n;                 /* items of an array / members of an object */
    cl_json_value *items;  /* [n]; object members keep the file's order */
};

/* Parses text[0..len) (need not be NUL-terminated) into *root (free with
 * cl_json_value_free; NULL on error). Errors: CL_EFORMAT with one line
 * "<name>:<line>:<col>: <problem>" (bad token, unterminated string, bad
 * escape, duplicate member, depth over CL_JSON_MAXDEPTH, text after the
 * value, number out of double range, more than CL_JSON_MAXFILE bytes),
 * CL_ENOMEM. */
cl_status cl_json_parse(const char *text, size_t len, const char *name, cl_json_value **root);
/* Reads and parses a file (name in messages = path). Errors as above, plus
 * CL_EIO (cannot open/read) and CL_EFORMAT over CL_JSON_MAXFILE bytes. */
cl_status cl_json_parse_file(const char *path, cl_json_value **root);
/* Frees a tree from cl_json_parse*. NULL is fine. */
void cl_json_value_free(cl_json_value *root);

/* The member `key` of an object (first match), or NULL if obj is NULL, not
 * an object, or lacks it. Chains: cl_json_get(cl_json_get(r, "a"), "b"). */
const cl_json_value *cl_json_get(const cl_json_value *obj, const char *key);
/* The string, or NULL if v is NULL or not a string. */
const char *cl_json_as_str(const cl_json_value *v);
/* Each returns 1 and sets *out if v has that type (for the integer forms: a
 * literal without fraction or exponent that fits), else 0 (v may be NULL). */
int cl_json_as_bool(const cl_json_value *v, int *out);
int cl_json_as_double(const cl_json_value *v, double *out);
int cl_json_as_i64(const cl_json_value *v, int64_t *out);
int cl_json_as_u64(const cl_json_value *v, uint64_t *out);

#endif
