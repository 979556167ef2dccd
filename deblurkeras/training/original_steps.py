"""Independent restatements of each original's TRAINING STEP, for experiments/train_parity.py.

Each `run_<family>(init, batches, opts)` starts from `init` (weights exported from our Keras models), takes one
optimizer step per batch exactly as the original code orders it, and returns
    {"losses": (K, n_terms) array, "grad": {name: first-batch gradient}, "w": {name: weights after K steps}}
Names and layouts are those of `init` (torch state_dict keys for the PyTorch originals, Keras paths for TF ones).

The PyTorch modules are those of experiments/torch_reference.py (written to the official definitions).
- DMPHN (HongguangZhang/DMPHN-cvpr19-master, DMPHN_1_2_4_8.py): Encoder/Decoder modules, the patch hierarchy, inputs - 0.5, nn.MSELoss on the final output, one torch.optim.Adam(lr) per encoder/decoder.
- Stack-DMPHN (same repository, SDNet4.py): the stacked forward (released lv2 quirk included), loss
  mse(sN) + ... + mse(s1), zero_grad on every module, backward, one torch.optim.Adam(lr) step per encoder/decoder.
- SRResNet / SRGAN (sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution, train_srresnet.py / train_srgan.py):
  SRGAN per batch: G step (content MSE of truncated VGG19 i=5 j=4 on ImageNet-normalised
  images + 1e-3 * BCE-with-logits(D(SR), 1)), then D step (D(HR) first, then D(SR.detach())).
- SRN (jiangsutx/SRN-Deblur, train op of models/model.py): a tf.compat.v1 graph of g_net, the multi-scale MSE
  against TF1-bilinear-resized targets, AdamOptimizer(lr, 0.9, 0.999, 1e-8) on polynomial_decay(power 0.3).
- Dense-field GAN (leftthomas/ImageDeblurring main.py): raw TF - D step on concat(real, G.predict(blur)) with
  Keras 2's binary_crossentropy, G step on -log D(G(blur)) through a frozen D, then the content step
  145 * VGG MSE + 170 * L1; three separate Keras-2 Adam states (lr 1e-3, eps 1e-7) written out by hand.
Written from the original definitions for this check; none of their code is copied here.

`opts["dtype"]` = "float64" runs a reference in float64 (torch's default dtype, the TF1 graph's dtype; Keras' floatx
for the dense-field GAN, which the caller sets): with float32 rounding gone, a remaining gap is in the algorithm.
"""
import contextlib
import functools


import numpy as np

# ------------------------------------------------------------------------------------------------ PyTorch side


def _torch():
    import torch
    from torch import nn
    return torch, nn


def dmphn_modules(n_levels):
    """{encoder_lv1: Encoder, decoder_lv1: Decoder, ...}: the official modules (experiments/torch_reference.py)."""
    _, nn = _torch()
    import torch_reference as official
    return nn.ModuleDict({f"{p}_lv{k}": (official.Encoder() if p == "encoder" else official.Decoder())
                          for k in range(1, n_levels + 1) for p in ("encoder", "decoder")})


def dmphn_forward(m, x):
    """The official hierarchy (DMPHN_1_2_4(_8).py); x = image - 0.5 (NCHW)."""
    import torch_reference as official
    n = len(m) // 2
    return official.dmphn_forward({k: m[f"encoder_lv{k}"] for k in range(1, n + 1)},
                                  {k: m[f"decoder_lv{k}"] for k in range(1, n + 1)}, x)


def srresnet_module(channels=64, n_blocks=16, scale=4):
    """The tutorial's SRResNet (state_dict keys are the tutorial's)."""
    import torch_reference as official
    return official.SRResNet(ch=channels, n_blocks=n_blocks, scale=scale)


def srgan_discriminator_module(channels=64, n_blocks=8, fc_size=1024):
    import torch_reference as official
    return official.Discriminator(ch=channels, n_blocks=n_blocks, fc_size=fc_size)


def truncated_vgg19(kernels):
    """VGG19 features up to conv5_4 + ReLU (the tutorial's TruncatedVGG19(5, 4)); kernels: 16 (OIHW, bias)."""
    torch, nn = _torch()
    layers, cin, k = [], 3, 0
    for block, n in enumerate((2, 2, 4, 4, 4)):
        for _ in range(n):
            w, b = kernels[k]
            conv = nn.Conv2d(cin, w.shape[0], 3, padding=1)
            conv.weight.data.copy_(torch.from_numpy(w))
            conv.bias.data.copy_(torch.from_numpy(b))
            layers += [conv, nn.ReLU()]
            cin, k = w.shape[0], k + 1
        if block < 4:
            layers.append(nn.MaxPool2d(2, 2))
    vgg = nn.Sequential(*layers).eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    return vgg


