/* --classes LIST: the class subset of a run (data/classes.c), its flag,
 * its config.json/resume-hash field (only when given) and its note. */
#include <stdio.h>

#include "cli.h"
#include "dataopts.h"
#include "opts.h"

int cl_cli_classes_flag(int argc, char **argv, int *i, cl_cli_data *d)
{
    const char *v;
    int r = cl_opt_value(argc, argv, i, "--classes", &v);
    if (r <= 0) return r;
    d->set |= CL_CLI_D_CLASSES;
    if (cl_data_class_list("--classes", v, 0, d->class_list, &d->nclass_list) != CL_OK) {
        cl_cli_fail(2, "%s", cl_errmsg());
        return -1;
    }
    return 1;
}

const cl_json_value *cl_cli_classes_from_json(const cl_json_value *obj, cl_cli_data *d)
{
    const cl_json_value *v = cl_json_get(obj, "class_subset");
    if (!v || (d->set & CL_CLI_D_CLASSES)) return NULL;
    if (v->type != CL_JSON_ARRAY || v->n < 2 || v->n > CL_DATA_MAX_CLASSES) return v;
    for (int j = 0; j < v->n; j++) {
        int64_t c;
        if (!cl_json_as_i64(&v->items[j], &c) || c < 0 || c >= CL_DATA_MAX_CLASSES)
            return &v->items[j];
        d->class_list[j] = (int)c;
    }
    d->nclass_list = v->n;
    return NULL;
}

void cl_cli_classes_fields(cl_cli_fields *f, const cl_cli_data *d)
{
    if (!d->nclass_list) return; /* runs without it keep their config and hash */
    f->begin(f, "class_subset", '['); /* new label j is source class classes[j] */
    for (int j = 0; j < d->nclass_list; j++) f->i64(f, NULL, d->class_list[j]);
    f->end(f, '[');
}

cl_status cl_cli_classes_apply(const cl_cli_data *d, cl_dataset *train, cl_dataset *test)
{
    if (!d->nclass_list) return CL_OK;
    if (d->ordinal_bins)
        return cl_error(CL_EINVAL, "--classes: not together with --ordinal-bins");
    CL_TRY(cl_data_select_classes(train, d->class_list, d->nclass_list));
    CL_TRY(cl_data_select_classes(test, d->class_list, d->nclass_list));
    printf("classes:");
    for (int j = 0; j < d->nclass_list; j++)
        printf(" %d->%d (%s)", d->class_list[j], j, train->class_names[j]);
    printf("\n");
    return CL_OK;
}
