# Sourced by .ci/run: make Debian's chromium available for the dashboard's browser test (tests/web/test_browser.py,
# driven by the playwright Python package with executable_path) and export KOHYA_WRAP_CHROMIUM. Installs it with
# apt-get when missing and allowed. Never fails the CI run itself: without chromium that test skips and says why.

_kw_chromium_path() {
  command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true
}

_kw_browser_setup() {
  local path
  path="$(_kw_chromium_path)"
  if [ -z "$path" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser.sh: installing chromium from the OS packages"
    (DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q chromium >/dev/null 2>&1 \
      || { timeout 120 apt-get update -q >/dev/null 2>&1 \
           && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q chromium >/dev/null 2>&1; }) || true
    path="$(_kw_chromium_path)"
  fi
  if [ -n "$path" ]; then
    export KOHYA_WRAP_CHROMIUM="$path"
    echo "browser.sh: $("$path" --version 2>/dev/null | head -n 1) at $path"
  else
    echo "browser.sh: no chromium available; the browser test will skip"
  fi
}

_kw_browser_setup
