//! A Dockerfile using every config instruction, ownership and mode flags and deletions, built by
//! `rcompose build`; the resulting image's config and its layers' file trees (modes, owners,
//! OCI whiteouts) are checked against what the Dockerfile says (root, real containers).

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;

use rcompose::runtime::image::layout::Manifest;
use rcompose::runtime::image::{Digest, ImageStore};
use serde_json::json;
use support::compose::ComposeEnv;

const DOCKERFILE: &str = r#"FROM lab/busybox:1 AS base
RUN mkdir -p /srv/data && echo data > /srv/data/f && chown -R 33:33 /srv && chmod 750 /srv/data

FROM base
ARG VERSION=1.0
ENV APP_HOME=/srv/app VERSION=$VERSION
WORKDIR $APP_HOME
COPY --chown=33:33 --chmod=640 config.ini ./
COPY --from=base /srv/data /copied/
COPY bin/tool.sh /usr/local/bin/tool
RUN rm /etc/group && rm -rf /var/www && mkdir /var/www && echo new > /var/www/index.html
USER www-data
EXPOSE 8080 53/udp
VOLUME ["/srv/app/state"]
LABEL org.example.version=$VERSION maintainer="the team"
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q -O- localhost:8080 || exit 1
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/local/bin/tool"]
CMD ["serve", "--port", "8080"]
"#;

const COMPOSE: &str = r#"services:
  app:
    build:
      context: .
      args:
        VERSION: "2.5"
      labels:
        org.example.built-by: rcompose
"#;

/// (type, mode, uid, gid) of every entry of a layer tar.
type Tree = BTreeMap<String, (tar::EntryType, u32, u64, u64)>;

fn layer_tree(store: &ImageStore, blob: &Digest) -> Tree {
    let f = fs::File::open(store.layout().blob_path(blob)).expect("layer blob");
    let reader = rcompose::runtime::image::unpack::decompress(f).expect("decompress");
    let mut a = tar::Archive::new(reader);
    let mut out = Tree::new();
    for e in a.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        let h = e.header().clone();
        let path = e.path().expect("path").display().to_string();
        let mut sink = Vec::new();
        e.read_to_end(&mut sink).expect("read entry");
        out.insert(
            path,
            (
                h.entry_type(),
                h.mode().expect("mode") & 0o7777,
                h.uid().expect("uid"),
                h.gid().expect("gid"),
            ),
        );
    }
    out
}

#[test]
fn built_image_has_the_config_and_files_the_dockerfile_describes() {
    require_root!();
    let env = ComposeEnv::new("bld-image", COMPOSE);
    let dir = env.project_dir();
    fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    fs::write(dir.join("config.ini"), "[server]\nport = 8080\n").unwrap();
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/tool.sh"), "#!/bin/sh\necho tool \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("bin/tool.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    env.ok(&["build", "-q"]);

    let store = ImageStore::open(&env.state_root()).unwrap();
    let image = store.inspect(&format!("{}-app", env.project)).unwrap();
    let doc = store.config_json(&image.id).unwrap();
    let c = &doc["config"];
    assert_eq!(
        c["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "APP_HOME=/srv/app",
            "VERSION=2.5"
        ])
    );
    assert_eq!(c["Entrypoint"], json!(["/usr/local/bin/tool"]));
    assert_eq!(c["Cmd"], json!(["serve", "--port", "8080"]));
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "www-data");
    assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}, "53/udp": {}}));
    assert_eq!(c["Volumes"], json!({"/srv/app/state": {}}));
    assert_eq!(c["Labels"]["org.example.version"], "2.5");
    assert_eq!(c["Labels"]["maintainer"], "the team");
    assert_eq!(c["Labels"]["org.example.built-by"], "rcompose");
    assert_eq!(
        c["Labels"]["org.opencontainers.image.title"], "lab/busybox",
        "inherited"
    );
    assert_eq!(
        c["Healthcheck"],
        json!({
            "Test": ["CMD-SHELL", "wget -q -O- localhost:8080 || exit 1"],
            "Interval": 5_000_000_000u64,
            "Timeout": 3_000_000_000u64,
            "Retries": 2
        })
    );
    assert_eq!(c["StopSignal"], "SIGQUIT");
    assert_eq!(doc["architecture"], "amd64");
    assert_eq!(doc["os"], "linux");

    // One layer per filesystem step: base RUN, WORKDIR, three COPYs, RUN (on busybox's one).
    let manifest: Manifest =
        serde_json::from_slice(&store.layout().read_blob(&image.manifest_digest).unwrap()).unwrap();
    assert_eq!(manifest.layers.len(), 7, "{:?}", image.diff_ids);
    assert_eq!(image.diff_ids.len(), 7);
    let history = doc["history"].as_array().unwrap();
    let non_empty = history
        .iter()
        .filter(|h| h.get("empty_layer").is_none())
        .count();
    assert_eq!(non_empty, 7, "{history:#?}");
    assert!(
        history
            .iter()
            .any(|h| h["created_by"] == "COPY --chown=33:33 --chmod=640 config.ini ./ # buildkit")
    );
    assert_eq!(doc["created"], history.last().unwrap()["created"]);

    let trees: Vec<Tree> = manifest.layers[1..]
        .iter()
        .map(|l| layer_tree(&store, &l.digest().unwrap()))
        .collect();
    let base_run = &trees[0];
    assert_eq!(
        base_run["srv/data/"],
        (tar::EntryType::Directory, 0o750, 33, 33)
    );
    assert_eq!(base_run["srv/data/f"].2, 33);
    let workdir = &trees[1];
    assert_eq!(
        workdir["srv/app/"],
        (tar::EntryType::Directory, 0o755, 0, 0)
    );
    let config = &trees[2];
    assert_eq!(
        config["srv/app/config.ini"],
        (tar::EntryType::Regular, 0o640, 33, 33)
    );
    let copied = &trees[3];
    assert_eq!(
        copied["copied/f"],
        (tar::EntryType::Regular, 0o644, 33, 33),
        "owner kept from the stage"
    );
    let tool = &trees[4];
    assert_eq!(
        tool["usr/local/bin/tool"],
        (tar::EntryType::Regular, 0o755, 0, 0),
        "context files are root's"
    );
    let deletions = &trees[5];
    assert!(
        deletions.contains_key("etc/.wh.group"),
        "whiteout: {deletions:?}"
    );
    assert!(
        deletions.contains_key("var/www/.wh..wh..opq"),
        "opaque dir: {deletions:?}"
    );
    assert_eq!(deletions["var/www/index.html"].0, tar::EntryType::Regular);
    assert!(
        !deletions.keys().any(|k| k.starts_with("etc/hosts")
            || k.starts_with("etc/resolv.conf")
            || k.starts_with("proc")
            || k.starts_with("dev")),
        "runtime mount points leaked into the layer: {deletions:?}"
    );

    // The merged image as a container sees it.
    let out = env.ok(&[
        "run",
        "--rm",
        "-T",
        "--entrypoint",
        "sh",
        "app",
        "-c",
        "ls /etc/group 2>&1; cat /var/www/index.html; /usr/local/bin/tool x; id -u",
    ]);
    assert!(out.contains("No such file"), "{out}");
    assert!(out.contains("new\n"), "{out}");
    assert!(out.contains("tool x\n"), "{out}");
    assert!(out.ends_with("33\n"), "runs as www-data: {out}");
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}
