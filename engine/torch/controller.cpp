/* engine/torch/controller.cpp — an autoregressive LSTM policy over categorical
 * decisions (ENAS / NAS-RL controller) behind the C ABI of nas.h.
 *
 * Parameters (registration order = nas_controller_params order):
 *   emb     {total+1, H}  embedding of each decision's choices, stacked with
 *                         offsets (decision i's choice j is row off[i]+j); the
 *                         last row is the start input of decision 0
 *   cell    LSTMCell(H, H)  weight_ih, weight_hh, bias_ih, bias_hh
 *   head_w  {total, H}, head_b {total}: decision i's linear head is rows
 *                         off[i] .. off[i]+sizes[i]
 * Step i: (h, c) = cell(x_i, (h, c)) with x_0 = emb[total], x_i = emb[off[i-1] +
 * choice[i-1]]; logits_i = head_i(h), then /temperature and tanh_c*tanh(.).
 *
 * CPU only and single-sample: a few small matmuls per decision. Sampling takes
 * the caller's uniforms (inverse CDF in double precision on the softmax), so a
 * strategy's replay through its own rng reproduces every choice and update.
 */
#include "torch_impl.h"

#include <cmath>

namespace {

struct CtlNet : torch::nn::Module {
  at::Tensor emb, head_w, head_b;
  torch::nn::LSTMCell cell{nullptr};
};

} // namespace

struct nas_controller {
  std::vector<int> sizes;
  std::vector<int64_t> off;
  int64_t total = 0;
  nas_controller_opts o{};
  std::shared_ptr<CtlNet> net;
  std::unique_ptr<torch::optim::Adam> opt;
  double bl_num = 0.0, bl_den = 0.0, baseline = 0.0;
  int64_t updates = 0;
};

namespace {

/* Logits of decision i from the hidden state h {1,H}: {sizes[i]}. */
at::Tensor logits_at(const nas_controller *c, int i, const at::Tensor &h) {
  const int64_t o = c->off[i], s = c->sizes[i];
  at::Tensor l = torch::nn::functional::linear(h, c->net->head_w.narrow(0, o, s),
                                               c->net->head_b.narrow(0, o, s))
                     .squeeze(0);
  l = l / c->o.temperature;
  if (c->o.tanh_c > 0) l = c->o.tanh_c * torch::tanh(l);
  return l;
}

/* The input of decision i given the choice of decision i-1: {1,H}. */
at::Tensor input_at(const nas_controller *c, int i, int prev_choice) {
  const int64_t row = i == 0 ? c->total : c->off[i - 1] + prev_choice;
  return c->net->emb.narrow(0, row, 1);
}

/* Runs decisions 0..upto (inclusive). For decisions before `upto`, or all of
 * them when uniforms is NULL, the choice is given[i] (teacher forcing);
 * otherwise it is drawn from uniforms[i] and written to given[i]. Accumulates
 * the log-probabilities and entropies of decisions 0..upto into *lp, *ent
 * (when not NULL). When probs is not NULL, writes decision upto's
 * probabilities and stops there without choosing. */
void run(const nas_controller *c, int upto, int *given, const double *uniforms, at::Tensor *lp,
         at::Tensor *ent, double *probs) {
  const int64_t H = c->o.hidden;
  auto zeros = torch::zeros({1, H}, torch::kFloat32);
  std::tuple<at::Tensor, at::Tensor> hc{zeros, zeros};
  at::Tensor lp_sum = torch::zeros({}, torch::kFloat32), ent_sum = lp_sum;
  for (int i = 0; i <= upto; i++) {
    hc = c->net->cell->forward(input_at(c, i, i ? given[i - 1] : 0), hc);
    at::Tensor logp = torch::log_softmax(logits_at(c, i, std::get<0>(hc)), 0);
    if (probs && i == upto) {
      at::Tensor p = logp.detach().exp().to(torch::kFloat64).contiguous();
      const double *pp = p.data_ptr<double>();
      for (int j = 0; j < c->sizes[i]; j++) probs[j] = pp[j];
      return;
    }
    if (uniforms) {
      at::Tensor p = logp.detach().to(torch::kFloat64).exp().contiguous();
      const double *pp = p.data_ptr<double>();
      const double u = uniforms[i];
      int pick = -1, last = 0;
      double cdf = 0.0;
      for (int j = 0; j < c->sizes[i]; j++) {
        if (pp[j] > 0) last = j;
        cdf += pp[j];
        if (u < cdf) { pick = j; break; }
      }
      given[i] = pick >= 0 ? pick : last; /* rounding: cdf may end just below 1 */
    }
    if (lp) lp_sum = lp_sum + logp[given[i]];
    if (ent) ent_sum = ent_sum - (logp.exp() * logp).sum();
  }
  if (lp) *lp = lp_sum;
  if (ent) *ent = ent_sum;
}

nas_status check_choices(const nas_controller *c, const int *ch, int k, const char *where,
                         nas_error *err) {
  for (int i = 0; i < k; i++)
    if (ch[i] < 0 || ch[i] >= c->sizes[i])
      return nas_seterr(err, NAS_EINVAL, "%s: choice %d of decision %d is out of range 0..%d", where,
                        ch[i], i, c->sizes[i] - 1);
  return NAS_OK;
}

} // namespace

