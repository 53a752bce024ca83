"""Set-up is idempotent and path.sh gives a working environment."""
from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO, run_bash


def test_second_setup_run_changes_nothing():
    venv = REPO / ".venv"
    before = {p: p.stat().st_mtime_ns for p in (venv / "bin").iterdir()}
    out = subprocess.run(["bash", str(REPO / "utils/setup_env.sh")], capture_output=True, text=True, check=True)
    assert "environment up to date" in out.stderr
    assert "installing" not in out.stderr
    after = {p: p.stat().st_mtime_ns for p in (venv / "bin").iterdir()}
    assert before == after


def test_path_sh_environment():
    out = run_bash('echo "$LC_ALL"; command -v parse_options.sh; python -c "import vib, sys; print(vib.__file__)"',
                   check=True)
    lc_all, parse_options, vib_file = out.stdout.split()
    assert lc_all == "C"
    assert parse_options == str(REPO / "utils/parse_options.sh")
    assert vib_file == str(REPO / "vib/__init__.py")


def test_path_sh_without_venv_names_the_setup_command(tmp_path):
    (tmp_path / "path.sh").write_text((REPO / "path.sh").read_text())
    out = subprocess.run(["bash", "-c", f". {tmp_path}/path.sh && echo sourced"], capture_output=True, text=True)
    assert out.returncode != 0 and "sourced" not in out.stdout
    assert "utils/setup_env.sh" in out.stderr and out.stderr.count("\n") == 1


# ---------------------------------------------------------------- apt step, with stub dpkg-query / apt-get
STUB_DPKG_QUERY = r"""#!/usr/bin/env bash
# dpkg-query -W -f=FORMAT PKG...: "ii  PKG" for installed ones, "un  PKG" for known-but-removed,
# nothing (and a message on stderr, exit 1) for packages dpkg never heard of.
status=0
for arg in "$@"; do
  case $arg in -*) continue ;; esac
  if grep -qxF "$arg" "$STUB_STATE/installed" 2>/dev/null; then echo "ii  $arg"
  elif grep -qxF "$arg" "$STUB_STATE/known" 2>/dev/null; then echo "un  $arg"
  else echo "dpkg-query: no packages found matching $arg" >&2; status=1; fi
done
exit $status
"""
STUB_APT_GET = r"""#!/usr/bin/env bash
echo "$*" >>"$STUB_STATE/calls"
[ "$1" = update ] && exit 0
shift
for arg in "$@"; do
  case $arg in -*|install) continue ;; esac
  if grep -qxF "$arg" "$STUB_STATE/unavailable" 2>/dev/null; then echo "E: Unable to locate package $arg" >&2; exit 100; fi
  grep -qxF "$arg" "$STUB_STATE/silently_skipped" 2>/dev/null && continue
  echo "$arg" >>"$STUB_STATE/installed"
done
"""


def _apt_packages() -> list[str]:
    out = subprocess.run(["bash", "-c", f'. {REPO}/utils/setup_apt.sh; '
                          'printf "%s\\n" "${apt_packages[@]}" "${apt_nonfree_packages[@]}"'],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def _run_setup_apt(tmp_path, installed=(), known=(), unavailable=(), silently_skipped=()):
    """Runs setup_apt with stub dpkg-query, apt-get and sudo first on PATH; returns
    (process, apt-get calls, installed packages afterwards, sources dir)."""
    bin_dir, state, sources = tmp_path / "bin", tmp_path / "state", tmp_path / "sources.list.d"
    for folder in (bin_dir, state, sources):
        folder.mkdir()
    for name, text in (("dpkg-query", STUB_DPKG_QUERY), ("apt-get", STUB_APT_GET), ("sudo", 'exec "$@"\n')):
        (bin_dir / name).write_text(text if text.startswith("#!") else "#!/usr/bin/env bash\n" + text)
        (bin_dir / name).chmod(0o755)
    for name, values in (("installed", installed), ("known", known), ("unavailable", unavailable),
                         ("silently_skipped", silently_skipped)):
        (state / name).write_text("".join(f"{v}\n" for v in values))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_STATE": str(state),
           "VIB_APT_SOURCES_DIR": str(sources)}
    proc = subprocess.run(["bash", "-c", f'set -euo pipefail; log() {{ echo "setup_env: $*" >&2; }}; '
                           f'. {REPO}/utils/setup_apt.sh; setup_apt'], capture_output=True, text=True, env=env)
    calls = (state / "calls").read_text().splitlines() if (state / "calls").exists() else []
    return proc, calls, (state / "installed").read_text().split(), sources


def _install_calls(calls: list[str]) -> list[list[str]]:
    return [[a for a in c.split() if not a.startswith("-")][1:] for c in calls if c.startswith("install")]


