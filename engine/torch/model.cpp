/* engine/torch/model.cpp — a libtorch module built from a nas_graph, behind
 * the C ABI of nas.h: build, forward, parameter count, latency, save/load,
 * device and engine-wide settings. The module's layout, each op's build and
 * forward, and the walk over the nodes are in ops.cpp.
 *
 * Mixed nodes (supernets) are mixed per the model's mix mode (nas.h,
 * "Supernets"); their architecture logits are not submodule parameters.
 *
 * Weights file format: a Dict[str, Tensor] (parameters then buffers,
 * contiguous NCHW, on CPU) in the zip format of Python's torch.save, so
 * `torch.load(path)` in Python returns a state_dict for a PyTorch module with
 * the same submodule names. It is what torch::pickle_save writes, less the
 * TorchScript type tag around the dict (torch.jit._pickle.restore_type_tag),
 * which Python's torch.load(weights_only=True) refuses (the default from
 * PyTorch 2.6 on). torch::pickle_load reads both.
 *
 * Export to PyTorch (nas_model_export_pytorch): model.py is python_source's
 * text (ops.cpp: each op's emitter), weights.pt the same kind of file holding
 * the tensors of the nodes model.py computes (plus a supernet's logits in a
 * weighted mix mode), so that load_state_dict(strict=True) takes it.
 */
#include "torch_impl.h"

#include <ATen/Parallel.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>

using nas_torch::NasNet;

namespace nas_torch {

nas_status torch_error(nas_error *err, const char *where, const c10::Error &e) {
  const char *msg = e.what_without_backtrace();
  std::string s = msg ? msg : "unknown libtorch error";
  /* keep the first line or two: libtorch messages can be long */
  if (s.size() > 400) s.resize(400);
  nas_status st = NAS_ETORCH;
  if (s.find("out of memory") != std::string::npos ||
      s.find("can't allocate memory") != std::string::npos)
    st = NAS_ENOMEM;
  return nas_seterr(err, st, "%s: %s", where, s.c_str());
}

/* The strides of a dense {N,C,H,W} tensor in fmt. Set explicitly rather than
 * through is_contiguous(fmt)/contiguous(fmt): a tensor with C == 1 (or
 * H == W == 1) counts as contiguous in both formats, so contiguous() returns
 * it unchanged with NCHW strides, and libtorch's convolution then treats it as
 * NCHW (it picks the format from the strides: suggest_memory_format). Python's
 * .to(memory_format=torch.channels_last) sets the strides explicitly too. */
static void fmt_strides(at::IntArrayRef sz, bool cl, int64_t st[4]) {
  const int64_t C = sz[1], H = sz[2], W = sz[3];
  if (cl) {
    st[0] = H * W * C; st[1] = 1; st[2] = W * C; st[3] = C;
  } else {
    st[0] = C * H * W; st[1] = H * W; st[2] = W; st[3] = 1;
  }
}

static bool has_strides(const at::Tensor &t, const int64_t st[4]) {
  const auto s = t.strides();
  return s[0] == st[0] && s[1] == st[1] && s[2] == st[2] && s[3] == st[3];
}

at::Tensor restride(const at::Tensor &t, nas_memfmt fmt) {
  if (t.dim() != 4) return t;
  const bool cl = fmt == NAS_MEMFMT_CHANNELS_LAST;
  int64_t st[4];
  fmt_strides(t.sizes(), cl, st);
  if (has_strides(t, st)) return t;
  return at::empty(t.sizes(), t.options().memory_format(cl ? at::MemoryFormat::ChannelsLast
                                                             : at::MemoryFormat::Contiguous))
      .copy_(t);
}

void apply_memfmt(nas_model *m, nas_memfmt fmt) {
  torch::NoGradGuard ng;
  for (auto &p : m->net->parameters()) {
    if (p.dim() != 4) continue;
    at::Tensor r = restride(p, fmt);
    if (!r.is_same(p)) p.set_data(r);
  }
  m->current = fmt;
}

at::Tensor to_model(nas_model *m, at::Tensor x) {
  if (m->device.is_cuda()) x = x.to(m->device, /*non_blocking=*/true);
  if (m->current == NAS_MEMFMT_CHANNELS_LAST && x.dim() == 4) {
    /* C == 1: the same bytes in both formats, only the strides change */
    if (x.size(1) == 1 && x.is_contiguous()) {
      int64_t st[4];
      fmt_strides(x.sizes(), true, st);
      return x.as_strided(x.sizes(), at::IntArrayRef(st, 4));
    }
    x = restride(x, NAS_MEMFMT_CHANNELS_LAST);
  }
  return x;
}

at::Tensor input_tensor(nas_model *m, const float *x, int64_t n) {
  int64_t sz[NAS_MAX_DIMS + 1] = {n, 0, 0, 0};
  for (int i = 0; i < m->in_ndim; i++) sz[i + 1] = m->in_dims[i];
  return to_model(m, torch::from_blob(const_cast<float *>(x), at::IntArrayRef(sz, m->in_ndim + 1),
                                      torch::kFloat32));
}

} // namespace nas_torch

