/* engine/torch/train.cpp — the step-by-step trainer, optimizers, learning-rate
 * schedules, evaluation and the AUTO memory-format choice, behind nas.h.
 *
 * Speed notes (the loop is benchmarked against the same loop in Python):
 * - host batch buffers are allocated once in nas_trainer_new and wrapped with
 *   torch::from_blob (no copy) on CPU; on CUDA they are pinned and copied;
 * - gradients are reset to undefined (set_to_none) instead of zeroed, so
 *   backward writes them without an extra zero + accumulate pass;
 * - one host read of the loss per step (the NaN check needs it); on CPU the
 *   training accuracy is counted from the logits on the host, on CUDA loss
 *   and correct count come back in one copy;
 * - no std::function and no per-step heap allocation in this file's code;
 * - SGD on CPU is one fused pass over each parameter's floats (FusedSGD),
 *   not libtorch's per-parameter chain of dispatched ops and string keys.
 *
 * Memory format AUTO: for a model with a (live) conv node, nas_trainer_new
 * times whole training steps (forward, loss, backward, SGD update) in NCHW
 * and channels_last on random batch-shaped data, alternating, one warm-up step
 * each, then until each format has at least 3 steps and 150 ms; the smaller
 * minimum wins. Dropout is off, the update has lr 0, and weights and
 * batch-norm buffers are restored afterwards from clones; gradients are
 * dropped and the global RNG is never drawn from, so the choice never changes
 * what training computes. The choice is cached per (graph hash, batch,
 * threads, device) for the process, so a search does not re-measure an
 * architecture it has seen. The 4-d weights and the input get the chosen
 * format's strides explicitly (also with 1 channel: model.cpp).
 */
#include "torch_impl.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/* ---- SGD ------------------------------------------------------------------
 * The update of torch::optim::SGD (libtorch 1.13, dampening 0), per parameter:
 *   d = g + wd * p;  buf = d (first step) or momentum * buf + d;
 *   d = nesterov ? d + momentum * buf : buf;  p = p - lr * d
 * as one pass over the raw floats of each CPU parameter, instead of libtorch's
 * 3-5 dispatched ops, two .data() tensor handles and a std::string state key
 * per parameter and step (measured: the MLP benchmark spends as much in
 * SGD::step as in its two small GEMMs' bookkeeping). Any parameter that is not
 * a dense CPU float tensor whose gradient has the same layout goes through the
 * same math in ATen ops. Float results equal libtorch's up to rounding (ATen
 * fuses a + alpha*b into one FMA where the CPU has it; tests/c/test_torch.c
 * compares the two). */
struct FusedSGD {
  double momentum = 0.0, wd = 0.0;
  bool nesterov = false;
  std::vector<at::Tensor> bufs; /* momentum buffers, one per parameter */

  static bool same_layout(const at::Tensor &a, const at::Tensor &b) {
    if (a.sizes() != b.sizes()) return false;
    const auto sa = a.strides(), sb = b.strides();
    for (int64_t i = 0; i < a.dim(); i++)
      if (a.size(i) != 1 && sa[i] != sb[i]) return false;
    return true;
  }

  void step(const std::vector<at::Tensor> &params, double lr) {
    torch::NoGradGuard ng;
    if (bufs.size() != params.size()) bufs.assign(params.size(), at::Tensor());
    for (size_t i = 0; i < params.size(); i++) {
      const at::Tensor &p = params[i];
      const at::Tensor &g = p.grad();
      if (!g.defined()) continue;
      at::Tensor &buf = bufs[i];
      const bool first = !buf.defined();
      if (momentum != 0.0 && first) buf = at::empty_like(p);
      const bool raw = p.device().is_cpu() && p.scalar_type() == at::kFloat &&
                       g.scalar_type() == at::kFloat && !g.is_sparse() &&
                       p.is_non_overlapping_and_dense() && g.is_non_overlapping_and_dense() &&
                       same_layout(p, g) && (momentum == 0.0 || same_layout(p, buf));
      if (raw)
        raw_step(p.data_ptr<float>(), g.data_ptr<float>(),
                 momentum != 0.0 ? buf.data_ptr<float>() : nullptr, p.numel(), lr, first);
      else
        tensor_step(p, g, buf, lr, first);
    }
  }

