"""Compile every CUDA kernel file of the CUDA backend with NVRTC, as the runtime does (``make cuda-check``).

The CUDA backend compiles ``crates/ndarray-core/src/backend/cuda/kernels/*.cu`` at run time with
NVRTC, each file after the shared header ``common.cuh`` (options ``--gpu-architecture=compute_XY
--std=c++17``; this tool asks for ``sm_XY``, which also assembles), so a kernel that does not
compile would only fail on a machine with a GPU. This tool compiles each file for every
architecture in ``ARCHES`` with the same options, without a GPU or a CUDA toolkit: NVRTC comes
from PyPI's ``nvidia-cuda-nvrtc`` (opened with ctypes) and ``ptxas`` from ``nvidia-cuda-nvcc``.

For each file and architecture it prints the number of kernels (``.entry`` directives of the
PTX) or NVRTC's log. It also checks the backend's contract: a kernel file has no ``#include``
and every kernel is ``extern "C"`` (the runtime looks kernels up by their plain name). Then
``ptxas -v`` assembles the PTX for ``PTXAS_ARCH`` and a register/spill table is printed; kernels
that spill are flagged (a warning, not a failure). The last line is
``cuda-check: N kernels compiled, M failed`` where N sums the kernels over the architectures and
M counts the failed compilations (NVRTC per file and architecture, ptxas per file). Exit status 1
when M > 0.

    python tools/cuda_check.py [--arch sm_80 --arch sm_90] [--kernels DIR] [FILE.cu ...]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL_DIR = ROOT / "crates" / "ndarray-core" / "src" / "backend" / "cuda" / "kernels"
ARCHES = ("sm_80", "sm_90")
PTXAS_ARCH = "sm_90"
NVRTC_PACKAGE = "nvidia-cuda-nvrtc"
NVCC_PACKAGE = "nvidia-cuda-nvcc"
# The options the runtime passes to nvrtcCompileProgram, after --gpu-architecture.
RUNTIME_OPTIONS = ("--std=c++17",)

_ENTRY = re.compile(r"^\s*(?:\.visible\s+|\.weak\s+)?\.entry\s+([A-Za-z_$][\w$]*)", re.MULTILINE)
_INCLUDE = re.compile(r"^\s*#\s*include\b", re.MULTILINE)


class ToolMissing(RuntimeError):
    """A pip package (or a file in it) that the check needs is not installed."""


# Kernels listed in the register report besides the spilling ones.
TOP_KERNELS = 12


def package_file(package: str, name: str) -> Path:
    """The installed file ``name`` (a file name, e.g. ``libnvrtc.so.13``) of pip package ``package``."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ToolMissing(f"pip package {package} is not installed (make cuda-check installs it)") from None
    for entry in dist.files or ():
        if entry.name == name:
            return Path(str(dist.locate_file(entry))).resolve()
    raise ToolMissing(f"pip package {package} {dist.version} has no file {name}")


def nvrtc_available() -> bool:
    """Whether the NVRTC package is installed (the unit test skips otherwise)."""
    try:
        package_file(NVRTC_PACKAGE, "libnvrtc.so.13")
    except ToolMissing:
        return False
    return True


class Nvrtc:
    """NVRTC opened with ctypes from the ``nvidia-cuda-nvrtc`` pip package."""

    def __init__(self) -> None:
        lib = package_file(NVRTC_PACKAGE, "libnvrtc.so.13")
        # libnvrtc dlopens its builtins library by soname at compile time; it is not on the loader
        # path, so load it first (RTLD_GLOBAL) and the soname resolves to the loaded copy.
        for builtins in sorted(lib.parent.glob("libnvrtc-builtins.so.*")):
            if ".alt." not in builtins.name:
                ctypes.CDLL(str(builtins), mode=ctypes.RTLD_GLOBAL)
        self._lib = ctypes.CDLL(str(lib))
        self._lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self._lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = f"{major.value}.{minor.value}"

    def _error(self, code: int) -> str:
        text = self._lib.nvrtcGetErrorString(code)
        return text.decode() if text else f"NVRTC error {code}"

    def _check(self, code: int, call: str) -> None:
        if code != 0:
            raise RuntimeError(f"{call}: {self._error(code)}")

    def _read(self, prog: ctypes.c_void_p, what: str) -> bytes:
        size = ctypes.c_size_t()
        self._check(getattr(self._lib, f"nvrtcGet{what}Size")(prog, ctypes.byref(size)), f"nvrtcGet{what}Size")
        buf = ctypes.create_string_buffer(size.value)
        if size.value:
            self._check(getattr(self._lib, f"nvrtcGet{what}")(prog, buf), f"nvrtcGet{what}")
        return buf.raw[: size.value]

    def compile(self, source: str, name: str, arch: str) -> tuple[bool, str, str, bytes]:
        """Compile ``source`` for ``arch`` (``sm_XY``): (ok, log, PTX, CUBIN)."""
        prog = ctypes.c_void_p()
        self._check(
            self._lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None),
            "nvrtcCreateProgram",
        )
        try:
            opts = [f"--gpu-architecture={arch}".encode(), *(o.encode() for o in RUNTIME_OPTIONS)]
            code = self._lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
            log = self._read(prog, "ProgramLog").rstrip(b"\0").decode(errors="replace").strip()
            if code != 0:
                return False, log or self._error(code), "", b""
            ptx = self._read(prog, "PTX").rstrip(b"\0").decode()
            cubin = self._read(prog, "CUBIN") if arch.startswith("sm_") else b""
            return True, log, ptx, cubin
        finally:
            self._lib.nvrtcDestroyProgram(ctypes.byref(prog))