namespace {

/* The architecture logits (after the module moved to its device). */
void init_arch(nas_model *m) {
  NasNet &net = *m->net;
  if (!net.has_mixed) return;
  at::Generator g = at::detail::createCPUGenerator(m->seed ^ 0x61726368ULL /* "arch" */);
  net.alpha.clear();
  for (int k : net.dsize)
    net.alpha.push_back((1e-3 * torch::randn({k}, g, torch::kFloat32)).to(m->device).requires_grad_(true));
  net.path.assign(net.dsize.size(), 0);
  net.gen = at::detail::createCPUGenerator(m->seed ^ 0x67756d62ULL /* "gumb" */);
}

int64_t prod(const int64_t *d, int n) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) p *= d[i];
  return p;
}

/* Parses "cpu", "cuda", "cuda:N" into m->device; NAS_EDEVICE when CUDA is missing. */
nas_status parse_device(nas_model *m, const char *dev, nas_error *err) {
  if (!dev || !*dev || strcmp(dev, "cpu") == 0) {
    m->device = torch::Device(torch::kCPU);
    m->device_name = "cpu";
    return NAS_OK;
  }
  if (strncmp(dev, "cuda", 4) == 0 && (dev[4] == '\0' || dev[4] == ':')) {
    long idx = 0;
    if (dev[4] == ':') {
      char *end = nullptr;
      errno = 0;
      idx = strtol(dev + 5, &end, 10);
      if (end == dev + 5 || *end || idx < 0 || errno)
        return nas_seterr(err, NAS_EINVAL, "bad device '%s': use \"cpu\", \"cuda\" or \"cuda:N\"", dev);
    }
    if (!torch::cuda::is_available())
      return nas_seterr(err, NAS_EDEVICE,
                        "device '%s' requested, but this libtorch (%s) has no CUDA support or sees "
                        "no GPU: build nasrun against a CUDA libtorch (cmake -DCMAKE_PREFIX_PATH=...)",
                        dev, nas_torch_version());
    const long count = (long)torch::cuda::device_count();
    if (idx >= count)
      return nas_seterr(err, NAS_EDEVICE, "device '%s' requested, but only %ld CUDA device(s) are visible",
                        dev, count);
    m->device = torch::Device(torch::kCUDA, (c10::DeviceIndex)idx);
    m->device_name = "cuda:" + std::to_string(idx);
    return NAS_OK;
  }
  return nas_seterr(err, NAS_EINVAL, "bad device '%s': use \"cpu\", \"cuda\" or \"cuda:N\"", dev);
}

/* Restores the intra-op thread count on scope exit. */
struct ThreadScope {
  int saved = 0;
  explicit ThreadScope(int n) {
    if (n > 0) {
      saved = at::get_num_threads();
      at::set_num_threads(n);
    }
  }
  ~ThreadScope() {
    if (saved > 0) at::set_num_threads(saved);
  }
};

/* Sets train/eval mode for a scope and restores the previous one. */
struct ModeScope {
  NasNet &net;
  bool was;
  ModeScope(NasNet &n, bool train) : net(n), was(n.is_training()) { net.train(train); }
  ~ModeScope() { net.train(was); }
};

std::string shape_str(const at::IntArrayRef &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

} // namespace

