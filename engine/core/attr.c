/* Node attributes and shapes: attribute values checked against a schema,
 * node error messages, shape strings. The floor under the op table (ops.c) and
 * the graph (graph.c): it knows neither. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attr_impl.h"

typedef long long ll;

nas_status nas_node_err(const nas_shape_ctx *c, nas_status st, const char *fmt, ...) {
  char msg[448];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return nas_seterr(c->err, st, "node %d (%s): %s", nas_label(c, c->id), c->op, msg);
}

char *nas_shape_str(char *buf, size_t cap, int ndim, const int64_t *dims) {
  if (ndim == 3)
    snprintf(buf, cap, "%lldx%lldx%lld", (ll)dims[0], (ll)dims[1], (ll)dims[2]);
  else if (ndim == 1)
    snprintf(buf, cap, "%lld", (ll)dims[0]);
  else
    snprintf(buf, cap, "?");
  return buf;
}

/* ---- attributes ---------------------------------------------------------- */

static const char *kind_name(nas_attr_kind k) {
  switch (k) {
  case NAS_ATTR_KIND_INT: return "an int";
  case NAS_ATTR_KIND_FLOAT: return "a float";
  case NAS_ATTR_KIND_STR: return "a string";
  }
  return "an invalid kind";
}

static nas_status unknown_attr(const nas_shape_ctx *c, const nas_attr_spec *specs, int nspecs, const char *key) {
  char list[256];
  size_t len = 0;
  list[0] = '\0';
  for (int i = 0; i < nspecs && len < sizeof list; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", specs[i].key);
  if (nspecs == 0) return nas_node_err(c, NAS_EINVAL, "unknown attribute '%s'; %s takes no attributes", key, c->op);
  return nas_node_err(c, NAS_EINVAL, "unknown attribute '%s'; %s takes %s", key, c->op, list);
}

/* A boolean (Lua's true/false) arrives as an INT 1/0 whose s is non-NULL (it
 * spells the value): only flags (NAS_CHK_BOOL: bias, affine) take one, so that
 * out = true is an error instead of a silent 1. */
static int is_boolean(const nas_attr *a) { return a->kind == NAS_ATTR_KIND_INT && a->s != NULL; }

/* One given attribute into slot i of the node. */
static nas_status set_attr(const nas_shape_ctx *c, const nas_attr_spec *s, const nas_attr *a, nas_aval *v) {
  if (is_boolean(a) && s->chk != NAS_CHK_BOOL)
    return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be %s, got a boolean (%s); only flags (bias, affine) "
                        "take true/false", s->key,
                        s->chk == NAS_CHK_PAD ? "an int or \"same\"/\"valid\"" : kind_name(s->kind),
                        a->i ? "true" : "false");
  if (s->chk == NAS_CHK_PAD) {
    if (a->kind == NAS_ATTR_KIND_STR) {
      if (a->s && strcmp(a->s, "same") == 0)
        v->i = -1;
      else if (a->s && strcmp(a->s, "valid") == 0)
        v->i = 0;
      else
        return nas_node_err(c, NAS_EINVAL, "attribute 'padding' must be \"same\", \"valid\" or an int >= 0, got '%s'",
                            a->s ? a->s : "(null)");
      return NAS_OK;
    }
    if (a->kind != NAS_ATTR_KIND_INT)
      return nas_node_err(c, NAS_EINVAL, "attribute 'padding' must be an int or \"same\"/\"valid\", got %s",
                          kind_name(a->kind));
    if (a->i < 0) return nas_node_err(c, NAS_EINVAL, "attribute 'padding' must be >= 0, got %lld", (ll)a->i);
    v->i = a->i;
    return NAS_OK;
  }
  if (s->kind == NAS_ATTR_KIND_INT) {
    if (a->kind != NAS_ATTR_KIND_INT)
      return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be an int, got %s", s->key, kind_name(a->kind));
    v->i = a->i;
    if (s->chk == NAS_CHK_POS && a->i <= 0)
      return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be > 0, got %lld", s->key, (ll)a->i);
    if (s->chk == NAS_CHK_NONNEG && a->i < 0)
      return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be >= 0, got %lld", s->key, (ll)a->i);
    if (s->chk == NAS_CHK_BOOL && a->i != 0 && a->i != 1)
      return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be 0 or 1, got %lld", s->key, (ll)a->i);
    return NAS_OK;
  }
  /* FLOAT key: an int is accepted */
  if (a->kind == NAS_ATTR_KIND_INT)
    v->f = (double)a->i;
  else if (a->kind == NAS_ATTR_KIND_FLOAT)
    v->f = a->f;
  else
    return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be a float, got %s", s->key, kind_name(a->kind));
  double f = v->f;
  if (s->chk == NAS_CHK_PROB && !(f >= 0.0 && f < 1.0))
    return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be in [0, 1), got %g", s->key, f);
  if (s->chk == NAS_CHK_UNIT && !(f >= 0.0 && f <= 1.0))
    return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be in [0, 1], got %g", s->key, f);
  if (s->chk == NAS_CHK_POSF && !(f > 0.0 && f < 1e300))
    return nas_node_err(c, NAS_EINVAL, "attribute '%s' must be > 0, got %g", s->key, f);
  return NAS_OK;
}

nas_status nas_attrs_resolve(const nas_shape_ctx *c, const nas_attr_spec *specs, int nspecs, const nas_attr *attrs,
                             int nattrs) {
  nas_node *n = c->n;
  unsigned seen = 0;
  for (int i = 0; i < nspecs; i++) {
    if (specs[i].kind == NAS_ATTR_KIND_FLOAT)
      n->a[i].f = specs[i].df;
    else
      n->a[i].i = specs[i].di;
  }
  if (nattrs < 0 || (nattrs > 0 && !attrs))
    return nas_node_err(c, NAS_EINVAL, "bad attribute list (%d attributes)", nattrs);
  for (int j = 0; j < nattrs; j++) {
    const nas_attr *a = &attrs[j];
    if (!a->key) return nas_node_err(c, NAS_EINVAL, "attribute %d has no key", j);
    int i = 0;
    while (i < nspecs && strcmp(specs[i].key, a->key) != 0) i++;
    if (i == nspecs) return unknown_attr(c, specs, nspecs, a->key);
    if (seen & (1u << i)) return nas_node_err(c, NAS_EINVAL, "attribute '%s' given twice", a->key);
    seen |= 1u << i;
    nas_status st = set_attr(c, &specs[i], a, &n->a[i]);
    if (st) return st;
  }
  for (int i = 0; i < nspecs; i++)
    if (specs[i].required && !(seen & (1u << i)))
      return nas_node_err(c, NAS_EINVAL, "missing required attribute '%s'", specs[i].key);
  return NAS_OK;
}
