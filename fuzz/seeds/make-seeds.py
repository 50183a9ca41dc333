#!/usr/bin/env python3
"""Seed inputs for the layer_unpack and image_manifest fuzz targets (see fuzz/README.md).

Usage: fuzz/seeds/make-seeds.py OUT_DIR [BUSYBOX_FIXTURE_DIR]

layer_unpack: small layers covering every entry kind the unpacker handles (dirs, files, symlinks,
hardlinks, devices, fifos, whiteouts, opaque dirs, PAX and GNU long names, xattrs) and the escape
attempts it must refuse or contain (`..`, absolute names and links, links through symlinks,
`../canary`), plain, gzip and zstd. image_manifest: indexes, manifests and configs in the OCI and
docker forms, plus the busybox fixture's own documents when its directory is given
(`$TMPDIR/rcompose-fixtures/busybox-*`, built by the test suite).
"""

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile

CANARY = "/tmp/rcompose-fuzz-unpack/canary"
# No padding to 10 KiB records: small seeds keep the fuzzer's inputs small.
tarfile.RECORDSIZE = tarfile.BLOCKSIZE


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            kind, name = e[0], e[1]
            info = tarfile.TarInfo(name)
            info.mtime = 1795305600
            data = None
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "file":
                data = e[2]
                info.size, info.mode = len(data), e[3] if len(e) > 3 else 0o644
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, e[2]
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, e[2]
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, e[2], e[3]
            elif kind == "blk":
                info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, e[2], e[3]
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "xattr":
                data = e[2]
                info.size = len(data)
                info.pax_headers = {"SCHILY.xattr.user.fuzz": "v", "SCHILY.xattr.trusted.overlay.opaque": "y"}
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def layers():
    long = "d/" + "x" * 120 + "/file"
    return {
        "basic": tar([("dir", "etc/"), ("file", "etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                      ("sym", "bin/sh", "busybox"), ("file", "bin/busybox", b"\x7fELF", 0o4755),
                      ("hard", "bin/ls", "bin/busybox")]),
        "devices": tar([("dir", "dev/"), ("chr", "dev/null", 1, 3), ("blk", "dev/sda", 8, 0),
                        ("fifo", "run/fifo")]),
        "whiteouts": tar([("dir", "a/"), ("file", "a/.wh.gone", b""), ("file", "a/.wh..wh..opq", b""),
                          ("file", ".wh..wh.plnk", b"")]),
        "xattrs": tar([("xattr", "f", b"data")]),
        "longnames": tar([("file", long, b"long"), ("sym", "l" * 150, "t" * 150)], tarfile.GNU_FORMAT),
        "ustar": tar([("dir", "./"), ("file", "./a", b"a")], tarfile.USTAR_FORMAT),
        "dotdot": tar([("file", "../canary/file", b"x"), ("file", "a/../../x", b"x")]),
        "absolute": tar([("file", "/etc/shadow", b"x"), ("sym", "abs", CANARY),
                         ("file", "abs/file", b"x"), ("file", "abs/new", b"x")]),
        "relative-escape": tar([("sym", "up", "../canary"), ("file", "up/file", b"x"),
                                ("dir", "up/dir/"), ("sym", "deep", "../../../../.." + CANARY)]),
        "hardlink-escape": tar([("hard", "h", "../canary/file"), ("hard", "h2", CANARY + "/file"),
                                ("sym", "s", CANARY), ("hard", "h3", "s/file")]),
        "replace": tar([("dir", "x/"), ("file", "x", b"now a file"), ("sym", "y", "x"),
                        ("dir", "y/"), ("file", "x", b"again")]),
        "whiteout-escape": tar([("sym", "w", CANARY), ("file", "w/.wh.file", b""),
                                ("file", "w/.wh..wh..opq", b""), ("file", ".wh...", b"")]),
    }


def manifests(fixture):
    digest = "sha256:" + "a" * 64
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 2}
    docs = {
        "oci-index": {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [dict(desc, platform={"architecture": "amd64", "os": "linux"}),
                                    dict(desc, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
                                    dict(desc, annotations={"org.opencontainers.image.ref.name": "docker.io/lab/x:1",
                                                            "io.containerd.image.name": "lab/x@" + digest})]},
        "docker-list": {"schemaVersion": 2,
                        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                        "manifests": [dict(desc, mediaType="application/vnd.docker.distribution.manifest.v2+json",
                                           platform={"architecture": "amd64", "os": "linux", "variant": "v1"})]},
        "oci-manifest": {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 7},
                         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": 1},
                                    {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                     "digest": digest, "size": 1, "urls": ["http://x"]}]},
        "config": {"architecture": "amd64", "os": "linux", "created": "2026-11-22T00:00:00Z",
                   "config": {"User": "1000:1000", "Env": ["PATH=/bin", "A", "B=1=2"], "Entrypoint": ["/ep"],
                              "Cmd": ["sh", "-c", "x"], "WorkingDir": "/w", "StopSignal": "SIGQUIT",
                              "Volumes": {"/data": {}, "/srv/": {}}, "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                              "Labels": {"a": "b"},
                              "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000,
                                              "Timeout": 1, "StartPeriod": 0, "Retries": 3}},
                   "rootfs": {"type": "layers", "diff_ids": [digest]},
                   "history": [{"created_by": "x", "empty_layer": True}]},
        "docker-save": [{"Config": "oci-layout", "RepoTags": ["lab/x:1", "bad ref"],
                         "Layers": ["index.json", "../escape", "/etc/passwd"]}],
    }
    out = {k: json.dumps(v).encode() for k, v in docs.items()}
    if fixture:
        out["busybox-index"] = open(os.path.join(fixture, "oci/index.json"), "rb").read()
        blobs = os.path.join(fixture, "oci/blobs/sha256")
        for name in sorted(os.listdir(blobs)):
            data = open(os.path.join(blobs, name), "rb").read()
            if data[:1] == b"{":
                out["busybox-" + name[:12]] = data
    return out


def main():
    out = sys.argv[1]
    fixture = sys.argv[2] if len(sys.argv) > 2 else None
    for target in ("layer_unpack", "image_manifest"):
        os.makedirs(os.path.join(out, target), exist_ok=True)
    for name, data in layers().items():
        base = os.path.join(out, "layer_unpack", name)
        open(base + ".tar", "wb").write(data)
        open(base + ".tar.gz", "wb").write(gzip.compress(data, mtime=0))
        open(base + ".tar.zst", "wb").write(
            subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout)
    for name, data in manifests(fixture).items():
        open(os.path.join(out, "image_manifest", name + ".json"), "wb").write(data)


if __name__ == "__main__":
    main()
