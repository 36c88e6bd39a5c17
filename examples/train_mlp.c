/* train_mlp.c — the C API's training loop in one page (the README shows this
 * file): an MLP from nb_mlp_new, Adam with a cosine schedule, mini-batches
 * from a dataset, a graph built once and replayed, and a checkpoint per epoch.
 * Usage: train_mlp [FASHION_MNIST_DIR] (default: Debian's install path). */
#include <stdio.h>

#include <nabla.h>

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    char err[512];
    nb_dataset train = {0};
    if (nb_dataset_load_idx_dir(dir, "train", NULL, &train, err, sizeof err)) { /* pixels / 255 */
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    const int64_t batch = 64, epochs = 2, steps = train.n / batch; /* drop the last partial batch */

    nb_ctx *ctx = nb_ctx_new();
    nb_rng_seed(nb_ctx_rng(ctx), 0);
    nb_model *model = nb_model_new(ctx);
    const int64_t widths[] = {784, 256, 128, 10};
    nb_sequential *mlp = nb_mlp_new(model, NULL, widths, 4, NB_ACT_RELU, 0.0f); /* fc1..fc3 */

    /* the graph, built once: inputs are tensors whose data we overwrite */
    nb_tensor *x = nb_tensor_2d(ctx, batch, 784), *y = nb_tensor_1d(ctx, batch);
    nb_tensor *loss = nb_cross_entropy(ctx, nb_sequential_forward(mlp, x), y, 0.0f);
    nb_graph *g = nb_graph_new(ctx, loss);

    nb_optim_config cfg = nb_optim_defaults(NB_OPTIM_ADAM); /* lr 1e-3 */
    nb_optim *opt = nb_optim_new(nb_model_params(model), nb_model_num_params(model), &cfg);
    nb_schedule *sched = nb_schedule_cosine(ctx, cfg.lr, epochs * steps, 0.0);
    if (nb_error(ctx)) {
        fprintf(stderr, "%s\n", nb_error_message(ctx));
        return 1;
    }
    nb_checkpoint ck = {.params = nb_model_params(model), .nparams = nb_model_num_params(model),
                        .optim = opt, .schedule = sched, .rng = nb_ctx_rng(ctx)};

    nb_batch_iter it;
    nb_batch_iter_init(&it, &train, batch, 1, 0, err, sizeof err);
    for (int64_t epoch = 0; epoch < epochs; epoch++) {
        nb_batch_epoch(&it, epoch); /* this epoch's shuffle, from (seed, epoch) */
        double total = 0.0;
        int64_t count;
        for (int64_t s = 0; s < steps && nb_batch_next(&it, x->data, y->data, &count) > 0; s++) {
            nb_optim_set_lr(opt, nb_schedule_get_lr(sched));
            nb_graph_zero_grad(g);
            nb_graph_forward(g);
            nb_graph_backward(g);
            if (nb_check_finite(ctx, ck.step, loss, nb_model_params(model), nb_model_num_params(model)))
                break;
            nb_optim_step(opt);
            nb_schedule_step(sched, 0.0);
            ck.step++;
            total += loss->data[0];
        }
        if (nb_error(ctx)) {
            fprintf(stderr, "%s\n", nb_error_message(ctx));
            return 1;
        }
        printf("epoch %lld  train loss %.4f\n", (long long)epoch + 1, total / (double)steps);
        nb_checkpoint_save(ctx, "train_mlp.safetensors", &ck); /* atomic */
    }
    nb_batch_iter_free(&it);
    nb_dataset_free(&train);
    nb_ctx_free(ctx);
    return 0;
}