extern "C" {

nas_controller_opts nas_controller_opts_default(void) noexcept {
  nas_controller_opts o;
  o.hidden = 64;
  o.lr = 3.5e-4;
  o.entropy = 1e-4;
  o.temperature = 5.0;
  o.tanh_c = 2.5;
  o.baseline_decay = 0.9;
  o.seed = 0;
  return o;
}

nas_status nas_controller_new(const int *sizes, int n, const nas_controller_opts *o,
                              nas_controller **out, nas_error *err) noexcept {
  static const char *W = "nas_controller_new";
  nas_clearerr(err);
  if (out) *out = nullptr;
  if (!out) return nas_seterr(err, NAS_EINVAL, "%s: out must not be NULL", W);
  if (!sizes || n < 1) return nas_seterr(err, NAS_EINVAL, "%s: need at least one decision (n = %d)", W, n);
  const nas_controller_opts def = nas_controller_opts_default();
  if (!o) o = &def;
  for (int i = 0; i < n; i++)
    if (sizes[i] < 1)
      return nas_seterr(err, NAS_EINVAL, "%s: decision %d has %d choices, needs >= 1", W, i, sizes[i]);
  if (o->hidden < 1 || o->hidden > 65536)
    return nas_seterr(err, NAS_EINVAL, "%s: hidden must be in 1..65536 (got %d)", W, o->hidden);
  if (!(o->lr > 0) || !std::isfinite(o->lr))
    return nas_seterr(err, NAS_EINVAL, "%s: lr must be > 0 (got %g)", W, o->lr);
  if (!(o->entropy >= 0) || !std::isfinite(o->entropy))
    return nas_seterr(err, NAS_EINVAL, "%s: entropy must be >= 0 (got %g)", W, o->entropy);
  if (!(o->temperature > 0) || !std::isfinite(o->temperature))
    return nas_seterr(err, NAS_EINVAL, "%s: temperature must be > 0 (got %g)", W, o->temperature);
  if (!(o->tanh_c >= 0) || !std::isfinite(o->tanh_c))
    return nas_seterr(err, NAS_EINVAL, "%s: tanh_c must be >= 0 (got %g)", W, o->tanh_c);
  if (!(o->baseline_decay >= 0 && o->baseline_decay < 1))
    return nas_seterr(err, NAS_EINVAL, "%s: baseline_decay must be in [0,1) (got %g)", W,
                      o->baseline_decay);
  try {
    std::unique_ptr<nas_controller> c(new nas_controller());
    c->o = *o;
    c->sizes.assign(sizes, sizes + n);
    for (int i = 0; i < n; i++) {
      c->off.push_back(c->total);
      c->total += sizes[i];
    }
    const int64_t H = o->hidden;
    auto net = std::make_shared<CtlNet>();
    net->emb = net->register_parameter("emb", torch::empty({c->total + 1, H}));
    net->cell = net->register_module("cell", torch::nn::LSTMCell(torch::nn::LSTMCellOptions(H, H)));
    net->head_w = net->register_parameter("head_w", torch::empty({c->total, H}));
    net->head_b = net->register_parameter("head_b", torch::empty({c->total}));
    {
      torch::NoGradGuard ng;
      at::Generator gen = at::detail::createCPUGenerator(o->seed);
      for (auto &p : net->parameters()) p.uniform_(-0.1, 0.1, gen);
    }
    c->net = net;
    c->opt.reset(new torch::optim::Adam(net->parameters(), torch::optim::AdamOptions(o->lr)));
    *out = c.release();
    return NAS_OK;
  }
  NAS_CATCH(err, W)
}

void nas_controller_free(nas_controller *c) noexcept {
  try {
    delete c;
  } catch (...) {
  }
}

int nas_controller_decisions(const nas_controller *c) noexcept { return c ? (int)c->sizes.size() : 0; }

int nas_controller_size(const nas_controller *c, int i) noexcept {
  if (!c || i < 0 || i >= (int)c->sizes.size()) return -1;
  return c->sizes[i];
}

double nas_controller_baseline(const nas_controller *c) noexcept { return c ? c->baseline : 0.0; }

int64_t nas_controller_updates(const nas_controller *c) noexcept { return c ? c->updates : 0; }

nas_status nas_controller_sample(nas_controller *c, const double *uniforms, int *choices,
                                 double *logprob, double *entropy, nas_error *err) noexcept {
  static const char *W = "nas_controller_sample";
  nas_clearerr(err);
  if (!c || !uniforms || !choices)
    return nas_seterr(err, NAS_EINVAL, "%s: controller, uniforms and choices must not be NULL", W);
  const int n = (int)c->sizes.size();
  for (int i = 0; i < n; i++)
    if (!(uniforms[i] >= 0 && uniforms[i] < 1))
      return nas_seterr(err, NAS_EINVAL, "%s: uniform %d is %g, needs [0,1)", W, i, uniforms[i]);
  try {
    torch::NoGradGuard ng;
    std::vector<int> ch(n, 0);
    at::Tensor lp, ent;
    run(c, n - 1, ch.data(), uniforms, &lp, &ent, nullptr);
    for (int i = 0; i < n; i++) choices[i] = ch[i];
    if (logprob) *logprob = lp.item<double>();
    if (entropy) *entropy = ent.item<double>();
    return NAS_OK;
  }
  NAS_CATCH(err, W)
}

nas_status nas_controller_update(nas_controller *c, const int *choices, int n_decisions, double reward,
                                 nas_error *err) noexcept {
  static const char *W = "nas_controller_update";
  nas_clearerr(err);
  if (!c || !choices) return nas_seterr(err, NAS_EINVAL, "%s: controller and choices must not be NULL", W);
  const int n = (int)c->sizes.size();
  if (n_decisions != n)
    return nas_seterr(err, NAS_EINVAL, "%s: got %d choices, the controller has %d decisions", W,
                      n_decisions, n);
  if (!std::isfinite(reward)) return nas_seterr(err, NAS_EINVAL, "%s: reward is %g, needs a finite number", W, reward);
  nas_status st = check_choices(c, choices, n, W, err);
  if (st != NAS_OK) return st;
  try {
    torch::AutoGradMode grad(true);
    std::vector<int> ch(choices, choices + n);
    at::Tensor lp, ent;
    run(c, n - 1, ch.data(), nullptr, &lp, &ent, nullptr);
    const double d = c->o.baseline_decay;
    const double num = d * c->bl_num + (1 - d) * reward, den = d * c->bl_den + (1 - d);
    const double baseline = num / den;
    at::Tensor loss = -(reward - baseline) * lp - c->o.entropy * ent;
    if (!std::isfinite(loss.item<double>()))
      return nas_seterr(err, NAS_ENUMERIC, "%s: loss is not finite (reward %g, baseline %g)", W, reward,
                        baseline);
    c->opt->zero_grad();
    loss.backward();
    c->opt->step();
    c->bl_num = num;
    c->bl_den = den;
    c->baseline = baseline;
    c->updates++;
    return NAS_OK;
  }
  NAS_CATCH(err, W)
}

nas_status nas_controller_probs(nas_controller *c, const int *prefix, int k, double *probs_out,
                                nas_error *err) noexcept {
  static const char *W = "nas_controller_probs";
  nas_clearerr(err);
  if (!c || !probs_out || (k > 0 && !prefix))
    return nas_seterr(err, NAS_EINVAL, "%s: controller, prefix and probs_out must not be NULL", W);
  const int n = (int)c->sizes.size();
  if (k < 0 || k >= n)
    return nas_seterr(err, NAS_EINVAL, "%s: prefix has %d choices, needs 0..%d", W, k, n - 1);
  nas_status st = check_choices(c, prefix, k, W, err);
  if (st != NAS_OK) return st;
  try {
    torch::NoGradGuard ng;
    std::vector<int> ch(prefix, prefix + k);
    ch.push_back(0);
    run(c, k, ch.data(), nullptr, nullptr, nullptr, probs_out);
    return NAS_OK;
  }
  NAS_CATCH(err, W)
}

int64_t nas_controller_param_count(const nas_controller *c) noexcept {
  if (!c) return 0;
  try {
    int64_t n = 0;
    for (const auto &p : c->net->parameters()) n += p.numel();
    return n;
  } catch (...) {
    return -1;
  }
}

nas_status nas_controller_params(const nas_controller *c, float *out, int64_t cap, nas_error *err) noexcept {
  static const char *W = "nas_controller_params";
  nas_clearerr(err);
  if (!c || !out) return nas_seterr(err, NAS_EINVAL, "%s: controller and out must not be NULL", W);
  const int64_t need = nas_controller_param_count(c);
  if (cap < need)
    return nas_seterr(err, NAS_EINVAL, "%s: need room for %lld floats, got %lld", W, (long long)need,
                      (long long)cap);
  try {
    int64_t at = 0;
    for (const auto &p : c->net->parameters()) {
      at::Tensor t = p.detach().to(torch::kFloat32).contiguous();
      memcpy(out + at, t.data_ptr<float>(), sizeof(float) * (size_t)t.numel());
      at += t.numel();
    }
    return NAS_OK;
  }
  NAS_CATCH(err, W)
}

} // extern "C"
