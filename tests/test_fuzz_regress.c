/* Regression tests for what fuzzing found (issue 11; docs/RELIABILITY.md).
 * Each builds the smallest file that triggered the finding; the crashing
 * inputs themselves are also in tests/fuzz/corpus/<target>/regress-* and
 * replayed by test_fuzz_replay.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "collapse/ckpt.h"
#include "collapse/train.h"
#include "collapse/data.h"
#include "collapse/error.h"
#include "common.h"
#include "fuzz/fuzz.h"

/* The scratch folder of the fuzz helpers (tests/fuzz/fuzz_util.c). */
static char dir[256];

static void setup(void) { snprintf(dir, sizeof dir, "%s", fuzz_dir()); }

static void teardown(void) { fuzz_cleanup(); }

TestSuite(fuzz_regress, .init = setup, .fini = teardown);

/* A little-endian byte builder for checkpoint files. */
typedef struct {
    unsigned char b[1024];
    size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n)
{
    cr_assert_leq(o->n + n, sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put64(bytes *o, int64_t v) { put(o, &v, 8); }
static void put32(bytes *o, int32_t v) { put(o, &v, 4); }

static void header(bytes *o, const char *magic, int64_t step)
{
    put(o, magic, 8);
    put32(o, CL_CKPT_VERSION);
    put32(o, 0);
    put64(o, step);
}

/* Appends the FNV-1a checksum, as the writer does, and writes dir/name. */
static void seal_write(bytes *o, const char *name)
{
    uint64_t h = cl_fnv1a(CL_FNV_INIT, o->b, o->n);
    put(o, &h, 8);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(o->b, 1, o->n, f), o->n);
    cr_assert_eq(fclose(f), 0);
}

/* model.ckpt header and marker for step 7, and a state.ckpt whose
 * permutation length is n and optimizer state length slen (with a valid
 * checksum: a foreign or hand-made file, not a corrupted one). */
static void write_state(int64_t n, int64_t slen)
{
    bytes m = {.n = 0};
    header(&m, "CLMODEL1", 7);
    seal_write(&m, "model.ckpt");
    char p[512];
    snprintf(p, sizeof p, "%s/ckpt.done", dir);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fprintf(f, "collapse checkpoint step=7\n");
    fclose(f);
    bytes s = {.n = 0};
    header(&s, "CLSTATE1", 7);
    put32(&s, 1); /* epoch */
    put32(&s, 0);
    put64(&s, 0); /* pos */
    put64(&s, 0); /* config hash */
    unsigned char rng[48] = {1};
    put(&s, rng, sizeof rng);
    put(&s, rng, sizeof rng);
    put64(&s, n);
    for (int i = 0; i < 3 && i < n; i++)
        put32(&s, i);
    put32(&s, -1); /* no optimizer */
    put32(&s, 0);
    put64(&s, 0);
    put64(&s, slen);
    seal_write(&s, "state.ckpt");
}

/* Found by the ckpt target: with no optimizer to load into, a state file
 * claiming 2^62 floats of optimizer state made cl_train_ckpt_load loop
 * 2^54 times (libFuzzer timeout). Now: refused at once. */
Test(fuzz_regress, ckpt_state_huge_optimizer_length, .timeout = TC_TIMEOUT)
{
    write_state(3, (int64_t)1 << 62);
    cl_train_state st;
    time_t t0 = time(NULL);
    cr_assert_eq(cl_train_ckpt_load(dir, &st, NULL), CL_EFORMAT);
    cr_assert_leq(time(NULL) - t0, 2);
    cr_assert(strstr(cl_errmsg(), "truncated or corrupt"), "%s", cl_errmsg());
    cr_assert_null(st.perm);
}

/* Same family: a permutation length of 2^31 - 1 in a 200-byte file was
 * allocated (8 GB, zero-filled) before the read found the file short. */
Test(fuzz_regress, ckpt_state_perm_longer_than_file, .timeout = TC_TIMEOUT)
{
    write_state(((int64_t)1 << 31) - 1, 0);
    cl_train_state st;
    cr_assert_eq(cl_train_ckpt_load(dir, &st, NULL), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "truncated or corrupt"), "%s", cl_errmsg());
    cr_assert_null(st.perm);
}

