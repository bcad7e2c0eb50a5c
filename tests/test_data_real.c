/* Data module, real data sets: MNIST / Fashion-MNIST / CIFAR-10 counts,
 * histograms and pixels against an independent zlib read. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "collapse/data.h"
#include "data_common.h"

static const int64_t mnist_train_hist[10] = {5923, 6742, 5958, 6131, 5842,
                                             5421, 5918, 6265, 5851, 5949};
static const int64_t mnist_test_hist[10] = {980, 1135, 1032, 1010, 982,
                                            892, 958,  1028, 974,  1009};

/* ---- real data ---- */

TestSuite(data_real);

Test(data_real, mnist_counts_histograms_and_pixels)
{
    cl_dataset d;
    load_or_fail("mnist", NULL, 1, &d);
    cr_assert_eq(d.n, 60000);
    cr_assert(d.shape.c == 1 && d.shape.h == 28 && d.shape.w == 28);
    cr_assert_eq(d.classes, 10);
    assert_hist(&d, mnist_train_hist);
    /* pixels against an independent read of the file */
    char p[4096];
    snprintf(p, sizeof p, "%s/mnist/train-images-idx3-ubyte.gz", cl_data_root());
    gzFile g = gzopen(p, "rb");
    cr_assert_not_null(g, "%s", p);
    unsigned char hdr[16], img[784];
    cr_assert_eq(gzread(g, hdr, 16), 16);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(gzread(g, img, 784), 784);
        for (int q = 0; q < 784; q++)
            cr_assert_eq(d.x[(size_t)i * 784 + q], img[q] / 255.0f, "image %d pixel %d",
                         i, q);
    }
    gzclose(g);
    float lo = 1, hi = 0;
    for (size_t q = 0; q < (size_t)d.n * 784; q++) {
        lo = fminf(lo, d.x[q]);
        hi = fmaxf(hi, d.x[q]);
    }
    cr_assert(lo == 0.0f && hi == 1.0f);
    cr_assert_eq(d.y[0], 5); /* the famous first MNIST digit */
    cl_dataset_free(&d);
    load_or_fail("mnist", NULL, 0, &d);
    cr_assert_eq(d.n, 10000);
    assert_hist(&d, mnist_test_hist);
    cr_assert_eq(d.y[0], 7);
    cl_dataset_free(&d);
    cl_dataset_free(&d); /* twice is fine */
}

Test(data_real, fashion_counts_and_names)
{
    const int64_t tr[10] = {6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000};
    const int64_t te[10] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    cl_dataset d;
    load_or_fail("fashion", NULL, 1, &d);
    cr_assert_eq(d.n, 60000);
    assert_hist(&d, tr);
    cr_assert_str_eq(d.class_names[9], "Ankle boot");
    cl_dataset_free(&d);
    /* the Debian package's folder, given explicitly */
    load_or_fail("fashion", "/usr/share/datasets/fashion-mnist", 0, &d);
    cr_assert_eq(d.n, 10000);
    assert_hist(&d, te);
    cr_assert_eq(d.y[0], 9);
    cl_dataset_free(&d);
}

Test(data_real, cifar10_test_split_records_and_names)
{
    const int64_t te[10] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    cl_dataset d;
    load_or_fail("cifar10", NULL, 0, &d);
    cr_assert_eq(d.n, 10000);
    cr_assert(d.shape.c == 3 && d.shape.h == 32 && d.shape.w == 32);
    assert_hist(&d, te);
    cr_assert_str_eq(d.class_names[0], "airplane");
    cr_assert_str_eq(d.class_names[9], "truck");
    /* every record against an independent read: label, then R, G, B planes */
    const char *cands[] = {"%s/cifar10/test_batch.bin.gz",
                           "../shared/data/cifar10/test_batch.bin.gz",
                           "../../shared/data/cifar10/test_batch.bin.gz"};
    char p[4096];
    gzFile g = NULL;
    for (int i = 0; i < 3 && !g; i++) {
        snprintf(p, sizeof p, cands[i], cl_data_root());
        g = gzopen(p, "rb");
    }
    cr_assert_not_null(g);
    unsigned char rec[3073];
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(gzread(g, rec, 3073), 3073);
        cr_assert_eq(d.y[i], rec[0]);
        for (int q = 0; q < 3072; q++)
            if (d.x[(size_t)i * 3072 + q] != rec[1 + q] / 255.0f)
                cr_assert_fail("record %d byte %d", i, q);
    }
    gzclose(g);
    cl_dataset_free(&d);
}

Test(data_real, cifar10_train_split_is_5000_per_class)
{
    const int64_t tr[10] = {5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000};
    cl_dataset d;
    load_or_fail("cifar10", NULL, 1, &d);
    cr_assert_eq(d.n, 50000);
    assert_hist(&d, tr);
    cr_assert_eq(d.index[49999], 49999);
    cl_dataset_free(&d);
}

Test(data_real, unknown_name_and_missing_folder)
{
    cl_dataset d;
    cr_assert_eq(cl_data_load("no-such-set", NULL, 1, &d), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "no-such-set: unknown dataset"), "%s", cl_errmsg());
    cr_assert_eq(cl_data_load("mnist", "/nonexistent/dir", 1, &d), CL_EIO);
    cr_assert(strstr(cl_errmsg(), "/nonexistent/dir/train-images-idx3-ubyte"), "%s",
              cl_errmsg());
}
