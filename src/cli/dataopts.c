/* Data flags shared by train/eval/features, JSON and file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"
#include "dataopts.h"
#include "opts.h"

void cl_cli_data_init(cl_cli_data *d)
{
    memset(d, 0, sizeof *d);
    d->opts = cl_data_opts_default();
}

int cl_cli_data_flag(int argc, char **argv, int *i, cl_cli_data *d)
{
    const char *v = NULL;
    int r;
    cl_data_opts *o = &d->opts;
    if ((r = cl_opt_value(argc, argv, i, "--data", &v)) != 0) {
        if (r > 0 && !*v) {
            cl_cli_fail(2, "--data: empty name");
            return -1;
        }
        d->name = v;
        d->set |= CL_CLI_D_DATA;
        return r;
    }
    if ((r = cl_opt_value(argc, argv, i, "--data-dir", &v)) != 0) {
        d->dir = v;
        d->set |= CL_CLI_D_DIR;
        return r;
    }
    if ((r = cl_opt_value(argc, argv, i, "--train-per-class", &v)) != 0) {
        d->set |= CL_CLI_D_TRAIN_PC;
        return r < 0 ? -1
               : cl_opt_i64("--train-per-class", v, 1, INT32_MAX, &o->train_per_class)
                   ? 1
                   : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--test-per-class", &v)) != 0) {
        d->set |= CL_CLI_D_TEST_PC;
        return r < 0                                                                 ? -1
               : cl_opt_i64("--test-per-class", v, 1, INT32_MAX, &o->test_per_class) ? 1
                                                                                     : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--random-labels", &v)) != 0) {
        d->set |= CL_CLI_D_RL;
        return r < 0                                                          ? -1
               : cl_opt_double("--random-labels", v, 0, 1, &o->random_labels) ? 1
                                                                              : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--random-labels-mode", &v)) != 0) {
        if (r < 0) return -1;
        if (!strcmp(v, "permute"))
            o->random_labels_mode = CL_RANDLABEL_PERMUTE;
        else if (!strcmp(v, "uniform"))
            o->random_labels_mode = CL_RANDLABEL_UNIFORM;
        else {
            cl_cli_fail(2, "--random-labels-mode: unknown mode '%s' (permute or uniform)",
                        v);
            return -1;
        }
        d->mode_set = 1;
        d->set |= CL_CLI_D_RL_MODE;
        return 1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--resize", &v)) != 0) {
        d->set |= CL_CLI_D_RESIZE;
        return r < 0 ? -1 : cl_opt_int("--resize", v, 1, 4096, &o->resize) ? 1 : -1;
    }
    if ((r = cl_opt_value(argc, argv, i, "--seed", &v)) != 0) {
        d->set |= CL_CLI_D_SEED;
        return r < 0 ? -1 : cl_opt_u64("--seed", v, &o->seed) ? 1 : -1;
    }
    if (cl_opt_flag(argv, *i, "--random-pixels")) {
        d->set |= CL_CLI_D_RP;
        o->random_pixels = 1;
        return 1;
    }
    if (cl_opt_flag(argv, *i, "--normalize")) {
        d->set |= CL_CLI_D_NORM;
        o->normalize = 1;
        return 1;
    }
    if (cl_opt_flag(argv, *i, "--augment")) {
        d->set |= CL_CLI_D_AUG;
        o->augment = 1;
        return 1;
    }
    return 0;
}

int cl_cli_data_check(const cl_cli_data *d)
{
    if (!d->name)
        return cl_cli_fail(2, "--data is required (mnist, fashion, cifar10, cifar100 or "
                              "a PNG folder with train/ and test/)");
    if (d->mode_set && d->opts.random_labels <= 0)
        return cl_cli_fail(2, "--random-labels-mode needs --random-labels P with P > 0");
    return 0;
}

/* The data object of config.json: the line starting with `  "data": {`,
 * a flat object of "key": value pairs as cl_cli_data_json writes them. */
static const char *json_value(const char *obj, const char *key, char *buf, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(obj, pat);
    if (!p) return NULL;
    p += strlen(pat);
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && n + 1 < cap; p++) {
            if (*p == '\\' && p[1]) p++;
            buf[n++] = *p;
        }
    } else {
        while (*p && *p != ',' && *p != '}' && n + 1 < cap)
            buf[n++] = *p++;
    }
    buf[n] = 0;
    return buf;
}

/* The config.json of a results folder given as the folder, its checkpoint/
 * folder or checkpoint/model.ckpt. */
static void config_path(const char *path, char *cfg, size_t cap)
{
    char base[4096];
    snprintf(base, sizeof base, "%s", path);
    size_t len = strlen(base);
    while (len > 1 && base[len - 1] == '/')
        base[--len] = 0;
    if (len > 11 && !strcmp(base + len - 11, "/model.ckpt")) base[len -= 11] = 0;
    if (len > 11 && !strcmp(base + len - 11, "/checkpoint")) base[len -= 11] = 0;
    snprintf(cfg, cap, "%s/config.json", base);
}