def _load(module, state):
    torch, _ = _torch()
    own = module.state_dict()
    state = {k: (torch.from_numpy(np.asarray(state[k])).to(own[k].dtype) if not k.endswith("num_batches_tracked")
                 else own[k]) for k in own}  # a KeyError names any weight the export did not provide
    module.load_state_dict(state, strict=True)
    return module


def _nchw(a):
    torch, _ = _torch()
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2))).to(torch.get_default_dtype())


@contextlib.contextmanager
def _torch_dtype(opts):
    """torch's default dtype is opts["dtype"] (float32 unless given) inside; the previous one is restored after."""
    torch, _ = _torch()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, opts.get("dtype", "float32")))
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _torch_run(run):
    """A reference run under _torch_dtype(opts)."""
    @functools.wraps(run)
    def wrapped(init, batches, opts):
        with _torch_dtype(opts):
            return run(init, batches, opts)
    return wrapped


def _params(prefix_modules):
    return {f"{prefix}{k}": p for prefix, mod in prefix_modules for k, p in mod.named_parameters()}


def _state(prefix_modules):
    return {f"{prefix}{k}": v.detach().numpy().copy() for prefix, mod in prefix_modules
            for k, v in mod.state_dict().items() if not k.endswith("num_batches_tracked")}


def _official_steps(m, batches, lr, loss_of):
    """The official DMPHN / SDNet training step over `batches`: one torch Adam per module of `m`, zero_grad,
    backward, step; `loss_of(blurred_nchw - 0.5, sharp_nchw - 0.5)` is the script's loss. -> the parity record."""
    torch, _ = _torch()
    optims = [torch.optim.Adam(m[name].parameters(), lr=float(lr)) for name in m]
    losses, grad = [], None
    for blurred, sharp in batches:
        loss = loss_of(_nchw(blurred) - 0.5, _nchw(sharp) - 0.5)
        for mod in m.values():
            mod.zero_grad()
        loss.backward()
        if grad is None:
            grad = {k: p.grad.numpy().copy() for k, p in m.named_parameters()}
        for o in optims:
            o.step()
        losses.append([loss.item()])
    return {"losses": np.array(losses), "grad": grad, "w": _state([("", m)])}


@_torch_run
def run_dmphn(init, batches, opts):
    """init: DMPHN twin state (encoder_lv1.layer1.weight ...); batches: [(blurred, sharp)] NHWC in [0, 1]."""
    _, nn = _torch()
    m = _load(dmphn_modules(int(opts["levels"])), init).train()
    mse = nn.MSELoss()
    return _official_steps(m, batches, opts["lr"], lambda x, gt: mse(dmphn_forward(m, x), gt))


def stack_dmphn_modules(stacks):
    """{encoder_s1_lv1: Encoder, ...}: the official modules, named like the SDNet files (and our twin's keys)."""
    _, nn = _torch()
    import torch_reference as official
    enc, dec = official.sdnet_modules(stacks, init=False)
    return nn.ModuleDict({f"{p}_s{s}_lv{lv}": mods[s, lv] for (s, lv) in enc
                          for p, mods in (("encoder", enc), ("decoder", dec))})


@_torch_run
def run_stack_dmphn(init, batches, opts):
    """init: Stack-DMPHN twin state (encoder_s1_lv1.layer1.weight ...); batches: [(blurred, sharp)] NHWC in [0, 1]."""
    _, nn = _torch()
    import torch_reference as official
    n = int(opts["stacks"])
    m = _load(stack_dmphn_modules(n), init).train()
    enc = {(s, lv): m[f"encoder_s{s}_lv{lv}"] for s in range(1, n + 1) for lv in (1, 2, 3)}
    dec = {(s, lv): m[f"decoder_s{s}_lv{lv}"] for s in range(1, n + 1) for lv in (1, 2, 3)}
    mse = nn.MSELoss()

    def loss_of(x, gt):
        outs = official.sdnet_forward(enc, dec, x)
        loss = mse(outs[-1], gt)                     # SDNet4.py: mse(s4) + mse(s3) + mse(s2) + mse(s1)
        for out in reversed(outs[:-1]):
            loss = loss + mse(out, gt)
        return loss

    return _official_steps(m, batches, opts["lr"], loss_of)


