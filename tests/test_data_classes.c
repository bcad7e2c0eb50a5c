/* Class subsets (data/classes.c): the list parser (order kept, ranges,
 * errors) and the remap of a small in-memory dataset (rows, labels, names,
 * index, targets). */
#include <criterion/criterion.h>
#include <string.h>

#include "collapse/data.h"
#include "collapse/mem.h"

Test(data_classes, parse_lists)
{
    int l[CL_DATA_MAX_CLASSES], k;
    cr_assert_eq(cl_data_class_list("--classes", "5-7,0,2", 10, l, &k), CL_OK);
    cr_assert_eq(k, 5);
    int want[] = {5, 6, 7, 0, 2};
    cr_assert(!memcmp(l, want, sizeof want));
    const char *bad[] = {"", "3", "1,1", "0-3,2", "a", "1-", "2-1", "1,,2", "0,10"};
    const char *msg[] = {"empty", "at least 2", "twice", "twice", "class list",
                         "class list", "class list", "class list", "out of range"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cl_data_class_list("--classes", bad[i], 10, l, &k), CL_EINVAL, "%s", bad[i]);
        cr_assert(strstr(cl_errmsg(), msg[i]) && strstr(cl_errmsg(), "--classes"), "%s: %s",
                  bad[i], cl_errmsg());
    }
    cr_assert_eq(cl_data_class_list("--classes", "0,10", 0, l, &k), CL_OK); /* syntax only */
}

Test(data_classes, remap_rows)
{
    cl_dataset d;
    memset(&d, 0, sizeof d);
    d.n = 6;
    d.shape = (cl_shape){1, 1, 2};
    d.classes = 4;
    for (int c = 0; c < 4; c++) snprintf(d.class_names[c], 32, "c%d", c);
    d.x = cl_alloc_array(12, sizeof(float), "x");
    d.y = cl_alloc_array(6, sizeof(int32_t), "y");
    d.y_true = cl_alloc_array(6, sizeof(int32_t), "y_true");
    d.index = cl_alloc_array(6, sizeof(int64_t), "index");
    d.t = cl_alloc_array(6, sizeof(float), "t");
    d.tdim = 1;
    int32_t y[] = {0, 3, 1, 2, 3, 0};
    for (int i = 0; i < 6; i++) {
        d.y[i] = d.y_true[i] = y[i];
        d.index[i] = 100 + i;
        d.x[2 * i] = (float)i, d.x[2 * i + 1] = (float)-i;
        d.t[i] = (float)(10 * i);
    }
    int list[] = {3, 0};
    cr_assert_eq(cl_data_select_classes(&d, list, 2), CL_OK);
    cr_assert_eq(d.n, 4);
    cr_assert_eq(d.classes, 2);
    int32_t wy[] = {1, 0, 0, 1};
    int64_t wi[] = {100, 101, 104, 105};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(d.y[i], wy[i]);
        cr_assert_eq(d.y_true[i], wy[i]);
        cr_assert_eq(d.index[i], wi[i]);
        cr_assert_eq(d.x[2 * i], (float)(wi[i] - 100));
        cr_assert_eq(d.t[i], (float)(10 * (wi[i] - 100)));
    }
    cr_assert_str_eq(d.class_names[0], "c3");
    cr_assert_str_eq(d.class_names[1], "c0");
    int bad[] = {0, 5};
    cr_assert_eq(cl_data_select_classes(&d, bad, 2), CL_EINVAL);
    int dup[] = {1, 1};
    cr_assert_eq(cl_data_select_classes(&d, dup, 2), CL_EINVAL);
    cr_assert_eq(d.n, 4);
    cl_dataset_free(&d);
}

/* Multi-label data: a sample stays when its whole label set is listed; its
 * K-hot row keeps the listed columns in the listed order, y = lowest new label. */
Test(data_classes, remap_khot_rows)
{
    cl_dataset d;
    memset(&d, 0, sizeof d);
    d.n = 5;
    d.shape = (cl_shape){1, 1, 1};
    d.classes = 4;
    d.x = cl_alloc_array(5, sizeof(float), "x");
    d.y = cl_alloc_array(5, sizeof(int32_t), "y");
    d.y_true = cl_alloc_array(5, sizeof(int32_t), "y_true");
    d.index = cl_alloc_array(5, sizeof(int64_t), "index");
    for (int i = 0; i < 5; i++) d.x[i] = (float)i, d.index[i] = i;
    /* {0}, {1,3}, {2}, {0,3}, {3} */
    const uint8_t yk[] = {1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1};
    cr_assert_eq(cl_data_set_khot(&d, yk, 5, 4, "test"), CL_OK);
    int list[] = {3, 0}; /* new 0 = old 3, new 1 = old 0 */
    cr_assert_eq(cl_data_select_classes(&d, list, 2), CL_OK);
    cr_assert_eq(d.n, 3); /* {0}, {0,3}, {3} */
    const uint8_t want[] = {0, 1, 1, 1, 1, 0};
    const int32_t wy[] = {1, 0, 0};
    const float wx[] = {0, 3, 4};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(d.y[i], wy[i], "row %d", i);
        cr_assert_eq(d.y_true[i], wy[i], "row %d", i);
        cr_assert_eq(d.x[i], wx[i], "row %d", i);
        for (int c = 0; c < 2; c++) cr_assert_eq(d.yk[i * 2 + c], want[i * 2 + c], "row %d", i);
    }
    cl_dataset_free(&d);
}
