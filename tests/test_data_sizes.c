/* Sizes read from dataset files (issue 11, resources): an IDX count, a gzip
 * trailer, a tar member size and a CIFAR length that claim more than the
 * file holds give a clean CL_EFORMAT before any big allocation. Each test
 * caps its address space (tc_limit_memory: a big allocation would show as
 * CL_ENOMEM) and calls the readers through src/data/internal.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "../src/data/internal.h"
#include "collapse/mem.h"
#include "common.h"

TestSuite(data_sizes, .init = tc_tmp_init, .fini = tc_tmp_fini);

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

Test(data_sizes, idx_count_larger_than_file)
{
    tc_limit_memory(256 << 20);
    unsigned char img[16 + 784] = {0}, lab[8 + 1] = {0};
    be32(img, 2051);
    be32(img + 4, 0xffffffffu); /* 4e9 images of 4096 x 4096 = 7e16 bytes */
    be32(img + 8, 4096);
    be32(img + 12, 4096);
    be32(lab, 2049);
    be32(lab + 4, 1);
    tc_write_file(tpath("i.idx"), img, sizeof img);
    tc_write_file(tpath("l.idx"), lab, sizeof lab);
    cl_dataset d;
    memset(&d, 0, sizeof d);
    tc_expect_err(cl_idx_load_k(tpath("i.idx"), tpath("l.idx"), 0, &d), CL_EFORMAT,
                  "truncated: header says 4294967295 images", NULL);
    cr_assert_null(d.x);
}

/* A gzip member of `n` bytes of zeros, its trailer's size field replaced. */
static size_t gz_with_isize(unsigned char *out, size_t cap, size_t n, uint32_t isize)
{
    unsigned char raw[4096] = {0};
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = raw;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    for (int i = 0; i < 4; i++) out[len - 4 + (size_t)i] = (unsigned char)(isize >> (8 * i));
    return len;
}

Test(data_sizes, gzip_trailer_larger_than_deflate_allows)
{
    tc_limit_memory(256 << 20);
    unsigned char gz[256];
    size_t len = gz_with_isize(gz, sizeof gz, 100, 0xffffffffu); /* claims 4 GB */
    unsigned char *out = NULL;
    size_t olen = 0;
    /* the first guess is capped at 1032 x the input: no 4 GB buffer; the
     * stream itself inflates fine, so only the trailer check can fail */
    cl_status st = cl_data_gunzip("t.gz", gz, len, &out, &olen);
    cr_assert_eq(st, CL_EFORMAT, "%s", cl_errmsg());
    cr_assert_null(out);
}

Test(data_sizes, tar_member_larger_than_archive)
{
    tc_limit_memory(256 << 20);
    unsigned char tar[1024] = {0};
    memcpy(tar, "big.bin", 7);
    memcpy(tar + 100, "0000644", 7);
    memcpy(tar + 124, "77777777777", 11); /* 8 GB */
    tar[156] = '0';
    memcpy(tar + 257, "ustar", 5);
    memset(tar + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += tar[i];
    snprintf((char *)tar + 148, 8, "%06o", sum);
    tc_write_file(tpath("a.tar"), tar, sizeof tar);
    tc_expect_err(cl_tar_each(tpath("a.tar"), NULL, NULL, NULL), CL_EFORMAT,
                  "truncated tar member", NULL);
}

Test(data_sizes, cifar_length_not_whole_records)
{
    tc_limit_memory(256 << 20);
    unsigned char buf[3073 * 2 + 5] = {0};
    int64_t n = -1;
    tc_expect_err(cl_cifar_check("c.bin", buf, sizeof buf, 3073, 0, 10, &n, NULL),
                  CL_EFORMAT, "truncated", "2 records + 5 bytes");
    cr_assert_eq(n, -1);
}
