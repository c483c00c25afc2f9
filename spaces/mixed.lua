-- spaces/mixed.lua: macro decisions (stages, depth and width per stage) with a
-- micro decision per stage (which cell its blocks use).
--
--   local space = require "spaces.mixed"                          -- 1x28x28, 10 classes
--   local cifar = require("spaces.mixed").with{ input = {3, 32, 32} }
--
-- Decisions:
--   stages              int min_stages..max_stages; stage s > 1 starts with a
--                       2x2 max pool while the map is at least min_size wide
--   depth<s>, width<s>  blocks in stage s (1..max_depth), their channels (opts.widths)
--   cell<s>             the block type of stage s:
--                         "plain"    conv k - bn - relu
--                         "residual" conv k - bn - relu - conv k - bn, + input (1x1 projected), relu
--                         "sep"      separable conv k - bn - relu
--                         "mbconv"   1x1 expand x3 - depthwise k - 1x1 project (+ input when shapes match)
--   kernel<s>           the kernel of stage s (kernels wider than the map are not offered)
-- Stem conv3x3-bn-relu with opts.stem channels; head gap - linear.
local nas = require "nas"

local defaults = {
  input = { 1, 28, 28 },
  classes = 10,
  stem = 16,
  min_stages = 2,
  max_stages = 3,
  max_depth = 2,
  widths = { 16, 32, 48 },
  cells = { "plain", "residual", "sep", "mbconv" },
  kernels = { 3, 5 },
  min_size = 8,
}

local function plain(net, x, _, cout, k) -- (every block takes net, x, cin, cout, k)
  net:conv{ input = x, out = cout, k = k, bias = false }
  net:bn()
  return net:relu()
end

local function residual(net, x, cin, cout, k)
  net:conv{ input = x, out = cout, k = k, bias = false }
  net:bn(); net:relu()
  net:conv{ out = cout, k = k, bias = false }
  local y = net:bn()
  local s = x
  if cin ~= cout then
    net:conv{ input = x, out = cout, k = 1, padding = 0, bias = false }
    s = net:bn()
  end
  net:add{ y, s }
  return net:relu()
end

local function sep(net, x, _, cout, k)
  net:sep_conv{ input = x, out = cout, k = k }
  net:bn()
  return net:relu()
end

local function mbconv(net, x, cin, cout, k)
  local mid = cin * 3
  net:conv{ input = x, out = mid, k = 1, padding = 0, bias = false }
  net:bn(); net:relu6()
  net:conv{ out = mid, k = k, groups = mid, bias = false }
  net:bn(); net:relu6()
  net:conv{ out = cout, k = 1, padding = 0, bias = false }
  local y = net:bn()
  if cin == cout then y = net:add{ y, x } end
  return y
end

local blocks = { plain = plain, residual = residual, sep = sep, mbconv = mbconv }

local function build(c, o)
  if type(o.input) ~= "table" or #o.input ~= 3 then
    error("spaces/mixed: option 'input' must be an image shape {C, H, W}", 0)
  end
  local net = nas.net{ input = o.input }
  local x = plain(net, net:input(), o.input[1], o.stem, 3)
  local channels = o.stem
  for s = 1, c:int("stages", o.min_stages, o.max_stages) do
    local size = math.min(net:shape(x)[2], net:shape(x)[3])
    if s > 1 and size >= o.min_size then
      x = net:maxpool{ input = x, k = 2 }
      size = size // 2
    end
    local depth = c:int("depth" .. s, 1, o.max_depth)
    local width = c:choice("width" .. s, o.widths)
    local cell = c:choice("cell" .. s, o.cells)
    local fit = {}
    for _, k in ipairs(o.kernels) do
      if k <= size then fit[#fit + 1] = k end
    end
    if #fit == 0 then fit[1] = 1 end
    local k = c:choice("kernel" .. s, fit)
    local block = blocks[cell]
    if not block then error(("spaces/mixed: unknown cell '%s'"):format(tostring(cell)), 0) end
    for _ = 1, depth do
      x = block(net, x, channels, width, k)
      channels = width
    end
  end
  net:gap{ input = x }
  net:linear{ out = o.classes }
  return net
end

return nas.space("mixed", build, defaults)
