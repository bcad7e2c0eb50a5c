/* Fuzz target: the CIFAR binary loaders (cl_data_load_cifar10 test split,
 * cl_data_load_cifar100 fine and coarse), batch file raw or gzip'ed
 * (recognised by magic), plus the optional class-name file.
 * Input: byte 0 = mode (low 2 bits: 0/3 CIFAR-10, 1 CIFAR-100 fine,
 * 2 CIFAR-100 coarse; bit 2: a names file follows as u16 LE length + text),
 * then the batch file. A loaded set must be 3x32x32, pixels in [0, 1],
 * labels in [0, K).
 * FUZZ_ARGS: -max_len=16384 */
#include <stdio.h>
#include <string.h>

#include "collapse/data.h"
#include "fuzz.h"

int fuzz_cifar(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0] & 3, names = data[0] & 4;
    data++;
    size--;
    size_t nl = 0;
    if (names) {
        if (size < 2) return 0;
        nl = fuzz_le16(data);
        data += 2;
        size -= 2;
        if (nl > size) nl = size;
    }
    char dir[512], p[600];
    fuzz_path(dir, sizeof dir, "cifar");
    fuzz_mkdir(dir);
    static const char *const batch[4] = {"test_batch.bin", "test.bin", "test.bin",
                                         "test_batch.bin"};
    static const char *const namef[4] = {"batches.meta.txt", "fine_label_names.txt",
                                         "coarse_label_names.txt", "batches.meta.txt"};
    snprintf(p, sizeof p, "%s/%s", dir, namef[mode]);
    if (names) fuzz_write(p, data, nl);
    else fuzz_unlink(p);
    snprintf(p, sizeof p, "%s/%s", dir, batch[mode]);
    fuzz_write(p, data + nl, size - nl);
    cl_dataset d;
    cl_status st = mode == 1   ? cl_data_load_cifar100(dir, 0, 1, &d)
                   : mode == 2 ? cl_data_load_cifar100(dir, 0, 0, &d)
                               : cl_data_load_cifar10(dir, 0, &d);
    if (names) { /* leave no stale names file for the next mode */
        snprintf(p, sizeof p, "%s/%s", dir, namef[mode]);
        fuzz_unlink(p);
    }
    snprintf(p, sizeof p, "%s/%s", dir, batch[mode]);
    fuzz_unlink(p);
    if (st != CL_OK) {
        FUZZ_CHECK(d.x == NULL && d.y == NULL);
        return 0;
    }
    int k = mode == 1 ? 100 : mode == 2 ? 20 : 10;
    FUZZ_CHECK(d.n > 0 && d.classes == k);
    FUZZ_CHECK(d.shape.c == 3 && d.shape.h == 32 && d.shape.w == 32);
    for (int64_t i = 0; i < d.n * 3072; i++)
        FUZZ_CHECK(d.x[i] >= 0.0f && d.x[i] <= 1.0f);
    for (int64_t i = 0; i < d.n; i++)
        FUZZ_CHECK(d.y[i] >= 0 && d.y[i] < k && d.y[i] == d.y_true[i]);
    for (int c = 0; c < k; c++)
        FUZZ_CHECK(strlen(d.class_names[c]) < sizeof d.class_names[c]);
    cl_dataset_free(&d);
    return 0;
}

CL_FUZZ_ENTRY(cifar)
