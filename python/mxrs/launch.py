"""Start a distributed training job: ``python -m mxrs.launch -n WORKERS [-s SERVERS] COMMAND...``.

MXNet's ``tools/launch.py`` interface over MPI: the command is started ``WORKERS + SERVERS``
times by ``mpirun`` (Open MPI or MPICH), with ``DMLC_NUM_WORKER`` / ``DMLC_NUM_SERVER`` set, so
ranks ``0..WORKERS`` are workers and the others servers (``import mxrs`` runs the server loop
there). ``-s 0`` starts workers only, each hosting one server shard. ``--launcher local`` (the
default without ``-H``) runs every process on this machine; ``--launcher mpi -H hostfile``
spreads them over the hosts of an MPI hostfile. The caller's environment is passed to every
process; the exit status is non-zero when any process failed.

A plain ``mpirun -np N python train.py`` works too (N workers, each hosting a server shard),
and so does Slurm: ``srun -n N python train.py`` with an MPI built with Slurm (PMI/PMIx)
support, optionally with ``DMLC_NUM_WORKER`` / ``DMLC_NUM_SERVER`` exported.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

__all__ = ["build_command", "main"]

# Variables never forwarded to remote processes: the MPI runtime's own and the shell's.
_NOT_FORWARDED = re.compile(r"^(OMPI_|PMIX_|PMI_|HYDRA_|SLURM_|BASH_FUNC_|_$|PWD$|OLDPWD$|SHLVL$|HOSTNAME$)")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m mxrs.launch",
        description="Launch a distributed mxrs job (workers and kvstore servers) with mpirun.",
    )
    p.add_argument("-n", "--num-workers", required=True, type=int, help="number of worker processes")
    p.add_argument(
        "-s",
        "--num-servers",
        type=int,
        default=None,
        help="number of server processes (default: as many as workers, as MXNet; 0: servers live in the workers)",
    )
    p.add_argument("--launcher", choices=["local", "mpi"], default=None, help="local (default without -H) or mpi")
    p.add_argument("-H", "--hostfile", default=None, help="MPI hostfile listing the machines (--launcher mpi)")
    p.add_argument(
        "--env", action="append", default=[], metavar="VAR[=VALUE]", help="extra environment variable to pass"
    )
    p.add_argument("--mpirun", default=None, help="the mpirun program (default: mpirun on PATH)")
    p.add_argument("--dry-run", action="store_true", help="print the mpirun command instead of running it")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the program to run, e.g. python train.py")
    return p


def _flavour(mpirun):
    try:
        out = subprocess.run([mpirun, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SystemExit(f"mxrs.launch: cannot run {mpirun} --version: {e}") from e
    text = (out.stdout + out.stderr).lower()
    if "open mpi" in text or "openrte" in text:
        return "openmpi"
    return "hydra"


def build_command(args, env, flavour):
    """The mpirun command line for parsed ``args`` (and the environment it needs)."""
    w, s = args.num_workers, args.num_servers
    n = w + s
    names = sorted({"DMLC_NUM_WORKER", *(["DMLC_NUM_SERVER"] if s else []), *args.env_names})
    if args.launcher == "mpi":
        names = sorted(set(names) | {k for k in env if _NAME.match(k) and not _NOT_FORWARDED.match(k)})
    if flavour == "openmpi":
        cmd = [args.mpirun, "-np", str(n)]
        if args.launcher == "local":
            cmd += ["--oversubscribe", "--host", f"localhost:{n}"]
        if args.hostfile:
            cmd += ["--hostfile", args.hostfile]
        for k in names:
            cmd += ["-x", k]
    else:
        cmd = [args.mpirun, "-n", str(n)]
        if args.hostfile:
            cmd += ["-f", args.hostfile]
        for k in names:
            cmd += ["-genv", k, env.get(k, "")]
    return cmd + args.command


def _prepare(argv):
    p = _parser()
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        p.error("no command given (e.g. python train.py)")
    if args.num_workers < 1:
        p.error(f"-n must be at least 1, got {args.num_workers}")
    if args.num_servers is None:
        args.num_servers = args.num_workers
    if args.num_servers < 0:
        p.error(f"-s must be 0 or more, got {args.num_servers}")
    if args.launcher is None:
        args.launcher = "mpi" if args.hostfile else "local"
    if args.launcher == "local" and args.hostfile:
        p.error("-H/--hostfile needs --launcher mpi")
    if args.hostfile and not os.path.isfile(args.hostfile):
        p.error(f"hostfile {args.hostfile!r} does not exist")
    mpirun = args.mpirun or shutil.which("mpirun") or shutil.which("mpiexec")
    if not mpirun or not shutil.which(mpirun):
        p.error(
            "mpirun was not found: install MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev; "
            "or MPICH) or pass --mpirun PATH"
        )
    args.mpirun = mpirun
    env = dict(os.environ)
    env["DMLC_NUM_WORKER"] = str(args.num_workers)
    if args.num_servers:
        env["DMLC_NUM_SERVER"] = str(args.num_servers)
    else:
        env.pop("DMLC_NUM_SERVER", None)
    env.pop("DMLC_ROLE", None)
    args.env_names = []
    for e in args.env:
        k, eq, v = e.partition("=")
        if not _NAME.match(k):
            p.error(f"--env {e!r}: not a variable name")
        if eq:
            env[k] = v
        args.env_names.append(k)
    if os.geteuid() == 0:
        # Open MPI refuses to run as root unless told to (containers, CI).
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return args, env


def main(argv=None):
    """Run the launcher; returns the exit status (non-zero when any process failed)."""
    args, env = _prepare(sys.argv[1:] if argv is None else argv)
    cmd = build_command(args, env, _flavour(args.mpirun))
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    try:
        rc = subprocess.run(cmd, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130
    if rc < 0:
        rc = 128 - rc
    if rc:
        print(f"mxrs.launch: the job failed (mpirun exit status {rc})", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