extern "C" {

nas_model_opts nas_model_opts_default(void) noexcept {
  nas_model_opts o;
  o.seed = 0;
  o.device = nullptr;
  o.memfmt = NAS_MEMFMT_AUTO;
  return o;
}

nas_status nas_model_new(const nas_graph *g, const nas_model_opts *o, nas_model **out,
                         nas_error *err) noexcept {
  nas_clearerr(err);
  if (out) *out = nullptr;
  if (!g || !out) return nas_seterr(err, NAS_EINVAL, "nas_model_new: graph and out must not be NULL");
  std::unique_ptr<nas_model> m;
  try {
    const nas_model_opts def = nas_model_opts_default();
    if (!o) o = &def;
    if (o->memfmt < NAS_MEMFMT_AUTO || o->memfmt > NAS_MEMFMT_CHANNELS_LAST)
      return nas_seterr(err, NAS_EINVAL, "nas_model_new: bad memfmt %d", (int)o->memfmt);
    m.reset(new nas_model());
    nas_status st = parse_device(m.get(), o->device, err);
    if (st != NAS_OK) return st;
    m->g = nas_graph_clone(g);
    if (!m->g) return nas_seterr(err, NAS_ENOMEM, "nas_model_new: out of memory copying the graph");
    m->seed = o->seed;
    m->in_ndim = nas_graph_node_shape(m->g, 0, m->in_dims);
    m->in_size = prod(m->in_dims, m->in_ndim);
    m->out_ndim = nas_graph_node_shape(m->g, nas_graph_output(m->g), m->out_dims);
    m->out_size = prod(m->out_dims, m->out_ndim);
    torch::manual_seed(o->seed);
    try {
      unsigned flags = 0;
      m->net = nas_torch::build_net(m->g, &flags);
      m->has_conv = (flags & nas_torch::OPF_CONV) != 0;
      m->has_bn = (flags & nas_torch::OPF_BATCHNORM) != 0;
    } catch (const std::runtime_error &e) {
      return nas_seterr(err, NAS_EGRAPH, "nas_model_new: %s", e.what());
    }
    if (m->device.is_cuda()) m->net->to(m->device);
    init_arch(m.get());
    m->net->train(true);
    m->requested = o->memfmt;
    m->current = NAS_MEMFMT_NCHW;
    if (o->memfmt == NAS_MEMFMT_CHANNELS_LAST) {
      nas_torch::apply_memfmt(m.get(), NAS_MEMFMT_CHANNELS_LAST);
      m->resolved = true;
    } else if (o->memfmt == NAS_MEMFMT_NCHW || !m->has_conv) {
      m->resolved = true;
    }
    *out = m.release();
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_new")
}

void nas_model_free(nas_model *m) noexcept {
  try {
    delete m;
  } catch (...) {
  }
}

int64_t nas_model_param_count(const nas_model *m) noexcept {
  if (!m) return -1;
  try {
    int64_t n = 0;
    for (const auto &p : m->net->parameters())
      if (p.requires_grad()) n += p.numel();
    return n;
  } catch (...) {
    return -1;
  }
}

const char *nas_model_device(const nas_model *m) noexcept { return m ? m->device_name.c_str() : "cpu"; }

nas_memfmt nas_model_memfmt(const nas_model *m) noexcept { return m ? m->current : NAS_MEMFMT_NCHW; }

static nas_status forward_in(nas_model *m, const float *x, int n, float *out, bool train, nas_error *err,
                             const char *where) noexcept {
  nas_clearerr(err);
  if (!m || !x || !out || n <= 0)
    return nas_seterr(err, NAS_EINVAL, "%s: need a model, x, out and n > 0 (n = %d)", where, n);
  try {
    ModeScope mode(*m->net, train);
    torch::NoGradGuard ng;
    at::Tensor y = m->net->forward(nas_torch::input_tensor(m, x, n));
    y = y.reshape({n, -1}).to(torch::kCPU, torch::kFloat32).contiguous();
    if (y.size(1) != m->out_size)
      return nas_seterr(err, NAS_ETORCH, "%s: output has %lld floats per sample, graph says %lld", where,
                        (long long)y.size(1), (long long)m->out_size);
    memcpy(out, y.data_ptr<float>(), sizeof(float) * (size_t)n * (size_t)m->out_size);
    return NAS_OK;
  }
  NAS_CATCH(err, where)
}

nas_status nas_model_forward(nas_model *m, const float *x, int n, float *out, nas_error *err) noexcept {
  return forward_in(m, x, n, out, false, err, "nas_model_forward");
}

nas_status nas_model_forward_train(nas_model *m, const float *x, int n, float *out, nas_error *err) noexcept {
  return forward_in(m, x, n, out, true, err, "nas_model_forward_train");
}

nas_status nas_model_latency(nas_model *m, const nas_latency_opts *o, nas_latency_result *r,
                             nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !o || !r) return nas_seterr(err, NAS_EINVAL, "nas_model_latency: NULL argument");
  memset(r, 0, sizeof *r);
  if (o->batch <= 0 || o->runs <= 0 || o->warmup < 0)
    return nas_seterr(err, NAS_EINVAL, "nas_model_latency: need batch > 0, runs > 0, warmup >= 0 (got %d, %d, %d)",
                      o->batch, o->runs, o->warmup);
  try {
    ThreadScope threads(o->threads);
    ModeScope mode(*m->net, false);
    torch::NoGradGuard ng;
    const bool cuda = nas_torch::is_cuda(m);
    /* a private generator: the global RNG (dropout, training) stays untouched */
    at::Generator gen = at::detail::createCPUGenerator(0x5eed);
    std::vector<int64_t> sz{o->batch};
    for (int i = 0; i < m->in_ndim; i++) sz.push_back(m->in_dims[i]);
    at::Tensor x = torch::randn(sz, gen, torch::kFloat32);
    x = nas_torch::to_model(m, x);
    for (int i = 0; i < o->warmup; i++) {
      if (nas_interrupt_pending()) return nas_seterr(err, NAS_EINTERRUPT, "latency measurement interrupted");
      m->net->forward(x);
    }
    if (cuda) torch::cuda::synchronize();
    std::vector<double> ms((size_t)o->runs);
    for (int i = 0; i < o->runs; i++) {
      if (nas_interrupt_pending()) return nas_seterr(err, NAS_EINTERRUPT, "latency measurement interrupted");
      if (cuda) torch::cuda::synchronize();
      auto t0 = std::chrono::steady_clock::now();
      at::Tensor y = m->net->forward(x);
      if (cuda) torch::cuda::synchronize();
      auto t1 = std::chrono::steady_clock::now();
      ms[(size_t)i] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    }
    double sum = 0;
    for (double v : ms) sum += v;
    std::sort(ms.begin(), ms.end());
    const size_t nr = ms.size();
    auto pct = [&](double q) { /* nearest-rank percentile */
      size_t idx = (size_t)std::ceil(q * (double)nr);
      if (idx < 1) idx = 1;
      if (idx > nr) idx = nr;
      return ms[idx - 1];
    };
    r->min_ms = ms[0];
    r->median_ms = nr % 2 ? ms[nr / 2] : 0.5 * (ms[nr / 2 - 1] + ms[nr / 2]);
    r->p90_ms = std::max(pct(0.9), r->median_ms);
    r->mean_ms = sum / (double)nr;
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_latency")
}

} // extern "C"

namespace {

/* Writes bytes to path; NAS_EIO naming `what` and the path on failure. */
nas_status write_file(const char *path, const char *data, size_t size, const char *what, nas_error *err) {
  FILE *f = fopen(path, "wb");
  if (!f) return nas_seterr(err, NAS_EIO, "cannot write %s to '%s': %s", what, path, strerror(errno));
  size_t w = fwrite(data, 1, size, f);
  int e = errno;
  if (fclose(f) != 0 && w == size) {
    e = errno;
    w = 0;
  }
  if (w != size) return nas_seterr(err, NAS_EIO, "cannot write %s to '%s': %s", what, path, strerror(e));
  return NAS_OK;
}

/* The model's parameters then buffers (contiguous, on the CPU) whose names
 * pass keep(name), as a Dict[str, Tensor]. */
template <class Keep> c10::Dict<std::string, at::Tensor> state_dict(nas_model *m, Keep keep) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto &p : m->net->named_parameters(true))
    if (keep(p.key())) dict.insert(p.key(), p.value().detach().to(torch::kCPU).contiguous());
  for (const auto &b : m->net->named_buffers(true))
    if (keep(b.key())) dict.insert(b.key(), b.value().detach().to(torch::kCPU).contiguous());
  return dict;
}