_MEAN, _STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _imagenet(x01):
    """The tutorial's torch.FloatTensor(mean / std) in float32 runs; in float64 runs the same numbers in float64,
    as our side has them (float32-rounded constants would seed a 1e-8 difference that Adam then amplifies)."""
    torch, _ = _torch()
    mean, std = (torch.tensor(a, dtype=x01.dtype).view(1, 3, 1, 1) for a in (_MEAN, _STD))
    return (x01 - mean) / std


@_torch_run
def run_srresnet(init, batches, opts):
    """train_srresnet.py: MSE(SRResNet(LR imagenet-normed), HR in [-1, 1]); Adam(lr)."""
    torch, nn = _torch()
    g = _load(srresnet_module(**opts["g_kw"]), init).train()
    opt = torch.optim.Adam(g.parameters(), lr=float(opts["lr"]))
    mse = nn.MSELoss()
    losses, grad = [], None
    for lr_img, hr in batches:
        loss = mse(g(_imagenet(_nchw(lr_img))), _nchw(hr) * 2.0 - 1.0)
        opt.zero_grad()
        loss.backward()
        if grad is None:
            grad = {k: p.grad.numpy().copy() for k, p in g.named_parameters()}
        opt.step()
        losses.append([loss.item()])
    return {"losses": np.array(losses), "grad": grad, "w": _state([("", g)])}


@_torch_run
def run_srgan(init, batches, opts):
    """train_srgan.py per batch: G step, then D step with D(HR) before D(SR.detach()); init keys g./d./vgg.N."""
    torch, nn = _torch()
    g = _load(srresnet_module(**opts["g_kw"]), {k[2:]: v for k, v in init.items() if k.startswith("g.")}).train()
    d = _load(srgan_discriminator_module(**opts["d_kw"]),
              {k[2:]: v for k, v in init.items() if k.startswith("d.")}).train()
    vgg = truncated_vgg19([(init[f"vgg.{i}.weight"], init[f"vgg.{i}.bias"]) for i in range(16)])
    opt_g = torch.optim.Adam(g.parameters(), lr=float(opts["lr"]))
    opt_d = torch.optim.Adam(d.parameters(), lr=float(opts["lr"]))
    mse, bce = nn.MSELoss(), nn.BCEWithLogitsLoss()
    beta = float(opts.get("beta", 1e-3))
    losses, grad = [], None
    for lr_img, hr01 in batches:
        hr = _imagenet(_nchw(hr01))
        sr = _imagenet((g(_imagenet(_nchw(lr_img))) + 1.0) / 2.0)   # convert_image('[-1, 1]' -> 'imagenet-norm')
        content = mse(vgg(sr), vgg(hr).detach())
        sr_d = d(sr)
        adversarial = bce(sr_d, torch.ones_like(sr_d))
        opt_g.zero_grad()
        (content + beta * adversarial).backward()
        g_grad = {f"g.{k}": p.grad.numpy().copy() for k, p in g.named_parameters()}
        opt_g.step()
        hr_d = d(hr)
        sr_d = d(sr.detach())
        d_loss = bce(sr_d, torch.zeros_like(sr_d)) + bce(hr_d, torch.ones_like(hr_d))
        opt_d.zero_grad()
        d_loss.backward()
        if grad is None:
            grad = {**g_grad, **{f"d.{k}": p.grad.numpy().copy() for k, p in d.named_parameters()}}
        opt_d.step()
        losses.append([content.item(), adversarial.item(), d_loss.item()])
    return {"losses": np.array(losses), "grad": grad, "w": _state([("g.", g), ("d.", d)])}


# ------------------------------------------------------------------------------------------------ TensorFlow side


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
    from deblurkeras.families.srn.importer import keras_to_tf1_name

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


def _keras2_adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-7, dtype="float32"):
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


def _keras2_bce(target, output, eps=1e-7):
    """Keras 2 TF backend binary_crossentropy on probabilities: clip, back to logits, sigmoid cross-entropy."""
    import tensorflow as tf
    output = tf.clip_by_value(output, eps, 1.0 - eps)
    logits = tf.math.log(output / (1 - output))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits))


def run_dense_gan(models, batches, opts):
    """main.py's loop on copies of our G and D (models = (g, d, vgg_features)); returns Keras-path names."""
    import tensorflow as tf

    g, d, vgg = models
    adam_d, adam_dg, adam_g = (_keras2_adam(float(opts["lr"]), eps=float(opts["epsilon"]),
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
            d_loss = _keras2_bce(labels, scores)
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
