#!/usr/bin/env python3
"""Checks of slimctl's SBOM and VEX documents with the real tools: Syft's view of the same image,
spdx-tools' validator, cyclonedx-python-lib's strict JSON validator, OpenVEX's JSON schema.
Each subcommand prints what it found wrong and exits 1, or exits 0."""
import json
import sys
import tarfile

SYFT_KIND = {"deb": "deb", "python": "pypi", "java-archive": "maven", "npm": "npm", "gem": "gem", "apk": "apk"}


def ours(path):
    """(kind, name, version, purl) of every package of a slimctl SPDX or CycloneDX document."""
    doc = json.load(open(path))
    out = set()
    if doc.get("spdxVersion"):
        for p in doc["packages"]:
            if not p["SPDXID"].startswith("SPDXRef-Package-"):
                continue
            purl = next(r["referenceLocator"] for r in p["externalRefs"] if r["referenceType"] == "purl")
            out.add((purl[4:].split("/")[0], p["name"], p["versionInfo"], purl))
    else:
        for c in doc["components"]:
            if c["type"] == "library":
                out.add((c["purl"][4:].split("/")[0], c["name"], c["version"], c["purl"]))
    return out


def syft(path):
    doc = json.load(open(path))
    return {(SYFT_KIND.get(a["type"], a["type"]), a["name"], a["version"], a["purl"]) for a in doc["artifacts"]}


def agree(sbom, syft_json, kinds, with_purls):
    """Same (name, version) -- and purls, if asked -- for each of `kinds`."""
    a, b = ours(sbom), syft(syft_json)
    bad = []
    for k in kinds.split(","):
        key = (lambda x: x) if with_purls else (lambda x: x[:3])
        mine = {key(x) for x in a if x[0] == k}
        theirs = {key(x) for x in b if x[0] == k}
        if not theirs:
            bad.append(f"{k}: Syft found none (the check would prove nothing)")
        if mine != theirs:
            bad.append(f"{k}: only slimctl {sorted(mine - theirs)[:10]}, only Syft {sorted(theirs - mine)[:10]}")
        else:
            print(f"{k}: {len(mine)} packages agree")
    return bad


def archive_paths(archive):
    """Paths of a docker-archive's merged filesystem: kind and link target by path."""
    t = tarfile.open(archive)
    manifest = json.load(t.extractfile("manifest.json"))
    entries = {}
    for layer in manifest[0]["Layers"]:
        for m in tarfile.open(fileobj=t.extractfile(layer)).getmembers():
            name = "/" + m.name.lstrip("./").rstrip("/")
            base = name.rsplit("/", 1)[-1]
            if base.startswith(".wh."):
                gone = name.rsplit("/", 1)[0] + "/" + base[4:]
                for p in [p for p in entries if p == gone or p.startswith(gone + "/")]:
                    del entries[p]
                continue
            entries[name] = (m.linkname if m.issym() else None, m.isdir())
    return entries


def resolve(entries, path, hops=0):
    """The canonical path `path` reaches through the image's symlinks, or None."""
    parts = [p for p in path.split("/") if p]
    cur = ""
    for i, part in enumerate(parts):
        nxt = cur + "/" + part
        if nxt not in entries:
            return None
        link = entries[nxt][0]
        if link is not None:
            if hops > 40:
                return None
            target = link if link.startswith("/") else cur + "/" + link
            rest = "/".join(parts[i + 1:])
            norm = []
            for c in (target + "/" + rest).split("/"):
                if c in ("", "."):
                    continue
                if c == "..":
                    norm and norm.pop()
                else:
                    norm.append(c)
            return resolve(entries, "/" + "/".join(norm), hops + 1)
        cur = nxt
    return cur or "/"


def files_exist(archive, syft_json):
    """Every file Syft attributes to a package is in the image."""
    entries = archive_paths(archive)
    doc = json.load(open(syft_json))
    bad, n = [], 0
    for a in doc["artifacts"]:
        for f in (a.get("metadata") or {}).get("files") or []:
            p = f.get("path")
            if p:
                n += 1
                if resolve(entries, p) is None:
                    bad.append(f"{a['type']} {a['name']}: {p}")
    print(f"{n} files Syft attributes to packages, {len(bad)} missing")
    return bad[:30] if bad else ([] if n else ["Syft attributes no file to any package"])


def distro(syft_json, want_id, want_version):
    d = json.load(open(syft_json)).get("distro") or {}
    got = (d.get("id"), d.get("versionID"))
    return [] if got == (want_id, want_version) else [f"Syft's distro is {got}, not {(want_id, want_version)}"]


def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    doc = parse_file(path)
    msgs = validate_full_spdx_document(doc)
    print(f"SPDX: {len(doc.packages)} packages, {len(doc.files)} files, {len(msgs)} validation messages")
    return [m.validation_message[:300] for m in msgs][:20]


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = open(path).read()
    version = {"1.5": SchemaVersion.V1_5, "1.6": SchemaVersion.V1_6}[json.loads(text)["specVersion"]]
    err = JsonStrictValidator(version).validate_str(text)
    print(f"CycloneDX {version}: {'invalid' if err else 'valid'}")
    return [str(err)[:2000]] if err else []


def openvex(path, schema):
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        json.load(open(schema)), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(json.load(open(path)))]
    print(f"OpenVEX: {len(errors)} schema errors")
    return errors[:20]


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "agree":
        problems = agree(args[0], args[1], args[2], "--purls" in args)
    else:
        problems = {"files-exist": files_exist, "distro": distro, "spdx": spdx, "cyclonedx": cyclonedx, "openvex": openvex}[cmd](*args)
    for p in problems:
        print("FAIL:", p)
    sys.exit(1 if problems else 0)
