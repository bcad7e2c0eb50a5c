/* Data module, PNG folders: class folders, gray and RGB, broken folders
 * giving one line naming the file. */
#include <criterion/criterion.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/data.h"
#include "common.h"

/* ---- PNG folders ---- */

TestSuite(data_png, .init = tc_tmp_init, .fini = tc_tmp_fini);

static void write_png(const char *path, int w, int h, int rgb, int seed)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    int C = rgb ? 3 : 1;
    unsigned char *buf = malloc((size_t)(w * h * C));
    for (int i = 0; i < w * h * C; i++)
        buf[i] = (unsigned char)((i * 7 + seed * 31) % 256);
    cr_assert(png_image_write_to_file(&img, path, 0, buf, 0, NULL), "%s", img.message);
    free(buf);
}

static void mkd(const char *p)
{
    cr_assert_eq(mkdir(p, 0777), 0, "%s", p);
}

Test(data_png, folder_rgb_classes_sorted)
{
    mkd(tpath("zebra"));
    mkd(tpath("ant"));
    write_png(tpath("zebra/b.png"), 5, 4, 1, 1);
    write_png(tpath("zebra/a.png"), 5, 4, 1, 2);
    write_png(tpath("ant/x.png"), 5, 4, 1, 3);
    tc_write_file(tpath("ant/notes.txt"), "hi", 2); /* ignored: not *.png */
    cl_dataset d;
    cr_assert_eq(cl_data_load_pngdir(tc_tmpdir(), &d), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.classes, 2);
    cr_assert_str_eq(d.class_names[0], "ant");
    cr_assert_str_eq(d.class_names[1], "zebra");
    cr_assert(d.shape.c == 3 && d.shape.h == 4 && d.shape.w == 5);
    cr_assert(d.y[0] == 0 && d.y[1] == 1 && d.y[2] == 1);
    /* sample 1 is zebra/a.png (seed 2): interleaved RGB -> planes */
    for (int q = 0; q < 20; q++)
        for (int c = 0; c < 3; c++)
            cr_assert_eq(d.x[60 + c * 20 + q],
                         (float)(((q * 3 + c) * 7 + 62) % 256) / 255.0f);
    cl_dataset_free(&d);
}

Test(data_png, gray_train_test_by_path)
{
    mkd(tpath("train"));
    mkd(tpath("test"));
    mkd(tpath("train/a"));
    mkd(tpath("test/a"));
    write_png(tpath("train/a/1.png"), 3, 3, 0, 1);
    write_png(tpath("test/a/1.png"), 3, 3, 0, 2);
    cl_dataset d;
    cr_assert_eq(cl_data_load(tc_tmpdir(), NULL, 0, &d), CL_OK, "%s", cl_errmsg());
    cr_assert(d.n == 1 && d.shape.c == 1 && d.classes == 1);
    cr_assert_eq(d.x[4], (float)((4 * 7 + 62) % 256) / 255.0f);
    cl_dataset_free(&d);
}

Test(data_png, broken_folders)
{
    cl_dataset d;
    mkd(tpath("a"));
    mkd(tpath("b"));
    write_png(tpath("a/1.png"), 4, 4, 0, 1);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b"),
                  "empty class folder");
    write_png(tpath("b/1.png"), 4, 5, 0, 1);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/1.png"),
                  "4x5");
    write_png(tpath("b/1.png"), 4, 4, 1, 1);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/1.png"),
                  "RGB");
    write_png(tpath("b/1.png"), 4, 4, 0, 1);
    tc_write_file(tpath("b/2.png"), "this is not a png", 17);
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/2.png"),
                  "PNG");
    cr_assert_null(d.x);
    unlink(tpath("b/2.png"));
    cr_assert_eq(cl_data_load_pngdir(tc_tmpdir(), &d), CL_OK, "%s", cl_errmsg());
    cl_dataset_free(&d);
    /* 16-bit gray */
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = img.height = 4;
    img.format = PNG_FORMAT_LINEAR_Y;
    uint16_t px[16] = {0};
    cr_assert(png_image_write_to_file(&img, tpath("b/3.png"), 0, px, 0, NULL));
    tc_expect_err(cl_data_load_pngdir(tc_tmpdir(), &d), CL_EFORMAT, tpath("b/3.png"),
                  "16-bit");
    tc_expect_err(cl_data_load_pngdir(tpath("nope"), &d), CL_EIO, tpath("nope"), NULL);
}
