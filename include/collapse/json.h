/* A tiny streaming JSON writer (no reader): objects, arrays, numbers,
 * strings, booleans. Numbers print with %.17g (round-trip exact); NaN and
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
 * where none is allowed, is a programmer error (CL_ASSERT). */
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
/* Checks every level was closed (CL_ASSERT), writes a final newline and
 * flushes. Returns CL_EIO (message names `what`, e.g. the file) if any write
 * failed. Does not close the FILE. */
cl_status cl_json_finish(cl_json *j, const char *what);

#endif
