/* PNG folders: ROOT/<class>/<name>.png through libpng's simplified API. Classes
 * and files are sorted by name (strcmp, locale-independent). */
#include <dirent.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "collapse/mem.h"
#include "internal.h"

typedef struct {
    char **v;
    int n, cap;
} strlist;

static void sl_free(strlist *s)
{
    for (int i = 0; i < s->n; i++)
        cl_free(s->v[i]);
    cl_free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int sl_push(strlist *s, const char *str)
{
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 64;
        char **nv = cl_realloc(s->v, sizeof(char *) * (size_t)s->cap,
                               sizeof(char *) * (size_t)nc, "file list");
        if (!nv) return 0;
        s->v = nv;
        s->cap = nc;
    }
    size_t len = strlen(str) + 1;
    char *copy = cl_alloc(len, "file name");
    if (!copy) return 0;
    memcpy(copy, str, len);
    s->v[s->n++] = copy;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the entries of `dir` that are folders (want_dir) or *.png files. */
static cl_status list_dir(const char *dir, int want_dir, strlist *out)
{
    DIR *d = opendir(dir);
    if (!d) return cl_error(CL_EIO, "%s: cannot open folder", dir);
    struct dirent *e;
    cl_status st = CL_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[CL_DATA_PATH];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p) continue;
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        if (want_dir) {
            if (!S_ISDIR(sb.st_mode)) continue;
        } else {
            size_t l = strlen(e->d_name);
            if (!S_ISREG(sb.st_mode) || l < 4 || strcasecmp(e->d_name + l - 4, ".png"))
                continue;
        }
        if (!sl_push(out, e->d_name)) {
            st = cl_error(CL_ENOMEM, "%s: out of memory listing the folder", dir);
            break;
        }
    }
    closedir(d);
    if (st == CL_OK && out->n > 1) qsort(out->v, (size_t)out->n, sizeof(char *), cmp_str);
    return st;
}

/* Reads one PNG's header: channels (1 gray, 3 colour) and size. */
static cl_status png_header(const char *path, png_image *img, int *c)
{
    memset(img, 0, sizeof *img);
    img->version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(img, path))
        return cl_error(CL_EFORMAT, "%s: not a readable PNG (%s)", path, img->message);
    if (img->format & PNG_FORMAT_FLAG_LINEAR) {
        png_image_free(img);
        return cl_error(CL_EFORMAT, "%s: 16-bit PNG (want 8-bit gray or RGB)", path);
    }
    *c = (img->format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    /* Before anything is allocated: a pixel takes at least 1 bit of the
     * inflated data and deflate expands at most 1032:1, so a header claiming
     * more pixels than 8 * 1032 * file size is lying (found by fuzzing). */
    struct stat sb;
    uint64_t px = (uint64_t)img->width * img->height;
    if (stat(path, &sb) != 0 || px > 8u * 1032u * (uint64_t)sb.st_size) {
        png_image_free(img);
        return cl_error(CL_EFORMAT, "%s: corrupt PNG (header says %ux%u pixels, more than "
                                    "the file can hold)", path, img->width, img->height);
    }
    return CL_OK;
}

cl_status cl_data_load_pngdir(const char *root, cl_dataset *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%.63s", root);
    strlist classes = {0};
    strlist files[CL_DATA_MAX_CLASSES];
    memset(files, 0, sizeof files);
    unsigned char *pix = NULL;
    cl_status st = list_dir(root, 1, &classes);
    if (st != CL_OK) goto fail;
    if (classes.n == 0) {
        st = cl_error(CL_EFORMAT, "%s: no class folders (want ROOT/<class>/<name>.png)",
                      root);
        goto fail;
    }
    if (classes.n > CL_DATA_MAX_CLASSES) {
        st = cl_error(CL_EFORMAT, "%s: %d class folders (at most %d)", root, classes.n,
                      CL_DATA_MAX_CLASSES);
        goto fail;
    }
    int64_t n = 0;
    char p[CL_DATA_PATH];
    for (int k = 0; k < classes.n; k++) {
        snprintf(p, sizeof p, "%s/%s", root, classes.v[k]);
        if ((st = list_dir(p, 0, &files[k])) != CL_OK) goto fail;
        if (files[k].n == 0) {
            st = cl_error(CL_EFORMAT, "%s: empty class folder (no .png files)", p);
            goto fail;
        }
        n += files[k].n;
    }
    /* the first image fixes the shape */
    png_image img;
    int C;
    char first[CL_DATA_PATH];
    snprintf(first, sizeof first, "%s/%s/%s", root, classes.v[0], files[0].v[0]);
    if ((st = png_header(first, &img, &C)) != CL_OK) goto fail;
    cl_shape shape = {C, (int)img.height, (int)img.width};
    png_image_free(&img);
    if ((st = cl_data_alloc(out, n, shape)) != CL_OK) goto fail;
    out->classes = classes.n;
    for (int k = 0; k < classes.n; k++)
        snprintf(out->class_names[k], sizeof out->class_names[k], "%.31s", classes.v[k]);
    const int64_t HW = (int64_t)shape.h * shape.w;
    pix = cl_alloc((size_t)(HW * C), root);
    if (!pix) {
        st = cl_error(CL_ENOMEM, "%s: out of memory", root);
        goto fail;
    }
    float t[256];
    cl_data_u8_table(t);
    int64_t j = 0;
    for (int k = 0; k < classes.n; k++) {
        for (int f = 0; f < files[k].n; f++, j++) {
            snprintf(p, sizeof p, "%s/%s/%s", root, classes.v[k], files[k].v[f]);
            int c;
            if ((st = png_header(p, &img, &c)) != CL_OK) goto fail;
            if ((int)img.width != shape.w || (int)img.height != shape.h || c != C) {
                png_image_free(&img);
                st = cl_error(CL_EFORMAT, "%s: image is %ux%u %s, but %s is %dx%d %s", p,
                              img.width, img.height, c == 3 ? "RGB" : "gray", first,
                              shape.w, shape.h, C == 3 ? "RGB" : "gray");
                goto fail;
            }
            img.format = C == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
            if (!png_image_finish_read(&img, NULL, pix, 0, NULL)) {
                st = cl_error(CL_EFORMAT, "%s: corrupt PNG (%s)", p, img.message);
                png_image_free(&img);
                goto fail;
            }
            float *x = out->x + j * HW * C;
            for (int64_t q = 0; q < HW; q++)
                for (int ch = 0; ch < C; ch++)
                    x[ch * HW + q] = t[pix[q * C + ch]];
            out->y[j] = out->y_true[j] = k;
        }
    }
fail:
    cl_free(pix);
    for (int k = 0; k < CL_DATA_MAX_CLASSES; k++)
        sl_free(&files[k]);
    sl_free(&classes);
    if (st != CL_OK) cl_dataset_free(out);
    return st;
}
