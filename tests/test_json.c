/* The JSON writer and reader (io/json.c, io/json_read.c): round trip,
 * escapes, strict grammar, line:col errors, depth limit, and every
 * results/<run>/config.json of the repository. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/json.h"

static cl_json_value *parse(const char *text)
{
    cl_json_value *v = NULL;
    cl_status st = cl_json_parse(text, strlen(text), "t.json", &v);
    cr_assert_eq(st, CL_OK, "%s: %s", text, cl_errmsg());
    return v;
}

static void parse_fails(const char *text, const char *want)
{
    cl_json_value *v = (cl_json_value *)1;
    cl_status st = cl_json_parse(text, strlen(text), "t.json", &v);
    cr_assert_eq(st, CL_EFORMAT, "'%s' parsed", text);
    cr_assert_null(v);
    cr_assert(strstr(cl_errmsg(), want), "'%s': want '%s' in: %s", text, want, cl_errmsg());
    cr_assert(!strchr(cl_errmsg(), '\n'), "one line: %s", cl_errmsg());
}

Test(json, reads_every_type_and_escape)
{
    cl_json_value *r = parse(" {\"a\": [1, -2.5e3, true, false, null],\n"
                             "  \"s\": \"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\ud83d\\ude00\",\n"
                             "  \"big\": 18446744073709551615, \"o\": {}, \"e\": []} ");
    cr_assert_eq(r->type, CL_JSON_OBJECT);
    cr_assert_eq(r->n, 5);
    const cl_json_value *a = cl_json_get(r, "a");
    cr_assert(a && a->type == CL_JSON_ARRAY && a->n == 5);
    int64_t i;
    double d;
    int b;
    cr_assert(cl_json_as_i64(&a->items[0], &i) && i == 1);
    cr_assert(!cl_json_as_i64(&a->items[1], &i), "-2.5e3 is not an integer literal");
    cr_assert(cl_json_as_double(&a->items[1], &d) && d == -2500);
    cr_assert(cl_json_as_bool(&a->items[2], &b) && b == 1);
    cr_assert(cl_json_as_bool(&a->items[3], &b) && b == 0);
    cr_assert_eq(a->items[4].type, CL_JSON_NULL);
    cr_assert_str_eq(cl_json_as_str(cl_json_get(r, "s")),
                     "q\"b\\s/n\nt\tu\xc3\xa9\xf0\x9f\x98\x80");
    uint64_t u;
    cr_assert(cl_json_as_u64(cl_json_get(r, "big"), &u) && u == UINT64_MAX);
    cr_assert(!cl_json_as_i64(cl_json_get(r, "big"), &i), "out of int64 range");
    cr_assert_eq(cl_json_get(r, "o")->n, 0);
    cr_assert_eq(cl_json_get(r, "s")->line, 2);
    cr_assert_eq(cl_json_get(r, "s")->col, 8);
    cr_assert_null(cl_json_get(r, "missing"));
    cr_assert_null(cl_json_get(a, "a"), "not an object");
    cr_assert_null(cl_json_get(NULL, "a"));
    cr_assert_null(cl_json_as_str(a));
    cl_json_value_free(r);
}

Test(json, strict_grammar_with_line_and_column)
{
    parse_fails("{\"a\": 1,\n \"b\" 2}", "t.json:2:6: expected ':'");
    parse_fails("{\"a\": 1,}", "t.json:1:9: expected a member name");
    parse_fails("[1 2]", "1:4: expected ',' or ']'");
    parse_fails("{\"a\": 1, \"a\": 2}", "1:10: duplicate member \"a\"");
    parse_fails("\"abc", "unterminated string");
    parse_fails("\"a\nb\"", "control character");
    parse_fails("\"\\x\"", "bad escape");
    parse_fails("\"\\u12g4\"", "bad \\u escape");
    parse_fails("\"\\ud800x\"", "surrogate");
    parse_fails("\"\\u0000\"", "\\u0000");
    parse_fails("01", "unexpected text after the value");
    parse_fails("-", "bad number");
    parse_fails("1.", "bad number");
    parse_fails("1e", "exponent");
    parse_fails("1e999", "out of range");
    parse_fails("tru", "want a value");
    parse_fails("", "unexpected end of input");
    parse_fails("[1] x", "1:5: unexpected text");
    parse_fails("{\"a\": [1, {\"b\": ", "unexpected end of input");
    parse_fails("'a'", "unexpected character");
}

Test(json, depth_limit)
{
    char deep[2 * CL_JSON_MAXDEPTH + 3];
    for (int n = CL_JSON_MAXDEPTH; n <= CL_JSON_MAXDEPTH + 1; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        deep[2 * n] = 0;
        cl_json_value *v = NULL;
        cl_status st = cl_json_parse(deep, strlen(deep), "deep", &v);
        if (n == CL_JSON_MAXDEPTH) {
            cr_assert_eq(st, CL_OK, "%s", cl_errmsg());
            cl_json_value_free(v);
        } else {
            cr_assert_eq(st, CL_EFORMAT);
            cr_assert(strstr(cl_errmsg(), "deep:1:33: nested deeper than 32"), "%s",
                      cl_errmsg());
        }
    }
}

Test(json, writer_escapes_and_nulls)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cl_json j;
    cl_json_init(&j, f, 0);
    cl_json_obj_begin(&j, NULL);
    cl_json_str(&j, "s", "a\"b\\c\nd\x01");
    cl_json_num(&j, "nan", NAN);
    cl_json_num(&j, "inf", INFINITY);
    cl_json_arr_begin(&j, "arr");
    cl_json_int(&j, NULL, -3);
    cl_json_bool(&j, NULL, 1);
    cl_json_arr_end(&j);
    cl_json_obj_begin(&j, "empty");
    cl_json_obj_end(&j);
    cl_json_obj_end(&j);
    cr_assert_eq(cl_json_finish(&j, "mem"), CL_OK);
    fclose(f);
    cr_assert_str_eq(buf, "{\"s\":\"a\\\"b\\\\c\\nd\\u0001\",\"nan\":null,\"inf\":null,"
                          "\"arr\":[-3,true],\"empty\":{}}\n");
    free(buf);
}

Test(json, writer_reports_write_failure)
{
    FILE *f = fopen("/dev/full", "w");
    cr_assert_not_null(f);
    setvbuf(f, NULL, _IONBF, 0);
    cl_json j;
    cl_json_init(&j, f, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_num(&j, "x", 1.0);
    cl_json_obj_end(&j);
    cr_assert_eq(cl_json_finish(&j, "/dev/full"), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "/dev/full"), "%s", cl_errmsg());
    fclose(f);
}

Test(json, writer_output_reads_back)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cl_json j;
    cl_json_init(&j, f, 1);
    cl_json_obj_begin(&j, NULL);
    cl_json_str(&j, "s", "a\"b\\c\nd\x01\xc3\xa9");
    cl_json_num(&j, "x", 0.1);
    cl_json_num(&j, "nan", NAN);
    cl_json_u64(&j, "seed", UINT64_MAX);
    cl_json_int(&j, "neg", INT64_MIN);
    cl_json_arr_begin(&j, "arr");
    cl_json_bool(&j, NULL, 1);
    cl_json_arr_end(&j);
    cl_json_obj_end(&j);
    cr_assert_eq(cl_json_finish(&j, "mem"), CL_OK);
    fclose(f);
    cl_json_value *r = parse(buf);
    cr_assert_str_eq(cl_json_as_str(cl_json_get(r, "s")), "a\"b\\c\nd\x01\xc3\xa9");
    double x;
    cr_assert(cl_json_as_double(cl_json_get(r, "x"), &x) && x == 0.1);
    cr_assert_eq(cl_json_get(r, "nan")->type, CL_JSON_NULL);
    uint64_t u;
    int64_t i;
    cr_assert(cl_json_as_u64(cl_json_get(r, "seed"), &u) && u == UINT64_MAX);
    cr_assert(cl_json_as_i64(cl_json_get(r, "neg"), &i) && i == INT64_MIN);
    cr_assert_eq(cl_json_get(r, "arr")->n, 1);
    cl_json_value_free(r);
    free(buf);
}

/* Every config.json the repository ships (written by older versions) reads. */
Test(json, reads_the_repository_config_files)
{
    DIR *d = opendir("../results");
    cr_assert(d, "../results (tests run from tests/)");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[512];
        snprintf(path, sizeof path, "../results/%s/config.json", e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        cl_json_value *r = NULL;
        cr_assert_eq(cl_json_parse_file(path, &r), CL_OK, "%s", cl_errmsg());
        const cl_json_value *data = cl_json_get(r, "data");
        int64_t tpc;
        uint64_t seed;
        cr_assert(cl_json_as_str(cl_json_get(data, "data")), "%s: data.data", path);
        cr_assert(cl_json_as_i64(cl_json_get(data, "train_per_class"), &tpc) && tpc > 0,
                  "%s", path);
        cr_assert(cl_json_as_u64(cl_json_get(data, "seed"), &seed), "%s", path);
        cr_assert(cl_json_as_str(cl_json_get(cl_json_get(r, "options"), "loss")), "%s",
                  path);
        cl_json_value_free(r);
        n++;
    }
    closedir(d);
    cr_assert(n >= 5, "found %d config files", n);
    cl_json_value *r = NULL;
    cr_assert_eq(cl_json_parse_file("../results/no/such.json", &r), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "no/such.json"), "%s", cl_errmsg());
}