/* The line of config.json that starts with `prefix` (getline buffer in
 * *text, to be freed; NULL when the file or the line is missing). */
static const char *config_line(const char *cfg, const char *prefix, char **text)
{
    *text = NULL;
    FILE *f = fopen(cfg, "rb");
    if (!f) return NULL;
    size_t cap = 0;
    const char *obj = NULL;
    while (getline(text, &cap, f) > 0)
        if (!strncmp(*text, prefix, strlen(prefix))) {
            obj = *text + strlen(prefix);
            break;
        }
    fclose(f);
    return obj;
}

int cl_cli_run_option(const char *path, const char *key, char *buf, size_t cap)
{
    char cfg[4200], *text;
    config_path(path, cfg, sizeof cfg);
    const char *obj = config_line(cfg, "  \"options\": {", &text);
    int found = obj && json_value(obj, key, buf, cap);
    free(text);
    return found;
}

int cl_cli_data_from_run(const char *path, cl_cli_data *d)
{
    char cfg[4200], *text;
    config_path(path, cfg, sizeof cfg);
    if (access(cfg, F_OK) != 0) return 0;
    const char *obj = config_line(cfg, "  \"data\": {", &text);
    if (!obj) {
        free(text);
        return cl_cli_fail(1, "%s: no data options in it", cfg);
    }
    char v[1024];
    cl_data_opts *o = &d->opts;
    int bad = 0;
    if (!(d->set & CL_CLI_D_DATA) &&
        json_value(obj, "data", d->name_buf, sizeof d->name_buf))
        d->name = d->name_buf;
    if (!(d->set & CL_CLI_D_DIR) && json_value(obj, "data_dir", v, sizeof v) &&
        strcmp(v, "null")) {
        snprintf(d->dir_buf, sizeof d->dir_buf, "%s", v);
        d->dir = d->dir_buf;
    }
    if (!(d->set & CL_CLI_D_TRAIN_PC) && json_value(obj, "train_per_class", v, sizeof v))
        bad |= sscanf(v, "%" SCNd64, &o->train_per_class) != 1;
    if (!(d->set & CL_CLI_D_TEST_PC) && json_value(obj, "test_per_class", v, sizeof v))
        bad |= sscanf(v, "%" SCNd64, &o->test_per_class) != 1;
    if (!(d->set & CL_CLI_D_RL) && json_value(obj, "random_labels", v, sizeof v))
        bad |= sscanf(v, "%lf", &o->random_labels) != 1;
    if (!(d->set & CL_CLI_D_RL_MODE) &&
        json_value(obj, "random_labels_mode", v, sizeof v))
        o->random_labels_mode =
            !strcmp(v, "uniform") ? CL_RANDLABEL_UNIFORM : CL_RANDLABEL_PERMUTE;
    if (!(d->set & CL_CLI_D_RP) && json_value(obj, "random_pixels", v, sizeof v))
        o->random_pixels = !strcmp(v, "true");
    if (!(d->set & CL_CLI_D_RESIZE) && json_value(obj, "resize", v, sizeof v))
        bad |= sscanf(v, "%d", &o->resize) != 1;
    if (!(d->set & CL_CLI_D_NORM) && json_value(obj, "normalize", v, sizeof v))
        o->normalize = !strcmp(v, "true");
    if (!(d->set & CL_CLI_D_AUG) && json_value(obj, "augment", v, sizeof v))
        o->augment = !strcmp(v, "true");
    if (!(d->set & CL_CLI_D_SEED) && json_value(obj, "seed", v, sizeof v))
        bad |= sscanf(v, "%" SCNu64, &o->seed) != 1;
    free(text);
    if (bad) return cl_cli_fail(1, "%s: malformed data options", cfg);
    printf("data options from %s (flags given override them)\n", cfg);
    return 0;
}

int cl_cli_data_load(const cl_cli_data *d, cl_dataset *train, cl_dataset *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    cl_status st = cl_data_load(d->name, d->dir, 1, train);
    if (st == CL_OK) st = cl_data_load(d->name, d->dir, 0, test);
    if (st == CL_OK) st = cl_data_prepare(train, test, &d->opts);
    if (st != CL_OK) {
        cl_cli_fail(1, "--data %s: %s", d->name, cl_errmsg());
        cl_dataset_free(train);
        cl_dataset_free(test);
        return 1;
    }
    return 0;
}

