#!/usr/bin/env python3
"""Install a plugin from a krew manifest the way `kubectl krew install --manifest=…` does, into a
given KREW_ROOT, with the archive taken from a local directory instead of downloaded (the release
rehearsal has not uploaded it). Steps, as krew (pkg/installation): pick the platform whose
selector matches this os/arch, verify the archive's sha256 against the manifest, extract it into a
temporary directory, copy each `files` entry (glob `from` -> directory `to`) into
store/<name>/<version>/, check `bin` is there and make it executable, and link
bin/kubectl-<name with '-' replaced by '_'> to it. Prints the link's path.

Usage: krew-install.py MANIFEST --archives DIR --root KREW_ROOT
"""

import argparse
import glob
import hashlib
import os
import pathlib
import platform
import shutil
import sys
import tarfile
import tempfile
import zipfile

import yaml  # PyYAML


def fail(message: str) -> None:
    sys.exit(f"krew-install: {message}")


def this_platform() -> dict:
    os_name = {"Linux": "linux", "Darwin": "darwin", "Windows": "windows"}.get(platform.system(), "")
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "")
    return {"os": os_name, "arch": arch}


def matches(selector: dict, labels: dict) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(archive: pathlib.Path, into: pathlib.Path) -> None:
    # krew refuses entries that escape the target directory; so do we.
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for n in z.namelist():
                if n.startswith("/") or ".." in pathlib.PurePosixPath(n).parts:
                    fail(f"{archive.name}: unsafe path {n}")
            z.extractall(into)
            for info in z.infolist():  # zipfile drops the executable bits
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(into / info.filename, mode & 0o777)
    elif archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as t:
            for m in t.getmembers():
                if m.name.startswith("/") or ".." in pathlib.PurePosixPath(m.name).parts or m.issym() or m.islnk():
                    fail(f"{archive.name}: unsafe entry {m.name}")
            t.extractall(into)
    else:
        fail(f"{archive.name}: unsupported archive type")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=pathlib.Path)
    parser.add_argument("--archives", required=True, type=pathlib.Path)
    parser.add_argument("--root", required=True, type=pathlib.Path)
    args = parser.parse_args()

    plugin = yaml.safe_load(args.manifest.read_text())
    name = plugin["metadata"]["name"]
    version = plugin["spec"]["version"]
    labels = this_platform()
    chosen = [p for p in plugin["spec"].get("platforms") or [] if matches(p.get("selector"), labels)]
    if not chosen:
        fail(f"{name} has no platform for {labels['os']}/{labels['arch']}")
    p = chosen[0]  # krew takes the first match

    archive = args.archives / p["uri"].rsplit("/", 1)[-1]
    if not archive.is_file():
        fail(f"{archive} not found (the manifest's uri names it)")
    got = sha256(archive)
    if got != p["sha256"]:
        fail(f"checksum does not match: manifest {p['sha256']}, {archive.name} {got}")

    store = args.root / "store" / name / version
    bin_dir = args.root / "bin"
    with tempfile.TemporaryDirectory() as tmp:
        unpacked = pathlib.Path(tmp)
        extract(archive, unpacked)
        if store.exists():
            shutil.rmtree(store)
        store.mkdir(parents=True)
        # No `files`: krew copies everything.
        for entry in p.get("files") or [{"from": "*", "to": "."}]:
            sources = glob.glob(str(unpacked / entry["from"]))
            if not sources:
                fail(f"files: {entry['from']!r} matches nothing in {archive.name}")
            target = store / entry.get("to", ".")
            target.mkdir(parents=True, exist_ok=True)
            for src in sources:
                dest = target / pathlib.Path(src).name
                (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, dest)
    binary = store / p["bin"]
    if not binary.is_file():
        fail(f"bin {p['bin']} is not in the installed files")
    binary.chmod(binary.stat().st_mode | 0o111)
    bin_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".exe" if labels["os"] == "windows" else ""
    link = bin_dir / ("kubectl-" + name.replace("-", "_") + suffix)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    print(link)


if __name__ == "__main__":
    main()