  void raw_step(float *P, const float *G, float *B, int64_t n, double lr, bool first) const {
    const float m = (float)momentum, w = (float)wd, nlr = (float)(-lr);
    const bool nest = nesterov, dec = wd != 0.0;
    at::parallel_for(0, n, 32768, [&](int64_t b0, int64_t b1) {
      if (!B) {
        for (int64_t k = b0; k < b1; k++) {
          const float d = dec ? G[k] + w * P[k] : G[k];
          P[k] = P[k] + nlr * d;
        }
        return;
      }
      for (int64_t k = b0; k < b1; k++) {
        const float d = dec ? G[k] + w * P[k] : G[k];
        const float b = first ? d : B[k] * m + d;
        B[k] = b;
        P[k] = P[k] + nlr * (nest ? d + m * b : b);
      }
    });
  }

  void tensor_step(const at::Tensor &p, const at::Tensor &g, at::Tensor &buf, double lr,
                   bool first) const {
    at::Tensor d = wd != 0.0 ? g.add(p, wd) : g;
    if (momentum != 0.0) {
      if (first)
        buf.copy_(d);
      else
        buf.mul_(momentum).add_(d);
      d = nesterov ? d.add(buf, momentum) : buf;
    }
    const_cast<at::Tensor &>(p).add_(d, -lr);
  }
};

/* ---- memory format choice ------------------------------------------------ */

using FmtKey = std::tuple<uint64_t, int, int, std::string>;
std::mutex fmt_mu;
std::map<FmtKey, nas_memfmt> fmt_cache;

/* Timing budget of the AUTO choice: alternating whole training steps in the
 * two formats until each has FMT_MIN_PASSES timed steps and FMT_MIN_SECONDS of
 * them (or FMT_MAX_PASSES, or FMT_MAX_SECONDS for both together); the faster
 * minimum wins. The minimum, because load from other processes only ever
 * adds time. */
constexpr int FMT_MIN_PASSES = 3, FMT_MAX_PASSES = 200;
constexpr double FMT_MIN_SECONDS = 0.15, FMT_MAX_SECONDS = 4.0;

/* Times whole training steps (forward, cross-entropy, backward, an SGD update
 * with momentum) in both formats on batch-shaped random data from a private
 * generator, with dropout off. Leaves the model's weights, batch-norm buffers
 * and the global RNG as they were (weights in the returned format's layout):
 * the update uses lr 0 and its own momentum buffers, and every parameter and
 * buffer is copied back from a saved clone afterwards (and a supernet's Gumbel
 * generator), so a measured model trains bit-identically to one that took the
 * choice from the cache. */
nas_memfmt measure_memfmt(nas_model *m, int batch) {
  auto &net = *m->net;
  const bool cuda = nas_torch::is_cuda(m);
  std::vector<at::Tensor> params = net.parameters();
  std::vector<at::Tensor> bufs = net.buffers();
  std::vector<at::Tensor> saved, psaved;
  saved.reserve(bufs.size());
  psaved.reserve(params.size());
  for (auto &b : bufs) saved.push_back(b.detach().clone());
  for (auto &p : params) psaved.push_back(p.detach().clone());
  const bool was_training = net.is_training();
  net.train(true);
  nas_torch::Hooks nodrop; /* batch norm in training mode, dropout off */
  nodrop.dropout = false;
  /* A supernet in Gumbel mode draws from its generator on every forward: the
   * timed passes (as many as the timing needs) must not move it, or the
   * search that follows would depend on the machine's speed. */
  at::Generator gsaved = net.gen.defined() ? net.gen.clone() : at::Generator();
  struct Restore {
    nas_model *m;
    std::vector<at::Tensor> &bufs, &saved, &params, &psaved;
    at::Generator &gsaved;
    bool was;
    ~Restore() {
      torch::NoGradGuard ng;
      for (size_t i = 0; i < bufs.size(); i++) bufs[i].copy_(saved[i]);
      for (size_t i = 0; i < params.size(); i++) params[i].copy_(psaved[i]);
      nas_torch::grads_to_none(params);
      if (gsaved.defined()) m->net->gen = gsaved;
      m->net->train(was);
    }
  } restore{m, bufs, saved, params, psaved, gsaved, was_training};

  at::Generator gen = at::detail::createCPUGenerator(0x6d656d66);
  std::vector<int64_t> sz{batch};
  for (int i = 0; i < m->in_ndim; i++) sz.push_back(m->in_dims[i]);
  at::Tensor x = torch::randn(sz, gen, torch::kFloat32);
  at::Tensor y = torch::randint(std::max<int64_t>(1, m->out_size), {batch}, gen, torch::kLong);
  if (cuda) y = y.to(m->device);
  std::vector<at::Tensor> trainable;
  for (auto &p : params)
    if (p.requires_grad()) trainable.push_back(p);
  const nas_memfmt fmts[2] = {NAS_MEMFMT_NCHW, NAS_MEMFMT_CHANNELS_LAST};
  FusedSGD sgd[2];
  for (auto &o : sgd) o.momentum = 0.9;
  /* one training step in format j, as nas_trainer_run does it (the input is
   * converted from the host NCHW batch every step) */
  auto pass = [&](int j) {
    nas_torch::apply_memfmt(m, fmts[j]);
    nas_torch::grads_to_none(trainable);
    if (cuda) torch::cuda::synchronize();
    const auto t0 = Clock::now();
    at::Tensor out = net.run(nas_torch::to_model(m, x), &nodrop);
    at::Tensor loss = at::cross_entropy_loss(out.reshape({batch, -1}), y);
    const double lv = loss.item<double>();
    (void)lv;
    loss.backward();
    sgd[j].step(trainable, 0.0);
    if (cuda) torch::cuda::synchronize();
    return seconds_since(t0);
  };
  const auto start = Clock::now();
  pass(0); /* warm-up: oneDNN/cuDNN primitive creation, allocator */
  pass(1);
  double best[2] = {1e300, 1e300}, sum[2] = {0, 0};
  int n[2] = {0, 0};
  for (int i = 0; i < FMT_MAX_PASSES; i++) {
    for (int j0 = 0; j0 < 2; j0++) {
      const int j = (i + j0) % 2; /* alternate which format goes first */
      const double s = pass(j);
      best[j] = std::min(best[j], s);
      sum[j] += s;
      n[j]++;
    }
    const bool enough = n[0] >= FMT_MIN_PASSES && sum[0] >= FMT_MIN_SECONDS && sum[1] >= FMT_MIN_SECONDS;
    if (enough || (n[0] >= FMT_MIN_PASSES && seconds_since(start) > FMT_MAX_SECONDS)) break;
  }
  const nas_memfmt choice = best[1] < best[0] ? NAS_MEMFMT_CHANNELS_LAST : NAS_MEMFMT_NCHW;
  if (getenv("NAS_MEMFMT_DEBUG"))
    fprintf(stderr, "memfmt: nchw %.3f ms, channels_last %.3f ms (min of %d), %.2f s -> %s\n",
            best[0] * 1e3, best[1] * 1e3, n[0], seconds_since(start),
            choice == NAS_MEMFMT_CHANNELS_LAST ? "channels_last" : "nchw");
  nas_torch::apply_memfmt(m, choice);
  return choice;
}

