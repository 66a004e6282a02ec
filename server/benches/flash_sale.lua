-- wrk script for the flash-sale benchmark: every request is a new pickup order (a fresh UUIDv7
-- client id) for one unit of the hot SKU at SH001. Set SKU in the environment; with CODES (a
-- file of member codes, one per line) each request carries the next member's code, so the
-- orders are members-only flash-sale orders (used by `flash_sale --wrk`).
local sku = os.getenv("SKU")
local codes_file = os.getenv("CODES")
local codes = {}
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  if codes_file then
    for line in io.lines(codes_file) do
      if #line > 0 then codes[#codes + 1] = line end
    end
  end
  -- Threads start at different members.
  counter = tid * 7919
end

function request()
  counter = counter + 1
  local ms = os.time() * 1000
  local t = string.format("%012x", ms)
  local id = string.format("%s-%s-7%03x-%04x-%012x", t:sub(1, 8), t:sub(9, 12),
    math.random(0, 4095), 0x8000 + (tid % 0x4000), counter)
  local member = ""
  if #codes > 0 then
    member = ',"member_code":"' .. codes[(counter % #codes) + 1] .. '"'
  end
  local body = '{"id":"' .. id .. '","fulfilment":"pickup","store":"SH001"' .. member ..
    ',"lines":[{"sku_id":"' .. sku .. '","qty":1}]}'
  return wrk.format("POST", "/api/v1/orders", { ["Content-Type"] = "application/json" }, body)
end
