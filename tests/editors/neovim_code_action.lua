-- Headless Neovim as an LSP client of llmstep-lsp: open a Lean file, start the server, ask for code
-- actions at a proof position, apply the first one and print the line. Works on Neovim 0.7 (apt)
-- through 0.11+ (uses vim.lsp.start when it exists). Run by tests/editors/test_neovim.py:
--   nvim --headless --clean -c 'luafile neovim_code_action.lua' FILE
-- Parameters (environment): LLMSTEP_SERVER_CMD and LLMSTEP_INIT_OPTIONS (JSON), LLMSTEP_LINE (1-based),
-- LLMSTEP_COLUMN (0-based, UTF-16). Output: "key: value" lines on stdout; exit code 0 on success.

local function out(s) io.stdout:write(s .. '\n') end -- print() goes to the message area in headless
local function finish(code, why)
  if why then out('FAIL: ' .. why) end
  vim.cmd(code == 0 and 'qall!' or ('cquit ' .. code))
end

local ok, err = pcall(function()
  local cmd = vim.fn.json_decode(os.getenv('LLMSTEP_SERVER_CMD'))
  local init_options = vim.fn.json_decode(os.getenv('LLMSTEP_INIT_OPTIONS'))
  local line = tonumber(os.getenv('LLMSTEP_LINE')) - 1
  local column = tonumber(os.getenv('LLMSTEP_COLUMN'))
  local timeout = tonumber(os.getenv('LLMSTEP_TIMEOUT_MS') or '60000')

  -- 0.11+ detects *.lean as `lean`; older versions detect nothing, and lean.nvim users have `lean`.
  if vim.bo.filetype == '' then vim.bo.filetype = 'lean4' end
  out('version: ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor))
  out('languageId: ' .. vim.bo.filetype)

  local config = { name = 'llmstep', cmd = cmd, root_dir = vim.fn.expand('%:p:h'), init_options = init_options }
  local client_id
  if vim.lsp.start then -- 0.8+
    client_id = vim.lsp.start(config)
  else
    client_id = vim.lsp.start_client(config)
    if client_id then vim.lsp.buf_attach_client(0, client_id) end
  end
  if not client_id then return finish(2, 'the server did not start') end
  local initialized = vim.wait(timeout, function()
    local c = vim.lsp.get_client_by_id(client_id)
    return c ~= nil and c.initialized
  end, 20)
  if not initialized then return finish(3, 'not initialized') end
  local client = vim.lsp.get_client_by_id(client_id)
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
