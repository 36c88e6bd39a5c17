/* nabla/checkpoint.h — safetensors files: named float32 tensors plus string
 * metadata, saved atomically and loaded all-or-nothing; and training
 * checkpoints (model, optimizer, schedule, RNG, step) built on them so that a
 * resumed run continues bit-identically. Included by nabla.h. */
#ifndef NABLA_CHECKPOINT_H
#define NABLA_CHECKPOINT_H

#include "nabla/core.h"
#include "nabla/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors --------------------------------------------------------------
 * Format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * (padded with spaces so the data starts 8-byte aligned), then the raw
 * little-endian data; offsets count from the start of the data.
 *
 * Saving is atomic: the file is written to "<path>.tmp.XXXXXX" in the same
 * directory, flushed and fsync'ed, renamed over path, and the directory is
 * fsync'ed; a crash at any point leaves the previous file at path intact
 * (possibly with a stray temporary file beside it).
 *
 * Loading checks everything before writing any tensor: the header length
 * against the file size, the JSON, every entry's dtype (only F32 is read),
 * shape (against the destination tensor), data_offsets (inside the data,
 * end - begin = 4 × elements, no two tensors overlapping), duplicate and
 * missing names. On any error the destination tensors are unchanged and the
 * message names the file and the tensor or byte offset and what was expected. */

/* Write tensors[0..n) by their names (which must be unique and non-empty)
 * with metadata pairs meta[2i] = key, meta[2i+1] = value for i < nmeta. */
int nb_safetensors_save(nb_ctx *ctx, const char *path, nb_tensor *const *tensors, int n,
                        const char *const *meta, int nmeta);
/* Fill tensors[0..n) from the entries of the same names. Unless allow_extra,
 * entries in the file that match no tensor are an error. */
int nb_safetensors_load(nb_ctx *ctx, const char *path, nb_tensor *const *tensors, int n,
                        int allow_extra);

/* ---- training checkpoints -------------------------------------------------------
 * What a checkpoint holds. Tensors are stored under their names: params and
 * buffers as is, the optimizer's state as "optim.<buffer>.<param>". The
 * metadata records the format ("nabla.format": "1"), the optimizer's kind,
 * step count and learning rate, the schedule's state, the RNG state and the
 * training step, with doubles written exactly (%.17g) so nothing is rounded.
 * Any of optim, schedule, rng may be NULL (not saved / not restored).
 *
 * Loading restores the same parts into objects built the same way as the
 * saved ones (same parameter names and shapes, same optimizer kind and
 * options); everything is checked first and nothing changes on error. The
 * file must contain every tensor asked for; extra tensors are an error unless
 * allow_extra (e.g. loading weights only, for evaluation, from a file that
 * also holds optimizer state). */
typedef struct nb_checkpoint {
    nb_tensor *const *params;
    int nparams;
    nb_tensor *const *buffers;   /* non-trainable named tensors (may be NULL) */
    int nbuffers;
    nb_optim *optim;
    nb_schedule *schedule;
    nb_rng *rng;                 /* usually nb_ctx_rng(ctx) */
    int64_t step;                /* saved; set by loading */
    int allow_extra;
    /* Extra metadata saved with the checkpoint: meta[2i] = key, meta[2i+1] =
     * value for i < nmeta (e.g. the model spec, class names, normalisation).
     * Keys must not collide with the ones listed above ("nabla.format",
     * "step", "optim.*", "schedule.*", "rng.*"). Ignored by loading: read them
     * with nb_safetensors_read_info. */
    const char *const *meta;
    int nmeta;
} nb_checkpoint;

int nb_checkpoint_save(nb_ctx *ctx, const char *path, const nb_checkpoint *ck);
int nb_checkpoint_load(nb_ctx *ctx, const char *path, nb_checkpoint *ck);

/* ---- reading a file's description without a model ---------------------------
 * What a safetensors file holds, validated exactly as loading does (header,
 * dtypes, shapes, offsets), without any destination tensors: for tools that
 * rebuild a model from its metadata (`nabla eval`, `info`). Tensors are listed
 * in the order of their data offsets (the order they were saved in);
 * metadata pairs in the header's order. Everything is owned by the struct and
 * released by nb_safetensors_info_free. */
typedef struct nb_safetensors_tensor_info {
    char *name;
    char dtype[12];               /* "F32", ... */
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t numel;
} nb_safetensors_tensor_info;

typedef struct nb_safetensors_info {
    int ntensors;
    nb_safetensors_tensor_info *tensors;
    int nmeta;
    char **meta;                  /* meta[2i] = key, meta[2i+1] = value */
} nb_safetensors_info;

int nb_safetensors_read_info(nb_ctx *ctx, const char *path, nb_safetensors_info *info);
/* The value of metadata key, or NULL. */
const char *nb_safetensors_info_meta(const nb_safetensors_info *info, const char *key);
void nb_safetensors_info_free(nb_safetensors_info *info);

#ifdef __cplusplus
}
#endif
#endif