void resolve_memfmt(nas_model *m, int batch) {
  if (m->resolved) return;
  if (!m->has_conv || m->in_ndim != 3) {
    m->resolved = true;
    return;
  }
  FmtKey key{nas_graph_hash(m->g), batch, at::get_num_threads(), m->device_name};
  {
    std::lock_guard<std::mutex> lk(fmt_mu);
    auto it = fmt_cache.find(key);
    if (it != fmt_cache.end()) {
      nas_torch::apply_memfmt(m, it->second);
      m->resolved = true;
      return;
    }
  }
  nas_memfmt f = measure_memfmt(m, batch);
  m->resolved = true;
  std::lock_guard<std::mutex> lk(fmt_mu);
  if (fmt_cache.size() >= 4096) fmt_cache.clear();
  fmt_cache[key] = f;
}

/* Shape checks shared by training and evaluation. */
nas_status check_data(nas_model *m, const nas_dataset *d, const char *where, nas_error *err) {
  const int64_t ss = nas_data_sample_size(d);
  if (ss != m->in_size) {
    int64_t dd[NAS_MAX_DIMS] = {0, 0, 0};
    const int nd = nas_data_shape(d, dd);
    return nas_seterr(err, NAS_EINVAL,
                      "%s: the data's samples are {%lld,%lld,%lld} (%lld floats) but the model's input "
                      "takes %lld floats per sample",
                      where, (long long)dd[0], (long long)(nd > 1 ? dd[1] : 1),
                      (long long)(nd > 2 ? dd[2] : 1), (long long)ss, (long long)m->in_size);
  }
  if (m->in_ndim == 3) {
    int64_t dd[NAS_MAX_DIMS] = {0, 0, 0};
    const int nd = nas_data_shape(d, dd);
    if (nd != 3 || dd[0] != m->in_dims[0] || dd[1] != m->in_dims[1] || dd[2] != m->in_dims[2])
      return nas_seterr(err, NAS_EINVAL,
                        "%s: the data's samples are {%lld,%lld,%lld}, the model's input is {%lld,%lld,%lld}",
                        where, (long long)dd[0], (long long)dd[1], (long long)dd[2],
                        (long long)m->in_dims[0], (long long)m->in_dims[1], (long long)m->in_dims[2]);
  }
  if (m->out_ndim != 1)
    return nas_seterr(err, NAS_EINVAL,
                      "%s: the model's output node has %d dims; classification needs a {classes} output "
                      "(end the graph with gap/flatten and linear)",
                      where, m->out_ndim);
  const int classes = nas_data_classes(d);
  if (classes > m->out_size)
    return nas_seterr(err, NAS_EINVAL, "%s: the data has %d classes but the model outputs %lld", where,
                      classes, (long long)m->out_size);
  return NAS_OK;
}

