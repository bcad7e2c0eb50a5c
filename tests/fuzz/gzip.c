/* Fuzz target: the gzip path of the loaders (cl_data_gunzip, what
 * cl_data_slurp runs on every file that starts with the gzip magic). The
 * input is the compressed stream. Checks: output within deflate's best
 * ratio of the input (the bound the buffer guess relies on); small inputs
 * also round-trip through the gzip writer (cl_data_write_file) and
 * cl_data_slurp.
 * FUZZ_ARGS: -max_len=16384 */
#include <stdlib.h>
#include <string.h>

#include "../../src/data/internal.h"
#include "fuzz.h"

int fuzz_gzip(const uint8_t *data, size_t size)
{
    unsigned char *out = NULL;
    size_t len = 0;
    if (cl_data_gunzip("fuzz.gz", data, size, &out, &len) == CL_OK) {
        FUZZ_CHECK(len <= 1032 * size + 1);
        (void)fuzz_touch(out, len);
        free(out);
    }
    if (size <= 2048) {
        char path[512];
        fuzz_path(path, sizeof path, "round.gz");
        FUZZ_CHECK(cl_data_write_file(path, data, size, 1) == CL_OK);
        unsigned char *back = NULL;
        size_t blen = 0;
        FUZZ_CHECK(cl_data_slurp(path, &back, &blen) == CL_OK);
        FUZZ_CHECK(blen == size && (size == 0 || memcmp(back, data, size) == 0));
        free(back);
    }
    return 0;
}

CL_FUZZ_ENTRY(gzip)
