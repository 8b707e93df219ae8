-- wrk script: replays pre-signed requests from a file, each thread its own share (no duplicates).
-- File lines: "<path>\t<signature header>\t<body>".
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  requests_list = {}
  local n = tonumber(args[2])
  local lineno = 0
  for line in io.lines(args[1]) do
    if lineno % n == id then
      local path, sig, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
      requests_list[#requests_list + 1] = wrk.format("POST", path,
        {["Content-Type"] = "application/json", ["Calendly-Webhook-Signature"] = sig}, body)
    end
    lineno = lineno + 1
  end
  index = 0
end

function request()
  index = index + 1
  if index > #requests_list then index = 1 end
  return requests_list[index]
end
