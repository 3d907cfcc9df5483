#!/usr/bin/env bash
# Make sure the programs the pipeline runs besides Python are present: latexmk and pdflatex (with
# booktabs) for the PDF report, Java for pycocoevalcap (its PTB tokenizer and METEOR).
# As root, installs Debian's packages; otherwise says exactly what is missing.
set -euo pipefail
missing=""
if ! { command -v latexmk && command -v pdflatex && kpsewhich booktabs.sty; } >/dev/null 2>&1; then
  missing="latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended"
fi
if ! command -v java >/dev/null; then
  missing="${missing:+$missing }default-jre-headless"
fi
[ -n "$missing" ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing what the report (LaTeX) and the caption scorers (Java) need: $missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "error: install the Debian packages: $missing" >&2
  echo "       (LaTeX: latexmk, pdflatex and booktabs make the PDF report; Java runs pycocoevalcap's" >&2
  echo "       tokenizer and METEOR), then rerun." >&2
  exit 1
fi
