#!/usr/bin/env python3
"""Render the krew manifest template (.krew.yaml, krew-release-bot's format) for one release.

`{{ .TagName }}` becomes the tag, and each `{{ addURIAndSha "URL" .TagName }}` becomes `uri: URL` and
`sha256: <hex>` of the archive named by the URL's last path segment, read from --archives (the
release's files, before they are uploaded). A missing archive is an error, unless --partial is
given (the local rehearsal builds only linux/amd64): then that platform is left out. The result is
checked the way krew checks a manifest before it installs anything (required fields, semver
version, 64-hex sha256 per platform) and written to stdout.

Usage: render-krew-manifest.py --tag v0.1.0 --archives dist [--template .krew.yaml] [--partial]
"""

import argparse
import hashlib
import pathlib
import re
import sys

ADD_URI_AND_SHA = re.compile(r'\{\{\s*addURIAndSha\s+"([^"]+)"\s+\.TagName\s*\}\}')
TAG = re.compile(r"\{\{\s*\.TagName\s*\}\}")
MISSING = "missing-archive"


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def render(template: str, tag: str, archives: pathlib.Path, partial: bool) -> str:
    # The template's leading comments describe the directives (and quote them): not rendered.
    lines = template.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    template = f"# Rendered from .krew.yaml for {tag} by scripts/render-krew-manifest.py.\n" + "".join(lines)
    def uri_and_sha(match: re.Match) -> str:
        # As krew-release-bot: the URL is itself a template of the tag.
        url = TAG.sub(tag, match.group(1))
        archive = archives / url.rsplit("/", 1)[-1]
        # The directive sits at the platform's indentation: sha256 goes on the next line, aligned.
        line_start = template.rfind("\n", 0, match.start()) + 1
        indent = template[line_start : match.start()]
        if archive.is_file():
            digest = sha256(archive)
        elif partial:
            digest = MISSING
        else:
            sys.exit(f"render-krew-manifest: {archive} not found (every platform needs its archive)")
        return f"uri: {url}\n{indent}sha256: \"{digest}\""

    text = ADD_URI_AND_SHA.sub(uri_and_sha, template)
    text = TAG.sub(tag, text)
    if "{{" in text:
        sys.exit("render-krew-manifest: unknown template directive left: " + text[text.index("{{") :][:80])
    return text


def drop_missing(text: str) -> str:
    """Leave out the platforms whose archive was not built (only with --partial). Platforms are the
    template's last list, one item per `  - selector:` line; the text is cut there, not re-dumped."""
    head, sep, rest = text.partition("  platforms:\n")
    items = re.split(r"(?m)^(?=  - selector:)", rest)
    kept = [item for item in items if item and MISSING not in item]
    if not kept:
        sys.exit("render-krew-manifest: no archive found for any platform")
    return head + sep + "".join(kept)


def check(text: str) -> None:
    """What krew validates before installing (pkg/index/validation): fail loudly, never ship it."""
    import yaml

    m = yaml.safe_load(text)
    problems = []
    if m.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2" or m.get("kind") != "Plugin":
        problems.append("apiVersion/kind")
    name = (m.get("metadata") or {}).get("name", "")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name or ""):
        problems.append(f"metadata.name {name!r}")
    spec = m.get("spec") or {}
    if not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", str(spec.get("version", ""))):
        problems.append(f"spec.version {spec.get('version')!r} is not v-prefixed semver")
    if not spec.get("shortDescription"):
        problems.append("spec.shortDescription")
    for p in spec.get("platforms") or []:
        labels = (p.get("selector") or {}).get("matchLabels") or {}
        where = f"{labels.get('os')}/{labels.get('arch')}"
        if not re.fullmatch(r"[0-9a-f]{64}", str(p.get("sha256", ""))) or set(str(p.get("sha256"))) == {"0"}:
            problems.append(f"{where}: sha256 {p.get('sha256')!r}")
        if not str(p.get("uri", "")).startswith("https://"):
            problems.append(f"{where}: uri")
        if not p.get("bin"):
            problems.append(f"{where}: bin")
    if not spec.get("platforms"):
        problems.append("spec.platforms is empty")
    if problems:
        sys.exit("render-krew-manifest: invalid manifest: " + "; ".join(problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="release tag, e.g. v0.1.0")
    parser.add_argument("--archives", required=True, type=pathlib.Path, help="directory holding the archives")
    parser.add_argument("--template", default=".krew.yaml", type=pathlib.Path)
    parser.add_argument("--partial", action="store_true", help="leave out platforms whose archive is missing")
    args = parser.parse_args()
    text = render(args.template.read_text(), args.tag, args.archives, args.partial)
    if args.partial:
        text = drop_missing(text)
    check(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