_NVRTC: Nvrtc | None = None


def nvrtc() -> Nvrtc:
    """The process-wide NVRTC handle (opened once)."""
    global _NVRTC
    if _NVRTC is None:
        _NVRTC = Nvrtc()
    return _NVRTC


def entries(ptx: str) -> list[str]:
    """The kernel names (``.entry`` directives) of a PTX module, in order."""
    return _ENTRY.findall(ptx)


def contract_problems(source: str, kernels: list[str]) -> list[str]:
    """Breaches of the kernel-file contract: an ``#include``, or a kernel that is not ``extern "C"``."""
    problems = []
    if _INCLUDE.search(source):
        problems.append("has an #include: kernel files must be self-contained")
    problems += [
        f'kernel {k} is not extern "C" (the runtime looks kernels up by name)' for k in kernels if k[:2] == "_Z"
    ]
    return problems


def compile_source(source: str, arch: str = "sm_90", name: str = "kernel.cu") -> tuple[bool, str, str]:
    """Compile one kernel source as the runtime does: (ok, log, ptx).

    ``ok`` is false when NVRTC rejects the source (``log`` is NVRTC's log) or when the source breaks
    the kernel-file contract (the problems are appended to ``log``).
    """
    ok, log, ptx, _ = nvrtc().compile(source, name, arch)
    if ok:
        problems = contract_problems(source, entries(ptx))
        if problems:
            ok = False
            log = "\n".join([log, *(f"{name}: error: {p}" for p in problems)]).strip()
    return ok, log, ptx


def find_ptxas() -> Path:
    """The ``ptxas`` of the ``nvidia-cuda-nvcc`` pip package."""
    path = package_file(NVCC_PACKAGE, "ptxas")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


@dataclass
class Usage:
    """One kernel's resources as ``ptxas -v`` reports them."""

    kernel: str
    registers: int = 0
    stack: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    shared: int = 0

    @property
    def spills(self) -> bool:
        return self.spill_stores > 0 or self.spill_loads > 0


_PTXAS_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
_PTXAS_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_PTXAS_USED = re.compile(r"Used (\d+) registers")
_PTXAS_SMEM = re.compile(r"(\d+) bytes smem")


def parse_ptxas(output: str) -> list[Usage]:
    """The per-kernel usage in ``ptxas -v`` output (functions that are not kernels are skipped)."""
    usages: list[Usage] = []
    current: Usage | None = None
    for line in output.splitlines():
        if m := _PTXAS_ENTRY.search(line):
            current = Usage(m.group(1))
            usages.append(current)
        elif current is None:
            continue
        elif "Function properties for" in line and current.kernel not in line:
            current = None  # a non-inlined device function: not a kernel row
        elif m := _PTXAS_FRAME.search(line):
            current.stack, current.spill_stores, current.spill_loads = map(int, m.groups())
        elif m := _PTXAS_USED.search(line):
            current.registers = int(m.group(1))
            if s := _PTXAS_SMEM.search(line):
                current.shared = int(s.group(1))
    return usages


def ptxas_usage(ptx: str, arch: str = PTXAS_ARCH) -> tuple[bool, str, list[Usage]]:
    """Assemble ``ptx`` with ``ptxas -v --gpu-name arch``: (ok, output, per-kernel usage)."""
    with tempfile.TemporaryDirectory(prefix="cuda-check-") as tmp:
        src = Path(tmp) / "kernels.ptx"
        src.write_text(ptx)
        cmd = [str(find_ptxas()), "-v", "--gpu-name", arch, str(src), "-o", str(Path(tmp) / "kernels.cubin")]
        run = subprocess.run(cmd, capture_output=True, text=True)
    output = (run.stdout + run.stderr).strip()
    return run.returncode == 0, output, parse_ptxas(output)


