"""SRN-DeblurNet's training step as the original defines it (jiangsutx/SRN-Deblur, the train op of
models/model.py), restated as a tf.compat.v1 graph for the parity checks (tests and experiments; `import deblurkeras`
never imports this module): g_net in raw TF ops, the multi-scale MSE against TF1-bilinear-resized targets,
AdamOptimizer(lr, 0.9, 0.999, 1e-8) on polynomial_decay(power 0.3). Written from the original definitions; none of
their code is copied here.
"""
import numpy as np

def tf1_resize(t, hw):
    """TF1's resize_images default (bilinear, align_corners=False, no half-pixel centers). ResizeBilinear always
    returns float32: a float64 run casts back, as the model's layer does."""
    import tensorflow as tf
    return tf.cast(tf.compat.v1.image.resize_bilinear(t, hw, align_corners=False, half_pixel_centers=False), t.dtype)


def g_net(x, W, B, lstm, n_levels=3, scale=0.5):
    """SRN's g_net written out in raw TF ops, as the official model.py builds it (eager or in a TF1 graph):
    x (N, H, W, C); W(scope) / B(scope) the weights / biases of "g_net/<scope>". Returns the scale outputs,
    coarsest first. tests/families/srn/test_tf1_import.py runs it on a real TF1 checkpoint, run_srn trains
    through it."""
    import tensorflow as tf
    resize = tf1_resize

    def conv(t, s, stride=1, relu=True):
        y = tf.nn.conv2d(t, W(s), strides=stride, padding="SAME") + B(s)
        return tf.nn.relu(y) if relu else y

    def res(t, s):
        return t + conv(conv(t, s + "/conv1"), s + "/conv2", relu=False)

    def deconv(t, s):
        k = W(s)
        shape = tf.shape(t)
        y = tf.nn.conv2d_transpose(t, k, [shape[0], 2 * shape[1], 2 * shape[2], k.shape[2]], strides=2,
                                   padding="SAME") + B(s)
        return tf.nn.relu(y)

    n, h, w = x.shape[:3]
    outputs, inp_pred = [], x
    state = tf.zeros([n, h // 4, w // 4, 256], x.dtype)
    for i in range(n_levels):
        f = scale ** (n_levels - i - 1)
        hi, wi = int(round(h * f)), int(round(w * f))
        inp_blur = resize(x, [hi, wi])
        inp_pred = tf.stop_gradient(resize(inp_pred, [hi, wi]))
        t = conv(tf.concat([inp_blur, inp_pred], axis=3), "enc1_1")
        for k in (2, 3, 4):
            t = res(t, f"enc1_{k}")
        c1 = t
        t = conv(t, "enc2_1", stride=2)
        for k in (2, 3, 4):
            t = res(t, f"enc2_{k}")
        c2 = t
        t = conv(t, "enc3_1", stride=2)
        for k in (2, 3, 4):
            t = res(t, f"enc3_{k}")
        if lstm:  # BasicConvLSTMCell: state [c, h], gates i, j, f, o, forget bias 1.0
            state = resize(state, [hi // 4, wi // 4])
            c, hh = tf.split(state, 2, axis=3)
            gates = tf.nn.conv2d(tf.concat([t, hh], 3), W("convLSTM/LSTM_conv"), 1, "SAME") + B("convLSTM/LSTM_conv")
            gi, gj, gf, go = tf.split(gates, 4, axis=3)
            c = c * tf.sigmoid(gf + 1.0) + tf.sigmoid(gi) * tf.tanh(gj)
            t = tf.tanh(c) * tf.sigmoid(go)
            state = tf.concat([c, t], 3)
        for k in (3, 2, 1):
            t = res(t, f"dec3_{k}")
        t = deconv(t, "dec2_4") + c2
        for k in (3, 2, 1):
            t = res(t, f"dec2_{k}")
        t = deconv(t, "dec1_4") + c1
        for k in (3, 2, 1):
            t = res(t, f"dec1_{k}")
        inp_pred = conv(t, "dec1_0", relu=False)
        outputs.append(inp_pred)
    return outputs


def run_srn(init, batches, opts):
    """The official SRN train op as a tf.compat.v1 graph; init: {keras path: array} of our SRN model."""
    import tensorflow as tf
    from .importer import keras_to_tf1_name

    v1 = tf.compat.v1
    lstm, chns = bool(opts["lstm"]), int(opts["channels"])
    n, h, w = batches[0][0].shape[:3]
    dtype = getattr(tf, opts.get("dtype", "float32"))
    graph = tf.Graph()
    with graph.as_default():
        names = {v1_name: k for k, v1_name in ((k, keras_to_tf1_name(k)) for k in init)}
        var = {nm: v1.get_variable(nm.replace(":", "_"), initializer=tf.constant(init[k], dtype))
               for nm, k in names.items()}
        W = lambda s: var[f"g_net/{s}/weights"]  # noqa: E731
        B = lambda s: var[f"g_net/{s}/biases"]  # noqa: E731
        blur_ph = v1.placeholder(dtype, [n, h, w, 3])
        sharp_ph = v1.placeholder(dtype, [n, h, w, 3])
        x, gt = (tf.image.rgb_to_grayscale(blur_ph), tf.image.rgb_to_grayscale(sharp_ph)) if chns == 1 \
            else (blur_ph, sharp_ph)
        outputs = g_net(x, W, B, lstm)
        loss = 0.0
        for out in outputs:  # official: gt_i = tf.image.resize_images(gt, [h_i, w_i], 0) (TF1 bilinear)
            loss += tf.reduce_mean((tf1_resize(gt, tf.shape(out)[1:3]) - out) ** 2)
        step = v1.train.get_or_create_global_step()
        lr = v1.train.polynomial_decay(float(opts["lr"]), step, int(opts["total_steps"]), end_learning_rate=0.0,
                                       power=0.3)
        ordered = list(var)
        grads = v1.gradients(loss, [var[k] for k in ordered])
        train_op = v1.train.AdamOptimizer(lr, 0.9, 0.999, 1e-8).apply_gradients(
            zip(grads, [var[k] for k in ordered]), global_step=step)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            losses, first = [], None
            for blurred, sharp in batches:
                feed = {blur_ph: blurred, sharp_ph: sharp}
                if first is None:
                    first = dict(zip(ordered, sess.run(grads, feed)))
                value, _ = sess.run([loss, train_op], feed)
                losses.append([float(value)])
            final = dict(zip(ordered, sess.run([var[k] for k in ordered])))
    back = {nm: k for nm, k in names.items()}
    return {"losses": np.array(losses), "grad": {back[k]: v for k, v in first.items()},
            "w": {back[k]: v for k, v in final.items()}}


# ----------------------------------------------------------------------------------------------- train-step parity
def describe(case, trainer, opts, small):
    """step_parity's setup of an SRN case: our generator's variables by Keras path (the graph is named from them)."""
    from ...training.step_parity import keras_params

    g = trainer.generator
    return {"trainer": trainer, "params": keras_params(g, "", trainer.optimizer), "skip": set(),
            "init": {v.path: v.numpy() for v in g.trainable_variables}, "loss_keys": ["loss"],
            "ref_opts": {**opts, "channels": g.inputs[0].shape[-1]}}


def run_reference(case, init, batches, opts):
    return run_srn(init, batches, opts)
