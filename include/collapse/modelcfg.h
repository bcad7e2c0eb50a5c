/* Model files (INI, parsed with libinih) and the model spec text stored in
 * checkpoints.
 *
 * Two forms. A named architecture from the C builders (builders.h):
 *
 *   [model]
 *   type = mlp            ; a name of cl_arch_list() (builders.h): mlp, resnet20, ...
 *   width = 1024          ; other keys depend on the type (cl_arch_info.keys)
 *
 * or an explicit list of layers, one section per layer, in order; the section
 * name is the layer's name (unique) and `kind` is required:
 *
 *   [input]               ; optional: per-sample input shape (else the data's)
 *   shape = 1,28,28
 *   [flat]
 *   kind = flatten
 *   [fc1]
 *   kind = linear
 *   out = 1024
 *   [relu1]
 *   kind = relu
 *   [head]
 *   kind = linear         ; the last linear layer is the classifier; out
 *                         ; may be omitted = number of classes of the data
 *
 * Layer keys: kind, out, k, stride, pad, bias (0/1), eps, momentum, frozen,
 * classifier, temperature (kind = cosine). Comments start with ';' or '#'. Unknown sections, keys, kinds
 * and bad values are CL_EINVAL errors naming file:line.
 *
 * The spec text written into checkpoints is the explicit form of the built
 * model (cl_modelcfg_format), so a checkpoint rebuilds without the file. */
#ifndef COLLAPSE_MODELCFG_H
#define COLLAPSE_MODELCFG_H

#include "collapse/error.h"
#include "collapse/etf.h"
#include "collapse/nn.h"
#include "collapse/rng.h"

#define CL_MODELCFG_MAX_LAYERS 256

typedef struct {
    char name[256];        /* file name (or "<text>") for messages */
    int line[CL_MODELCFG_MAX_LAYERS]; /* header line of specs[i]'s section */
    cl_shape in;           /* [input] shape; all 0 = from the data */
    /* explicit layer list */
    int nspecs;
    cl_layer_spec *specs;  /* owned */
    int out_set[CL_MODELCFG_MAX_LAYERS]; /* 1 if the layer's section set `out` */
    /* [model] section */
    char type[32];         /* "" = explicit list */
    int width;             /* mlp hidden width / resnet base width (0 = builder default) */
    int depth;             /* mlp hidden layers (0 = default) */
    int bn;                /* mlp: BatchNorm after each hidden linear (-1 = default) */
    double width_mult;     /* resnet18/34 width multiplier (0 = 1) */
} cl_modelcfg;

/* Parses a model file / text. *cfg is filled (free with cl_modelcfg_free).
 * Errors: CL_EIO (cannot read), CL_EINVAL "<file>:<line>: <problem>". */
cl_status cl_modelcfg_parse_file(const char *path, cl_modelcfg *cfg);
cl_status cl_modelcfg_parse_text(const char *text, const char *name, cl_modelcfg *cfg);
void cl_modelcfg_free(cl_modelcfg *cfg);

/* A [model] section for a named architecture (for --arch NAME). */
cl_status cl_modelcfg_from_arch(const char *arch, cl_modelcfg *cfg);

/* How the classifier head is built. */
typedef struct {
    int classes;          /* K (from the data) */
    int feature_dim;      /* penultimate width dim (0 = architecture's own) */
    int bias;             /* classifier bias */
    int etf;              /* 1: fixed simplex ETF (frozen, no bias) */
    cl_etf_mode etf_mode; /* CL_ETF_PAD or CL_ETF_ROTATE */
    uint64_t etf_seed;    /* rotation seed */
    /* Ordinal head (--loss clm): the classifier becomes the 1-unit latent
     * z = w^T h (out = 1, no bias: a bias is confounded with the
     * thresholds), followed by a cumlink layer with K-1 thresholds (nn.h),
     * appended unless the model already ends in one. */
    int clm;              /* 1: ordinal head */
    int clm_learned;      /* 1: thresholds trained; 0: fixed (frozen) */
    double clm_spacing;   /* initial spacing of the evenly spaced thresholds
                             (centred on 0); 0 = CL_CUMLINK_SPACING (4) */
    int cosine;           /* 1: the classifier becomes a cosine layer (nn.h
                             CL_LAYER_COSINE, no bias) with temperature: */
    double temperature;   /* T > 0 */
} cl_head_opts;

/* Resolves the config into a flat spec list for input shape `in` (used when
 * cfg->in is unset; a set cfg->in must equal it), with the head options
 * applied to the last linear layer (marked classifier). *specs is cl_alloc'ed. */
cl_status cl_modelcfg_specs(const cl_modelcfg *cfg, cl_shape in, const cl_head_opts *head,
                            cl_layer_spec **specs, int *n);

/* Builds the model: specs, cl_model_create (params from rng), and for an
 * ETF head writes the ETF rows into the classifier weight (bias zero).
 * Also returns the explicit spec text (cl_alloc'ed) if text != NULL. */
cl_status cl_modelcfg_build(const cl_modelcfg *cfg, cl_shape in, const cl_head_opts *head,
                            cl_rng *rng, cl_model **model, char **text);

/* Rebuilds a model from the explicit text of cl_modelcfg_format (a
 * checkpoint's spec text) exactly as specified (no head options); the
 * parameters are placeholders until a checkpoint's are copied in. */
cl_status cl_modelcfg_rebuild(const char *text, const char *name, cl_model **model);

/* cl_modelcfg_rebuild for a checkpoint that stores nparams params and nbufs
 * buffers: the counts the text needs are compared before anything of that
 * size is allocated, so a small file whose text describes a huge model is
 * refused (CL_EFORMAT naming `name`) instead of allocating it. */
cl_status cl_modelcfg_rebuild_sized(const char *text, const char *name, int64_t nparams,
                                    int64_t nbufs, cl_model **model);

/* Writes the explicit INI form of a model (input shape + one section per
 * layer) into a cl_alloc'ed string. */
cl_status cl_modelcfg_format(cl_shape in, const cl_layer_spec *specs, int n, char **text);

#endif