def test_setup_apt_when_dpkg_knows_no_package_installs_them_all(tmp_path):
    wanted = _apt_packages()
    proc, calls, installed, sources = _run_setup_apt(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _install_calls(calls) == [wanted]          # one apt-get install with every package
    assert calls[0] == "update -qq"
    assert sorted(installed) == sorted(wanted)
    assert (sources / "vib-spk-contrib-nonfree.sources").read_text().count("contrib non-free") == 1


def test_setup_apt_when_dpkg_knows_some_installs_only_the_rest(tmp_path):
    wanted = _apt_packages()
    have = ["sox", "ffmpeg", "mbrola-en1"]
    proc, calls, installed, _ = _run_setup_apt(tmp_path, installed=have, known=["flite", "mbrola-de1"])
    assert proc.returncode == 0, proc.stderr
    # known-but-not-installed ("un") packages count as missing, like unknown ones
    assert _install_calls(calls) == [[p for p in wanted if p not in have]]
    assert sorted(installed) == sorted(wanted)


def test_setup_apt_when_everything_is_installed_calls_no_apt(tmp_path):
    proc, calls, _, sources = _run_setup_apt(tmp_path, installed=_apt_packages())
    assert proc.returncode == 0, proc.stderr
    assert calls == [] and not list(sources.iterdir())


def test_setup_apt_failure_names_the_package_and_exits_non_zero(tmp_path):
    proc, _, _, _ = _run_setup_apt(tmp_path, installed=["sox"], unavailable=["mbrola-zz9", "mbrola-us3"])
    assert proc.returncode != 0
    error = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert len(error) == 1 and "mbrola-us3" in error[0] and "exit status 100" in error[0]


def test_setup_apt_package_still_missing_after_a_clean_install_is_an_error(tmp_path):
    proc, _, installed, _ = _run_setup_apt(tmp_path, silently_skipped=["flite"])
    assert proc.returncode != 0
    assert "not installed: flite" in proc.stderr and "flite" not in installed


# ---------------------------------------------------------------- venv + pip step, with stub python3 / pip
STUB_PYTHON3 = r"""#!/usr/bin/env bash
# python3 stub: --version, -c (ensurepip check), -m venv DIR (makes DIR/bin/python, a pip stub)
case "$1" in
  --version) echo "Python 3.11.99" ;;
  -c) exit 0 ;;
  -m) [ "$2" = venv ] || exit 2
      mkdir -p "$3/bin"
      cat >"$3/bin/python" <<'PY'
#!/usr/bin/env bash
echo "$*" >>"$STUB_STATE/pip_calls"
[ -e "$STUB_STATE/pip_fails" ] && { echo "ERROR: No matching distribution found for torch==2.13.0" >&2; exit 1; }
exit 0
PY
      chmod +x "$3/bin/python"; echo "venv $3" >>"$STUB_STATE/pip_calls" ;;
esac
"""


def _fresh_checkout(tmp_path):
    """A copy of what set-up reads, with no .venv, and stubs that make the apt step a no-op."""
    root, bin_dir, state = tmp_path / "repo", tmp_path / "bin", tmp_path / "state"
    for folder in (root / "utils", bin_dir, state):
        folder.mkdir(parents=True)
    for name in ("utils/setup_env.sh", "utils/setup_apt.sh", "utils/lib.sh", "requirements.txt", "pyproject.toml"):
        (root / name).write_text((REPO / name).read_text())
    (state / "installed").write_text("".join(f"{p}\n" for p in _apt_packages()))
    for name, text in (("dpkg-query", STUB_DPKG_QUERY), ("apt-get", STUB_APT_GET), ("python3", STUB_PYTHON3)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_STATE": str(state)}
    return root, state, env


def test_setup_on_a_machine_without_venv_creates_it_and_installs_then_is_a_no_op(tmp_path):
    root, state, env = _fresh_checkout(tmp_path)
    first = subprocess.run(["bash", str(root / "utils/setup_env.sh")], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    calls = (state / "pip_calls").read_text().splitlines()
    assert calls[0] == f"venv {root}/.venv"
    assert any("pip install" in c and "-r requirements.txt" in c for c in calls)
    assert any("pip install" in c and "--no-deps -e ." in c for c in calls)
    assert (root / ".venv" / ".vib-spk-setup").is_file()
    (state / "pip_calls").unlink()
    second = subprocess.run(["bash", str(root / "utils/setup_env.sh")], capture_output=True, text=True, env=env)
    assert second.returncode == 0 and "environment up to date" in second.stderr
    assert not (state / "pip_calls").exists()


def test_setup_stops_naming_requirements_when_pip_fails(tmp_path):
    root, state, env = _fresh_checkout(tmp_path)
    (state / "pip_fails").touch()
    proc = subprocess.run(["bash", str(root / "utils/setup_env.sh")], capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert "ERROR: pip could not install requirements.txt" in proc.stderr
    assert not (root / ".venv" / ".vib-spk-setup").exists()  # no stamp: the next run tries again
