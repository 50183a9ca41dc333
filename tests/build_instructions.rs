//! Dockerfile features end to end (root, real containers): global ARGs in FROM, `--build-arg`,
//! ONBUILD, RUN and COPY heredocs, `RUN --mount=type=cache` surviving builds, a target that skips
//! an unneeded (failing) stage, ADD of a local tarball and of a URL, `COPY --link --chmod`, and
//! `RUN --network=none`.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support::compose::ComposeEnv;

fn write(env: &ComposeEnv, rel: &str, bytes: &[u8]) {
    let p = env.project_dir().join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, bytes).expect("write");
}

const STAGES: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=lab/busybox:1
FROM ${BASE} AS parent
ONBUILD RUN echo "triggered" > /onbuild.txt

FROM parent AS child
ARG GREETING=hello
ENV FROM_ENV=env-value
RUN <<EOF
echo "$GREETING from heredoc" > /heredoc.txt
echo "env: $FROM_ENV" >> /heredoc.txt
EOF
COPY <<EOF /etc/app.conf
greeting=${GREETING}
EOF
RUN --mount=type=cache,target=/cache echo run >> /cache/count && wc -l < /cache/count > /cache-count.txt

FROM ${BASE} AS broken
RUN echo "this stage is not needed" && exit 1

FROM ${BASE} AS other
RUN echo other > /other.txt

FROM child AS final
COPY --from=other /other.txt /other.txt
CMD ["sh", "-c", "cat /onbuild.txt /heredoc.txt /etc/app.conf /cache-count.txt /other.txt"]
"#;

#[test]
fn args_onbuild_heredocs_cache_mounts_and_targets() {
    require_root!();
    let env = ComposeEnv::new(
        "bld-feat",
        "services:\n  app:\n    build:\n      context: .\n      target: final\n",
    );
    write(&env, "Dockerfile", STAGES.as_bytes());
    let out = env.run(&["build", "--build-arg", "GREETING=hi"]);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{progress}");
    assert!(
        !progress.contains("not needed"),
        "unneeded stage ran: {progress}"
    );
    assert!(!progress.contains("[app broken"), "{progress}");
    assert_eq!(
        env.ok(&["run", "--rm", "-T", "app"]),
        "triggered\nhi from heredoc\nenv: env-value\ngreeting=hi\n1\nother\n"
    );
    // The cache mount outlives the build: a rebuild without the step cache counts 2.
    env.ok(&["build", "-q", "--no-cache", "--build-arg", "GREETING=hi"]);
    let again = env.ok(&["run", "--rm", "-T", "app"]);
    assert!(again.contains("\n2\nother\n"), "{again}");
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}

/// Serve `body` at any path until `stop` is set; the port.
fn serve(body: &'static [u8], stop: Arc<AtomicBool>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).expect("blocking");
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes());
                    let _ = s.write_all(body);
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    });
    (port, h)
}

fn tarball() -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    for (path, body, mode) in [
        ("pkg/bin/run.sh", &b"#!/bin/sh\necho packaged\n"[..], 0o755),
        ("pkg/README", &b"read me\n"[..], 0o644),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_cksum();
        t.append_data(&mut h, path, body).expect("append");
    }
    t.into_inner().expect("tar").finish().expect("gzip")
}

#[test]
fn add_unpacks_tarballs_and_fetches_urls_copy_link_and_network_none() {
    require_root!();
    let stop = Arc::new(AtomicBool::new(false));
    let (port, server) = serve(b"from the web\n", stop.clone());
    let env = ComposeEnv::new("bld-add", "services:\n  app:\n    build: .\n");
    write(&env, "files.tar.gz", &tarball());
    write(&env, "secret", b"s3cr3t\n");
    let dockerfile = format!(
        "FROM lab/busybox:1\n\
         ADD files.tar.gz /opt/\n\
         ADD http://127.0.0.1:{port}/remote.txt /remote/\n\
         COPY --link --chmod=600 secret /secret\n\
         RUN --network=none cat /proc/net/dev > /netdev\n\
         CMD [\"sh\", \"-c\", \"/opt/pkg/bin/run.sh; stat -c '%u %a' /opt/pkg/README /remote/remote.txt /secret; cat /remote/remote.txt; grep -c eth /netdev || true\"]\n"
    );
    write(&env, "Dockerfile", dockerfile.as_bytes());
    let out = env.run(&["build"]);
    stop.store(true, Ordering::SeqCst);
    let _ = server.join();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = env.ok(&["run", "--rm", "-T", "app"]);
    assert_eq!(
        got, "packaged\n1000 644\n0 600\n0 600\nfrom the web\n0\n",
        "tar unpacked with its owners, URL file 0600, --chmod, no eth0 with --network=none"
    );
    env.ok(&["down", "-t", "0"]);
    env.assert_clean();
}
