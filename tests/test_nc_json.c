/* The analyzer's result in JSON (cl_nc_result_json), and the JSON writer
 * it uses: escapes and nulls, a write failure reported with the file name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/json.h"
#include "collapse/nc.h"
#include "nc_common.h"

Test(nc_json, json_form)
{
    ncase c;
    load_case("conv", &c);
    cl_nc_result r;
    cr_assert_eq(cl_nc_analyze(c.H, c.N, c.D, c.y, c.K, c.W, NULL, NULL, &r), CL_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cl_json j;
    cl_json_init(&j, f, 0);
    cl_json_obj_begin(&j, NULL);
    cl_nc_result_json(&j, &r);
    cl_json_obj_end(&j);
    cr_assert_eq(cl_json_finish(&j, "mem"), CL_OK);
    fclose(f);
    cr_assert(strstr(buf, "{\"N\":48,\"D\":18,\"K\":3,\"has_W\":true,\"has_b\":false,") ==
                  buf,
              "%s", buf);
    cr_assert(strstr(buf, "\"conventions\":{\"mu_G\":\"unweighted\",\"nc4_bias\":false"),
              "%s", buf);
    char want[64];
    snprintf(want, sizeof want, "\"nc1\":%.17g,", r.nc1);
    cr_assert(strstr(buf, want), "%s lacks %s", buf, want);
    free(buf);
    free_case(&c);
}

Test(nc_json, json_writer_escapes_and_nulls)
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

Test(nc_json, json_writer_reports_write_failure)
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