void cl_cli_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void cl_cli_data_json(FILE *f, const cl_cli_data *d, const cl_dataset *train,
                      const cl_dataset *test)
{
    const cl_data_opts *o = &d->opts;
    fputs("{\"data\": ", f);
    cl_cli_json_str(f, d->name);
    fputs(", \"data_dir\": ", f);
    cl_cli_json_str(f, d->dir);
    fprintf(f,
            ", \"train_per_class\": %lld, \"test_per_class\": %lld, \"random_labels\": "
            "%.17g, "
            "\"random_labels_mode\": \"%s\", \"random_pixels\": %s, \"resize\": %d, "
            "\"normalize\": %s, \"augment\": %s, \"seed\": %llu",
            (long long)o->train_per_class, (long long)o->test_per_class, o->random_labels,
            o->random_labels_mode == CL_RANDLABEL_UNIFORM ? "uniform" : "permute",
            o->random_pixels ? "true" : "false", o->resize,
            o->normalize ? "true" : "false", o->augment ? "true" : "false",
            (unsigned long long)o->seed);
    if (train)
        fprintf(f, ", \"train_samples\": %lld, \"shape\": [%d, %d, %d], \"classes\": %d",
                (long long)train->n, train->shape.c, train->shape.h, train->shape.w,
                train->classes);
    if (test) fprintf(f, ", \"test_samples\": %lld", (long long)test->n);
    fputc('}', f);
}

void cl_cli_data_print(const cl_cli_data *d, const cl_dataset *train,
                       const cl_dataset *test)
{
    const cl_data_opts *o = &d->opts;
    printf("data: %s  train %lld  test %lld  %dx%dx%d  %d classes", train->name,
           (long long)train->n, (long long)test->n, train->shape.c, train->shape.h,
           train->shape.w, train->classes);
    if (o->train_per_class)
        printf("  train-per-class %lld", (long long)o->train_per_class);
    if (o->test_per_class) printf("  test-per-class %lld", (long long)o->test_per_class);
    if (o->random_labels > 0)
        printf("  random-labels %g (%s)", o->random_labels,
               o->random_labels_mode == CL_RANDLABEL_UNIFORM ? "uniform" : "permute");
    if (o->random_pixels) printf("  random-pixels");
    if (o->resize) printf("  resize %d", o->resize);
    if (o->normalize) printf("  normalize");
    if (o->augment) printf("  augment");
    printf("\n");
}

void cl_cli_data_usage(FILE *f)
{
    fprintf(
        f,
        "data options:\n"
        "  --data NAME|DIR           mnist, fashion, cifar10, cifar100, or a PNG folder\n"
        "                            with train/ and test/ (ROOT/<class>/*.png)\n"
        "  --data-dir DIR            where the named dataset's files are\n"
        "  --train-per-class N       balanced training subset (seeded)\n"
        "  --test-per-class N        balanced test subset\n"
        "  --random-labels P         replace a fraction P of the training labels\n"
        "  --random-labels-mode M    permute (class counts kept, default) | uniform\n"
        "  --random-pixels           training inputs replaced by Gaussian noise\n"
        "  --resize S                area-average down-sampling to SxS\n"
        "  --normalize               per-channel standardisation (training-set stats)\n"
        "  --augment                 random crop (pad 4) + horizontal flip\n"
        "  --seed S                  seeds subsets, labels, init and data order (1)\n");
}

int cl_cli_write_file(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return cl_cli_fail(1, "%s: cannot create: %s", tmp, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return cl_cli_fail(1, "%s: write failed: %s", tmp, strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return cl_cli_fail(1, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return cl_cli_fail(1, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return 0;
}

int cl_cli_load_model(const char *path, int batch, cl_model **m, int64_t *step)
{
    char file[4200];
    char *text = NULL;
    float *p = NULL, *b = NULL;
    int64_t np = 0, nb = 0;
    *m = NULL;
    cl_ckpt_model_path(path, file, sizeof file);
    cl_status st = cl_ckpt_read_model(file, &text, &p, &np, &b, &nb, step);
    if (st == CL_OK) st = cl_modelcfg_rebuild(text, file, m);
    if (st == CL_OK && (np != (*m)->nparams || nb != (*m)->nbufs))
        st = cl_error(CL_EFORMAT,
                      "%s: %lld params/%lld bufs stored, the model text needs "
                      "%lld/%lld",
                      file, (long long)np, (long long)nb, (long long)(*m)->nparams,
                      (long long)(*m)->nbufs);
    if (st == CL_OK) {
        memcpy((*m)->params, p, sizeof(float) * (size_t)np);
        memcpy((*m)->bufs, b, sizeof(float) * (size_t)nb);
        st = cl_model_alloc(*m, batch);
    }
    cl_free(text);
    cl_free(p);
    cl_free(b);
    if (st != CL_OK) {
        cl_cli_fail(1, "%s", cl_errmsg());
        if (*m) cl_model_destroy(*m);
        *m = NULL;
        return 1;
    }
    return 0;
}
