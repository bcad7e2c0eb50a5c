/* Fuzz target: the JSON reader that reads a run's config.json
 * (cl_json_parse, cl_json_parse_file) and the typed lookups eval/features
 * make on it (cl_json_get, cl_json_as_*). The input is the file. Checks:
 * the memory and file readers agree; a failed parse leaves no tree and a
 * "name:line:col: ..." message; a tree has the promised shape (depth within
 * CL_JSON_MAXDEPTH, strings NUL-terminated with len = strlen, finite
 * numbers whose text reads back to the same double, object keys unique and
 * found by cl_json_get, exact integers agree with the double); and a tree
 * written back with the JSON writer (compact or pretty) parses to the same
 * tree.
 * FUZZ_ARGS: -max_len=16384 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/json.h"
#include "fuzz.h"

static void check_number(const cl_json_value *v)
{
    FUZZ_CHECK(v->text && strlen(v->text) == v->len && v->len > 0);
    FUZZ_CHECK(isfinite(v->number) && strtod(v->text, NULL) == v->number);
    int64_t i;
    uint64_t u;
    double d;
    FUZZ_CHECK(cl_json_as_double(v, &d) && d == v->number);
    if (cl_json_as_i64(v, &i)) FUZZ_CHECK((double)i == v->number);
    if (cl_json_as_u64(v, &u)) FUZZ_CHECK((double)u == v->number && v->text[0] != '-');
    FUZZ_CHECK(!cl_json_as_str(v) && !cl_json_as_bool(v, &(int){0}));
}

/* The tree's promised shape; v at nesting level `depth` (root 0). */
static void check_tree(const cl_json_value *v, int depth)
{
    FUZZ_CHECK(v->line >= 1 && v->col >= 1);
    switch (v->type) {
    case CL_JSON_NULL: break;
    case CL_JSON_BOOL: FUZZ_CHECK(v->boolean == 0 || v->boolean == 1); break;
    case CL_JSON_NUMBER: check_number(v); break;
    case CL_JSON_STRING:
        FUZZ_CHECK(v->text && strlen(v->text) == v->len && cl_json_as_str(v) == v->text);
        break;
    case CL_JSON_ARRAY:
    case CL_JSON_OBJECT:
        FUZZ_CHECK(depth < CL_JSON_MAXDEPTH && v->n >= 0 && (v->n == 0 || v->items));
        for (int i = 0; i < v->n; i++) {
            const cl_json_value *it = &v->items[i];
            if (v->type == CL_JSON_ARRAY) {
                FUZZ_CHECK(it->key == NULL);
            } else {
                FUZZ_CHECK(it->key != NULL);
                FUZZ_CHECK(cl_json_get(v, it->key) == it); /* keys are unique */
            }
            check_tree(it, depth + 1);
        }
        break;
    default: FUZZ_CHECK(!"unknown value type");
    }
}

/* Writes v with the writer (key NULL at the top level and in arrays).
 * Integers that fit go through cl_json_int/cl_json_u64 (exact). */
static void write_value(cl_json *j, const char *key, const cl_json_value *v)
{
    int64_t i;
    uint64_t u;
    switch (v->type) {
    case CL_JSON_NULL: cl_json_null(j, key); break;
    case CL_JSON_BOOL: cl_json_bool(j, key, v->boolean); break;
    case CL_JSON_STRING: cl_json_str(j, key, v->text); break;
    case CL_JSON_NUMBER:
        if (cl_json_as_i64(v, &i))
            cl_json_int(j, key, i);
        else if (cl_json_as_u64(v, &u))
            cl_json_u64(j, key, u);
        else
            cl_json_num(j, key, v->number);
        break;
    case CL_JSON_ARRAY:
    case CL_JSON_OBJECT:
        if (v->type == CL_JSON_ARRAY)
            cl_json_arr_begin(j, key);
        else
            cl_json_obj_begin(j, key);
        for (int k = 0; k < v->n; k++) write_value(j, v->items[k].key, &v->items[k]);
        if (v->type == CL_JSON_ARRAY)
            cl_json_arr_end(j);
        else
            cl_json_obj_end(j);
        break;
    }
}

