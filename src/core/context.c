/* core/context.c — the context: an arena that owns all memory of the tensors
 * and graphs made in it, and the sticky error every API call reports through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"

#define NB_ALIGN 64
#define NB_CHUNK_MIN ((size_t)1 << 20)

/* Chunks are bump-allocated and never freed one by one; a request larger than
 * the current chunk's remainder starts a new chunk (of at least 1 MiB), so the
 * arena grows on its own and nobody has to guess a size up front. */
struct nb_arena_chunk {
    struct nb_arena_chunk *next;
    size_t size, used;
    unsigned char *base; /* aligned start of the usable bytes */
};

nb_ctx *nb_ctx_new(void) {
    nb_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->grad_enabled = true;
    ctx->training = true;
    nb_rng_seed(&ctx->rng, 0);
    return ctx;
}

void nb_ctx_free(nb_ctx *ctx) {
    if (!ctx) return;
    struct nb_arena_chunk *c = ctx->chunks;
    while (c) {
        struct nb_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(ctx);
}

size_t nb_ctx_memory(const nb_ctx *ctx) { return ctx ? ctx->reserved : 0; }

void *nb__alloc(nb_ctx *ctx, size_t bytes) {
    if (!ctx) return NULL;
    size_t need = (bytes + NB_ALIGN - 1) & ~(size_t)(NB_ALIGN - 1);
    if (need < bytes) {
        nb__error(ctx, NB_ERR_ALLOC, "out of memory: %zu bytes requested", bytes);
        return NULL;
    }
    struct nb_arena_chunk *c = ctx->chunks;
    if (!c || c->size - c->used < need) {
        size_t size = need > NB_CHUNK_MIN ? need : NB_CHUNK_MIN;
        size_t total = sizeof *c + NB_ALIGN + size;
        if (total < size || !(c = malloc(total))) {
            nb__error(ctx, NB_ERR_ALLOC, "out of memory: could not reserve %zu bytes", size);
            return NULL;
        }
        uintptr_t start = (uintptr_t)(c + 1);
        start = (start + NB_ALIGN - 1) & ~(uintptr_t)(NB_ALIGN - 1);
        c->base = (unsigned char *)start;
        c->size = size;
        c->used = 0;
        c->next = ctx->chunks;
        ctx->chunks = c;
        ctx->reserved += total;
    }
    void *p = c->base + c->used;
    c->used += need;
    memset(p, 0, need);
    return p;
}

char *nb__strdup(nb_ctx *ctx, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = nb__alloc(ctx, n);
    if (d) memcpy(d, s, n);
    return d;
}

int nb__error(nb_ctx *ctx, int code, const char *fmt, ...) {
    if (!ctx || ctx->error != NB_OK) return code;
    ctx->error = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
    return code;
}

int nb_error(const nb_ctx *ctx) { return ctx ? ctx->error : NB_ERR_NULL; }

const char *nb_error_message(const nb_ctx *ctx) {
    if (!ctx) return "no context (NULL)";
    return ctx->error ? ctx->message : "";
}

void nb_clear_error(nb_ctx *ctx) {
    if (!ctx) return;
    ctx->error = NB_OK;
    ctx->message[0] = '\0';
}

const char *nb_status_string(int status) {
    switch (status) {
    case NB_OK: return "ok";
    case NB_ERR_NULL: return "NULL argument";
    case NB_ERR_SHAPE: return "shape mismatch";
    case NB_ERR_ALLOC: return "out of memory";
    case NB_ERR_ARG: return "invalid argument";
    case NB_ERR_IO: return "I/O error";
    case NB_ERR_FORMAT: return "malformed data";
    case NB_ERR_STATE: return "invalid state";
    case NB_ERR_NONFINITE: return "non-finite value";
    default: return "unknown error";
    }
}

void nb_set_grad_enabled(nb_ctx *ctx, int enabled) {
    if (ctx) ctx->grad_enabled = enabled != 0;
}
int nb_grad_enabled(const nb_ctx *ctx) { return ctx && ctx->grad_enabled; }

void nb_set_training(nb_ctx *ctx, int training) {
    if (ctx) ctx->training = training != 0;
}
int nb_training(const nb_ctx *ctx) { return ctx && ctx->training; }

void nb_ctx_set_allsum(nb_ctx *ctx, nb_allsum_fn fn, void *user) {
    if (!ctx) return;
    ctx->allsum = fn;
    ctx->allsum_user = fn ? user : NULL;
}
