/* Named values written once, read by two consumers: the config.json writer
 * and the resume hash. A list of options is walked by one function that
 * calls a cl_cli_fields sink per value, so config.json and the hash can
 * never list different options. */
#ifndef COLLAPSE_CLI_FIELDS_H
#define COLLAPSE_CLI_FIELDS_H

#include <stdint.h>

#include "collapse/json.h"

typedef struct cl_cli_fields cl_cli_fields;
struct cl_cli_fields {
    /* key is NULL inside an array */
    void (*i64)(cl_cli_fields *f, const char *key, int64_t v);
    void (*u64)(cl_cli_fields *f, const char *key, uint64_t v);
    void (*dbl)(cl_cli_fields *f, const char *key, double v);
    void (*boolean)(cl_cli_fields *f, const char *key, int v);
    void (*str)(cl_cli_fields *f, const char *key, const char *s); /* NULL: null */
    void (*begin)(cl_cli_fields *f, const char *key, char kind);    /* '{' or '[' */
    void (*end)(cl_cli_fields *f, char kind);
};

/* A sink writing into an open cl_json (objects and arrays as such). */
typedef struct {
    cl_cli_fields f; /* first: the sink is used as a cl_cli_fields * */
    cl_json *j;
} cl_cli_fields_json;
void cl_cli_fields_json_init(cl_cli_fields_json *s, cl_json *j);

/* A sink hashing a canonical serialization: per value its key (with the
 * NUL), a type tag and the value (integers and doubles as 8 little-endian
 * bytes, a double by its bits; strings with a presence byte and the NUL).
 * Independent of any text formatting. */
typedef struct {
    cl_cli_fields f;
    uint64_t h; /* FNV-1a 64 so far */
} cl_cli_fields_hash;
void cl_cli_fields_hash_init(cl_cli_fields_hash *s);

#endif