/* Same values (positions aside). */
static void same_tree(const cl_json_value *a, const cl_json_value *b)
{
    FUZZ_CHECK(a->type == b->type && a->n == b->n);
    FUZZ_CHECK((a->key == NULL) == (b->key == NULL) && (!a->key || !strcmp(a->key, b->key)));
    int64_t ia, ib;
    uint64_t ua, ub;
    switch (a->type) {
    case CL_JSON_BOOL: FUZZ_CHECK(a->boolean == b->boolean); break;
    case CL_JSON_STRING: FUZZ_CHECK(a->len == b->len && !memcmp(a->text, b->text, a->len)); break;
    case CL_JSON_NUMBER:
        FUZZ_CHECK(a->number == b->number);
        if (cl_json_as_i64(a, &ia)) FUZZ_CHECK(cl_json_as_i64(b, &ib) && ia == ib);
        if (cl_json_as_u64(a, &ua)) FUZZ_CHECK(cl_json_as_u64(b, &ub) && ua == ub);
        break;
    default:
        for (int i = 0; i < a->n; i++) same_tree(&a->items[i], &b->items[i]);
    }
}

static void round_trip(const cl_json_value *root, int pretty)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    FUZZ_CHECK(f != NULL);
    cl_json j;
    cl_json_init(&j, f, pretty);
    write_value(&j, NULL, root);
    FUZZ_CHECK(cl_json_finish(&j, "<memory>") == CL_OK);
    FUZZ_CHECK(fclose(f) == 0);
    cl_json_value *back = NULL;
    FUZZ_CHECK(cl_json_parse(text, len, "<round trip>", &back) == CL_OK);
    same_tree(root, back);
    cl_json_value_free(back);
    free(text);
}

/* The lookups of `collapse eval/features` on a run's config.json: none may
 * fail loudly, whatever the types. */
static void lookups(const cl_json_value *root)
{
    static const char *const objs[] = {"options", "data", "study", "run", "model"};
    static const char *const keys[] = {"batch", "eval_batch", "bn_mode", "loss", "data",
                                       "seed", "resize", "normalize", "random_labels"};
    for (size_t o = 0; o < sizeof objs / sizeof *objs; o++)
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            const cl_json_value *v = cl_json_get(cl_json_get(root, objs[o]), keys[k]);
            int64_t i;
            uint64_t u;
            double d;
            int b;
            const char *s = cl_json_as_str(v);
            int n = cl_json_as_i64(v, &i) + cl_json_as_u64(v, &u) + cl_json_as_bool(v, &b);
            n += cl_json_as_double(v, &d);
            FUZZ_CHECK(!v || v->key != NULL);
            FUZZ_CHECK(!s || (!n && v->type == CL_JSON_STRING));
        }
    FUZZ_CHECK(cl_json_get(NULL, "x") == NULL && cl_json_as_str(NULL) == NULL);
}

int fuzz_config_json(const uint8_t *data, size_t size)
{
    cl_json_value *root = (cl_json_value *)1, *froot = (cl_json_value *)1;
    cl_status st = cl_json_parse((const char *)data, size, "fuzz.json", &root);
    if (st != CL_OK) {
        FUZZ_CHECK(root == NULL && st == CL_EFORMAT);
        FUZZ_CHECK(!strncmp(cl_errmsg(), "fuzz.json:", 10));
    }
    char path[512];
    fuzz_path(path, sizeof path, "config.json");
    fuzz_write(path, data, size);
    cl_status fst = cl_json_parse_file(path, &froot);
    FUZZ_CHECK(fst == st);
    if (st != CL_OK) {
        FUZZ_CHECK(froot == NULL && !strncmp(cl_errmsg(), path, strlen(path)));
        return 0;
    }
    check_tree(root, 0);
    same_tree(root, froot);
    lookups(root);
    round_trip(root, size & 1);
    cl_json_value_free(root);
    cl_json_value_free(froot);
    return 0;
}

CL_FUZZ_ENTRY(config_json)
