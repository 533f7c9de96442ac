;;; emacs_code_action.el --- emacs --batch + eglot as an LSP client of llmstep-lsp  -*- lexical-binding: t -*-
;; Open a Lean file, start the server with eglot, run `eglot-code-actions' at a proof position as a
;; user would (the "Pick an action" prompt answered with its default, the preferred action), and
;; print the line. Eglot is built in from Emacs 29; on 28 it comes from Debian's elpa-eglot.
;; Run by tests/editors/test_emacs.py:  emacs --batch -Q -l emacs_code_action.el FILE
;; Parameters (environment): LLMSTEP_EMACS_CONFIG (a file holding the README's eglot snippet, which
;; runs `llmstep-lsp' from PATH), LLMSTEP_LINE (1-based), LLMSTEP_COLUMN (0-based, in characters).
;; Output: "key: value" lines on stdout.

(require 'cl-lib)
(require 'package)
(unless (require 'eglot nil t)          ; -Q skips package activation, which Debian's elpa-eglot needs
  (add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
  (package-initialize)
  (require 'eglot))

(defun out (fmt &rest args) (princ (concat (apply #'format fmt args) "\n")))   ; stdout in --batch

(define-derived-mode lean4-mode prog-mode "Lean4")   ; stand-in for lean4-mode; eglot's languageId: "lean4"
(add-to-list 'auto-mode-alist '("\\.lean\\'" . lean4-mode))

(load (getenv "LLMSTEP_EMACS_CONFIG") nil t)   ; the README's eglot snippet, verbatim
(setq eglot-sync-connect 60 eglot-connect-timeout 120 jsonrpc-default-request-timeout 120)

(condition-case err
    (let ((file (car command-line-args-left)))
      (setq command-line-args-left nil)
      (find-file file)
      (out "version: %s" emacs-version)
      (apply #'eglot (eglot--guess-contact))   ; eglot-ensure waits for a command loop that --batch never runs
      (let ((server (eglot-current-server)))
        (out "languageId: %s" (eglot--language-id server))
        (out "inlineCompletionProvider: %s"     ; eglot reads {} as nil: test the key's presence
             (if (plist-member (eglot--capabilities server) :inlineCompletionProvider) "true" "false"))
        (goto-char (point-min))
        (forward-line (1- (string-to-number (getenv "LLMSTEP_LINE"))))
        (forward-char (string-to-number (getenv "LLMSTEP_COLUMN")))
        (let ((last-nonmenu-event ?\r))          ; a keyboard invocation: eglot prompts instead of a popup
          (cl-letf (((symbol-function 'completing-read)
                     (lambda (prompt collection &rest args)
                       (dolist (item collection) (out "code action: %s" (car item)))
                       (out "prompt: %s" prompt)
                       (or (nth 4 args) (car (car collection))))))   ; RET: the default
            (call-interactively #'eglot-code-actions)))
        (out "line after: %s" (json-encode (buffer-substring-no-properties
                                            (line-beginning-position) (line-end-position))))
        (eglot-shutdown server)
        (out "stopped: %s" (if (jsonrpc-running-p server) "false" "true"))
        (kill-emacs 0)))
  (error (out "FAIL: %S" err) (kill-emacs 2)))
