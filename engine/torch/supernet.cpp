/* engine/torch/supernet.cpp — the supernet API of nas.h ("Supernets"): the
 * architecture logits, mix modes and paths, the architecture gradient, BN
 * recalibration for subnets with inherited weights, and the DARTS bilevel
 * search. The forward pass through mixed nodes lives in ops.cpp (the mixed
 * op's row, NasNet::prepare_mix, the walk); this file only sets its state.
 *
 * DARTS (Liu et al., ICLR 2019), first order: per step, one Adam step on the
 * logits from a validation batch, then one SGD step on the weights from a
 * training batch (nas_trainer_run of an ordinary trainer whose parameter list is
 * the weights only). While one side steps, the other side's tensors have
 * requires_grad off, so neither backward computes gradients it throws away.
 *
 * Second order (o.order == 2): the architecture step takes DARTS's finite-
 * difference gradient (second_order_grad) on a training and a validation batch.
 *
 * Not supported yet: proxies over mixed nodes
 * (the zero-cost proxies refuse a supernet). */
#include "torch_impl.h"

#include <chrono>
#include <cmath>

namespace {

using Clock = std::chrono::steady_clock;

nas_status need_supernet(const nas_model *m, const char *where, nas_error *err) {
  if (!m) return nas_seterr(err, NAS_EINVAL, "%s: NULL model", where);
  if (!m->net->has_mixed)
    return nas_seterr(err, NAS_EINVAL, "%s: the model has no mixed nodes (not a supernet)", where);
  return NAS_OK;
}

nas_status check_decision(const nas_model *m, int d, const char *where, nas_error *err) {
  nas_status st = need_supernet(m, where, err);
  if (st != NAS_OK) return st;
  if (d < 0 || d >= (int)m->net->alpha.size())
    return nas_seterr(err, NAS_EINVAL, "%s: decision %d out of range (the model has %d)", where, d,
                      (int)m->net->alpha.size());
  return NAS_OK;
}

/* Sets requires_grad on a list of tensors for a scope; restores it after. */
struct GradOff {
  std::vector<at::Tensor> ts;
  explicit GradOff(std::vector<at::Tensor> v) : ts(std::move(v)) {
    for (auto &t : ts) t.requires_grad_(false);
  }
  ~GradOff() {
    for (auto &t : ts) t.requires_grad_(true);
  }
};

std::vector<at::Tensor> trainable(nas_model *m) {
  std::vector<at::Tensor> out;
  for (auto &p : m->net->parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

} // namespace

struct nas_darts {
  nas_model *m = nullptr;
  nas_trainer *wt = nullptr;   /* the weights' trainer (train split) */
  nas_dataset *valid = nullptr; /* owned reference */
  nas_darts_opts o{};
  std::unique_ptr<torch::optim::Adam> adam;
  nas_rng rng{};
  std::vector<int64_t> perm;
  int64_t n = 0, pos = 0;
  int batch = 0;
  std::vector<float> xb;
  std::vector<int64_t> yb;
  double arch_seconds = 0.0;
  double lr = 0.0; /* the weights' rate of the last step (second order's unrolling) */
  /* second order: its own pass over the training rows */
  nas_dataset *train = nullptr; /* owned reference */
  nas_rng trng{};
  std::vector<int64_t> tperm;
  int64_t tn = 0, tpos = 0;
  std::vector<float> txb;
  std::vector<int64_t> tyb;
  ~nas_darts() {
    nas_trainer_free(wt);
    nas_data_free(valid);
    nas_data_free(train);
  }
};

namespace {

/* The next batch of a shuffled pass (reshuffled when fewer than nb rows are left). */
void next_rows(const nas_dataset *d, nas_rng *rng, std::vector<int64_t> &perm, int64_t n, int64_t &pos, int nb,
               float *x, int64_t *y) {
  if (pos + nb > n) {
    nas_rng_shuffle(rng, perm.data(), n);
    pos = 0;
  }
  nas_data_batch(d, perm.data() + pos, nb, nullptr, nullptr, x, y);
  pos += nb;
}

at::Tensor batch_loss(nas_model *m, const float *x, int64_t *y, int nb) {
  at::Tensor xt = nas_torch::input_tensor(m, x, nb);
  at::Tensor yt = torch::from_blob(y, {nb}, torch::kLong).to(m->device);
  return at::cross_entropy_loss(m->net->forward(xt).reshape({nb, -1}), yt);
}

/* DARTS's second-order architecture gradient (Liu et al. 2019, eq. 7-8), written to
 * the logits' .grad; returns the validation loss at the unrolled weights. */
double second_order_grad(nas_darts *t) {
  nas_model *m = t->m;
  auto &net = *m->net;
  const std::vector<at::Tensor> &A = net.alpha;
  std::vector<at::Tensor> W = trainable(m);
  const int nb = t->batch;
  next_rows(t->train, &t->trng, t->tperm, t->tn, t->tpos, nb, t->txb.data(), t->tyb.data());
  const double xi = t->lr, wd = t->o.weights.weight_decay;
  std::vector<at::Tensor> saved;
  for (auto &w : W) saved.push_back(w.detach().clone());
  struct Restore { /* the weights as they were, also when something throws */
    std::vector<at::Tensor> &W, &saved;
    ~Restore() {
      torch::NoGradGuard ng;
      for (size_t i = 0; i < W.size(); i++) W[i].copy_(saved[i]);
    }
  } restore{W, saved};
  { /* w' = w - xi * (dL_train/dw + wd * w) */
    GradOff off(A);
    at::Tensor lt = batch_loss(m, t->txb.data(), t->tyb.data(), nb);
    auto gw = torch::autograd::grad({lt}, W, {}, false, false, true);
    torch::NoGradGuard ng;
    for (size_t i = 0; i < W.size(); i++) {
      at::Tensor d = wd != 0.0 ? W[i].detach() * wd : torch::zeros_like(W[i]);
      if (gw[i].defined()) d.add_(gw[i]);
      W[i].sub_(d, xi);
    }
  }
  /* validation loss at w': gradients to the logits and to w' */
  std::vector<at::Tensor> all(A.begin(), A.end());
  all.insert(all.end(), W.begin(), W.end());
  at::Tensor lv = batch_loss(m, t->xb.data(), t->yb.data(), nb);
  const double lval = lv.item<double>();
  auto g = torch::autograd::grad({lv}, all, {}, false, false, true);
  const size_t D = A.size();
  double sq = 0.0;
  for (size_t i = D; i < g.size(); i++)
    if (g[i].defined()) sq += g[i].pow(2).sum().item<double>();
  const double eps = 0.01 / std::max(std::sqrt(sq), 1e-12);
  /* the logits' gradient of the training loss at w +- eps * dw' */
  auto alpha_grad_at = [&](double sign) {
    {
      torch::NoGradGuard ng;
      for (size_t i = 0; i < W.size(); i++) {
        W[i].copy_(saved[i]);
        if (g[D + i].defined()) W[i].add_(g[D + i], sign * eps);
      }
    }
    GradOff off(W);
    at::Tensor l = batch_loss(m, t->txb.data(), t->tyb.data(), nb);
    return torch::autograd::grad({l}, A, {}, false, false, true);
  };
  auto gp = alpha_grad_at(1.0), gm = alpha_grad_at(-1.0);
  torch::NoGradGuard ng;
  for (size_t d = 0; d < D; d++) {
    at::Tensor r = g[d].defined() ? g[d].detach().clone() : torch::zeros_like(A[d]);
    if (gp[d].defined() && gm[d].defined()) r.sub_((gp[d] - gm[d]) / (2.0 * eps), xi);
    const_cast<at::Tensor &>(A[d]).mutable_grad() = r;
  }
  return lval;
}

} // namespace

extern "C" {

int nas_model_decisions(const nas_model *m) noexcept {
  return m && m->net ? (int)m->net->alpha.size() : 0;
}

int nas_model_decision_size(const nas_model *m, int d) noexcept {
  if (!m || !m->net || d < 0 || d >= (int)m->net->dsize.size()) return -1;
  return m->net->dsize[(size_t)d];
}

nas_status nas_model_arch_get(const nas_model *m, int d, float *out, nas_error *err) noexcept {
  nas_clearerr(err);
  nas_status st = check_decision(m, d, "nas_model_arch_get", err);
  if (st != NAS_OK) return st;
  if (!out) return nas_seterr(err, NAS_EINVAL, "nas_model_arch_get: NULL out");
  try {
    at::Tensor a = m->net->alpha[(size_t)d].detach().to(torch::kCPU, torch::kFloat32).contiguous();
    memcpy(out, a.data_ptr<float>(), sizeof(float) * (size_t)a.numel());
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_arch_get")
}

nas_status nas_model_arch_set(nas_model *m, int d, const float *in, nas_error *err) noexcept {
  nas_clearerr(err);
  nas_status st = check_decision(m, d, "nas_model_arch_set", err);
  if (st != NAS_OK) return st;
  if (!in) return nas_seterr(err, NAS_EINVAL, "nas_model_arch_set: NULL values");
  const int k = m->net->dsize[(size_t)d];
  for (int i = 0; i < k; i++)
    if (!std::isfinite(in[i]))
      return nas_seterr(err, NAS_EINVAL, "nas_model_arch_set: logit %d of decision %d is not finite", i, d);
  try {
    torch::NoGradGuard ng;
    at::Tensor src = torch::from_blob(const_cast<float *>(in), {k}, torch::kFloat32);
    m->net->alpha[(size_t)d].copy_(src);
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_arch_set")
}

nas_status nas_model_set_mix_mode(nas_model *m, nas_mix_mode mode, double tau, nas_error *err) noexcept {
  nas_clearerr(err);
  nas_status st = need_supernet(m, "nas_model_set_mix_mode", err);
  if (st != NAS_OK) return st;
  if (mode < NAS_MIX_SOFTMAX || mode > NAS_MIX_SIGMOID)
    return nas_seterr(err, NAS_EINVAL, "nas_model_set_mix_mode: unknown mode %d", (int)mode);
  if (!(tau > 0.0) || !std::isfinite(tau))
    return nas_seterr(err, NAS_EINVAL, "nas_model_set_mix_mode: tau must be > 0 (got %g)", tau);
  m->net->mix = mode;
  m->net->tau = tau;
  return NAS_OK;
}

nas_mix_mode nas_model_get_mix_mode(const nas_model *m) noexcept {
  return m && m->net ? m->net->mix : NAS_MIX_SOFTMAX;
}

nas_status nas_model_set_path(nas_model *m, const int *path, int n, nas_error *err) noexcept {
  nas_clearerr(err);
  nas_status st = need_supernet(m, "nas_model_set_path", err);
  if (st != NAS_OK) return st;
  const int D = (int)m->net->dsize.size();
  if (!path || n != D)
    return nas_seterr(err, NAS_EINVAL, "nas_model_set_path: need %d choices (one per decision), got %d", D, n);
  for (int d = 0; d < D; d++)
    if (path[d] < 0 || path[d] >= m->net->dsize[(size_t)d])
      return nas_seterr(err, NAS_EINVAL, "nas_model_set_path: choice %d of decision %d is out of [0, %d)", path[d],
                        d, m->net->dsize[(size_t)d]);
  try {
    m->net->path.assign(path, path + D);
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_set_path")
}

nas_status nas_model_last_path(const nas_model *m, int *path, int n, nas_error *err) noexcept {
  nas_clearerr(err);
  nas_status st = need_supernet(m, "nas_model_last_path", err);
  if (st != NAS_OK) return st;
  const int D = (int)m->net->dsize.size();
  if (!path || n != D) return nas_seterr(err, NAS_EINVAL, "nas_model_last_path: need room for %d choices", D);
  for (int d = 0; d < D; d++)
    path[d] = (size_t)d < m->net->last_pick.size() ? m->net->last_pick[(size_t)d] : -1;
  return NAS_OK;
}

nas_status nas_model_arch_grad(nas_model *m, const float *x, const int64_t *y, int n, float *grad, int64_t cap,
                               double *loss, nas_error *err) noexcept {
  nas_clearerr(err);
  nas_status st = need_supernet(m, "nas_model_arch_grad", err);
  if (st != NAS_OK) return st;
  if (!x || !y || !grad || n <= 0) return nas_seterr(err, NAS_EINVAL, "nas_model_arch_grad: bad arguments");
  int64_t total = 0;
  for (int k : m->net->dsize) total += k;
  if (cap < total)
    return nas_seterr(err, NAS_EINVAL, "nas_model_arch_grad: grad has room for %lld floats, needs %lld",
                      (long long)cap, (long long)total);
  try {
    auto &net = *m->net;
    std::vector<at::Tensor> bufs = net.buffers(), saved;
    for (auto &b : bufs) saved.push_back(b.detach().clone());
    const bool was = net.is_training();
    struct Restore {
      nas_torch::NasNet &net;
      std::vector<at::Tensor> &bufs, &saved;
      bool was;
      ~Restore() {
        torch::NoGradGuard ng;
        for (size_t i = 0; i < bufs.size(); i++) bufs[i].copy_(saved[i]);
        net.train(was);
      }
    } restore{net, bufs, saved, was};
    net.train(true);
    at::Tensor xt = nas_torch::input_tensor(m, x, n);
    at::Tensor yt = torch::from_blob(const_cast<int64_t *>(y), {n}, torch::kLong).to(m->device);
    at::Tensor out = net.forward(xt).reshape({n, -1});
    at::Tensor l = at::cross_entropy_loss(out, yt);
    if (loss) *loss = l.item<double>();
    auto g = torch::autograd::grad({l}, net.alpha, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                   /*allow_unused=*/true);
    int64_t off = 0;
    for (size_t d = 0; d < g.size(); d++) {
      const int k = net.dsize[d];
      if (g[d].defined()) {
        at::Tensor c = g[d].detach().to(torch::kCPU, torch::kFloat32).contiguous();
        memcpy(grad + off, c.data_ptr<float>(), sizeof(float) * (size_t)k);
      } else {
        for (int i = 0; i < k; i++) grad[off + i] = 0.0f;
      }
      off += k;
    }
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_arch_grad")
}

nas_status nas_model_recalibrate_bn(nas_model *m, nas_dataset *d, int batches, int batch, uint64_t seed,
                                    nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !d) return nas_seterr(err, NAS_EINVAL, "nas_model_recalibrate_bn: NULL argument");
  if (batches <= 0 || batch <= 1)
    return nas_seterr(err, NAS_EINVAL, "nas_model_recalibrate_bn: need batches > 0 and batch > 1 (got %d, %d)",
                      batches, batch);
  if (nas_data_sample_size(d) != m->in_size)
    return nas_seterr(err, NAS_EINVAL, "nas_model_recalibrate_bn: the data's samples have %lld floats, the model "
                      "takes %lld", (long long)nas_data_sample_size(d), (long long)m->in_size);
  const int64_t n = nas_data_count(d);
  if (n < 2) return nas_seterr(err, NAS_EINVAL, "nas_model_recalibrate_bn: the dataset has fewer than 2 rows");
  try {
    auto &net = *m->net;
    /* every BN module: reset, cumulative average while recalibrating, momentum back after */
    std::vector<std::pair<torch::nn::BatchNorm2dImpl *, c10::optional<double>>> b2;
    std::vector<std::pair<torch::nn::BatchNorm1dImpl *, c10::optional<double>>> b1;
    for (const auto &mod : net.modules(/*include_self=*/false)) {
      if (auto *b = dynamic_cast<torch::nn::BatchNorm2dImpl *>(mod.get())) b2.emplace_back(b, b->options.momentum());
      if (auto *b = dynamic_cast<torch::nn::BatchNorm1dImpl *>(mod.get())) b1.emplace_back(b, b->options.momentum());
    }
    const bool was = net.is_training();
    struct Restore {
      nas_torch::NasNet &net;
      decltype(b2) &a;
      decltype(b1) &b;
      bool was;
      ~Restore() {
        for (auto &p : a) p.first->options.momentum(p.second);
        for (auto &p : b) p.first->options.momentum(p.second);
        net.train(was);
      }
    } restore{net, b2, b1, was};
    for (auto &p : b2) {
      p.first->reset_running_stats();
      p.first->options.momentum(c10::nullopt);
    }
    for (auto &p : b1) {
      p.first->reset_running_stats();
      p.first->options.momentum(c10::nullopt);
    }
    net.train(true);
    nas_torch::Hooks nodrop; /* batch norm in training mode, dropout off */
    nodrop.dropout = false;
    torch::NoGradGuard ng;
    nas_rng rng;
    nas_rng_seed(&rng, seed);
    std::vector<int64_t> perm((size_t)n);
    for (int64_t i = 0; i < n; i++) perm[(size_t)i] = i;
    nas_rng_shuffle(&rng, perm.data(), n);
    const int b = (int)std::min<int64_t>(batch, n);
    std::vector<float> xb((size_t)b * (size_t)m->in_size);
    std::vector<int64_t> yb((size_t)b);
    int64_t pos = 0;
    for (int k = 0; k < batches; k++) {
      if (nas_interrupt_pending()) return nas_seterr(err, NAS_EINTERRUPT, "BN recalibration interrupted");
      if (pos + b > n) {
        nas_rng_shuffle(&rng, perm.data(), n);
        pos = 0;
      }
      nas_data_batch(d, perm.data() + pos, b, nullptr, nullptr, xb.data(), yb.data());
      pos += b;
      net.run(nas_torch::input_tensor(m, xb.data(), b), &nodrop);
    }
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_recalibrate_bn")
}

nas_darts_opts nas_darts_opts_default(void) noexcept {
  nas_darts_opts o;
  memset(&o, 0, sizeof o);
  o.weights = nas_train_opts_default();
  o.weights.batch = 64;
  o.weights.lr = 0.025;
  o.weights.momentum = 0.9;
  o.weights.weight_decay = 3e-4;
  o.weights.schedule = NAS_SCHED_COSINE;
  o.weights.grad_clip = 5.0;
  o.arch_lr = 3e-4;
  o.arch_beta1 = 0.5;
  o.arch_beta2 = 0.999;
  o.arch_weight_decay = 1e-3;
  o.seed = 0;
  o.order = 1;
  return o;
}

nas_status nas_darts_new(nas_model *m, nas_dataset *train, nas_dataset *valid, const nas_darts_opts *o,
                           nas_darts **out, nas_error *err) noexcept {
  nas_clearerr(err);
  if (out) *out = nullptr;
  const char *W = "nas_darts_new";
  if (!train || !valid || !o || !out) return nas_seterr(err, NAS_EINVAL, "%s: NULL argument", W);
  nas_status st = need_supernet(m, W, err);
  if (st != NAS_OK) return st;
  if (!(o->arch_lr >= 0.0) || !(o->arch_beta1 >= 0.0 && o->arch_beta1 < 1.0) ||
      !(o->arch_beta2 >= 0.0 && o->arch_beta2 < 1.0) || !(o->arch_weight_decay >= 0.0))
    return nas_seterr(err, NAS_EINVAL, "%s: bad architecture optimizer options", W);
  if (nas_data_sample_size(valid) != m->in_size)
    return nas_seterr(err, NAS_EINVAL, "%s: the validation samples have %lld floats, the model takes %lld", W,
                      (long long)nas_data_sample_size(valid), (long long)m->in_size);
  if (nas_data_count(valid) < 2) return nas_seterr(err, NAS_EINVAL, "%s: the validation set has < 2 rows", W);
  if (o->order != 0 && o->order != 1 && o->order != 2)
    return nas_seterr(err, NAS_EINVAL, "%s: order must be 1 or 2 (got %d)", W, o->order);
  try {
    std::unique_ptr<nas_darts> t(new nas_darts());
    t->m = m;
    t->o = *o;
    {
      GradOff off(m->net->alpha); /* memory-format timing in begin: no logit gradients */
      st = nas_trainer_new(m, train, &o->weights, &t->wt, err);
    }
    if (st != NAS_OK) return st;
    t->valid = nas_data_ref(valid);
    t->n = nas_data_count(valid);
    t->batch = (int)std::min<int64_t>(o->weights.batch, t->n);
    t->perm.resize((size_t)t->n);
    for (int64_t i = 0; i < t->n; i++) t->perm[(size_t)i] = i;
    nas_rng_seed(&t->rng, o->seed ^ 0x76616c6964ULL);
    nas_rng_shuffle(&t->rng, t->perm.data(), t->n);
    t->xb.resize((size_t)t->batch * (size_t)m->in_size);
    t->yb.resize((size_t)t->batch);
    t->lr = o->weights.lr;
    if (o->order == 2) {
      t->train = nas_data_ref(train);
      t->tn = nas_data_count(train);
      if (t->tn < t->batch)
        return nas_seterr(err, NAS_EINVAL, "%s: second order needs >= %d training rows", W, t->batch);
      t->tperm.resize((size_t)t->tn);
      for (int64_t i = 0; i < t->tn; i++) t->tperm[(size_t)i] = i;
      nas_rng_seed(&t->trng, o->seed ^ 0x74726e32ULL);
      nas_rng_shuffle(&t->trng, t->tperm.data(), t->tn);
      t->txb.resize((size_t)t->batch * (size_t)m->in_size);
      t->tyb.resize((size_t)t->batch);
    }
    for (auto &a : m->net->alpha)
      if (a.grad().defined()) a.mutable_grad().reset();
    t->adam.reset(new torch::optim::Adam(m->net->alpha, torch::optim::AdamOptions(o->arch_lr)
                                                           .betas(std::make_tuple(o->arch_beta1, o->arch_beta2))
                                                           .weight_decay(o->arch_weight_decay)));
    *out = t.release();
    return NAS_OK;
  }
  NAS_CATCH(err, W)
}

nas_status nas_darts_run(nas_darts *t, int64_t max_steps, nas_train_progress *p, double *arch_loss,
                         nas_error *err) noexcept {
  nas_clearerr(err);
  if (p) memset(p, 0, sizeof *p);
  if (arch_loss) *arch_loss = 0.0;
  if (!t) return nas_seterr(err, NAS_EINVAL, "nas_darts_run: NULL search");
  if (max_steps <= 0) max_steps = INT64_MAX;
  try {
    nas_model *m = t->m;
    auto &net = *m->net;
    double wsum = 0.0, asum = 0.0;
    int64_t steps = 0;
    nas_train_progress q;
    memset(&q, 0, sizeof q);
    nas_status st = NAS_OK;
    while (steps < max_steps) {
      /* architecture step on a validation batch */
      const auto t0 = Clock::now();
      if (t->pos + t->batch > t->n) {
        nas_rng_shuffle(&t->rng, t->perm.data(), t->n);
        t->pos = 0;
      }
      const int nb = t->batch;
      nas_data_batch(t->valid, t->perm.data() + t->pos, nb, nullptr, nullptr, t->xb.data(), t->yb.data());
      t->pos += nb;
      double lv;
      const bool arch_graph = net.mix != NAS_MIX_PATH && net.mix != NAS_MIX_FIXED; /* logits in the graph */
      if (t->o.order == 2 && arch_graph) {
        net.train(true);
        t->adam->zero_grad();
        lv = second_order_grad(t);
        if (!std::isfinite(lv)) {
          st = nas_seterr(err, NAS_ENUMERIC, "nas_darts_run: architecture loss is %s; lower arch_lr",
                          std::isnan(lv) ? "nan" : "inf");
          break;
        }
        t->adam->step();
      } else {
        GradOff off(trainable(m));
        net.train(true);
        at::Tensor x = nas_torch::input_tensor(m, t->xb.data(), nb);
        at::Tensor y = torch::from_blob(t->yb.data(), {nb}, torch::kLong).to(m->device);
        at::Tensor loss = at::cross_entropy_loss(net.forward(x).reshape({nb, -1}), y);
        lv = loss.item<double>();
        if (!std::isfinite(lv)) {
          st = nas_seterr(err, NAS_ENUMERIC, "nas_darts_run: architecture loss is %s; lower arch_lr",
                          std::isnan(lv) ? "nan" : "inf");
          break;
        }
        t->adam->zero_grad();
        if (arch_graph) {
          loss.backward();
          t->adam->step();
        }
      }
      t->arch_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      asum += lv;
      /* weight step on a training batch */
      {
        GradOff off(net.alpha);
        st = nas_trainer_run(t->wt, 1, &q, err);
      }
      if (st != NAS_OK) break;
      t->lr = q.lr;
      wsum += q.loss;
      steps++;
      if (q.epoch_done || q.done) break;
    }
    if (p) {
      *p = q;
      p->loss = steps ? wsum / (double)steps : 0.0;
      p->seconds = q.seconds + t->arch_seconds;
    }
    if (arch_loss) *arch_loss = steps ? asum / (double)steps : 0.0;
    return st;
  }
  NAS_CATCH(err, "nas_darts_run")
}

void nas_darts_free(nas_darts *t) noexcept {
  try {
    delete t;
  } catch (...) {
  }
}

} // extern "C"