/* torch::pickle_save's archive (the pickle as data.pkl, each tensor's
 * storage as data/<i>) with an untagged dict: see the top of the file. */
std::vector<char> state_bytes(const c10::Dict<std::string, at::Tensor> &dict) {
  std::vector<char> pkl, out;
  torch::jit::Pickler p([&pkl](const char *b, size_t n) { pkl.insert(pkl.end(), b, b + n); }, nullptr, nullptr,
                        nullptr, nullptr, /*tag_aggregates=*/false);
  p.protocol();
  p.pushIValue(c10::IValue(dict));
  p.stop();
  caffe2::serialize::PyTorchStreamWriter w([&out](const void *b, size_t n) {
    const char *c = static_cast<const char *>(b);
    out.insert(out.end(), c, c + n);
    return n;
  });
  size_t i = 0;
  for (const at::Tensor &t : p.tensorData()) {
    const torch::jit::WriteableTensorData d = torch::jit::getWriteableTensorData(t);
    w.writeRecord("data/" + std::to_string(i++), d.data(), d.sizeInBytes());
  }
  w.writeRecord("data.pkl", pkl.data(), pkl.size());
  w.writeEndOfFile();
  return out;
}

nas_status write_state(const c10::Dict<std::string, at::Tensor> &dict, const char *path, nas_error *err) {
  std::vector<char> bytes = state_bytes(dict);
  return write_file(path, bytes.data(), bytes.size(), "weights", err);
}

