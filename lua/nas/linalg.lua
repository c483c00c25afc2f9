-- nas.linalg: the small dense linear algebra a Gaussian process needs, in pure Lua.
--
--   local la = require "nas.linalg"
--   local L = la.cholesky(A, n)             -- lower factor of an SPD matrix (rows as Lua lists), or nil, why
--   la.cholesky_extend(L, n, a)             -- adds row/column n+1 (a = new column incl. diagonal), in place
--   local y = la.solve_lower(L, b, n)       -- L y = b
--   local x = la.solve_upper(L, y, n)       -- L' x = y
--   local x = la.cho_solve(L, b, n)         -- A x = b through its factor
--   la.logdet(L, n)                         -- log det A = 2 sum log L[i][i]
--   la.norm_cdf(z), la.norm_pdf(z)          -- standard normal
--
-- Matrices are lists of rows (L[i][j], 1-based); only the lower triangle of a
-- factor is read. Everything is O(n^3) at most: meant for n up to a few hundred.
local M = {}

local sqrt, log, exp = math.sqrt, math.log, math.exp

-- Lower Cholesky factor of the symmetric positive definite A (n x n), or nil
-- and a message when a pivot is not positive.
function M.cholesky(A, n)
  n = n or #A
  local L = {}
  for i = 1, n do
    local Li, Ai = {}, A[i]
    L[i] = Li
    for j = 1, i do
      local Lj = L[j]
      local s = Ai[j]
      for k = 1, j - 1 do s = s - Li[k] * Lj[k] end
      if i == j then
        if not (s > 0) then return nil, ("matrix is not positive definite (pivot %d is %g)"):format(i, s) end
        Li[i] = sqrt(s)
      else
        Li[j] = s / Lj[j]
      end
    end
  end
  return L
end

-- Extends the factor L of an n x n matrix to the (n+1) x (n+1) one whose new
-- column (rows 1..n+1, the diagonal entry last) is `a`. O(n^2). Returns L, or
-- nil and a message when the extended matrix is not positive definite.
function M.cholesky_extend(L, n, a)
  local row = {}
  for j = 1, n do
    local Lj = L[j]
    local s = a[j]
    for k = 1, j - 1 do s = s - row[k] * Lj[k] end
    row[j] = s / Lj[j]
  end
  local d = a[n + 1]
  for k = 1, n do d = d - row[k] * row[k] end
  if not (d > 0) then return nil, ("matrix is not positive definite (pivot %d is %g)"):format(n + 1, d) end
  row[n + 1] = sqrt(d)
  L[n + 1] = row
  return L
end

function M.solve_lower(L, b, n)
  n = n or #L
  local y = {}
  for i = 1, n do
    local Li = L[i]
    local s = b[i]
    for k = 1, i - 1 do s = s - Li[k] * y[k] end
    y[i] = s / Li[i]
  end
  return y
end

function M.solve_upper(L, y, n)
  n = n or #L
  local x = {}
  for i = n, 1, -1 do
    local s = y[i]
    for k = i + 1, n do s = s - L[k][i] * x[k] end
    x[i] = s / L[i][i]
  end
  return x
end

function M.cho_solve(L, b, n)
  n = n or #L
  return M.solve_upper(L, M.solve_lower(L, b, n), n)
end

function M.logdet(L, n)
  n = n or #L
  local s = 0
  for i = 1, n do s = s + log(L[i][i]) end
  return 2 * s
end

function M.dot(a, b, n)
  n = n or #a
  local s = 0
  for i = 1, n do s = s + a[i] * b[i] end
  return s
end

-- erfc with fractional error below 1.2e-7 (Numerical Recipes' erfcc, Chebyshev fit).
local function erfc(x)
  local z = math.abs(x)
  local t = 1 / (1 + 0.5 * z)
  local r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))))
  if x >= 0 then return r end
  return 2 - r
end
M.erfc = erfc

local INV_SQRT2 = 1 / sqrt(2)
local INV_SQRT2PI = 1 / sqrt(2 * math.pi)

function M.norm_cdf(z) return 0.5 * erfc(-z * INV_SQRT2) end
function M.norm_pdf(z) return INV_SQRT2PI * exp(-0.5 * z * z) end
-- log of the standard normal density.
function M.norm_logpdf(z) return -0.5 * z * z - log(sqrt(2 * math.pi)) end

return M
