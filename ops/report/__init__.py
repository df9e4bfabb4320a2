"""Writing the joint office's report: charts (matplotlib), HTML, PDF (headless Chromium), CSV."""