/* A Python identifier that is not a keyword. */
bool py_identifier(const char *s) {
  static const char *const kw[] = {"False", "None", "True", "and", "as", "assert", "async", "await", "break",
                                   "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
                                   "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not",
                                   "or", "pass", "raise", "return", "try", "while", "with", "yield", "torch"};
  if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
  for (const char *p = s; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p > 127) return false;
  for (const char *k : kw)
    if (strcmp(s, k) == 0) return false;
  return strlen(s) <= 64;
}

} // namespace

extern "C" {

nas_status nas_model_save(nas_model *m, const char *path, nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !path) return nas_seterr(err, NAS_EINVAL, "nas_model_save: NULL argument");
  try {
    return write_state(state_dict(m, [](const std::string &) { return true; }), path, err);
  }
  NAS_CATCH(err, "nas_model_save")
}

nas_export_opts nas_export_opts_default(void) noexcept {
  nas_export_opts o;
  o.class_name = "Net";
  o.norm_channels = 0;
  o.mean = nullptr;
  o.std = nullptr;
  o.header = nullptr;
  return o;
}

nas_status nas_model_export_pytorch(nas_model *m, const char *dir, const nas_export_opts *o,
                                    nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !dir || !*dir) return nas_seterr(err, NAS_EINVAL, "nas_model_export_pytorch: need a model and a folder");
  try {
    const nas_export_opts def = nas_export_opts_default();
    if (!o) o = &def;
    const char *cls = o->class_name ? o->class_name : "Net";
    if (!py_identifier(cls))
      return nas_seterr(err, NAS_EINVAL, "nas_model_export_pytorch: class name '%s' is not a Python identifier "
                        "(letters, digits, _; not a keyword)", cls);
    std::vector<float> mean, stdev;
    if (o->norm_channels != 0) {
      const int64_t c = m->in_ndim == 3 ? m->in_dims[0] : 1;
      if (!o->mean || !o->std || (o->norm_channels != 1 && o->norm_channels != c))
        return nas_seterr(err, NAS_EINVAL, "nas_model_export_pytorch: the input normalisation needs mean and std "
                          "of 1 or %lld channels (got %d)", (long long)c, o->norm_channels);
      for (int i = 0; i < o->norm_channels; i++) {
        if (!std::isfinite(o->mean[i]) || !std::isfinite(o->std[i]) || !(o->std[i] > 0))
          return nas_seterr(err, NAS_EINVAL, "nas_model_export_pytorch: channel %d: mean must be finite and std "
                            "finite and > 0", i);
        mean.push_back(o->mean[i]);
        stdev.push_back(o->std[i]);
      }
    }
    nas_torch::PySource src;
    try {
      src = nas_torch::python_source(*m->net, cls, mean, stdev, o->header ? o->header : "");
    } catch (const std::runtime_error &e) {
      return nas_seterr(err, NAS_EINVAL, "cannot export to PyTorch: %s", e.what());
    }
    /* the tensors of the nodes the source computes: names "n<id>_<kind>.<tensor>" */
    auto keep = [&src](const std::string &name) {
      const size_t us = name.find('_');
      if (name.size() < 2 || name[0] != 'n' || us == std::string::npos) return false;
      const long id = strtol(name.c_str() + 1, nullptr, 10);
      return id >= 0 && (size_t)id < src.nodes.size() && src.nodes[(size_t)id] != 0;
    };
    c10::Dict<std::string, at::Tensor> dict = state_dict(m, keep);
    for (const auto &x : src.extra) dict.insert(x.first, x.second);
    const std::string d = dir;
    nas_status st = write_file((d + "/model.py").c_str(), src.code.data(), src.code.size(), "PyTorch code", err);
    if (st != NAS_OK) return st;
    return write_state(dict, (d + "/weights.pt").c_str(), err);
  }
  NAS_CATCH(err, "nas_model_export_pytorch")
}