@dataclass
class FileResult:
    """The check of one kernel file: per architecture, the kernels or the log of the failure."""

    path: Path
    kernels: dict[str, list[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    ptx: dict[str, str] = field(default_factory=dict)


def full_text(path: Path) -> str:
    """The text the runtime compiles for a kernel file: the shared header ``common.cuh`` of its
    folder (when there is one), then the file, numbered from its own line 1 (as
    ``backend/cuda/nvrtc.rs`` builds it)."""
    header = path.parent / "common.cuh"
    body = path.read_text()
    if not header.exists():
        return body
    return f'{header.read_text()}\n#line 1 "{path.name}"\n{body}'


def check_file(path: Path, arches: tuple[str, ...]) -> FileResult:
    """Compile one kernel file for each architecture."""
    result = FileResult(path)
    source = full_text(path)
    for arch in arches:
        ok, log, ptx = compile_source(source, arch, path.name)
        if ok:
            result.kernels[arch] = entries(ptx)
            result.ptx[arch] = ptx
            if log:
                result.warnings[arch] = log
        else:
            result.failures[arch] = log
    return result


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


def _report_usage(results: list[FileResult], arch: str) -> int:
    """Print the register/spill table for ``arch``; the number of ptxas failures."""
    rows: list[tuple[str, Usage]] = []
    failed = 0
    for res in results:
        if arch not in res.ptx:
            continue
        ok, output, usages = ptxas_usage(res.ptx[arch], arch)
        if not ok:
            failed += 1
            print(f"  {res.path.name}: ptxas failed\n{_indent(output)}")
        rows += [(res.path.name, u) for u in usages]
    if not rows:
        return failed
    # Every kernel that spills, then the heaviest by registers (VERBOSE=1 in the environment
    # lists them all).
    shown = sorted(rows, key=lambda r: (not r[1].spills, -r[1].registers))
    if not os.environ.get("VERBOSE"):
        shown = [r for r in shown if r[1].spills] + [r for r in shown if not r[1].spills][:TOP_KERNELS]
    width = max(len(f"{f}:{u.kernel}") for f, u in shown)
    print(f"  {'kernel':<{width}}  regs  stack  spill st  spill ld  smem")
    for fname, u in shown:
        flag = "  <- SPILLS" if u.spills else ""
        name = f"{fname}:{u.kernel}"
        print(
            f"  {name:<{width}}  {u.registers:>4}  {u.stack:>5}  {u.spill_stores:>8}  {u.spill_loads:>8}  "
            f"{u.shared:>4}{flag}"
        )
    if len(shown) < len(rows):
        print(f"  ... {len(rows) - len(shown)} more kernels, none spilling (VERBOSE=1 lists them)")
    spilling = [u.kernel for _, u in rows if u.spills]
    print(f"  {len(spilling)} of {len(rows)} kernels spill" + (f": {', '.join(spilling)}" if spilling else ""))
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="kernel files (default: every *.cu under --kernels)")
    parser.add_argument("--kernels", type=Path, default=KERNEL_DIR, help="kernel directory")
    parser.add_argument("--arch", action="append", help=f"sm_XY to compile for (default: {' '.join(ARCHES)})")
    parser.add_argument("--ptxas-arch", default=PTXAS_ARCH, help="sm_XY of the register/spill report")
    parser.add_argument("--no-ptxas", action="store_true", help="skip the register/spill report")
    args = parser.parse_args(argv)
    arches = tuple(args.arch or ARCHES)
    files = sorted(args.files or args.kernels.rglob("*.cu"))
    start = time.monotonic()
    try:
        version = nvrtc().version
    except ToolMissing as err:
        print(f"cuda-check: {err}")
        print("cuda-check: 0 kernels compiled, 1 failed")
        return 1
    where = args.kernels.relative_to(ROOT) if args.kernels.is_relative_to(ROOT) else args.kernels
    print(f"cuda-check: NVRTC {version}, {len(files)} kernel file(s) under {where}, for {', '.join(arches)}")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda p: check_file(p, arches), files))
    compiled = failed = 0
    for res in results:
        counts = "  ".join(
            f"{arch}: " + (_plural(len(res.kernels[arch]), "kernel") if arch in res.kernels else "FAILED")
            for arch in arches
        )
        print(f"  {res.path.name:<28} {counts}")
        for arch, log in res.failures.items():
            print(f"    NVRTC log ({arch}):\n{_indent(log)}")
        for arch, log in res.warnings.items():
            print(f"    NVRTC warnings ({arch}):\n{_indent(log)}")
        compiled += sum(len(k) for k in res.kernels.values())
        failed += len(res.failures)
    if not args.no_ptxas and any(args.ptxas_arch in r.ptx for r in results):
        print(f"register/spill report (ptxas -v --gpu-name {args.ptxas_arch}; bytes for stack, spills and smem):")
        try:
            failed += _report_usage(results, args.ptxas_arch)
        except ToolMissing as err:
            print(f"  skipped: {err}")
            failed += 1
    print(
        f"cuda-check: N counts kernels (.entry) summed over {len(arches)} architectures, "
        f"M counts failed compilations (NVRTC per file and architecture, ptxas per file); "
        f"{time.monotonic() - start:.1f} s"
    )
    print(f"cuda-check: {compiled} kernels compiled, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
