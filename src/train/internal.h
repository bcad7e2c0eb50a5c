/* Internal helpers of the train module (not part of the public API): the
 * model/data checks shared by the training loop (trainer.c), the forward
 * passes (forward.c) and the regression evaluation (eval_reg.c). */
#ifndef COLLAPSE_TRAIN_INTERNAL_H
#define COLLAPSE_TRAIN_INTERNAL_H

#include "collapse/train.h"

/* The logit width k of the last layer (loss.h; K-1 after a cumlink layer,
 * the number of targets of a regression head). */
int cl_train_model_width(const cl_model *m);

/* --loss clm if and only if the model ends in a cumlink layer; else
 * CL_EINVAL naming the loss. */
cl_status cl_train_check_loss_model(const cl_loss_cfg *loss, const cl_model *m);

/* ds (NULL = nothing to check) fits m: not empty, samples of the model's
 * input size, at most as many classes as the model tells apart (ds->classes
 * 0 for regression). CL_EINVAL naming `what` ("training", "test", ...). */
cl_status cl_train_check_fit(const cl_model *m, const cl_train_data *ds,
                             const char *what);

#endif
