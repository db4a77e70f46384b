"""Browser tests of the console (Playwright + Chromium)."""
