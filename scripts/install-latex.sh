#!/usr/bin/env bash
# Make sure latexmk and pdflatex (with booktabs) are present for the PDF report.
# As root, installs Debian's packages; otherwise says exactly what is missing.
set -euo pipefail
PACKAGES="latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended"
if command -v latexmk >/dev/null && command -v pdflatex >/dev/null && kpsewhich booktabs.sty >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing LaTeX for the PDF report: $PACKAGES"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
else
  echo "error: the PDF report needs LaTeX. Install the Debian packages: $PACKAGES" >&2
  echo "       (or their equivalents: latexmk, pdflatex, booktabs), then rerun." >&2
  exit 1
fi