nas_status nas_model_load(nas_model *m, const char *path, nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !path) return nas_seterr(err, NAS_EINVAL, "nas_model_load: NULL argument");
  try {
    FILE *f = fopen(path, "rb");
    if (!f) return nas_seterr(err, NAS_EIO, "cannot read weights '%s': %s", path, strerror(errno));
    std::vector<char> bytes;
    char buf[1 << 16];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + r);
    const bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) return nas_seterr(err, NAS_EIO, "cannot read weights '%s': read error", path);
    c10::IValue iv;
    try {
      iv = torch::pickle_load(bytes);
    } catch (const c10::Error &e) {
      std::string s = e.what_without_backtrace();
      if (s.size() > 200) s.resize(200);
      return nas_seterr(err, NAS_EIO, "'%s' is not a nasrun weights file (corrupt or truncated?): %s", path,
                        s.c_str());
    }
    if (!iv.isGenericDict())
      return nas_seterr(err, NAS_EIO, "'%s' is not a nasrun weights file: expected a dict of tensors", path);
    std::unordered_map<std::string, at::Tensor> file;
    for (const auto &kv : iv.toGenericDict()) {
      if (!kv.key().isString() || !kv.value().isTensor())
        return nas_seterr(err, NAS_EIO, "'%s' is not a nasrun weights file: expected a dict of tensors", path);
      file.emplace(kv.key().toStringRef(), kv.value().toTensor());
    }
    /* check everything first, then copy: a failed load leaves the model as it was */
    std::vector<std::pair<at::Tensor, at::Tensor>> todo;
    auto check = [&](const std::string &name, const at::Tensor &t) -> nas_status {
      auto it = file.find(name);
      if (it == file.end())
        return nas_seterr(err, NAS_EINVAL, "weights '%s' do not fit the model: tensor '%s' %s is missing from the file",
                          path, name.c_str(), shape_str(t.sizes()).c_str());
      if (it->second.sizes() != t.sizes())
        return nas_seterr(err, NAS_EINVAL,
                          "weights '%s' do not fit the model: tensor '%s' has shape %s in the file, the model needs %s",
                          path, name.c_str(), shape_str(it->second.sizes()).c_str(), shape_str(t.sizes()).c_str());
      todo.emplace_back(t, it->second);
      file.erase(it);
      return NAS_OK;
    };
    for (const auto &p : m->net->named_parameters(true)) {
      nas_status st = check(p.key(), p.value());
      if (st != NAS_OK) return st;
    }
    for (const auto &b : m->net->named_buffers(true)) {
      nas_status st = check(b.key(), b.value());
      if (st != NAS_OK) return st;
    }
    if (!file.empty())
      return nas_seterr(err, NAS_EINVAL, "weights '%s' do not fit the model: the file has tensor '%s' %s the model lacks",
                        path, file.begin()->first.c_str(), shape_str(file.begin()->second.sizes()).c_str());
    torch::NoGradGuard ng;
    for (auto &pr : todo) pr.first.copy_(pr.second);
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_load")
}

void nas_threads_set(int n) noexcept {
  if (n <= 0) return;
  try {
    at::set_num_threads(n);
  } catch (...) {
  }
}

int nas_threads_get(void) noexcept {
  try {
    return at::get_num_threads();
  } catch (...) {
    return 1;
  }
}

int nas_cuda_available(void) noexcept {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int nas_cuda_device_count(void) noexcept {
  try {
    return torch::cuda::is_available() ? (int)torch::cuda::device_count() : 0;
  } catch (...) {
    return 0;
  }
}

const char *nas_torch_version(void) noexcept {
#define NAS_STR2(x) #x
#define NAS_STR(x) NAS_STR2(x)
  return NAS_STR(TORCH_VERSION_MAJOR) "." NAS_STR(TORCH_VERSION_MINOR) "." NAS_STR(TORCH_VERSION_PATCH);
}

} // extern "C"
