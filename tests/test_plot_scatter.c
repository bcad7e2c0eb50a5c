/* Feature scatters (cl_plot_features, `collapse plot` on a run with 2- or
 * 3-D features): the PNG decodes with libpng at the asked size and shows
 * the class colours; other dimensions are a clear error / note. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "collapse/plot.h"
#include "collapse/rng.h"
#include "common.h"

TestSuite(plot_scatter, .init = tc_tmp_init, .fini = tc_tmp_fini);

/* Decodes path as RGB; checks the size and returns how many of the first
 * `k` tab10 colours (plot.c's palette) appear in it (to within 12 in the
 * summed channel difference). */
static int decoded_colours(const char *path, int w, int h, int k)
{
    static const unsigned char tab10[10][3] = {
        {31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
        {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&im, path), "%s: %s", path, im.message);
    cr_assert_eq((int)im.width, w);
    cr_assert_eq((int)im.height, h);
    im.format = PNG_FORMAT_RGB;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(im));
    cr_assert(png_image_finish_read(&im, NULL, buf, 0, NULL), "%s: %s", path, im.message);
    int seen = 0;
    for (int c = 0; c < k; c++)
        for (size_t i = 0; i < (size_t)w * h; i++)
            if (abs(buf[3 * i] - tab10[c][0]) + abs(buf[3 * i + 1] - tab10[c][1]) +
                    abs(buf[3 * i + 2] - tab10[c][2]) <=
                12) { /* antialiased dots: nearly the colour */
                seen++;
                break;
            }
    free(buf);
    return seen;
}

/* K clusters around directions 2 pi k / K (dim 2) or on a tilted circle (dim 3). */
static void clusters(float *H, int32_t *y, float *W, int n, int K, int dim)
{
    cl_rng r;
    cl_rng_seed(&r, 3);
    for (int i = 0; i < n; i++) {
        int k = i % K;
        double a = 6.283185307179586 * k / K;
        y[i] = k;
        H[i * dim] = (float)(3 * cos(a) + 0.3 * cl_rng_normal(&r));
        H[i * dim + 1] = (float)(3 * sin(a) + 0.3 * cl_rng_normal(&r));
        if (dim == 3)
            H[i * dim + 2] = (float)(0.5 * H[i * dim] + 0.1 * cl_rng_normal(&r));
    }
    for (int k = 0; k < K; k++) {
        double a = 6.283185307179586 * k / K;
        W[k * dim] = (float)cos(a);
        W[k * dim + 1] = (float)sin(a);
        if (dim == 3) W[k * dim + 2] = (float)(0.5 * cos(a));
    }
}

Test(plot_scatter, dim2_and_dim3_are_whole_pngs)
{
    enum { N = 600, K = 6 };
    float H[N * 3], W[K * 3];
    int32_t y[N];
    char path[160];
    for (int dim = 2; dim <= 3; dim++) {
        clusters(H, y, W, N, K, dim);
        snprintf(path, sizeof path, "%s/scatter%d.png", tc_tmpdir(), dim);
        cr_assert_eq(cl_plot_features(path, "test #1", H, N, dim, y, K, W, 500, 400),
                     CL_OK, "%s", cl_errmsg());
        cr_assert(tc_is_png(path));
        cr_assert_eq(decoded_colours(path, 500, 400, K), K,
                     "dim %d: a class colour is missing", dim);
    }
    /* without W: points only */
    cr_assert_eq(cl_plot_features(path, NULL, H, N, 3, y, K, NULL, 300, 300), CL_OK);
    cr_assert_eq(decoded_colours(path, 300, 300, K), K);
}

