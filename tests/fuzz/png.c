/* Fuzz target: PNG decoding in the folder loader (cl_data_load_pngdir on
 * ROOT/c0/a.png). Input: byte 0 = flags (bit 0: recompute every chunk's
 * CRC, so mutations get past libpng's CRC check and reach the decoder and
 * our size checks), then the PNG file. A loaded set must be 1 image of
 * class 0, 1 or 3 channels, pixels in [0, 1].
 * FUZZ_ARGS: -max_len=8192 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "collapse/data.h"
#include "fuzz.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Rewrites the CRC of each complete chunk after the 8-byte signature. */
static void fix_crcs(uint8_t *b, size_t n)
{
    size_t pos = 8;
    while (pos + 12 <= n) {
        size_t len = be32(b + pos);
        if (len > n - pos - 12) break;
        uint32_t c = (uint32_t)crc32(0L, b + pos + 4, (uInt)(len + 4));
        uint8_t *q = b + pos + 8 + len;
        q[0] = (uint8_t)(c >> 24);
        q[1] = (uint8_t)(c >> 16);
        q[2] = (uint8_t)(c >> 8);
        q[3] = (uint8_t)c;
        pos += len + 12;
    }
}

int fuzz_png(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int fix = data[0] & 1;
    data++;
    size--;
    char root[512], p[600];
    fuzz_path(root, sizeof root, "pngdir");
    fuzz_mkdir(root);
    snprintf(p, sizeof p, "%s/c0", root);
    fuzz_mkdir(p);
    snprintf(p, sizeof p, "%s/c0/a.png", root);
    if (fix) {
        uint8_t *b = malloc(size ? size : 1);
        FUZZ_CHECK(b != NULL);
        memcpy(b, data, size);
        fix_crcs(b, size);
        fuzz_write(p, b, size);
        free(b);
    } else {
        fuzz_write(p, data, size);
    }
    cl_dataset d;
    if (cl_data_load_pngdir(root, &d) != CL_OK) {
        FUZZ_CHECK(d.x == NULL && d.y == NULL);
        return 0;
    }
    FUZZ_CHECK(d.n == 1 && d.classes == 1 && d.y[0] == 0);
    FUZZ_CHECK(d.shape.c == 1 || d.shape.c == 3);
    FUZZ_CHECK(d.shape.h > 0 && d.shape.w > 0);
    for (int64_t i = 0; i < cl_shape_size(d.shape); i++)
        FUZZ_CHECK(d.x[i] >= 0.0f && d.x[i] <= 1.0f);
    cl_dataset_free(&d);
    return 0;
}

CL_FUZZ_ENTRY(png)
