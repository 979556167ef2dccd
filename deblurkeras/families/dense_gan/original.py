"""The dense-field GAN's training loop as the original runs it (leftthomas/ImageDeblurring main.py), restated for the
parity checks (tests and experiments; `import deblurkeras` never imports this module): raw TF - D step on
concat(real, G.predict(blur)) with Keras 2's binary_crossentropy, G step on -log D(G(blur)) through a frozen D, then
the content step 145 * VGG MSE + 170 * L1; three separate Keras-2 Adam states (lr 1e-3, eps 1e-7) written out by
hand. Written from the original definitions; none of their code is copied here.
"""
import numpy as np

def keras2_adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-7, dtype="float32"):
    """Keras 2's Adam.get_updates, written out: eps on sqrt(v), both corrections folded into lr_t. Its lr, beta_1
    and beta_2 are K.variable()s of floatx (so 1 - beta_1 is computed in float32 from float32(0.9)); eps a float."""
    import tensorflow as tf

    state = {"t": 0}
    lr, b1, b2 = (tf.constant(x, dtype) for x in (lr, b1, b2))

    def apply(grads, variables):
        state["t"] += 1
        t = tf.constant(float(state["t"]), dtype)  # Keras 2: t = K.cast(iterations, floatx()) + 1
        lr_t = lr * (tf.sqrt(1.0 - tf.pow(b2, t)) / (1.0 - tf.pow(b1, t)))
        for g, v in zip(grads, variables):
            key = id(v)
            m, s = state.get((key, "m"), tf.zeros_like(v)), state.get((key, "v"), tf.zeros_like(v))
            m = (b1 * m) + (1.0 - b1) * g
            s = (b2 * s) + (1.0 - b2) * tf.square(g)
            v.assign(v - lr_t * m / (tf.sqrt(s) + eps))
            state[(key, "m")], state[(key, "v")] = m, s
    return apply


def keras2_bce(target, output, eps=1e-7):
    """Keras 2 TF backend binary_crossentropy on probabilities: clip, back to logits, sigmoid cross-entropy."""
    import tensorflow as tf
    output = tf.clip_by_value(output, eps, 1.0 - eps)
    logits = tf.math.log(output / (1 - output))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits))


def run_dense_gan(models, batches, opts):
    """main.py's loop on copies of our G and D (models = (g, d, vgg_features)); returns Keras-path names."""
    import tensorflow as tf

    g, d, vgg = models
    adam_d, adam_dg, adam_g = (keras2_adam(float(opts["lr"]), eps=float(opts["epsilon"]),
                                                 dtype=opts.get("dtype", "float32")) for _ in range(3))
    losses, grad = [], {}
    d_stats = d.non_trainable_variables
    for blurred, sharp in batches:
        blurred, sharp = tf.constant(blurred), tf.constant(sharp)
        n = blurred.shape[0]
        fake = g(blurred, training=False)                      # g.predict
        with tf.GradientTape() as tape:                        # d.train_on_batch(concat(full, fake), [1]*n + [0]*n)
            scores = d(tf.concat([sharp, fake], 0), training=True)
            labels = tf.concat([tf.ones((n, 1), scores.dtype), tf.zeros((n, 1), scores.dtype)], 0)
            d_loss = keras2_bce(labels, scores)
        d_grads = tape.gradient(d_loss, d.trainable_variables)
        adam_d(d_grads, d.trainable_variables)
        saved = [v.numpy() for v in d_stats]                   # D frozen: its BN statistics must not move
        with tf.GradientTape() as tape:                        # d_on_g.train_on_batch(blur, [1]*n): -log D(G(x))
            adv = tf.reduce_mean(-tf.math.log(d(g(blurred, training=True), training=True)))
        adam_dg(tape.gradient(adv, g.trainable_variables), g.trainable_variables)
        for v, s in zip(d_stats, saved):
            v.assign(s)
        with tf.GradientTape() as tape:                        # g.train_on_batch(blur, full): 145 VGG + 170 L1
            out = g(blurred, training=True)
            content = 145.0 * tf.reduce_mean(tf.square(vgg(sharp, training=False) - vgg(out, training=False))) \
                + 170.0 * tf.reduce_mean(tf.abs(out - sharp))
        g_grads = tape.gradient(content, g.trainable_variables)
        adam_g(g_grads, g.trainable_variables)
        if not grad:
            grad = {**{f"g/{v.path}": x.numpy() for v, x in zip(g.trainable_variables, g_grads)},
                    **{f"d/{v.path}": x.numpy() for v, x in zip(d.trainable_variables, d_grads)}}
        losses.append([float(d_loss), float(adv), float(content)])
    w = {**{f"g/{v.path}": v.numpy() for v in g.trainable_variables},
         **{f"d/{v.path}": v.numpy() for v in d.trainable_variables}}
    return {"losses": np.array(losses), "grad": grad, "w": w}


# ----------------------------------------------------------------------------------------------- train-step parity
def describe(case, trainer, opts, small):
    """step_parity's setup of the dense-field GAN: G's and D's variables by Keras path (BN-fed conv biases left out),
    and every weight of G, D and the VGG features for the reference's fresh copies."""
    from ...training.step_parity import bn_fed_biases, keras_params

    g, d = trainer.generator, trainer.discriminator
    params = keras_params(g, "g/", trainer.g_optimizer) + keras_params(d, "d/", trainer.d_optimizer)
    fed = bn_fed_biases(g) | bn_fed_biases(d)
    skip = {n for n, v, _, _ in params if v.path in fed}
    init = {f"{p}/{v.path}": v.numpy() for p, m in (("g", g), ("d", d), ("vgg", trainer.content_loss.features))
            for v in m.weights}
    return {"trainer": trainer, "params": params, "skip": skip, "init": init,
            "loss_keys": ["d_loss", "g_adv", "g_content"], "ref_opts": opts}


def dense_models(init, opts):
    """Fresh copies of our dense-field G, D and VGG16 features (same builders), weights from `init`."""
    import warnings
    from ... import registry
    from .trainer import make_content_loss

    tiny, size = bool(opts.get("tiny")), int(opts["size"])
    g = registry.build_model("dense-gan", dropout=False, **({"channel_rate": 8} if tiny else {}))
    d = registry.build_model("dense-gan-d", image_shape=(size, size, 3), batch_patches=False,
                             **({"filters": 8, "patch_size": 16} if tiny else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vgg = make_content_loss(vgg_weights=None).features
    for prefix, model in (("g", g), ("d", d), ("vgg", vgg)):
        for v in model.weights:
            v.assign(init[f"{prefix}/{v.path}"])
    return g, d, vgg


def run_reference(case, init, batches, opts):
    """main.py's loop on fresh copies of our models; batches in [-1, 1] (ParityCase.data "signed")."""
    return run_dense_gan(dense_models(init, opts), batches, opts)