Test(plot_scatter, other_dims_and_bad_labels)
{
    float H[40] = {0};
    int32_t y[10] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    char path[160];
    snprintf(path, sizeof path, "%s/s.png", tc_tmpdir());
    cr_assert_eq(cl_plot_features(path, "t", H, 10, 4, y, 2, NULL, 300, 300), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "dim 4") && strstr(cl_errmsg(), "2 or 3"), "%s",
              cl_errmsg());
    cr_assert_eq(cl_plot_features(path, "t", H, 10, 1, y, 2, NULL, 300, 300), CL_EINVAL);
    y[3] = 5;
    cr_assert_eq(cl_plot_features(path, "t", H, 10, 2, y, 2, NULL, 300, 300), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "label 5"), "%s", cl_errmsg());
    cr_assert_eq(tc_count_entries(tc_tmpdir()), 0, "nothing written");
}

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

Test(plot_scatter, cli_draws_dim3_and_explains_other_dims, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "scatter");
    char model[256], model3[256], run3[256], run32[256], png[300], text[4096];
    small_model(&c, model, sizeof model);
    /* 3-D features straight from a linear layer (a ReLU there can leave the
     * class means of rank < 3 at epoch 0, and the study refuses NC1 then) */
    sub(model3, sizeof model3, "%s/d3.cfg", c.dir);
    FILE *f = fopen(model3, "w");
    fputs("[flat]\nkind = flatten\n[fc1]\nkind = linear\nout = 16\n[relu]\nkind = relu\n"
          "[feat]\nkind = linear\nout = 3\n[fc]\nkind = linear\n",
          f);
    fclose(f);
    sub(run3, sizeof run3, "%s/d3", c.dir);
    sub(run32, sizeof run32, "%s/d32", c.dir);
    const char *a[] = {
        "train", "--model",          model3,  "--data",   "fashion", "--train-per-class",
        "20",    "--test-per-class", "5",     "--epochs", "1",       "--batch",
        "50",    "--no-plots",       "--out", run3,       NULL};
    run_ok(&c, a);
    const char *p[] = {"plot", run3, NULL};
    run_ok(&c, p);
    sub(png, sizeof png, "%s/features.png", run3);
    cr_assert(tc_is_png(png));
    cr_assert_eq(decoded_colours(png, 900, 900, 10), 10);
    const char *b[] = {
        "train", "--model",          model,   "--data",   "fashion", "--train-per-class",
        "20",    "--test-per-class", "5",     "--epochs", "1",       "--batch",
        "50",    "--no-plots",       "--out", run32,      NULL};
    run_ok(&c, b);
    const char *q[] = {"plot", run32, NULL};
    run_ok(&c, q);
    slurp(c.out, text, sizeof text);
    cr_assert(strstr(text, "features have dim 32; a scatter needs dim 2 or 3"), "%s",
              text);
    sub(png, sizeof png, "%s/features.png", run32);
    cr_assert_neq(access(png, F_OK), 0);
    ctx_done(&c);
}

Test(plot_scatter, csv_columns_against_a_column)
{
    char csv[160], png[160], a[600], out[2048];
    snprintf(csv, sizeof csv, "%s/s.csv", tc_tmpdir());
    snprintf(png, sizeof png, "%s/s.png", tc_tmpdir());
    FILE *f = fopen(csv, "w");
    fputs("R,minority_cos_W,majority_cos_W\n1,-0.11,-0.1\n10,0.5,-0.15\n100,nan,-0.2\n",
          f);
    fclose(f);
    snprintf(a, sizeof a,
             "plot --csv %s --x R --y minority_cos_W,majority_cos_W --logx --png %s", csv,
             png);
    cr_assert_eq(tc_run_capture(a, out, sizeof out), 0, "%s", out);
    cr_assert(tc_is_png(png));
    snprintf(a, sizeof a, "plot --csv %s --x R --y nosuch --png %s", csv, png);
    cr_assert_eq(tc_run_capture(a, out, sizeof out), 1);
    cr_assert(strstr(out, "nosuch"), "%s", out);
    cr_assert_eq(tc_run_capture("plot --x R", out, sizeof out), 2);
    cr_assert(strstr(out, "--csv"), "%s", out);
}