/* Number of arg-max hits of logits (n x k, row-major floats) against y. */
int64_t count_correct(const float *logits, const int64_t *y, int64_t n, int64_t k) {
  int64_t hits = 0;
  for (int64_t i = 0; i < n; i++) {
    const float *r = logits + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
      if (r[j] > r[best]) best = j;
    hits += best == y[i];
  }
  return hits;
}

} // namespace

struct nas_trainer {
  nas_model *m = nullptr;
  nas_dataset *data = nullptr; /* owned reference (or subset view) */
  nas_train_opts o{};
  std::unique_ptr<torch::optim::Optimizer> opt; /* Adam, AdamW, SGD on CUDA */
  FusedSGD sgd;                                 /* SGD on CPU (when !opt) */
  std::vector<at::Tensor> params;
  nas_rng rng{};
  std::vector<int64_t> perm;
  int64_t n = 0;          /* rows in the (fraction) view */
  int64_t epoch_rows = 0; /* rows used per epoch (n, or n-1: see begin) */
  int64_t spe = 0;        /* steps per epoch */
  int64_t total = 0, step = 0, pos = 0, warmup_steps = 0;
  int epoch = 0, epochs = 0; /* epochs started so far / planned */
  at::Tensor xhost, yhost;   /* batch buffers (pinned on CUDA) */
  double ep_loss = 0.0;
  int64_t ep_correct = 0, ep_seen = 0, ep_steps = 0;
  double lr_last = 0.0, seconds = 0.0;
  ~nas_trainer() { nas_data_free(data); }
};

namespace {

double lr_at(const nas_trainer *t) {
  const nas_train_opts &o = t->o;
  const int64_t s = t->step;
  if (t->warmup_steps > 0 && s < t->warmup_steps) return o.lr * (double)(s + 1) / (double)t->warmup_steps;
  switch (o.schedule) {
  case NAS_SCHED_STEP: {
    const int64_t e = std::max(0, t->epoch - 1); /* 0-based epoch in progress */
    const int64_t ss = std::max<int64_t>(1, o.step_size);
    return o.lr * std::pow(o.gamma, (double)(e / ss));
  }
  case NAS_SCHED_COSINE: {
    const double T = (double)std::max<int64_t>(1, t->total - t->warmup_steps);
    const double x = (double)(s - t->warmup_steps);
    return 0.5 * o.lr * (1.0 + std::cos(M_PI * std::min(x, T) / T));
  }
  case NAS_SCHED_CONSTANT:
  default: return o.lr;
  }
}

void fill_progress(const nas_trainer *t, nas_train_progress *p, double run_loss, int64_t run_steps,
                   bool epoch_done) {
  if (!p) return;
  p->step = t->step;
  p->total_steps = t->total;
  p->epoch = t->epoch;
  p->epochs = t->epochs;
  p->loss = run_steps ? run_loss / (double)run_steps : 0.0;
  p->epoch_loss = t->ep_steps ? t->ep_loss / (double)t->ep_steps : 0.0;
  p->epoch_accuracy = t->ep_seen ? (double)t->ep_correct / (double)t->ep_seen : 0.0;
  p->done = t->step >= t->total;
  p->epoch_done = epoch_done || p->done;
  p->lr = t->lr_last;
  p->seconds = t->seconds;
}

} // namespace

