/* Fuzz target: the IDX loader (cl_data_load_idx: images + labels, each raw
 * or gzip'ed, recognised by magic). Input: u16 LE length L, then L bytes of
 * the images file, then the labels file (the rest; L is clipped to what is
 * there). A loaded set must be consistent: 1 x H x W, pixels in [0, 1],
 * labels in [0, K), 10 <= K <= 100.
 * FUZZ_ARGS: -max_len=16384 */
#include "collapse/data.h"
#include "fuzz.h"

int fuzz_idx(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t li = fuzz_le16(data);
    if (li > size - 2) li = size - 2;
    char ip[512], lp[512];
    fuzz_path(ip, sizeof ip, "images-idx3-ubyte");
    fuzz_path(lp, sizeof lp, "labels-idx1-ubyte");
    fuzz_write(ip, data + 2, li);
    fuzz_write(lp, data + 2 + li, size - 2 - li);
    cl_dataset d;
    if (cl_data_load_idx(ip, lp, &d) != CL_OK) {
        FUZZ_CHECK(d.x == NULL && d.y == NULL);
        return 0;
    }
    FUZZ_CHECK(d.n >= 0 && d.shape.c == 1 && d.shape.h > 0 && d.shape.w > 0);
    FUZZ_CHECK(d.classes >= 10 && d.classes <= CL_DATA_MAX_CLASSES);
    int64_t D = cl_shape_size(d.shape);
    for (int64_t i = 0; i < d.n * D; i++)
        FUZZ_CHECK(d.x[i] >= 0.0f && d.x[i] <= 1.0f);
    for (int64_t i = 0; i < d.n; i++)
        FUZZ_CHECK(d.y[i] >= 0 && d.y[i] < d.classes && d.y[i] == d.y_true[i] &&
                   d.index[i] == i);
    cl_dataset_free(&d);
    return 0;
}

CL_FUZZ_ENTRY(idx)
