-- Headless Neovim as an LSP client of llmstep-lsp, configured by a README snippet (the test writes it
-- as init.lua): wait for the server the snippet attached to the Lean buffer, ask for code actions at
-- a proof position, apply the first one and print the line. Works on Neovim 0.7 (apt) through 0.11+.
-- Run by tests/editors/test_neovim.py:  nvim --headless FILE -c 'luafile neovim_code_action.lua'
-- Parameters (environment): LLMSTEP_LINE (1-based), LLMSTEP_COLUMN (0-based, UTF-16).
-- Output: "key: value" lines on stdout; exit code 0 on success.

local function out(s) io.stdout:write(s .. '\n') end -- print() goes to the message area in headless
local function finish(code, why)
  if why then out('FAIL: ' .. why) end
  vim.cmd(code == 0 and 'qall!' or ('cquit ' .. code))
end

local ok, err = pcall(function()
  local line = tonumber(os.getenv('LLMSTEP_LINE')) - 1
  local column = tonumber(os.getenv('LLMSTEP_COLUMN'))
  local timeout = tonumber(os.getenv('LLMSTEP_TIMEOUT_MS') or '60000')

  out('version: ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor))
  out('languageId: ' .. vim.bo.filetype)

  local function attached() -- the snippet's client on this buffer, once it has initialized
    local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = 0 }) or vim.lsp.buf_get_clients(0)
    for _, c in pairs(clients) do
      if c.initialized then return c end
    end
  end
  local client_id
  if not vim.wait(timeout, function() client_id = (attached() or {}).id; return client_id ~= nil end, 20) then
    return finish(3, 'no initialized client attached to the buffer (filetype ' .. vim.bo.filetype .. ')')
  end
  local client = vim.lsp.get_client_by_id(client_id)
  out('client: ' .. client.name)
  out('inlineCompletionProvider: ' .. tostring(client.server_capabilities.inlineCompletionProvider ~= nil))

  local position = { line = line, character = column }
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    range = { start = position, ['end'] = position },
    context = { diagnostics = {} },
  }
  local responses, request_err = vim.lsp.buf_request_sync(0, 'textDocument/codeAction', params, timeout)
  if not responses then return finish(4, 'codeAction: ' .. tostring(request_err)) end
  local actions = {}
  for _, response in pairs(responses) do
    if response.err or response.error then return finish(4, vim.inspect(response.err or response.error)) end
    for _, action in ipairs(response.result or {}) do
      table.insert(actions, action)
      out('code action: ' .. action.title)
    end
  end
  if #actions == 0 then return finish(5, 'no code actions') end
  vim.lsp.util.apply_workspace_edit(actions[1].edit, client.offset_encoding)
  out('line after: ' .. vim.fn.json_encode(vim.api.nvim_buf_get_lines(0, line, line + 1, false)[1]))

  -- Ghost text is asked for where the tactic starts (LLMSTEP_INLINE_COLUMN), if given.
  local inline_column = tonumber(os.getenv('LLMSTEP_INLINE_COLUMN') or tostring(column))
  local inline = vim.lsp.buf_request_sync(0, 'textDocument/inlineCompletion', {
    textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = line, character = inline_column },
    context = { triggerKind = 1 },
  }, timeout)
  for _, response in pairs(inline or {}) do
    for _, item in ipairs((response.result or {}).items or {}) do out('inline: ' .. vim.fn.json_encode(item.insertText)) end
  end

  vim.lsp.stop_client(client_id)
  vim.wait(10000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 20)
  out('stopped: ' .. tostring(vim.lsp.get_client_by_id(client_id) == nil))
  finish(0)
end)
if not ok then finish(9, tostring(err)) end