extern "C" {

nas_train_opts nas_train_opts_default(void) noexcept {
  nas_train_opts o;
  memset(&o, 0, sizeof o);
  o.epochs = 1;
  o.steps = 0;
  o.batch = 128;
  o.optimizer = NAS_OPT_SGD;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.weight_decay = 0.0;
  o.nesterov = 0;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-8;
  o.schedule = NAS_SCHED_COSINE;
  o.step_size = 1;
  o.gamma = 0.1;
  o.warmup_epochs = 0.0;
  o.label_smoothing = 0.0;
  o.fraction = 1.0;
  o.seed = 0;
  o.augment.crop_pad = 0;
  o.augment.flip = 0;
  o.augment.erase = 0;
  o.grad_clip = 0.0;
  return o;
}

nas_status nas_trainer_new(nas_model *m, nas_dataset *d, const nas_train_opts *o, nas_trainer **out,
                           nas_error *err) noexcept {
  nas_clearerr(err);
  if (out) *out = nullptr;
  if (!m || !d || !o || !out) return nas_seterr(err, NAS_EINVAL, "nas_trainer_new: NULL argument");
  const char *W = "nas_trainer_new";
  if (o->batch <= 0) return nas_seterr(err, NAS_EINVAL, "%s: batch must be > 0 (got %d)", W, o->batch);
  if (o->steps < 0) return nas_seterr(err, NAS_EINVAL, "%s: steps must be >= 0", W);
  if (o->steps == 0 && o->epochs <= 0)
    return nas_seterr(err, NAS_EINVAL, "%s: epochs must be > 0 when steps is 0 (got %d)", W, o->epochs);
  if (!(o->lr >= 0.0) || !std::isfinite(o->lr)) return nas_seterr(err, NAS_EINVAL, "%s: bad lr %g", W, o->lr);
  if (!(o->fraction > 0.0 && o->fraction <= 1.0))
    return nas_seterr(err, NAS_EINVAL, "%s: fraction must be in (0,1] (got %g)", W, o->fraction);
  if (o->optimizer < NAS_OPT_SGD || o->optimizer > NAS_OPT_ADAMW)
    return nas_seterr(err, NAS_EINVAL, "%s: unknown optimizer %d", W, (int)o->optimizer);
  if (o->schedule < NAS_SCHED_CONSTANT || o->schedule > NAS_SCHED_COSINE)
    return nas_seterr(err, NAS_EINVAL, "%s: unknown schedule %d", W, (int)o->schedule);
  if (o->label_smoothing < 0.0 || o->label_smoothing >= 1.0)
    return nas_seterr(err, NAS_EINVAL, "%s: label_smoothing must be in [0,1)", W);
  if (o->warmup_epochs < 0.0 || o->grad_clip < 0.0)
    return nas_seterr(err, NAS_EINVAL, "%s: warmup_epochs and grad_clip must be >= 0", W);
  if (o->augment.crop_pad < 0) return nas_seterr(err, NAS_EINVAL, "%s: augment.crop_pad must be >= 0", W);
  if (!(o->augment.erase >= 0.0 && o->augment.erase <= 1.0))
    return nas_seterr(err, NAS_EINVAL, "%s: augment.erase must be in [0,1]", W);
  if (o->augment.erase > 0 && m->in_ndim != 3)
    return nas_seterr(err, NAS_EINVAL, "%s: erasing augmentation needs a {C,H,W} model input", W);
  if (o->augment.crop_pad > 0 && m->in_ndim != 3)
    return nas_seterr(err, NAS_EINVAL, "%s: crop augmentation needs a {C,H,W} model input", W);
  try {
    nas_status st = check_data(m, d, W, err);
    if (st != NAS_OK) return st;
    std::unique_ptr<nas_trainer> t(new nas_trainer());
    t->m = m;
    t->o = *o;
    const int64_t nall = nas_data_count(d);
    if (nall <= 0) return nas_seterr(err, NAS_EINVAL, "%s: the dataset is empty", W);
    if (o->fraction < 1.0) {
      int64_t cnt = (int64_t)std::llround(o->fraction * (double)nall);
      cnt = std::max<int64_t>(1, std::min(cnt, nall));
      t->data = nas_data_subset(d, cnt, o->seed, err);
      if (!t->data) return err ? err->status : NAS_ENOMEM;
    } else {
      t->data = nas_data_ref(d);
    }
    t->n = nas_data_count(t->data);
    /* A last batch of one sample breaks batch norm in training mode ("expected
     * more than 1 value per channel"): with batch norm, such a row is left out
     * of the epoch (a different row each epoch, since rows are shuffled). */
    t->epoch_rows = t->n;
    if (m->has_bn && t->n > 1 && t->n % o->batch == 1) t->epoch_rows = t->n - 1;
    t->spe = (t->epoch_rows + o->batch - 1) / o->batch;
    if (o->steps > 0) {
      t->total = o->steps;
      t->epochs = (int)((t->total + t->spe - 1) / t->spe);
    } else {
      t->epochs = o->epochs;
      t->total = (int64_t)o->epochs * t->spe;
    }
    t->warmup_steps = (int64_t)std::llround(o->warmup_epochs * (double)t->spe);
    t->perm.resize((size_t)t->n);
    for (int64_t i = 0; i < t->n; i++) t->perm[(size_t)i] = i;
    nas_rng_seed(&t->rng, o->seed);

    const int64_t bmax = std::min<int64_t>(o->batch, t->epoch_rows);
    auto hopts = torch::TensorOptions().dtype(torch::kFloat32);
    if (nas_torch::is_cuda(m)) hopts = hopts.pinned_memory(true);
    t->xhost = torch::empty({bmax * m->in_size}, hopts);
    t->yhost = torch::empty({bmax}, hopts.dtype(torch::kLong));

    resolve_memfmt(m, (int)bmax); /* before seeding: it leaves every state as it was */

    t->params.clear();
    for (auto &p : m->net->parameters())
      if (p.requires_grad()) t->params.push_back(p);
    nas_torch::grads_to_none(t->params);
    switch (o->optimizer) {
    case NAS_OPT_SGD:
      if (o->nesterov && (o->momentum <= 0.0))
        return nas_seterr(err, NAS_EINVAL, "%s: nesterov needs momentum > 0", W);
      if (nas_torch::is_cuda(m)) {
        t->opt.reset(new torch::optim::SGD(t->params, torch::optim::SGDOptions(o->lr)
                                                           .momentum(o->momentum)
                                                           .weight_decay(o->weight_decay)
                                                           .nesterov(o->nesterov != 0)));
      } else {
        t->sgd.momentum = o->momentum;
        t->sgd.wd = o->weight_decay;
        t->sgd.nesterov = o->nesterov != 0;
      }
      break;
    case NAS_OPT_ADAM:
      t->opt.reset(new torch::optim::Adam(t->params, torch::optim::AdamOptions(o->lr)
                                                          .betas(std::make_tuple(o->beta1, o->beta2))
                                                          .eps(o->eps)
                                                          .weight_decay(o->weight_decay)));
      break;
    case NAS_OPT_ADAMW:
      t->opt.reset(new torch::optim::AdamW(t->params, torch::optim::AdamWOptions(o->lr)
                                                           .betas(std::make_tuple(o->beta1, o->beta2))
                                                           .eps(o->eps)
                                                           .weight_decay(o->weight_decay)));
      break;
    }
    torch::manual_seed(o->seed); /* dropout */
    t->lr_last = lr_at(t.get());
    *out = t.release();
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_trainer_new")
}

nas_status nas_trainer_run(nas_trainer *t, int64_t max_steps, nas_train_progress *p, nas_error *err) noexcept {
  nas_clearerr(err);
  if (p) memset(p, 0, sizeof *p);
  if (!t) return nas_seterr(err, NAS_EINVAL, "nas_trainer_run: NULL trainer");
  if (max_steps <= 0) max_steps = INT64_MAX; /* <= 0: run to the end of the epoch */
  const auto t0 = Clock::now();
  double run_loss = 0.0;
  int64_t run_steps = 0;
  bool epoch_done = false;
  nas_status st = NAS_OK;
  try {
    nas_model *m = t->m;
    auto &net = *m->net;
    const bool cuda = nas_torch::is_cuda(m);
    const bool host_acc = !cuda;
    const nas_augment *aug = (t->o.augment.crop_pad > 0 || t->o.augment.flip || t->o.augment.erase > 0)
                                ? &t->o.augment
                                : nullptr;
    net.train(true);
    float *xb = t->xhost.data_ptr<float>();
    int64_t *yb = t->yhost.data_ptr<int64_t>();
    while (run_steps < max_steps && t->step < t->total) {
      if (nas_interrupt_pending()) {
        st = nas_seterr(err, NAS_EINTERRUPT, "training interrupted at step %lld (epoch %d)",
                        (long long)t->step, t->epoch);
        break;
      }
      if (t->pos == 0) { /* a new epoch */
        t->epoch++;
        nas_rng_shuffle(&t->rng, t->perm.data(), t->n);
        t->ep_loss = 0.0;
        t->ep_correct = t->ep_seen = t->ep_steps = 0;
      }
      const int nb = (int)std::min<int64_t>(t->o.batch, t->epoch_rows - t->pos);
      nas_data_batch(t->data, t->perm.data() + t->pos, nb, aug, &t->rng, xb, yb);
      const double lr = lr_at(t);
      if (t->opt)
        for (auto &g : t->opt->param_groups()) g.options().set_lr(lr);
      t->lr_last = lr;

      at::Tensor x, y;
      if (cuda) { /* slices of the pinned buffers: asynchronous copies */
        int64_t sz[NAS_MAX_DIMS + 1] = {nb, 0, 0, 0};
        for (int i = 0; i < m->in_ndim; i++) sz[i + 1] = m->in_dims[i];
        x = nas_torch::to_model(
            m, t->xhost.narrow(0, 0, nb * m->in_size).view(at::IntArrayRef(sz, m->in_ndim + 1)));
        y = t->yhost.narrow(0, 0, nb).to(m->device, /*non_blocking=*/true);
      } else {
        x = nas_torch::input_tensor(m, xb, nb);
        y = torch::from_blob(yb, {nb}, torch::kLong);
      }
      at::Tensor logits = net.forward(x);
      if (logits.dim() != 2) logits = logits.reshape({nb, -1});
      at::Tensor loss = at::cross_entropy_loss(logits, y, {}, at::Reduction::Mean, -100,
                                               t->o.label_smoothing);
      double lv;
      int64_t correct;
      if (host_acc) {
        lv = loss.item<double>();
        at::Tensor lg = logits.detach();
        if (!lg.is_contiguous()) lg = lg.contiguous();
        correct = count_correct(lg.data_ptr<float>(), yb, nb, lg.size(1));
      } else {
        at::Tensor c = logits.detach().argmax(1).eq(y).sum().to(torch::kFloat32);
        at::Tensor both = torch::stack({loss.detach().to(torch::kFloat32), c}).cpu();
        lv = both.data_ptr<float>()[0];
        correct = (int64_t)both.data_ptr<float>()[1];
      }
      if (!std::isfinite(lv)) {
        st = nas_seterr(err, NAS_ENUMERIC, "loss is %s at step %lld (epoch %d); lower the learning rate",
                        std::isnan(lv) ? "nan" : "inf", (long long)t->step + 1, t->epoch);
        break;
      }
      nas_torch::grads_to_none(t->params);
      loss.backward();
      if (t->o.grad_clip > 0.0) torch::nn::utils::clip_grad_norm_(t->params, t->o.grad_clip);
      if (t->opt)
        t->opt->step();
      else
        t->sgd.step(t->params, lr);

      run_loss += lv;
      run_steps++;
      t->ep_loss += lv;
      t->ep_steps++;
      t->ep_correct += correct;
      t->ep_seen += nb;
      t->step++;
      t->pos += nb;
      if (t->pos >= t->epoch_rows) {
        t->pos = 0;
        epoch_done = true;
        break;
      }
    }
    t->seconds += seconds_since(t0);
    fill_progress(t, p, run_loss, run_steps, epoch_done);
    return st;
  }
  catch (const c10::Error &e) {
    st = nas_torch::torch_error(err, "nas_trainer_run", e);
  } catch (const std::bad_alloc &) {
    st = nas_seterr(err, NAS_ENOMEM, "nas_trainer_run: out of memory");
  } catch (const std::exception &e) {
    st = nas_seterr(err, NAS_ETORCH, "nas_trainer_run: %s", e.what());
  } catch (...) {
    st = nas_seterr(err, NAS_ETORCH, "nas_trainer_run: unknown C++ exception");
  }
  t->seconds += seconds_since(t0);
  fill_progress(t, p, run_loss, run_steps, epoch_done);
  return st;
}

void nas_trainer_free(nas_trainer *t) noexcept {
  try {
    delete t;
  } catch (...) {
  }
}

nas_status nas_model_evaluate(nas_model *m, nas_dataset *d, int batch, nas_eval_result *r, nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !d || !r) return nas_seterr(err, NAS_EINVAL, "nas_model_evaluate: NULL argument");
  memset(r, 0, sizeof *r);
  if (batch <= 0) return nas_seterr(err, NAS_EINVAL, "nas_model_evaluate: batch must be > 0 (got %d)", batch);
  try {
    nas_status st = check_data(m, d, "nas_model_evaluate", err);
    if (st != NAS_OK) return st;
    auto &net = *m->net;
    const bool was = net.is_training();
    struct Mode {
      nas_torch::NasNet &n;
      bool was;
      ~Mode() { n.train(was); }
    } mode{net, was};
    net.train(false);
    torch::NoGradGuard ng;
    const int64_t n = nas_data_count(d);
    const int64_t b = std::min<int64_t>(batch, std::max<int64_t>(1, n));
    std::vector<float> xb((size_t)(b * m->in_size));
    std::vector<int64_t> yb((size_t)b), rows((size_t)b);
    double loss_sum = 0.0;
    int64_t correct = 0;
    for (int64_t pos = 0; pos < n; pos += b) {
      if (nas_interrupt_pending()) return nas_seterr(err, NAS_EINTERRUPT, "evaluation interrupted");
      const int nb = (int)std::min<int64_t>(b, n - pos);
      for (int i = 0; i < nb; i++) rows[(size_t)i] = pos + i;
      nas_data_batch(d, rows.data(), nb, nullptr, nullptr, xb.data(), yb.data());
      at::Tensor x = nas_torch::input_tensor(m, xb.data(), nb);
      at::Tensor y = torch::from_blob(yb.data(), {nb}, torch::kLong);
      if (nas_torch::is_cuda(m)) y = y.to(m->device);
      at::Tensor logits = net.forward(x).reshape({nb, -1});
      at::Tensor l = at::cross_entropy_loss(logits, y, {}, at::Reduction::Sum);
      if (nas_torch::is_cuda(m)) {
        at::Tensor c = logits.argmax(1).eq(y).sum().to(torch::kDouble);
        at::Tensor both = torch::stack({l.to(torch::kDouble), c}).cpu();
        loss_sum += both.data_ptr<double>()[0];
        correct += (int64_t)both.data_ptr<double>()[1];
      } else {
        loss_sum += l.item<double>();
        at::Tensor lg = logits.contiguous();
        correct += count_correct(lg.data_ptr<float>(), yb.data(), nb, lg.size(1));
      }
    }
    r->count = n;
    r->accuracy = n ? (double)correct / (double)n : 0.0;
    r->loss = n ? loss_sum / (double)n : 0.0;
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_evaluate")
}

} // extern "C"

/* Test hook (not in nas.h; declared by tests/c/test_torch.c): compares the
 * fused SGD with torch::optim::SGD over 6 steps for momentum 0 / 0.9, weight
 * decay 0 / 1e-3 and nesterov, on a dense NCHW, a channels_last 1-channel and a
 * strided (non-dense, ATen fallback) parameter; checks the strides that
 * restride/to_model give a 1-channel tensor. Returns the number of failures;
 * *maxdiff gets the largest |fused - libtorch| over all parameters. */
extern "C" int nas__torch_selftest(double *maxdiff) noexcept {
  int fails = 0;
  double md = 0.0;
  try {
    at::Generator gen = at::detail::createCPUGenerator(7);
    struct Case { double mom, wd; bool nest; } cases[] = {
        {0.0, 0.0, false}, {0.9, 0.0, false}, {0.9, 1e-3, false}, {0.9, 1e-3, true}, {0.0, 1e-3, false}};
    for (const Case &c : cases) {
      at::Tensor base0 = torch::randn({16, 3, 3, 3}, gen);
      at::Tensor base1 = nas_torch::restride(torch::randn({24, 1, 3, 3}, gen), NAS_MEMFMT_CHANNELS_LAST);
      at::Tensor big = torch::randn({40, 10}, gen);
      std::vector<at::Tensor> a, b;
      for (const at::Tensor &t : {base0, base1}) {
        a.push_back(t.clone().set_requires_grad(true));
        b.push_back(t.clone().set_requires_grad(true));
      }
      /* a strided view as a leaf: not dense, takes FusedSGD::tensor_step */
      a.push_back(big.clone().slice(1, 0, 10, 2).detach().set_requires_grad(true));
      b.push_back(big.clone().slice(1, 0, 10, 2).detach().set_requires_grad(true));
      if (a[2].is_non_overlapping_and_dense()) fails++;
      torch::optim::SGD ref(b, torch::optim::SGDOptions(0.05).momentum(c.mom).weight_decay(c.wd).nesterov(c.nest));
      FusedSGD f;
      f.momentum = c.mom;
      f.wd = c.wd;
      f.nesterov = c.nest;
      for (int s = 0; s < 6; s++) {
        std::vector<at::Tensor> g;
        for (auto &p : a) g.push_back(torch::randn(p.sizes(), gen));
        for (size_t i = 0; i < a.size(); i++) {
          /* the channels_last parameter gets a gradient of its own layout, as autograd gives it */
          a[i].mutable_grad() = i == 1 ? nas_torch::restride(g[i], NAS_MEMFMT_CHANNELS_LAST) : g[i].clone();
          b[i].mutable_grad() = g[i].clone();
        }
        f.step(a, 0.05);
        ref.step();
      }
      for (size_t i = 0; i < a.size(); i++) md = std::max(md, (a[i] - b[i]).abs().max().item<double>());
    }
    if (!(md < 1e-5)) fails++;
    /* explicit channels_last strides for one channel */
    at::Tensor w = nas_torch::restride(torch::randn({24, 1, 3, 3}, gen), NAS_MEMFMT_CHANNELS_LAST);
    if (w.strides() != at::IntArrayRef({9, 1, 3, 1})) fails++;
    if (w.suggest_memory_format() != at::MemoryFormat::ChannelsLast) fails++;
    at::Tensor n = nas_torch::restride(w, NAS_MEMFMT_NCHW);
    if (n.strides() != at::IntArrayRef({9, 9, 3, 1}) || !n.equal(w)) fails++;
  } catch (...) {
    fails++;
  }
  if (maxdiff) *maxdiff = md;
  return fails;
}
