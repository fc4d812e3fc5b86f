"""Every flag a program parses is documented in its --help: the flags are
read from the source that parses them (each "--name" string literal there)
and looked for in what `--help` prints, so a flag added without a word in
the help fails here. The package installs no man pages; --help is the
reference (issue 8 allows either).

    help_test.py SOURCE_DIR ANALYZER COLLECTOR CLI
"""
import os
import re
import subprocess
import sys

SOURCE, ANALYZER, COLLECTOR, CLI = sys.argv[1:5]
FLAG = re.compile(r'"(--[a-z][a-z0-9-]*[a-z0-9])(?![a-z0-9*-])')


def flags_in(path):
    with open(os.path.join(SOURCE, path), encoding="utf-8") as f:
        return sorted(set(FLAG.findall(f.read())) - {"--help"})


def help_of(argv):
    r = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SystemExit(f"help_test: {' '.join(argv)} --help exited {r.returncode}: {r.stderr}")
    return r.stdout + r.stderr


def main():
    programs = [([ANALYZER], "analyzer/app/main.cpp"), ([COLLECTOR], "collector/app/main.cpp"),
                ([CLI, "config", "check"], "cli/config_check.cpp")]
    listing = help_of([CLI])
    # Every subcommand that `cmkwatch --help` lists and that has a source
    # file of its own name.
    for name in re.findall(r"^  ([a-z][a-z-]*) ", listing, re.M):
        path = "cli/" + name.replace("-", "_") + ".cpp"
        if os.path.exists(os.path.join(SOURCE, path)):
            programs.append(([CLI, name], path))
    if len(programs) < 10:
        raise SystemExit(f"help_test: found only {len(programs)} programs to check in:\n{listing}")
    missing = []
    checked = 0
    for argv, path in programs:
        text = help_of(argv)
        for flag in flags_in(path):
            checked += 1
            if not re.search(re.escape(flag) + r"(?![a-z0-9-])", text):
                missing.append(f"{' '.join(os.path.basename(a) for a in argv)}: {flag} (parsed in {path})")
    if missing:
        print("help_test: flags without a word in --help:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    print(f"help_test: {checked} flags of {len(programs)} programs, each in its --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