/* And in the model file: 2^34 params (64 GB) claimed by a 60-byte file. */
Test(fuzz_regress, ckpt_model_params_longer_than_file, .timeout = TC_TIMEOUT)
{
    bytes m = {.n = 0};
    header(&m, "CLMODEL1", 7);
    put64(&m, 2);
    put(&m, "[x", 2);
    put64(&m, (int64_t)1 << 34);
    put64(&m, 0);
    seal_write(&m, "model.ckpt");
    char p[512], *text;
    float *params, *bufs;
    int64_t np, nb;
    snprintf(p, sizeof p, "%s/model.ckpt", dir);
    cr_assert_eq(cl_ckpt_read_model(p, &text, &params, &np, &bufs, &nb, NULL), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "truncated or corrupt header"), "%s", cl_errmsg());
    cr_assert_null(params);
    /* a text length past the end of the file is refused the same way */
    bytes t = {.n = 0};
    header(&t, "CLMODEL1", 7);
    put64(&t, (int64_t)1 << 23);
    seal_write(&t, "model.ckpt");
    cr_assert_eq(cl_ckpt_read_model(p, &text, &params, &np, &bufs, &nb, NULL), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "truncated or corrupt header"), "%s", cl_errmsg());
}

static void put_be32(bytes *o, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(o, b, 4);
}

static void png_chunk(bytes *o, const char *type, const void *data, uint32_t n)
{
    put_be32(o, n);
    size_t at = o->n;
    put(o, type, 4);
    put(o, data, n);
    put_be32(o, (uint32_t)crc32(0L, o->b + at, (uInt)(n + 4)));
}

/* A 1-bit gray PNG of w x h whose IDAT inflates to `rows` rows of packed
 * pixels (all rows when rows == h), CRCs valid; written as ROOT/c0/a.png. */
static void write_png(const char *root, uint32_t w, uint32_t h, uint32_t rows)
{
    char p[512];
    cr_assert_eq(mkdir(root, 0700), 0);
    snprintf(p, sizeof p, "%s/c0", root);
    cr_assert_eq(mkdir(p, 0700), 0);
    bytes o = {.n = 0};
    put(&o, "\x89PNG\r\n\x1a\n", 8);
    unsigned char ihdr[13] = {0};
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (unsigned char)(w >> (24 - 8 * i));
        ihdr[4 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    ihdr[8] = 1; /* bit depth 1, gray, no interlace */
    png_chunk(&o, "IHDR", ihdr, 13);
    size_t rowb = 1 + (w + 7) / 8, rawn = rowb * rows;
    unsigned char *raw = calloc(rawn, 1), z[512];
    cr_assert_not_null(raw);
    for (size_t i = 1; i < rawn; i += 3) raw[i] = 0xa5;
    for (size_t r = 0; r < rows; r++) raw[r * rowb] = 0; /* filter: none */
    uLongf zn = sizeof z;
    cr_assert_eq(compress(z, &zn, raw, (uLong)rawn), Z_OK);
    free(raw);
    png_chunk(&o, "IDAT", z, (uint32_t)zn);
    png_chunk(&o, "IEND", "", 0);
    snprintf(p, sizeof p, "%s/c0/a.png", root);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(o.b, 1, o.n, f), o.n);
    cr_assert_eq(fclose(f), 0);
}

/* Found by the png target: a 43-byte PNG whose header claims 2048 x 524288
 * pixels made the folder loader allocate the dataset (4 GB of floats; here
 * 100000 x 100000, 40 GB) before libpng found the data missing (libFuzzer:
 * malloc over the 2 GB limit). Now refused from the header, nothing allocated. */
Test(fuzz_regress, png_header_claims_more_than_file)
{
    char root[400];
    snprintf(root, sizeof root, "%s/huge", dir);
    write_png(root, 100000, 100000, 1);
    cl_dataset d;
    cr_assert_eq(cl_data_load_pngdir(root, &d), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "more than the file can hold"), "%s", cl_errmsg());
    cr_assert_null(d.x);
    /* a real 1-bit image is well inside the bound and still loads */
    snprintf(root, sizeof root, "%s/ok", dir);
    write_png(root, 40, 30, 30);
    cr_assert_eq(cl_data_load_pngdir(root, &d), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(d.shape.c, 1);
    cr_assert_eq(d.shape.h, 30);
    cr_assert_eq(d.shape.w, 40);
    cr_assert_float_eq(d.x[0], 1.0f, 0); /* 0xa5 = 1010 0101, first pixel bit 1 */
    cl_dataset_free(&d);
}
